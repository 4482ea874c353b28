"""`canary diff tables` through the console script: exit codes, the §7 JSON report, text
and HTML output, and the stored report.

Each test gets uuid-named tables in both databases and a private report store (made by
`canary db init`), all dropped afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sinks import mysql, postgres
from tests.services import Services

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).parent / "canary"

ROWS = 300


@dataclass
class Pair:
    table: str
    env: dict[str, str]


def _canary(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _mysql(services: Services, *statements: str) -> None:
    connection = mysql.connect(services.settings.mysql)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()


def _pg(services: Services, *statements: str) -> None:
    with postgres.connect(services.settings.postgres) as connection:
        for statement in statements:
            connection.execute(statement.encode())


@pytest.fixture
def pair(services: Services) -> Iterator[Pair]:
    """An identical pair of tables with a decimal, a datetime, JSON, a flag and text, plus
    an environment whose report store belongs to this test."""
    suffix = uuid.uuid4().hex[:10]
    table = f"e2e_tbl_{suffix}"
    env = {
        "CANARY_MYSQL__TABLE": f"e2e_orders_{suffix}",
        "CANARY_POSTGRES__TABLE": f"e2e_orders_{suffix}",
        "CANARY_POSTGRES__OFFSETS_TABLE": f"e2e_offsets_{suffix}",
        "CANARY_POSTGRES__REPORT_SCHEMA": f"e2e_reports_{suffix}",
        "CANARY_TABLES__RECHECK_DELAY": "0",
        "CANARY_TABLES__DOWNLOAD_BELOW": "20",
    }
    _mysql(
        services,
        f"CREATE TABLE `{table}` (id BIGINT NOT NULL PRIMARY KEY, amount DECIMAL(10,2), "
        "at DATETIME(6), doc JSON, flag TINYINT(1), note TEXT COLLATE utf8mb4_bin) "
        "CHARSET utf8mb4",
        f"INSERT INTO `{table}` SELECT seq, seq / 4, TIMESTAMPADD(SECOND, seq, '2024-01-01'), "
        f"JSON_OBJECT('b', seq, 'a', 'x'), seq % 2, CONCAT('note ', seq) FROM seq_1_to_{ROWS}",
    )
    _pg(
        services,
        f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, amount NUMERIC(10,3), at TIMESTAMPTZ, "
        "doc JSONB, flag BOOLEAN, note TEXT)",
        f"INSERT INTO {table} SELECT g, g / 4.0, timestamptz '2024-01-01 00:00:00+00' + "
        f"g * interval '1 second', jsonb_build_object('b', g, 'a', 'x'), g % 2 = 1, "
        f"'note ' || g FROM generate_series(1, {ROWS}) g",
    )
    init = _canary("db", "init", env=env)
    assert init.returncode == 0, init.stderr
    yield Pair(table, env)
    _mysql(
        services,
        f"DROP TABLE IF EXISTS `{table}`",
        f"DROP TABLE IF EXISTS `{env['CANARY_MYSQL__TABLE']}`",
    )
    _pg(
        services,
        f"DROP TABLE IF EXISTS {table}",
        f"DROP TABLE IF EXISTS {env['CANARY_POSTGRES__TABLE']}",
        f"DROP TABLE IF EXISTS {env['CANARY_POSTGRES__OFFSETS_TABLE']}",
        f"DROP SCHEMA IF EXISTS {env['CANARY_POSTGRES__REPORT_SCHEMA']} CASCADE",
    )


def test_equal_tables_pass_with_exit_0(pair: Pair) -> None:
    result = _canary("diff", "tables", "--table", pair.table, "--key", "id", env=pair.env)
    assert result.returncode == 0, result.stderr
    assert "verdict: PASS" in result.stdout
    assert f"MySQL {pair.table} vs PostgreSQL {pair.table}" in result.stdout
    assert "Traceback" not in result.stderr


def test_differences_exit_1_with_the_json_report_of_contracts_7(
    services: Services, pair: Pair, tmp_path: Path
) -> None:
    _pg(
        services,
        f"UPDATE {pair.table} SET amount = amount + 0.01 WHERE id = 7",
        f"UPDATE {pair.table} SET note = 'Note 200' WHERE id = 200",
        f"DELETE FROM {pair.table} WHERE id = 50",
        f"INSERT INTO {pair.table} (id, note) VALUES (1000, 'extra')",
    )
    result = _canary(
        "diff", "tables", "--table", pair.table, "--key", "id", "--format", "json", env=pair.env
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    contract = {
        "kind", "verdict", "reasons", "mysql_table", "pg_table", "key", "columns", "rows",
        "only_in_mysql", "only_in_postgres", "different", "samples",
    }  # fmt: skip
    assert contract <= set(report)
    assert report["kind"] == "tables"
    assert report["verdict"] == "fail"
    assert report["reasons"]
    assert all(isinstance(reason, str) for reason in report["reasons"])
    assert (report["mysql_table"], report["pg_table"]) == (pair.table, pair.table)
    assert report["key"] == ["id"]
    assert report["columns"] == ["amount", "at", "doc", "flag", "note"]  # the table's order
    assert report["rows"] == {"mysql": ROWS, "postgres": ROWS}
    assert (report["only_in_mysql"], report["only_in_postgres"], report["different"]) == (1, 1, 2)
    samples = report["samples"]
    assert set(samples) == {"only_in_mysql", "only_in_postgres", "different"}
    assert samples["only_in_mysql"] == [50]
    assert samples["only_in_postgres"] == [1000]
    assert samples["different"] == [
        {
            "key": 7,
            "columns": {"amount": {"mysql": "1.75", "postgres": "1.760", "cause": "other"}},
        },
        {
            "key": 200,
            "columns": {
                "note": {"mysql": "note 200", "postgres": "Note 200", "cause": "case-only"}
            },
        },
    ]
    assert report["id"].startswith(f"tables-{pair.table}-")

    # Stored: `report show` gives it back, as text and as one HTML page.
    shown = _canary("report", "show", report["id"], env=pair.env)
    assert shown.returncode == 0, shown.stderr
    assert "canary tables diff" in shown.stdout
    assert '"Note 200"' in shown.stdout
    page = tmp_path / "tables.html"
    html = _canary(
        "diff", "tables", "--table", pair.table, "--key", "id", "--format", "html",
        "--out", str(page), env=pair.env,
    )  # fmt: skip
    assert html.returncode == 1, html.stderr
    body = page.read_text(encoding="utf-8")
    assert body.startswith("<!DOCTYPE html>")
    assert pair.table in body
    assert "only_in_mysql" in body
    assert "written to" in html.stderr


def test_text_report_lists_differences_and_options_apply(services: Services, pair: Pair) -> None:
    _mysql(services, f"UPDATE `{pair.table}` SET note = NULL WHERE id IN (3, 4, 5)")
    result = _canary(
        "diff", "tables", "--table", pair.table, "--key", "id", "--columns", "note,amount",
        "--max-samples", "2", "--no-recheck", env=pair.env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    text = result.stdout
    assert "verdict: FAIL" in text
    assert "3 rows differ (note: 3)" in text
    assert "different (first 2 of 3)" in text
    rows = [line.split() for line in text.splitlines() if line.startswith(("3 ", "4 ", "5 "))]
    assert rows == [
        ["3", "note", "NULL", '"note', '3"', "other"],
        ["4", "note", "NULL", '"note', '4"', "other"],
    ]
    assert "columns compared (2): note, amount" in text


def test_unknown_table_or_column_exits_2_naming_it(pair: Pair) -> None:
    result = _canary("diff", "tables", "--table", "no_such_table_x", "--key", "id", env=pair.env)
    assert result.returncode == 2, result.stderr
    assert "no_such_table_x" in result.stderr
    assert "Traceback" not in result.stderr
    result = _canary(
        "diff", "tables", "--table", pair.table, "--key", "id", "--columns", "nope", env=pair.env
    )
    assert result.returncode == 2, result.stderr
    assert "'nope'" in result.stderr
    result = _canary("diff", "tables", "--key", "id", env=pair.env)
    assert result.returncode == 2
    assert "--table" in result.stderr


def test_unreachable_mysql_exits_3_naming_it(pair: Pair) -> None:
    env = {**pair.env, "CANARY_MYSQL_DSN": "mysql://canary:canary@127.0.0.1:1/canary"}
    result = _canary("diff", "tables", "--table", pair.table, "--key", "id", env=env, timeout=30)
    assert result.returncode == 3, result.stderr
    assert "MySQL" in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_float32_and_uuid_pairs_exit_codes(services: Services, pair: Pair) -> None:
    """FLOAT vs REAL: equal values pass, the next float32 fails with the rule in the report;
    a UUID key stored in two spellings is a usage error (exit 2), not a traceback."""
    floats, uuids = f"{pair.table}_f", f"{pair.table}_u"
    key = uuid.uuid4()
    _mysql(
        services,
        f"CREATE TABLE `{floats}` (id INT NOT NULL PRIMARY KEY, f FLOAT)",
        f"INSERT INTO `{floats}` SELECT seq, seq / 3e0 FROM seq_1_to_{ROWS}",
        f"CREATE TABLE `{uuids}` (code CHAR(36) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY) "
        "CHARSET utf8mb4",
        f"INSERT INTO `{uuids}` VALUES ('{key}'), ('{str(key).upper()}')",
    )
    _pg(
        services,
        f"CREATE TABLE {floats} (id INT PRIMARY KEY, f REAL)",
        f"INSERT INTO {floats} SELECT g, g::float8 / 3 FROM generate_series(1, {ROWS}) g",
        f"CREATE TABLE {uuids} (code uuid PRIMARY KEY)",
        f"INSERT INTO {uuids} VALUES ('{key}')",
    )
    try:
        args = ("diff", "tables", "--key", "id", "--format", "json", "--table", floats)
        result = _canary(*args, env=pair.env)
        assert result.returncode == 0, result.stdout + result.stderr
        _mysql(services, f"UPDATE `{floats}` SET f = 0.20000001788139343 WHERE id = 7")
        _pg(services, f"UPDATE {floats} SET f = 0.2 WHERE id = 7")
        result = _canary(*args, env=pair.env)
        assert result.returncode == 1, result.stderr
        report = json.loads(result.stdout)
        assert [s["key"] for s in report["samples"]["different"]] == [7]
        assert report["rules"]["f"] == "float32 on both sides: compared at 4-byte precision"

        result = _canary("diff", "tables", "--key", "code", "--table", uuids, env=pair.env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "twice" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        _mysql(services, f"DROP TABLE IF EXISTS `{floats}`", f"DROP TABLE IF EXISTS `{uuids}`")
        _pg(services, f"DROP TABLE IF EXISTS {floats}", f"DROP TABLE IF EXISTS {uuids}")
