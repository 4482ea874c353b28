"""Shared Kafka client settings, the reachability probe, and error translation."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from canary.errors import ServiceUnavailable

SERVICE = "Kafka"
PROBE_TIMEOUT_S = 6.0


def base_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        # librdkafka logs every failed connect at ERROR; the probe reports it once instead.
        "log_level": 2,
        "socket.connection.setup.timeout.ms": 5000,
    }


def admin(bootstrap: str) -> AdminClient:
    return AdminClient(base_config(bootstrap))


def probe(bootstrap: str, timeout: float = PROBE_TIMEOUT_S) -> AdminClient:
    """Return an admin client once the cluster answers a metadata request."""
    client = admin(bootstrap)
    try:
        client.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ServiceUnavailable(SERVICE, bootstrap, describe(exc)) from exc
    return client


def describe(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        if error.code() in (
            KafkaError._TRANSPORT,
            KafkaError._ALL_BROKERS_DOWN,
            KafkaError._TIMED_OUT,
        ):
            return "no broker answered"
        return str(error.str())
    return str(exc)
