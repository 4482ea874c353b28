"""Shared fixtures; the service fixtures live in tests/services.py."""

from tests.services import isolated, services, topic_factory

__all__ = ["isolated", "services", "topic_factory"]
