"""Both paths on one paced topic while PostgreSQL, MariaDB or the broker goes away."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.drill import OutageDrill, run_outage
from tests.chaos.isolated import ServiceSet
from tests.chaos.results import render_table

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("service", ["postgres", "mysql", "kafka"])
def test_both_paths_come_through_an_outage_with_every_record(
    service: str, chaos_services: ServiceSet, chaos_code: Path | None, tmp_path: Path
) -> None:
    """Each path exits 0 by itself, has written every record of the topic, and the two
    agree record by record (stream diff) and row by row (table diff)."""
    result = run_outage(chaos_services, OutageDrill.from_environment(service), tmp_path, chaos_code)
    print(render_table([result]))
    if result.problems():
        pytest.fail(result.explain(), pytrace=False)
