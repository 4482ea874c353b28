"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.browser import find_chromium


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium, found or installed once per session."""
    return find_chromium()
