"""The edge-case table pair of ``benchmarks/edge_tables_bench.py``, small: the report names
exactly the planted differences (every kind, every column type) and nothing else, although
every row of the pair reads differently on the two engines."""

from __future__ import annotations

import math
import random
import struct
import uuid
from collections.abc import Iterator

import pytest

from canary.config import Settings
from sinks import postgres
from sinks.checksums.mysql import _MARIADB_DOUBLE, _mysql8_double
from tests import edge_tables
from tests.integration.test_tables import diff_tables
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


def _doubles(count: int) -> list[float]:
    pick = random.Random(11)
    found = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 4.450147717014403e-308, 8e23]
    found += [1.7976931348623157e308, -1.7976931348623157e308, 1.0, 0.1, 1 / 3]
    while len(found) < count:
        value = struct.unpack("<d", struct.pack("<Q", pick.getrandbits(64)))[0]
        if math.isfinite(value):
            found.append(value)
        power = 2.0 ** pick.randint(-1074, 1023)
        found.append(math.nextafter(power, pick.choice((0.0, math.inf))))
    return found


def test_both_dialects_print_the_bits_postgresql_prints(services: Services, table: str) -> None:
    """The MySQL 8 arithmetic uses only functions MariaDB has too, so it is checked here,
    beside MariaDB's dynamic-column form, against float8send and Python's own bits."""
    values = _doubles(3000)
    settings = services.settings
    rows = ",".join(f"({i}, {value!r})" for i, value in enumerate(values))
    edge_tables.mysql_execute(
        settings,
        f"CREATE TABLE `{table}` (id INT PRIMARY KEY, x DOUBLE)",
        f"INSERT INTO `{table}` VALUES {rows}",
    )
    found = edge_tables.mysql_execute(
        settings,
        f"SELECT id, {_MARIADB_DOUBLE.format('x')}, {_mysql8_double('x')} FROM `{table}`",
    )
    with postgres.connect(settings.postgres) as connection:
        connection.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, x FLOAT8)".encode())
        connection.execute(f"INSERT INTO {table} VALUES {rows}".encode())
        theirs = dict(
            connection.execute(
                f"SELECT id, encode(float8send(x + 0::float8), 'hex') FROM {table}".encode()
            ).fetchall()
        )
        connection.commit()
    assert len(found) == len(values)
    for index, mariadb, mysql8 in found:
        bits = struct.pack(">d", values[index] + 0.0).hex()
        assert (mariadb, mysql8, theirs[index]) == (bits, bits, bits), values[index]
