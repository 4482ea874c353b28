"""How the table diff pairs float and UUID columns, and the SQL it renders for them (pure)."""

from __future__ import annotations

import uuid

import pytest

from canary.config import TableRule, ToleranceSettings
from canary.core.segments import Range
from canary.diff.tables.columns import Spec, build_spec, pair_mode, uuid_mode
from canary.diff.tables.compare import RowComparer, merge
from canary.errors import DuplicateKey, UsageError
from sinks.checksums import (
    Family,
    Field,
    MySQLQueries,
    Plan,
    PostgresQueries,
    SourceColumn,
    SourceTable,
    mysql_family,
    postgres_family,
)
from sinks.checksums.floats import (
    mysql_float_read,
    mysql_float_token,
    postgres_float_read,
    postgres_float_token,
)
from sinks.checksums.uuids import canonical, mysql_uuid_key, mysql_uuid_text

UUID_TEXT = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _table(name: str, *columns: SourceColumn, key: str = "id") -> SourceTable:
    return SourceTable(name, columns, (frozenset({key}),))


def _spec(mysql: SourceColumn, postgres: SourceColumn, **rule: object) -> Spec:
    """A spec of tables keyed by an integer ``id`` plus the given column pair."""
    my_id = SourceColumn("id", "int", "bigint", nullable=False)
    pg_id = SourceColumn("id", "int", "bigint", nullable=False)
    return build_spec(
        _table("m", my_id, mysql),
        _table("p", pg_id, postgres),
        key=["id"],
        columns=None,
        rule=TableRule(**rule),  # type: ignore[arg-type]
        need_age=False,
    )


# --- families -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "column_type", "family"),
    [
        ("float", "float", "float4"),
        ("float", "float(7,3)", "float4"),
        ("double", "double", "float"),
        ("double", "double(10,2)", "float"),
        ("uuid", "uuid", "uuid"),
        ("binary", "binary(16)", "bytes"),
    ],
)
def test_mysql_families(data_type: str, column_type: str, family: Family) -> None:
    assert mysql_family(data_type, column_type) == family


@pytest.mark.parametrize(
    ("type_name", "family"), [("float4", "float4"), ("float8", "float"), ("uuid", "uuid")]
)
def test_postgres_families(type_name: str, family: Family) -> None:
    assert postgres_family(type_name, "b") == family


# --- pairing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mysql", "postgres", "mode"),
    [
        ("float4", "float4", "float32"),  # FLOAT vs REAL
        ("float4", "float", "float32"),  # FLOAT vs DOUBLE PRECISION: the coarser, 4 bytes
        ("float", "float4", "float32"),  # DOUBLE vs REAL
        ("float", "float", "float"),  # DOUBLE vs DOUBLE PRECISION: 8 bytes
        ("decimal", "float4", "float32"),
        ("int", "float", "float"),
        ("decimal", "decimal", "number"),
    ],
)
def test_floats_pair_at_the_coarser_precision(mysql: Family, postgres: Family, mode: str) -> None:
    assert pair_mode(mysql, postgres) == (mode, mode if mode != "number" else "decimal")


@pytest.mark.parametrize(
    ("family", "type_name", "paired"),
    [
        ("text", "char(36)", True),
        ("text", "varchar(32)", True),
        ("text", "text", True),
        ("bytes", "binary(16)", True),
        ("bytes", "BINARY(16)", True),
        ("bytes", "varbinary(16)", False),  # may hold other lengths: compared as text forms
        ("bytes", "binary(32)", False),
        ("uuid", "uuid", True),  # MariaDB's own UUID
        ("int", "bigint", False),
    ],
)
def test_uuid_pairs(family: Family, type_name: str, paired: bool) -> None:
    mysql = SourceColumn("u", family, type_name)
    postgres = SourceColumn("u", "uuid", "uuid")
    assert uuid_mode(mysql, postgres) == (("uuid", "uuid") if paired else None)
    assert uuid_mode(mysql, SourceColumn("u", "text", "text")) is None


def test_float_pairs_join_the_exact_sum_unless_a_side_is_no_float() -> None:
    pairs = {
        "float vs real": (
            SourceColumn("x", "float4", "float"),
            SourceColumn("x", "float4", "real"),
        ),
        "float vs double": (
            SourceColumn("x", "float4", "float"),
            SourceColumn("x", "float", "double precision"),
        ),
        "double vs real": (
            SourceColumn("x", "float", "double"),
            SourceColumn("x", "float4", "real"),
        ),
    }
    for name, (mysql, postgres) in pairs.items():
        column = _spec(mysql, postgres).columns[0]
        assert column.kind == "float32", name
        assert not column.loose, name  # one token per value on both engines
        assert column.mysql.mode == column.postgres.mode == "float32", name
    decimal = _spec(
        SourceColumn("x", "decimal", "decimal(10,2)", scale=2), pairs["float vs real"][1]
    )
    assert decimal.columns[0].loose  # a DECIMAL's text is no float token
    tolerated = _spec(
        *pairs["float vs real"], tolerances={"x": ToleranceSettings(absolute=0.5)}
    ).columns[0]
    assert tolerated.loose


def test_rules_say_how_each_pair_is_compared() -> None:
    real = SourceColumn("x", "float4", "real")
    assert _spec(SourceColumn("x", "float4", "float"), real).columns[0].rule == (
        "float32 on both sides: compared at 4-byte precision"
    )
    assert _spec(SourceColumn("x", "float", "double"), real).columns[0].rule == (
        "float64 vs float32: compared at 4-byte precision, the other side rounded to float32"
    )
    double = SourceColumn("x", "float", "double precision")
    assert _spec(SourceColumn("x", "float", "double"), double).columns[0].rule == (
        "float64 on both sides: compared at 8-byte precision"
    )
    cent = {"x": ToleranceSettings(absolute=0.01)}
    assert _spec(SourceColumn("x", "float4", "float"), real, tolerances=cent).columns[0].rule == (
        "float32 on both sides: compared at 4-byte precision, within absolute 0.01"
    )
    binary = _spec(SourceColumn("x", "bytes", "binary(16)"), SourceColumn("x", "uuid", "uuid"))
    assert binary.columns[0].rule == (
        "UUID by value: MySQL binary(16) vs uuid (the 16 bytes in RFC 4122 order)"
    )
    text = _spec(SourceColumn("x", "text", "char(36)"), SourceColumn("x", "uuid", "uuid"))
    assert text.columns[0].rule == (
        "UUID by value: MySQL char(36) vs uuid (text: 8-4-4-4-12 or 32 hex digits, any case; "
        "other text differs)"
    )
    mariadb = _spec(SourceColumn("x", "uuid", "uuid"), SourceColumn("x", "uuid", "uuid"))
    assert mariadb.columns[0].rule == "UUID by value: MySQL uuid vs uuid"
    assert (
        _spec(SourceColumn("x", "text", "text"), SourceColumn("x", "text", "text"))
        .columns[0]
        .rule.startswith("text, exactly")
    )


def test_uuid_keys_are_accepted_and_float_keys_are_not() -> None:
    mine = SourceColumn("u", "text", "char(36)", nullable=False)
    theirs = SourceColumn("u", "uuid", "uuid", nullable=False)
    spec = build_spec(
        _table("m", mine, key="u"),
        _table("p", theirs, key="u"),
        key=["u"],
        columns=None,
        rule=TableRule(),
        need_age=False,
    )
    assert spec.key[0].kind == "uuid"
    assert not spec.integer_key
    with pytest.raises(UsageError, match="must be an integer, text or a UUID"):
        build_spec(
            _table("m", SourceColumn("f", "float4", "float", nullable=False), key="f"),
            _table("p", SourceColumn("f", "float4", "real", nullable=False), key="f"),
            key=["f"],
            columns=None,
            rule=TableRule(),
            need_age=False,
        )


# --- float SQL ----------------------------------------------------------------------------


def test_a_mysql_float_is_read_and_hashed_as_the_double_that_holds_it() -> None:
    field = Field("f", "float4", "float32")
    assert mysql_float_read(field, "`f`") == "CAST(CAST(`f` AS DOUBLE) AS CHAR)"
    token = mysql_float_token(field, "`f`")
    assert "CAST(`f` AS DOUBLE)" in token
    assert "AS FLOAT" not in token  # nothing to round: it is a float32 already
    assert postgres_float_read(Field("f", "float4", "float32"), '"f"') == '("f"::float8)::text'


def test_an_8_byte_side_of_a_float32_pair_is_rounded_with_its_range_tested_first() -> None:
    field = Field("d", "float", "float32")
    mysql = mysql_float_token(field, "`d`")
    assert "CAST(CAST(`d` AS FLOAT) AS DOUBLE)" in mysql
    assert mysql.index("ABS(`d`) >= 3.4028235677973366e38") < mysql.index("AS FLOAT")
    postgres = postgres_float_token(field, '"d"')
    assert '"d"::float4::float8' in postgres
    for guard in ("'3.4028235677973366e38'::float8", "'7.006492321624085e-46'::float8"):
        assert postgres.index(guard) < postgres.index("::float4")
    # The read keeps the stored double: the report shows what is there.
    assert mysql_float_read(field, "`d`") == "CAST(`d` AS CHAR)"
    assert postgres_float_read(field, '"d"') == '("d")::text'


def test_an_8_byte_pair_is_not_rounded() -> None:
    field = Field("d", "float", "float")
    assert "FLOAT" not in mysql_float_token(field, "`d`").replace("DOUBLE", "")
    assert "float4" not in postgres_float_token(field, '"d"')


def test_float_columns_are_hashed_with_the_exact_sum() -> None:
    plan = Plan(
        "t",
        key=(Field("id", "int", "number", nullable=False),),
        exact=(Field("f", "float4", "float32"),),
        loose=(),
    )
    mysql = MySQLQueries(plan)
    assert "CAST(`f` AS DOUBLE)" in mysql._summary
    assert mysql._summary.endswith(", 0, MIN(`id`), MAX(`id`) FROM `t`")  # no loose sum
    assert "CAST(CAST(`f` AS DOUBLE) AS CHAR)" in mysql._select_all
    postgres = PostgresQueries(plan)
    assert '"f"::float8' in postgres._summary


# --- UUID SQL -----------------------------------------------------------------------------


def test_uuid_text_sql() -> None:
    text = Field("u", "text", "uuid", utf8=True)
    sql = mysql_uuid_text(text, "`u`", "`u` COLLATE utf8mb4_bin")
    assert "CHAR_LENGTH(`u` COLLATE utf8mb4_bin) = 36" in sql
    assert "LOWER(`u` COLLATE utf8mb4_bin)" in sql
    assert sql.endswith("ELSE `u` COLLATE utf8mb4_bin END")  # other text keeps its own text
    assert "$" not in sql  # PCRE's $ also matches before a final newline
    binary = Field("u", "bytes", "uuid")
    assert mysql_uuid_text(binary, "`u`", "").startswith("LOWER(INSERT(INSERT(")
    assert mysql_uuid_key(binary, "`u`", "") == "`u`"  # its index serves the ranges
    assert mysql_uuid_key(text, "`u`", "`u` COLLATE utf8mb4_bin").startswith("CAST(CASE")
    mariadb = Field("u", "uuid", "uuid")
    assert mysql_uuid_text(mariadb, "`u`", "") == "CAST(`u` AS CHAR)"
    # MariaDB orders its UUID type by time fields, not bytes: the text is the order.
    assert mysql_uuid_key(mariadb, "`u`", "") == "CAST(CAST(`u` AS CHAR) AS BINARY)"


def test_canonical_uuid_text() -> None:
    assert canonical(UUID_TEXT)
    assert not canonical(UUID_TEXT.upper())
    assert not canonical(UUID_TEXT.replace("-", ""))
    assert not canonical(UUID_TEXT + "\n")
    assert not canonical(uuid.UUID(UUID_TEXT))


def _uuid_plan(family: Family) -> Plan:
    return Plan(
        "t",
        key=(Field("u", family, "uuid", nullable=False), Field("n", "int", "number")),
        exact=(),
        loose=(),
    )


def test_mysql_bounds_a_binary_uuid_key_by_its_bytes() -> None:
    queries = MySQLQueries(_uuid_plan("bytes"))
    where, params = queries._where(Range(lo=(UUID_TEXT, 3)), None)
    assert where.startswith("WHERE `u` >= %s AND")
    assert params[0] == uuid.UUID(UUID_TEXT).bytes
    text = MySQLQueries(_uuid_plan("text"))
    where, params = text._where(Range(hi=(UUID_TEXT, 3)), None)
    assert "CAST(CASE WHEN" in where
    assert params[0] == UUID_TEXT.encode()
    assert "LOWER(" in text._cuts.split("ROW_NUMBER")[0]  # cuts are canonical keys


def test_postgres_bounds_by_uuid_unless_the_bound_is_no_uuid() -> None:
    queries = PostgresQueries(_uuid_plan("uuid"))
    where, params = queries._where(Range(lo=(UUID_TEXT, 1), hi=("zz-not-a-uuid", 0)), None)
    assert '("u", "n") >= (%s, %s)' in where
    assert '("u"::text COLLATE "C", "n") < (%s, %s)' in where  # the same order, as text
    assert params == [UUID_TEXT, 1, "zz-not-a-uuid", 0]
    assert '"u"::text AS canary_k0' in queries._cuts
    assert queries._select_all.startswith('SELECT "u"::text, "n"')


def test_one_uuid_spelled_twice_is_a_usage_error() -> None:
    comparer = RowComparer([])
    with pytest.raises(DuplicateKey, match="twice") as raised:
        merge([(UUID_TEXT,), (UUID_TEXT,)], [], key_width=1, comparer=comparer)
    assert raised.value.exit_code == 2
