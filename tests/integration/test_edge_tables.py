"""The edge-case table pair of ``benchmarks/edge_tables_bench.py``, small: the report names
exactly the planted differences (every kind, every column type) and nothing else, although
every row of the pair reads differently on the two engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from canary.config import Settings
from canary.diff.tables.run import diff_tables
from tests import edge_tables
from tests.services import Services

pytestmark = pytest.mark.integration

ROWS = 20_000


@pytest.fixture
def table(services: Services) -> Iterator[str]:
    name = f"edge_{uuid.uuid4().hex[:10]}"
    yield name
    edge_tables.drop(services.settings, name)


def _settings(services: Services) -> Settings:
    base = services.settings
    # Small ranges, so that the walk recurses, downloads and judges JSON at this size too.
    tables = base.tables.model_copy(
        update={"segments": 8, "download_below": 500, "recheck_delay": 0.0}
    )
    return base.model_copy(update={"tables": tables})


def test_every_planted_difference_and_nothing_else(services: Services, table: str) -> None:
    planted = edge_tables.plant(ROWS, per_kind=3, seed=7)
    edge_tables.load(services.settings, table, planted, say=lambda _line: None)
    report = diff_tables(
        _settings(services),
        table=table,
        key=["id"],
        max_samples=planted.total + 10,
        store=False,
    )
    outcome = edge_tables.check(report, planted)
    assert outcome.missed == []
    assert outcome.false_positives == []
    assert outcome.exact
    assert report["rows"] == {
        "mysql": ROWS - len(planted.only_in_postgres),
        "postgres": ROWS - len(planted.only_in_mysql),
    }
    assert report["kinds"]["score"] == "float"
    stats = report["stats"]
    assert stats["depth"] >= 1  # it had to recurse to find them
    assert stats["ranges_streamed"] > 0  # JSON compared as jsonb where only it differed


def test_equal_tables_pass(services: Services, table: str) -> None:
    planted = edge_tables.plant(ROWS // 4, per_kind=0)
    edge_tables.load(services.settings, table, planted, say=lambda _line: None)
    report = diff_tables(_settings(services), table=table, key=["id"], store=False)
    assert report["verdict"] == "pass", report["reasons"]
    assert report["rows"] == {"mysql": ROWS // 4, "postgres": ROWS // 4}
