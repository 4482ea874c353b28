"""The SQL the table diff sends, per dialect, and the pure pieces around it: which pairs of
columns are doubles summed by their bits, the piece search, the totals of pieces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.config import TableRule
from canary.core.segments import Range, Summary, split_at
from canary.diff.tables.columns import build_spec
from canary.diff.tables.probe import _total
from sinks.checksums import (
    Dialect,
    Family,
    Field,
    MySQLQueries,
    Plan,
    PostgresQueries,
    SourceColumn,
    SourceTable,
)
from sinks.checksums.mysql import _mysql8_double, _mysql_render
from sinks.checksums.postgres import _pg_render
from sinks.checksums.text import piece_of, read_pieces


def _family(type_name: str) -> Family:
    """As ``describe_*`` sees it: FLOAT and REAL hold 4 bytes, the rest 8."""
    return "float4" if type_name in ("float", "real") else "float"


def _tables(
    mysql_type: str, pg_type: str, dialect: Dialect = "mariadb"
) -> tuple[SourceTable, SourceTable]:
    key = SourceColumn("id", "int", "bigint", nullable=False)
    mine = SourceTable(
        "t",
        (key, SourceColumn("x", _family(mysql_type), mysql_type)),
        (frozenset({"id"}),),
        dialect,
    )
    theirs = SourceTable(
        "t",
        (
            SourceColumn("id", "int", "bigint", nullable=False),
            SourceColumn("x", _family(pg_type), pg_type),
        ),
        (frozenset({"id"}),),
    )
    return mine, theirs


@pytest.mark.parametrize(
    ("mysql_type", "pg_type", "mode", "kind"),
    [
        ("double", "double precision", "double", "float"),
        ("double unsigned", "double precision", "double", "float"),
        ("float", "real", "float32", "float32"),
        ("float", "double precision", "float32", "float32"),
        ("double", "real", "float32", "float32"),
    ],
)
def test_double_pairs_go_in_the_exact_sum_by_their_bits(
    mysql_type: str, pg_type: str, mode: str, kind: str
) -> None:
    """Two doubles: their IEEE bits; a pair with a 4-byte side: float32 tokens. Either way
    in the exact sum, not loose."""
    spec = build_spec(
        *_tables(mysql_type, pg_type), key=["id"], columns=None, rule=TableRule(), need_age=False
    )
    (column,) = spec.columns
    assert (column.mysql.mode, column.loose, column.kind) == (mode, False, kind)


def test_a_double_with_a_tolerance_stays_loose() -> None:
    rule = TableRule.model_validate({"tolerances": {"x": {"absolute": 0.5}}})
    spec = build_spec(
        *_tables("double", "double precision"), key=["id"], columns=None, rule=rule,
        need_age=False,
    )  # fmt: skip
    assert spec.columns[0].mysql.mode == "float"
    assert spec.columns[0].loose


def test_the_spec_carries_the_mysql_dialect_into_the_plan() -> None:
    spec = build_spec(
        *_tables("double", "double precision", "mysql"), key=["id"], columns=None,
        rule=TableRule(), need_age=False,
    )  # fmt: skip
    assert spec.plan("mysql").dialect == "mysql"
    assert spec.plan("postgres").dialect == "mariadb"  # ignored there


_DOUBLE = Field("x", "float", "double")


def test_double_sql_follows_the_server() -> None:
    mariadb, _ = _mysql_render(_DOUBLE, "mariadb")
    mysql8, _ = _mysql_render(_DOUBLE, "mysql")
    assert "COLUMN_CREATE" in mariadb  # dynamic columns: MariaDB only
    assert "COLUMN_CREATE" not in mysql8
    assert "LOG2" in mysql8
    assert "POW(2, 537)" in mysql8
    assert mysql8 == _mysql8_double("`x`")
    pg, prefixed = _pg_render(_DOUBLE)
    assert pg == "encode(float8send(\"x\" + 0::float8), 'hex')"
    assert not prefixed


def _plan(dialect: Dialect) -> Plan:
    key = (Field("id", "int", "number", nullable=False),)
    exact = (Field("x", "float", "double"),)
    loose = (Field("doc", "json", "json", utf8=dialect == "mariadb"),)
    return Plan("t", key, exact, loose, None, dialect=dialect)


@pytest.mark.parametrize("dialect", ["mariadb", "mysql"])
def test_both_dialects_build_every_statement(dialect: Dialect) -> None:
    queries = MySQLQueries(_plan(dialect))
    summary = queries._summary
    assert ("COLUMN_CREATE" in summary) is (dialect == "mariadb")
    assert ("LOG2" in summary) is (dialect == "mysql")
    # The COPY text for PostgreSQL escapes with CHAR(92), whatever sql_mode makes of "\".
    assert "CHAR(92 USING utf8mb4)" in queries._copy
    assert "GROUP_CONCAT" in queries._copy
    assert "LIMIT %s" in queries._copy
    assert "\\" not in queries._copy


def test_postgres_judges_json_as_jsonb() -> None:
    queries = PostgresQueries(_plan("mariadb"))
    judge = queries._judge
    assert judge._create.startswith("CREATE TEMP TABLE IF NOT EXISTS canary_loose_")
    assert "ON COMMIT DELETE ROWS" in judge._create
    assert "m.j0::jsonb IS DISTINCT FROM p.j0" in judge._query
    assert "FULL JOIN" in judge._query


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=40, unique=True),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
)
def test_piece_of_counts_the_cuts_at_or_below_the_key(cuts: list[int], keys: list[int]) -> None:
    cuts = sorted(cuts)
    sql = piece_of("k", cuts)
    for key in [*keys, *cuts]:
        assert _evaluate(sql, key) == sum(cut <= key for cut in cuts)


def _evaluate(sql: str, key: int) -> int:
    """Evaluates the nested ``CASE WHEN k < c THEN a ELSE b END`` that piece_of builds."""
    text = sql.strip()
    if not text.startswith("CASE"):
        return int(text)
    body = text[len("CASE WHEN k < ") : -len(" END")]
    cut, rest = body.split(" THEN ", 1)
    depth, index = 0, 0
    for index, char in enumerate(rest):  # noqa: B007 - the split point is what is wanted
        if rest.startswith("CASE", index):
            depth += 1
        elif rest.startswith(" END", index):
            depth -= 1
        elif depth == 0 and rest.startswith(" ELSE ", index):
            break
    below, above = rest[:index], rest[index + len(" ELSE ") :]
    return _evaluate(below if key < int(cut) else above, key)


def test_read_pieces_fills_empty_pieces_as_their_own_summary_would() -> None:
    found = [(1, 3, 30, 5, 10, 12), (0, 1, 7, 2, 1, 1)]
    assert read_pieces(found, 3, loose=True) == [
        Summary(1, 7, 2, 1, 1),
        Summary(3, 30, 5, 10, 12),
        Summary(0, 0, 0),
    ]
    assert read_pieces([], 2, loose=False) == [Summary(0, 0, None), Summary(0, 0, None)]


def test_total_of_pieces_reads_like_one_summary() -> None:
    pieces = [Summary(1, 7, 2, 1, 1), Summary(0, 0, 0), Summary(3, 30, 5, 10, 12)]
    assert _total(pieces) == Summary(4, 37, 7, 1, 12)
    assert _total([Summary(1, 7, None, 1, 1), Summary(0, 0, None)]).loose is None
    assert _total([Summary(0, 0, 0), Summary(0, 0, 0)]) == Summary(0, 0, 0)


def test_pieces_line_up_with_the_children_of_a_split() -> None:
    cuts = [10, 20, 30]
    children = split_at(Range((1,), (40,)), [(c,) for c in cuts])
    assert [c.lo for c in children] == [(1,), (10,), (20,), (30,)]
    sql = piece_of("k", cuts)
    for index, child in enumerate(children):
        assert child.lo is not None
        assert _evaluate(sql, int(child.lo[0])) == index
