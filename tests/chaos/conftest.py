"""The chaos suite's own service set, started once for the session and stopped at its end.

CANARY_CHAOS_STATE and CANARY_CHAOS_*_PORT choose the set (see ``isolated.ServiceSet``);
CANARY_CHAOS_CODE runs the CLI from another source tree (an exported older commit, say)
instead of this one. A set that cannot be started fails the suite; it never skips it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.isolated import ServiceError, ServiceSet


def pytest_configure(config: pytest.Config) -> None:
    # Known wherever the package is collected from, with or without the project's list.
    config.addinivalue_line("markers", "chaos: fault drills on a service set of their own")


@pytest.fixture(scope="session")
def chaos_services() -> Iterator[ServiceSet]:
    try:
        services = ServiceSet.from_environment()
    except ValueError as exc:
        pytest.fail(f"chaos service set: {exc}", pytrace=False)
    try:
        with services.session() as running:
            yield running
    except ServiceError as exc:
        pytest.fail(f"chaos service set: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def chaos_code() -> Path | None:
    code = os.environ.get("CANARY_CHAOS_CODE", "")
    if not code:
        return None
    folder = Path(code).absolute()
    if not (folder / "canary" / "__main__.py").is_file():
        pytest.fail(f"CANARY_CHAOS_CODE={code}: no canary package there", pytrace=False)
    return folder
