"""`diff_tables` on the types real migrations meet, against the real MariaDB and PostgreSQL:
floats of two precisions (FLOAT/REAL at 4 bytes, DOUBLE/DOUBLE PRECISION at 8, mixed pairs
at the coarser) and UUIDs as keys and columns (CHAR(36), VARCHAR, BINARY(16) and MariaDB's
UUID against uuid).

Each test first diffs tables that hold equal values (written the way each engine stores
them: a FLOAT as the float32 nearest the number, a DOUBLE PRECISION as the double), which
must pass with every range settled by its checksums, then plants changes and expects each
of them, and nothing else.
"""

from __future__ import annotations

import math
import random
import struct
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from canary.config import Settings
from canary.errors import DuplicateKey
from sinks import checksums
from sinks.checksums.floats import mysql_float_token, postgres_float_token
from sinks.checksums.model import Field
from tests.integration.test_tables import (
    _mysql_execute,
    _pg_execute,
    _settings,
    diff_tables,
    tables,
)
from tests.services import Services

__all__ = ["tables"]  # the fixture, shared with test_tables

pytestmark = pytest.mark.integration

FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 2.0**-149  # the smallest subnormal, printed 1e-45
NEXT_AFTER_0_2 = 0.20000001788139343  # the float32 after 0.2f (0.20000000298023224)


def f32(value: float) -> float:
    """``value`` rounded to float32 (ties to even), as the double that holds it."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _plain(services: Services, table: str, *, below: int = 64, segments: int = 8) -> Settings:
    return _settings(services, table, below=below, segments=segments, ignore=[], tolerances={})


def _diff(settings: Settings, table: str, key: str) -> dict[str, Any]:
    return diff_tables(settings, table=table, key=[key], max_samples=100, store=False)


def _differing(report: dict[str, Any]) -> dict[Any, set[str]]:
    return {sample["key"]: set(sample["columns"]) for sample in report["samples"]["different"]}


def _assert_settled_by_checksums(report: dict[str, Any]) -> None:
    assert report["verdict"] == "pass", report["reasons"]
    stats = report["stats"]
    assert stats["ranges_equal"] == stats["ranges_checked"], stats
    assert stats["rows_compared"] == 0


# --- floats -----------------------------------------------------------------------------------

# (f: FLOAT vs REAL, fd: FLOAT vs DOUBLE PRECISION, df: DOUBLE vs REAL, dd: DOUBLE vs
# DOUBLE PRECISION), as (MySQL value, PostgreSQL value) per column: equal at the pair's
# precision although most are written differently.
FLOAT_EDGES: list[dict[str, tuple[float, float]]] = [
    {"f": (0.1, 0.1), "fd": (0.1, 0.1), "df": (0.1, 0.1), "dd": (0.1, 0.1)},
    {"f": (1 / 3, 1 / 3), "fd": (1 / 3, 1 / 3), "df": (1 / 3, 1 / 3), "dd": (1 / 3, 1 / 3)},
    {"f": (0.2, 0.2), "fd": (0.2, 0.2), "df": (0.2, 0.2), "dd": (5e-324, 5e-324)},
    {
        "f": (FLOAT32_TINY, 1e-45),
        "fd": (FLOAT32_TINY, 1e-45),
        "df": (1e-45, 1e-45),
        "dd": (2.2250738585072014e-308, 2.2250738585072014e-308),
    },
    {
        "f": (1.1754942106924411e-38, 1.1754942e-38),  # the largest subnormal
        "fd": (1.1754943508222875e-38, 1.1754943508222875e-38),  # the smallest normal
        "df": (1.1754942e-38, 1.1754942106924411e-38),
        "dd": (1.7976931348623157e308, 1.7976931348623157e308),
    },
    {
        "f": (FLOAT32_MAX, 3.4028235e38),
        "fd": (FLOAT32_MAX, 3.4028235677973362e38),  # just below the halfway point
        "df": (3.4028235e38, FLOAT32_MAX),
        "dd": (-1.7976931348623157e308, -1.7976931348623157e308),
    },
    {
        "f": (-FLOAT32_MAX, -FLOAT32_MAX),
        "fd": (0.0, 1e-50),  # rounds to zero
        "df": (5e-324, 0.0),
        "dd": (1e22, 1e22),
    },
    {"f": (-0.0, 0.0), "fd": (-0.0, 0.0), "df": (-0.0, 0.0), "dd": (-0.0, 0.0)},
    {
        "f": (16777217.0, 16777216.0),  # 2^24 + 1 is stored as 2^24
        "fd": (16777216.0, 16777217.0),  # ... and rounds to it (ties to even)
        "df": (16777217.0, 16777216.0),
        "dd": (4503599627370497.5, 4503599627370497.5),  # 2^52 + 1.5: the last halves
    },
    {
        "f": (1e-10, 1e-10),
        "fd": (123456.789, 123456.789),
        "df": (-2.5e-7, -2.5e-7),
        "dd": (1e-5, 1e-5),
    },
]
FLOAT_COLUMNS = ("f", "fd", "df", "dd")


def _random_floats(rnd: random.Random, count: int) -> list[dict[str, tuple[float, float]]]:
    """Random float32 bit patterns below 2^53 (see ``sinks.checksums.floats`` on larger
    ones), doubles near them for the mixed pairs, and random doubles."""

    def float32() -> float:
        while True:
            (value,) = struct.unpack("<f", struct.pack("<I", rnd.getrandbits(32)))
            if math.isfinite(value) and abs(value) < 2.0**53:
                return float(value)

    def double() -> float:
        while True:
            (value,) = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))
            if math.isfinite(value) and abs(value) < 2.0**53:
                return float(value)

    rows = []
    for _ in range(count):
        a, b = float32(), rnd.uniform(-1e6, 1e6)
        near = a * (1 + rnd.uniform(-(2.0**-26), 2.0**-26))  # inside a's rounding interval
        if abs(a) < 2.0**-120:
            near = a  # (not so in the subnormals: keep the value)
        rows.append({"f": (a, a), "fd": (a, near), "df": (b, b), "dd": (double(),) * 2})
    return rows


def _float_pair(
    services: Services, table: str, rows: Sequence[dict[str, tuple[float, float]]]
) -> None:
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (id INT NOT NULL PRIMARY KEY, f FLOAT NULL, fd FLOAT NULL, "
            "df DOUBLE NULL, dd DOUBLE NULL)",
            (),
        ),
        (
            f"INSERT INTO `{table}` VALUES (%s, %s, %s, %s, %s)",
            [(i + 1, *(row[c][0] for c in FLOAT_COLUMNS)) for i, row in enumerate(rows)],
        ),
    )
    # A REAL gets the float32 nearest the double, as PostgreSQL's float8 -> float4 does.
    theirs = [
        (i + 1, f32(row["f"][1]), row["fd"][1], f32(row["df"][1]), row["dd"][1])
        for i, row in enumerate(rows)
    ]
    _pg_execute(
        services,
        (
            f"CREATE TABLE {table} (id INT PRIMARY KEY, f REAL, fd DOUBLE PRECISION, df REAL, "
            "dd DOUBLE PRECISION)",
            (),
        ),
        (f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", theirs),
    )


# One planted change per row: (column, SQL on MySQL or None, SQL on PostgreSQL or None).
FLOAT_CHANGES: list[tuple[str, str | None, str | None]] = [
    ("f", f"f = {NEXT_AFTER_0_2}", "f = 0.2"),  # MariaDB's own text says 0.2 for both
    ("f", "f = 0", "f = 'NaN'"),
    ("f", f"f = {FLOAT32_MAX}", "f = 'Infinity'"),
    ("f", f"f = {2 * FLOAT32_TINY}", f"f = {FLOAT32_TINY}"),
    ("fd", "fd = 0.1", "fd = 0.10000001"),  # another float32 once rounded
    ("fd", f"fd = {FLOAT32_MAX}", "fd = 1e39"),  # beyond any float32
    ("df", "df = 0.3333334", f"df = {1 / 3}"),
    ("df", "df = 1e39", "df = 'Infinity'"),  # a double too large for float32 is no infinity
    ("dd", "dd = 0.10000000000000002", "dd = 0.1"),  # one ulp
    ("dd", "dd = 0", "dd = 'NaN'"),
]


def test_floats_compare_at_the_coarser_precision(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_float")
    rows = [*FLOAT_EDGES, *_random_floats(random.Random(3), 4000)]
    _float_pair(services, table, rows)
    settings = _plain(services, table)

    report = _diff(settings, table, "id")
    _assert_settled_by_checksums(report)
    assert report["kinds"] == {
        "id": "int", "f": "float32", "fd": "float32", "df": "float32", "dd": "float"
    }  # fmt: skip
    assert report["rules"]["f"] == "float32 on both sides: compared at 4-byte precision"
    assert report["rules"]["fd"] == (
        "float32 vs float64: compared at 4-byte precision, the other side rounded to float32"
    )
    assert report["rules"]["dd"] == "float64 on both sides: compared at 8-byte precision"

    keys = list(range(1, 1 + len(FLOAT_CHANGES) * 397, 397))  # spread over the ranges
    for key, (_column, mine, theirs) in zip(keys, FLOAT_CHANGES, strict=True):
        _mysql_execute(services, (f"UPDATE `{table}` SET {mine} WHERE id = {key}", ()))
        _pg_execute(services, (f"UPDATE {table} SET {theirs} WHERE id = {key}", ()))
    report = _diff(settings, table, "id")
    assert report["different"] == len(FLOAT_CHANGES)
    assert report["only_in_mysql"] == report["only_in_postgres"] == 0
    assert _differing(report) == {
        key: {column} for key, (column, _, _) in zip(keys, FLOAT_CHANGES, strict=True)
    }
    first = report["samples"]["different"][0]["columns"]["f"]  # the next float32
    assert (first["mysql"], first["postgres"]) == (NEXT_AFTER_0_2, 0.20000000298023224)
    assert report["stats"]["ranges_streamed"] == 0  # no float column is summed apart


def test_a_decimal_against_a_real_is_rounded_to_float32(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_decreal")
    _mysql_execute(
        services,
        (f"CREATE TABLE `{table}` (id INT NOT NULL PRIMARY KEY, x DECIMAL(20,10) NULL)", ()),
        (f"INSERT INTO `{table}` VALUES (1, 0.1), (2, 0.3333333333), (3, 16777217), (4, 0.2)", ()),
    )
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (id INT PRIMARY KEY, x REAL)", ()),
        (f"INSERT INTO {table} VALUES (1, 0.1), (2, 1 / 3.0), (3, 16777216), (4, 0.2)", ()),
    )
    settings = _plain(services, table)
    report = _diff(settings, table, "id")
    assert report["verdict"] == "pass", report["reasons"]
    assert report["kinds"]["x"] == "float32"
    _mysql_execute(services, (f"UPDATE `{table}` SET x = 0.2000001 WHERE id = 4", ()))
    assert _differing(_diff(settings, table, "id")) == {4: {"x"}}


def _canonical(value: float) -> str:
    """The canonical token of ``sinks.checksums.floats``, from Python's shortest repr."""
    if value == 0:
        return "0"
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    fraction = fraction.rstrip("0")
    digits = (whole + fraction).lstrip("0")
    zeros = len(digits) - len(digits.rstrip("0"))
    sign = "-" if value < 0 else ""
    return f"{sign}{digits.rstrip('0')}e{int(exponent or 0) - len(fraction) + zeros}"


def test_both_engines_print_one_token_per_value(
    services: Services, tables: Callable[[str], str]
) -> None:
    """The tokens of 30,000 random bit patterns in each float mode, against Python's shortest
    text: MariaDB always agrees; PostgreSQL too, but for the few doubles above 2^53 whose
    shortest form lies on the rounding boundary (it prints one digit more). Those differ
    only in the checksum, never in value."""
    rnd = random.Random(5)
    values: list[tuple[int, float, float]] = []
    while len(values) < 30_000:
        (double,) = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))
        (single,) = struct.unpack("<f", struct.pack("<I", rnd.getrandbits(32)))
        if math.isfinite(double) and math.isfinite(single):
            values.append((len(values), double, single))
    table = tables("tbl_tokens")
    _mysql_execute(
        services,
        (f"CREATE TABLE `{table}` (id INT PRIMARY KEY, d DOUBLE, f FLOAT)", ()),
        (f"INSERT INTO `{table}` VALUES (%s, %s, %s)", values),
    )
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (id INT PRIMARY KEY, d DOUBLE PRECISION, f REAL)", ()),
        (f"INSERT INTO {table} VALUES (%s, %s, %s)", values),
    )
    fields = {
        "float": (Field("d", "float", "float"), lambda d, f: d),
        "float32": (Field("d", "float", "float32"), lambda d, f: f32(d) if abs(d) < 3.4e38 else d),
        "float4": (Field("f", "float4", "float32"), lambda d, f: f),
    }
    mine = checksums.connect_mysql(services.settings.mysql)
    theirs = checksums.connect_postgres(services.settings.postgres)
    try:
        for name, (field, expected) in fields.items():
            with mine.cursor() as cursor:
                cursor.execute(
                    f"SELECT {mysql_float_token(field, field.name)} FROM `{table}` ORDER BY id"
                )
                my_tokens = [row[0] for row in cursor.fetchall()]
            pg_tokens = [
                row[0]
                for row in theirs.execute(
                    f"SELECT {postgres_float_token(field, field.name)} FROM {table} ORDER BY id"
                ).fetchall()
            ]
            wanted = [_canonical(expected(d, f)) for _, d, f in values]
            assert my_tokens == wanted, name
            apart = [
                (token, want)
                for token, want in zip(pg_tokens, wanted, strict=True)
                if token != want
            ]
            assert len(apart) < len(values) // 100, name
            for token, want in apart:
                assert float(token) == float(want), (name, token)
                assert abs(float(want)) >= 2.0**53, (name, token)
    finally:
        mine.close()
        theirs.close()


# --- UUIDs ------------------------------------------------------------------------------------


def _mixed_case(rnd: random.Random, text: str) -> str:
    return "".join(c.upper() if rnd.random() < 0.5 else c for c in text)


def test_uuid_text_keys_and_columns(services: Services, tables: Callable[[str], str]) -> None:
    table = tables("tbl_uuid")
    rnd = random.Random(8)
    ids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(3000)]
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (code CHAR(36) COLLATE utf8mb4_general_ci NOT NULL "
            "PRIMARY KEY, b BINARY(16) NULL, h VARCHAR(32) NULL, t VARCHAR(40) NULL, n INT NULL) "
            "CHARSET utf8mb4",
            (),
        ),
        (
            f"INSERT INTO `{table}` VALUES (%s, %s, %s, %s, %s)",
            [
                (_mixed_case(rnd, str(u)), u.bytes, _mixed_case(rnd, u.hex), str(u).upper(), i)
                for i, u in enumerate(ids)
            ],
        ),
    )
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (code uuid PRIMARY KEY, b uuid, h uuid, t uuid, n INT)", ()),
        (
            f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)",
            [(u, u, u, u, i) for i, u in enumerate(ids)],
        ),
    )
    settings = _plain(services, table, below=50, segments=4)
    report = _diff(settings, table, "code")
    _assert_settled_by_checksums(report)
    assert report["kinds"] == {"code": "uuid", "b": "uuid", "h": "uuid", "t": "uuid", "n": "int"}
    assert report["rules"]["b"] == (
        "UUID by value: MySQL binary(16) vs uuid (the 16 bytes in RFC 4122 order)"
    )

    other = uuid.UUID(int=rnd.getrandbits(128), version=4)
    changed = {
        ids[10]: ("b", "b = %s", [other.bytes]),
        ids[700]: ("h", "h = %s", [other.hex.upper()]),
        ids[1400]: ("t", "t = 'not-a-uuid'", []),  # text that is no UUID: a difference
        ids[2100]: ("t", "t = NULL", []),
        ids[2800]: ("n", "n = -1", []),
    }
    for u, (_column, assignment, params) in changed.items():
        _mysql_execute(
            services,
            (f"UPDATE `{table}` SET {assignment} WHERE code = %s", [*params, str(u)]),
        )
    only_mysql = [ids[5], ids[1500], ids[2999]]
    only_pg = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(2)]
    # Text that is no UUID: rows only in MySQL. "KEY-..." sorts among the UUIDs (after
    # "9", before "a"), so some of them become cuts, which PostgreSQL compares as text.
    not_uuids = ["0-first", "key-last", *(f"KEY-{i:04d}" for i in range(300))]
    _pg_execute(
        services,
        (f"DELETE FROM {table} WHERE code = ANY(%s)", [(only_mysql,)]),
        (f"INSERT INTO {table} (code, n) VALUES (%s, 1)", [(u,) for u in only_pg]),
    )
    _mysql_execute(
        services, (f"INSERT INTO `{table}` (code, n) VALUES (%s, 1)", [(k,) for k in not_uuids])
    )
    report = _diff(settings, table, "code")
    missing = sorted([*map(str, only_mysql), *not_uuids])  # byte order, as the report's
    assert report["only_in_mysql"] == len(missing)
    assert report["samples"]["only_in_mysql"] == missing[:100]
    assert report["samples"]["only_in_postgres"] == sorted(map(str, only_pg))
    assert _differing(report) == {str(u): {column} for u, (column, _, _) in changed.items()}
    shown = report["samples"]["different"]
    assert all(s["key"] == s["key"].lower() for s in shown)  # canonical keys in the report
    assert report["recheck"]["candidates"] == len(changed) + len(missing) + len(only_pg)
    assert report["recheck"]["cleared"] == 0


def test_binary_and_mariadb_uuid_keys(services: Services, tables: Callable[[str], str]) -> None:
    rnd = random.Random(9)
    # Time-based UUIDs too: MariaDB orders its UUID type by their time fields, not bytes.
    ids = [uuid.UUID(int=rnd.getrandbits(128), version=1 + i % 4) for i in range(2000)]
    for mysql_type in ("BINARY(16)", "UUID"):
        table = tables("tbl_ubin")
        stored = [u.bytes if mysql_type == "BINARY(16)" else str(u) for u in ids]
        _mysql_execute(
            services,
            (f"CREATE TABLE `{table}` (id {mysql_type} NOT NULL PRIMARY KEY, v DOUBLE NULL)", ()),
            (
                f"INSERT INTO `{table}` VALUES (%s, %s)",
                [(s, i / 7) for i, s in enumerate(stored)],
            ),
        )
        _pg_execute(
            services,
            (f"CREATE TABLE {table} (id uuid PRIMARY KEY, v DOUBLE PRECISION)", ()),
            (f"INSERT INTO {table} VALUES (%s, %s)", [(u, i / 7) for i, u in enumerate(ids)]),
        )
        settings = _plain(services, table, below=40, segments=4)
        _assert_settled_by_checksums(_diff(settings, table, "id"))
        extra = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(30)]
        # PostgreSQL now has more rows: the cuts are sampled there.
        _pg_execute(
            services,
            (f"DELETE FROM {table} WHERE id = %s", [(ids[3],)]),
            (f"UPDATE {table} SET v = v + 1 WHERE id = %s", [(ids[1234],)]),
            (f"INSERT INTO {table} VALUES (%s, 0)", [(u,) for u in extra]),
        )
        report = _diff(settings, table, "id")
        assert report["samples"]["only_in_mysql"] == [str(ids[3])], mysql_type
        assert report["samples"]["only_in_postgres"] == sorted(map(str, extra)), mysql_type
        assert _differing(report) == {str(ids[1234]): {"v"}}, mysql_type


def test_one_uuid_spelled_twice_in_mysql_cannot_be_compared(
    services: Services, tables: Callable[[str], str]
) -> None:
    table = tables("tbl_udup")
    u = uuid.uuid4()
    _mysql_execute(
        services,
        (
            f"CREATE TABLE `{table}` (code VARCHAR(36) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY) "
            "CHARSET utf8mb4",
            (),
        ),
        (f"INSERT INTO `{table}` VALUES (%s), (%s)", [str(u), str(u).upper()]),
    )
    _pg_execute(
        services,
        (f"CREATE TABLE {table} (code uuid PRIMARY KEY)", ()),
        (f"INSERT INTO {table} VALUES (%s)", [u]),
    )
    with pytest.raises(DuplicateKey, match="twice") as raised:
        _diff(_plain(services, table), table, "code")
    assert raised.value.exit_code == 2
