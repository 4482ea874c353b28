"""`diff_tables` against the real MySQL and PostgreSQL: equal meanings stay equal, every
kind of difference is found with its exact count and keys, for integer, text and
composite keys, at a size that makes the walk recurse.

Each test creates uuid-named tables in both databases and drops them afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canary.config import Settings, TableRule, ToleranceSettings
from canary.diff.tables.run import diff_tables as run_diff_tables
from canary.errors import UsageError
from sinks import mysql, postgres
from tests.services import Services

pytestmark = pytest.mark.integration

BULK = 200_000  # rows of the integer-key tables: enough for three levels of the walk
SMALL = 20_000

MYSQL_COLUMNS = """
  amount DECIMAL(12,2) NULL, at DATETIME(6) NULL, doc JSON NULL, flag TINYINT(1) NULL,
  name VARCHAR(64) COLLATE utf8mb4_bin NULL, note TEXT COLLATE utf8mb4_bin NULL,
  score DOUBLE NULL, ratio DOUBLE NULL, noise VARCHAR(32) NULL"""
PG_COLUMNS = """
  amount NUMERIC(12,3), at TIMESTAMPTZ, doc JSONB, flag BOOLEAN, name TEXT, note TEXT,
  score DOUBLE PRECISION, ratio DOUBLE PRECISION, noise TEXT"""
VALUE_NAMES = ("amount", "at", "doc", "flag", "name", "note", "score", "ratio", "noise")

# The same rows on both sides, generated in SQL: JSON objects written in another key order
# than JSONB keeps, so every range's loose texts differ while the values are equal; the
# ignored column "noise" differs on every row.
MYSQL_BULK = (
    "(seq % 100000) / 100, TIMESTAMPADD(MICROSECOND, seq * 1000001, '2024-01-01 00:00:00'), "
    "JSON_OBJECT('tags', JSON_ARRAY('x', seq % 7), 'n', seq), seq % 2, CONCAT('name-', seq), "
    "IF(seq % 10 = 0, NULL, CONCAT('note ', seq)), seq / 8e0, seq / 3e0, CONCAT('m', seq)"
)
PG_BULK = (
    "(g % 100000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g::bigint * 1000001 * "
    "interval '1 microsecond', jsonb_build_object('tags', jsonb_build_array('x', g % 7), "
    "'n', g), g % 2 = 1, 'name-' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || g END, "
    "g / 8.0::float8, g::float8 / 3, 'p' || g"
)

# Rows that mean the same on both engines although they are written differently.
EQUAL_ROWS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {
            "amount": "1.50",
            "at": "2024-03-10 01:59:59.999999",
            "flag": 1,
            "name": "🚀🔥 e\u0301",
            "doc": '{ "b" : [1, {"y": 2, "x": 1.50}], "a": "é" }',
            "note": None,
            "score": 0.1,
            "ratio": 2.0,
        },
        {
            "amount": "1.500",
            "at": "2024-03-09 20:59:59.999999-05",
            "flag": True,
            "name": "🚀🔥 e\u0301",
            "doc": '{"a":"é","b":[1,{"x":1.5,"y":2}]}',
            "note": None,
            "score": 0.1,
            "ratio": 2.005,
        },  # within the 0.01 tolerance of "ratio"
    ),
    (
        {
            "amount": "-0.00",
            "at": "1999-12-31 23:59:59",
            "flag": 0,
            "name": "",
            "doc": "[]",
            "note": "",
            "score": 1e20,
            "ratio": None,
        },
        {
            "amount": "0",
            "at": "2000-01-01 00:59:59+01",
            "flag": False,
            "name": "",
            "doc": "[ ]",
            "note": "",
            "score": 1e20,
            "ratio": None,
        },
    ),
    (
        {
            "amount": None,
            "at": None,
            "flag": None,
            "name": None,
            "doc": None,
            "note": None,
            "score": None,
            "ratio": None,
        },
        {
            "amount": None,
            "at": None,
            "flag": None,
            "name": None,
            "doc": None,
            "note": None,
            "score": None,
            "ratio": None,
        },
    ),
]

# One planted difference per kind: (column, MySQL value, PostgreSQL value, expected cause).
PLANTED: list[tuple[str, Any, Any, str]] = [
    ("at", "2024-05-01 12:00:00.000000", "2024-05-01 13:00:00+00", "time-zone hour shift"),
    ("at", "2024-05-01 12:00:00.000000", "2024-05-01 12:00:00.000001+00", "precision loss"),
    ("name", "Widget", "Widget ", "trailing whitespace"),
    ("name", "Widget", "widget", "case-only"),
    ("note", None, "", "NULL vs empty"),
    ("doc", '{"n": 5, "tags": ["x"]}', '{"n": 6, "tags": ["x"]}', "JSON value"),
    ("flag", 1, False, "boolean flip"),
    ("amount", "10.25", "10.26", "other"),
    ("ratio", 2.0, 2.5, "other"),
]


def diff_tables(settings: Settings, **options: Any) -> dict[str, Any]:
    """The diff's report as its JSON (CONTRACTS §7), which every assertion here reads."""
    return run_diff_tables(settings, **options).as_json()


def _mysql_execute(services: Services, *statements: tuple[str, Sequence[Any]]) -> None:
    connection = mysql.connect(services.settings.mysql)
    try:
        with connection.cursor() as cursor:
            for statement, params in statements:
                if params and isinstance(params[0], list | tuple):
                    cursor.executemany(statement, params)
                else:
                    cursor.execute(statement, params or None)
        connection.commit()
    finally:
        connection.close()


def _pg_execute(services: Services, *statements: tuple[str, Sequence[Any]]) -> None:
    with postgres.connect(services.settings.postgres) as connection, connection.cursor() as cursor:
        for statement, params in statements:
            if params and isinstance(params[0], list | tuple):
                cursor.executemany(statement, params)  # type: ignore[arg-type]
            else:
                cursor.execute(statement, params or None)  # type: ignore[arg-type]


@pytest.fixture
def tables(services: Services) -> Iterator[Callable[[str], str]]:
    """Hands out uuid table names; drops both engines' tables of those names afterwards."""
    names: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        names.append(name)
        return name

    yield make
    for name in names:
        _mysql_execute(services, (f"DROP TABLE IF EXISTS `{name}`", ()))
        _pg_execute(services, (f"DROP TABLE IF EXISTS {name}", ()))


def _settings(
    services: Services, table: str, *, below: int = 64, segments: int = 8, **rule: Any
) -> Settings:
    base = services.settings
    defaults: dict[str, Any] = {
        "ignore": ["noise"],
        "tolerances": {"ratio": ToleranceSettings(absolute=0.01)},
    }
    return base.model_copy(
        update={
            "tables": base.tables.model_copy(
                update={
                    "segments": segments,
                    "download_below": below,
                    "parallel": 4,
                    "recheck_delay": 0.0,
                    "rules": {table: TableRule(**{**defaults, **rule})},
                }
            )
        }
    )


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _insert(services: Services, table: str, key_names: Sequence[str], rows: list[Any]) -> None:
    """``rows``: (key values, MySQL values, PostgreSQL values or None for "MySQL only")."""
    names = [*key_names, *VALUE_NAMES]
    width = len(names)
    mine = [(*key, *(row.get(n) for n in VALUE_NAMES)) for key, row, _ in rows if row is not None]
    theirs = [(*key, *(row.get(n) for n in VALUE_NAMES)) for key, _, row in rows if row is not None]
    columns = ", ".join(names)
    if mine:
        _mysql_execute(
            services, (f"INSERT INTO `{table}` ({columns}) VALUES ({_placeholders(width)})", mine)
        )
    if theirs:
        _pg_execute(
            services, (f"INSERT INTO {table} ({columns}) VALUES ({_placeholders(width)})", theirs)
        )


def _planted_rows(keys: Sequence[tuple[Any, ...]]) -> list[Any]:
    rows = []
    for key, (column, a, b, _cause) in zip(keys, PLANTED, strict=True):
        base = {
            "amount": "1.00",
            "at": "2024-05-01 12:00:00",
            "flag": 1,
            "name": "Widget",
            "doc": '{"n": 5, "tags": ["x"]}',
            "note": "n",
            "score": 1.5,
            "ratio": 1.0,
        }
        pg_base = {**base, "at": "2024-05-01 12:00:00+00", "flag": True}
        rows.append((key, {**base, column: a}, {**pg_base, column: b}))
    return rows


def _equal_rows(keys: Sequence[tuple[Any, ...]]) -> list[Any]:
    return [(key, a, b) for key, (a, b) in zip(keys, EQUAL_ROWS, strict=True)]


def _check_planted(report: dict[str, Any], keys: Sequence[Any]) -> None:
    samples = {json.dumps(s["key"]): s["columns"] for s in report["samples"]["different"]}
    assert len(samples) == len(PLANTED)
    for key, (column, _a, _b, cause) in zip(keys, PLANTED, strict=True):
        differing = samples[json.dumps(key)]
        assert set(differing) == {column}, (key, differing)
        assert differing[column]["cause"] == cause, (key, differing)


# --- integer key --------------------------------------------------------------------------------


def test_integer_key_finds_every_kind_of_difference_and_nothing_else(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_int")
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (id BIGINT NOT NULL PRIMARY KEY, {MYSQL_COLUMNS}) "
            "CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci",
            (),
        ),
        (f"INSERT INTO `{table}` SELECT seq, {MYSQL_BULK} FROM seq_1_to_{BULK}", ()),
    )
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, {PG_COLUMNS})", ()),
        (f"INSERT INTO {table} SELECT g, {PG_BULK} FROM generate_series(1, {BULK}) g", ()),
    )
    planted = [1_000 + 20_011 * i for i in range(len(PLANTED))]  # spread over the key range
    equal_keys = [BULK + 1 + i for i in range(len(EQUAL_ROWS))]
    only_mysql = [7, 99_999, BULK]
    only_pg = [BULK + 100, 10**12]
    _mysql_execute(services, (f"DELETE FROM `{table}` WHERE id IN ({_placeholders(9)})", planted))
    _pg_execute(
        services,
        (f"DELETE FROM {table} WHERE id IN ({_placeholders(12)})", [*planted, *only_mysql]),
        (f"UPDATE {table} SET ratio = ratio + 0.009 WHERE id % 1000 = 3", ()),  # tolerated
    )
    _insert(services, table, ["id"], _planted_rows([(k,) for k in planted]))
    _insert(services, table, ["id"], _equal_rows([(k,) for k in equal_keys]))
    _insert(services, table, ["id"], [((k,), None, {"name": "extra"}) for k in only_pg])

    lines: list[str] = []
    report = diff_tables(
        _settings(services, table, below=64, segments=8),
        table=table,
        key=["id"],
        max_samples=50,
        progress=lines.append,
        store=False,
    )
    assert report["kind"] == "tables"
    assert report["id"].startswith(f"tables-{table}-")
    assert report["verdict"] == "fail"
    assert report["rows"] == {
        "mysql": BULK + len(EQUAL_ROWS),
        "postgres": BULK - len(only_mysql) + len(EQUAL_ROWS) + len(only_pg),
    }
    assert report["only_in_mysql"] == len(only_mysql)
    assert report["only_in_postgres"] == len(only_pg)
    assert report["different"] == len(PLANTED)
    assert report["samples"]["only_in_mysql"] == only_mysql
    assert report["samples"]["only_in_postgres"] == only_pg
    _check_planted(report, planted)
    assert "noise" not in report["columns"]
    assert report["ignored"] == ["noise"]
    assert report["key"] == ["id"]
    assert report["stats"]["depth"] >= 2  # it had to recurse to find them
    assert report["stats"]["ranges_streamed"] > 0  # JSON texts differ on every range
    assert report["stats"]["loose_sums_skipped"] is True  # ...so their sums were dropped
    assert (
        report["recheck"]["candidates"]
        == report["recheck"]["candidates"] - report["recheck"]["cleared"]
    )
    assert any("ranges checked" in line for line in lines)


# --- text key ----------------------------------------------------------------------------------


def test_text_keys_keep_case_and_space_variants_apart(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_txt")
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (code VARCHAR(40) COLLATE utf8mb4_nopad_bin NOT NULL "
            f"PRIMARY KEY, {MYSQL_COLUMNS}) CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci",
            (),
        ),
        (
            f"INSERT INTO `{table}` SELECT CONCAT('k', LPAD(seq, 7, '0')), {MYSQL_BULK} "
            f"FROM seq_1_to_{SMALL}",
            (),
        ),
    )
    _pg_execute(
        services,
        (f'CREATE TABLE {table} (code TEXT COLLATE "und-x-icu" PRIMARY KEY, {PG_COLUMNS})', ()),
        (
            f"INSERT INTO {table} SELECT 'k' || lpad(g::text, 7, '0'), {PG_BULK} "
            f"FROM generate_series(1, {SMALL}) g",
            (),
        ),
    )
    variants = ["Case", "case", "case ", "CASE", "k🚀", "é", "e\u0301", "z"]
    _insert(services, table, ["code"], [((v,), {"name": v}, {"name": v}) for v in variants])
    planted = [
        "k0000100",
        "k0005000",
        "k0009999",
        "k0010000",
        "k0012345",
        "k0015000",
        "k0017777",
        "k0019000",
        "k0020000",
    ]
    placeholders = _placeholders(len(planted))
    _mysql_execute(services, (f"DELETE FROM `{table}` WHERE code IN ({placeholders})", planted))
    _pg_execute(services, (f"DELETE FROM {table} WHERE code IN ({placeholders})", planted))
    _insert(services, table, ["code"], _planted_rows([(k,) for k in planted]))
    _insert(services, table, ["code"], _equal_rows([(f"eq{i}",) for i in range(3)]))
    # Variants of existing keys on one side only: distinct keys, not differences of a row.
    _insert(services, table, ["code"], [(("case  ",), {"name": "x"}, None), (("Z",), {}, None)])
    _insert(
        services, table, ["code"], [(("CASE ",), None, {"name": "x"}), (("k0000001 ",), None, {})]
    )

    report = diff_tables(
        _settings(services, table, below=50, segments=4),
        table=table,
        key=["code"],
        max_samples=50,
        store=False,
    )
    assert report["only_in_mysql"] == 2
    assert report["samples"]["only_in_mysql"] == ["Z", "case  "]  # byte order: "Z" < "c"
    assert report["only_in_postgres"] == 2
    assert report["samples"]["only_in_postgres"] == ["CASE ", "k0000001 "]
    assert report["different"] == len(PLANTED)
    _check_planted(report, planted)
    assert report["rows"]["mysql"] == SMALL + len(variants) + 3 + 2


# --- composite key -----------------------------------------------------------------------------


def test_composite_key_with_a_pad_space_collation(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_pair")
    # utf8mb4_bin is PAD SPACE: the diff must compare the key as bytes, not by collation.
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (region VARCHAR(8) COLLATE utf8mb4_bin NOT NULL, "
            f"seq INT NOT NULL, {MYSQL_COLUMNS}, PRIMARY KEY (region, seq)) CHARSET utf8mb4",
            (),
        ),
        (
            f"INSERT INTO `{table}` SELECT ELT(1 + seq % 3, 'eu', 'US', 'apac'), seq, {MYSQL_BULK} "
            f"FROM seq_1_to_{SMALL}",
            (),
        ),
    )
    _pg_execute(
        services,
        (
            f'CREATE TABLE {table} (region TEXT COLLATE "und-x-icu", seq INT, {PG_COLUMNS}, '
            "PRIMARY KEY (region, seq))",
            (),
        ),
        (
            f"INSERT INTO {table} SELECT (ARRAY['eu', 'US', 'apac'])[1 + g % 3], g, {PG_BULK} "
            f"FROM generate_series(1, {SMALL}) g",
            (),
        ),
    )
    planted = [("eu", 3 * i + 3) for i in range(0, 9 * 700, 700)]
    where = " OR ".join(["(region = %s AND seq = %s)"] * len(planted))
    flat = [v for k in planted for v in k]
    _mysql_execute(services, (f"DELETE FROM `{table}` WHERE {where}", flat))
    _pg_execute(services, (f"DELETE FROM {table} WHERE {where}", flat))
    _insert(services, table, ["region", "seq"], _planted_rows(planted))
    _insert(services, table, ["region", "seq"], [(("eu\t", 1), {}, None), (("us", 1), None, {})])

    report = diff_tables(
        _settings(services, table, below=40, segments=4),
        table=table,
        key=["region", "seq"],
        max_samples=50,
        store=False,
    )
    assert report["key"] == ["region", "seq"]
    assert report["samples"]["only_in_mysql"] == [["eu\t", 1]]
    assert report["samples"]["only_in_postgres"] == [["us", 1]]
    assert report["different"] == len(PLANTED)
    _check_planted(report, [list(k) for k in planted])


# --- live tables, names, the report store -----------------------------------------------------


def _small_pair(services: Services, table: str, rows: int = 50) -> None:
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (id BIGINT NOT NULL PRIMARY KEY, {MYSQL_COLUMNS}) "
            "CHARSET utf8mb4",
            (),
        ),
        (f"INSERT INTO `{table}` SELECT seq, {MYSQL_BULK} FROM seq_1_to_{rows}", ()),
    )
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, {PG_COLUMNS})", ()),
        (f"INSERT INTO {table} SELECT g, {PG_BULK} FROM generate_series(1, {rows}) g", ()),
    )


def test_json_texts_that_agree_are_settled_by_checksums_alone(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_json")
    # JSON_OBJECT and JSONB print {"n": 1, "tags": ["x", 1]} alike (as MySQL 8 does for
    # most documents): loose sums match, and only the range with a change is compared.
    _mysql_execute(
        services,
        (f"CREATE TABLE `{table}` (id BIGINT NOT NULL PRIMARY KEY, doc JSON, f DOUBLE) "
         "CHARSET utf8mb4", ()),
        (f"INSERT INTO `{table}` SELECT seq, JSON_OBJECT('n', seq, 'tags', JSON_ARRAY('x', "
         f"seq % 7)), seq / 4e0 FROM seq_1_to_{SMALL}", ()),
    )  # fmt: skip
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, doc JSONB, f DOUBLE PRECISION)", ()),
        (f"INSERT INTO {table} SELECT g, jsonb_build_object('n', g, 'tags', "
         f"jsonb_build_array('x', g % 7)), g / 4.0::float8 FROM generate_series(1, {SMALL}) g",
         ()),
        (f"UPDATE {table} SET doc = jsonb_set(doc, '{{tags,1}}', '99') WHERE id = 4321", ()),
        (f"UPDATE {table} SET f = f + 1 WHERE id = 17", ()),
    )  # fmt: skip
    report = diff_tables(
        _settings(services, table, below=64, segments=8, ignore=[], tolerances={}),
        table=table,
        key=["id"],
        store=False,
    )
    assert report["different"] == 2
    assert [s["key"] for s in report["samples"]["different"]] == [17, 4321]
    stats = report["stats"]
    assert stats["loose_sums_skipped"] is False
    # The double is in the exact sum (its bits): its range is cut down to a small download.
    # The changed JSON changes only its range's loose sum: that range alone is streamed.
    assert stats["ranges_streamed"] == 1
    assert stats["ranges_downloaded"] == 1
    assert stats["ranges_equal"] == stats["ranges_checked"] - stats["ranges_split"] - 2
    assert 2 * SMALL // 8 < stats["rows_compared"] < 2 * SMALL // 8 + 2 * 64


def test_older_than_skips_rows_in_flight_and_recheck_clears_settled_ones(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_live")
    _small_pair(services, table)
    settings = _settings(services, table, age_column="at")
    fresh = (datetime.now(UTC) - timedelta(seconds=5)).replace(tzinfo=None)
    # A row just written by one path only: in flight, not (yet) a difference.
    _insert(services, table, ["id"], [((1000,), {"at": fresh}, None)])
    report = diff_tables(settings, table=table, key=["id"], older_than=60, store=False)
    assert report["verdict"] == "pass", report["reasons"]
    assert report["rows"] == {"mysql": 50, "postgres": 50}
    assert report["older_than"] == 60
    report = diff_tables(settings, table=table, key=["id"], store=False)
    assert report["only_in_mysql"] == 1

    # A difference that the other path fixes while the diff waits to re-read it.
    _pg_execute(services, (f"UPDATE {table} SET name = 'late' WHERE id = 5", ()))

    def fix_when_rechecking(line: str) -> None:
        if line.startswith("re-reading"):
            _pg_execute(services, (f"UPDATE {table} SET name = 'name-5' WHERE id = 5", ()))

    report = diff_tables(
        settings, table=table, key=["id"], progress=fix_when_rechecking, store=False
    )
    assert report["different"] == 0
    assert report["only_in_mysql"] == 1
    assert report["recheck"]["candidates"] == 2
    assert report["recheck"]["cleared"] == 1
    report = diff_tables(settings, table=table, key=["id"], recheck=False, store=False)
    assert report["recheck"]["enabled"] is False


def test_older_than_needs_an_age_column(services: Services, tables: Callable[[str], str]) -> None:
    table = tables("tbl_age")
    _small_pair(services, table, rows=3)
    with pytest.raises(UsageError, match="age_column"):
        diff_tables(_settings(services, table), table=table, key=["id"], older_than=5, store=False)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"key": ["nope"]}, "unknown column 'nope' in MySQL table"),
        ({"key": ["id"], "columns": ["amount", "zzz"]}, "unknown column 'zzz'"),
        ({"key": ["amount"]}, "key column 'amount' must be an integer, text or a UUID"),
        ({"key": ["name"]}, "key column 'name' allows NULL in MySQL"),
        ({"key": ["grp"]}, r"key \(grp\) is not unique in MySQL table"),
        ({"key": ["id"], "pg_table": "no_such_table_here"}, "unknown table 'no_such_table_here'"),
    ],
)
def test_usage_errors_name_what_is_wrong(
    services: Services, tables: Callable[[str], str], arguments: dict[str, Any], message: str
) -> None:
    table = tables("tbl_err")
    _small_pair(services, table, rows=3)
    _mysql_execute(services, (f"ALTER TABLE `{table}` ADD COLUMN grp INT NOT NULL DEFAULT 1", ()))
    _pg_execute(services, (f"ALTER TABLE {table} ADD COLUMN grp INT NOT NULL DEFAULT 1", ()))
    with pytest.raises(UsageError, match=message):
        diff_tables(_settings(services, table), table=table, store=False, **arguments)


def test_columns_only_on_one_side_fail_unless_chosen_and_reports_are_stored(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_cols")
    _small_pair(services, table, rows=20)
    _pg_execute(services, (f"ALTER TABLE {table} ADD COLUMN ingested_at TIMESTAMPTZ", ()))
    base = _settings(services, table)
    store = tables("rep")  # a private report store, made by `canary db init`'s own DDL
    settings = base.model_copy(
        update={
            "postgres": base.postgres.model_copy(
                update={"report_schema": store, "table": store, "offsets_table": f"{store}_o"}
            )
        }
    )
    report = diff_tables(settings, table=table, key=["id"], store=False)
    assert report["verdict"] == "fail"
    assert report["schema"]["only_in_postgres"] == ["ingested_at"]
    assert report["different"] == 0
    with pytest.raises(UsageError, match="canary db init"):
        diff_tables(settings, table=table, key=["id"], columns=["amount", "doc"])
    with postgres.connect(settings.postgres) as connection:
        postgres.init_schema(connection, settings.postgres)
    try:
        report = diff_tables(settings, table=table, key=["id"], columns=["amount", "doc"])
        assert report["verdict"] == "pass"
        assert report["columns"] == ["amount", "doc"]
        with postgres.connect(settings.postgres) as connection:
            stored = connection.execute(
                f"SELECT kind, verdict, body ->> 'mysql_table' FROM {store}.reports WHERE id = %s",
                (report["id"],),
            ).fetchone()
        assert stored == ("tables", "pass", table)
    finally:
        _pg_execute(
            services,
            (f"DROP SCHEMA IF EXISTS {store} CASCADE", ()),
            (f"DROP TABLE IF EXISTS {store}_o", ()),
        )
