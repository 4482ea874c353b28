"""The pure parts of a consistent table diff: the cut from both paths' commits, the SQL
condition of "below the cut", keys set aside as in flight, their count, and the report."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.cut import Commits, Cut, compute_cut
from canary.core.segments import Key, WalkStats
from canary.diff.tables.compare import Outcome
from canary.diff.tables.inflight import InFlight, set_aside, union
from canary.diff.tables.report import Consistency, Effort, Recheck, TablesReport
from canary.errors import EXIT_USAGE, UsageError
from sinks.checksums import SourceCut
from sinks.checksums.text import below_cut


def _commits(path: str, offsets: Mapping[int, int]) -> Commits:
    return Commits(path, f"{path}-group", f"{path} store", dict(offsets))


def _cut(legacy: Mapping[int, int], ring: Mapping[int, int], partitions: range) -> Cut:
    return compute_cut("orders", partitions, _commits("legacy", legacy), _commits("ring", ring))


# --- the cut -------------------------------------------------------------------------------


def test_the_cut_is_the_smaller_commit_of_each_partition() -> None:
    cut = _cut({0: 10, 1: 5, 2: 7}, {0: 4, 1: 9, 2: 7}, range(3))
    assert cut.offsets == ((0, 4), (1, 5), (2, 7))
    assert cut.as_json() == {"0": 4, "1": 5, "2": 7}
    assert cut.below(0, 3)
    assert not cut.below(0, 4)  # the cut offset itself is not settled: not read yet
    assert cut.below(1, 4)
    assert not cut.below(1, 5)


def test_a_partition_one_path_has_not_committed_on_has_nothing_below_the_cut() -> None:
    # ring has not reached partition 1; nobody has committed on partition 2; legacy has
    # committed on a partition 3 the topic's metadata does not list (yet).
    cut = _cut({0: 10, 1: 8, 3: 2}, {0: 6}, range(3))
    assert cut.offsets == ((0, 6), (1, 0), (2, 0), (3, 0))
    assert cut.settled == ((0, 6),)
    assert not cut.below(1, 0)
    assert not cut.below(7, 0)  # a partition the cut does not know at all


@pytest.mark.parametrize("path", ["legacy", "ring"])
def test_a_path_that_never_committed_is_a_usage_error_naming_it(path: str) -> None:
    legacy, ring = ({}, {0: 1}) if path == "legacy" else ({0: 1}, {})
    with pytest.raises(UsageError) as caught:
        _cut(legacy, ring, range(2))
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE
    assert f"the {path} path has never committed on topic 'orders'" in message
    assert f"'{path}-group'" in message
    assert f"{path} store" in message
    assert f"--{path}-group" in message


@given(
    st.dictionaries(st.integers(0, 7), st.integers(0, 10**6), min_size=1),
    st.dictionaries(st.integers(0, 7), st.integers(0, 10**6), min_size=1),
    st.integers(0, 7),
    st.integers(0, 10**6),
)
def test_below_the_cut_means_below_both_commits(
    legacy: dict[int, int], ring: dict[int, int], partition: int, offset: int
) -> None:
    cut = _cut(legacy, ring, range(4))
    both = offset < legacy.get(partition, 0) and offset < ring.get(partition, 0)
    assert cut.below(partition, offset) is both


# --- the SQL condition -----------------------------------------------------------------------


def test_below_cut_is_one_case_over_the_settled_partitions() -> None:
    def quote(name: str) -> str:
        return f"<{name}>"

    sql, params = below_cut(SourceCut("p", "o", ((0, 6), (2, 9))), quote)
    assert sql == "COALESCE(<o> < CASE <p> WHEN %s THEN %s WHEN %s THEN %s END, 1 = 0)"
    assert params == [0, 6, 2, 9]


def test_nothing_is_below_a_cut_with_no_settled_partition() -> None:
    assert below_cut(SourceCut("p", "o", ()), str) == ("1 = 0", [])


# --- keys set aside as in flight -------------------------------------------------------------


def test_a_key_below_the_cut_on_one_side_and_past_it_on_the_other_is_in_flight() -> None:
    difference = {"status": ("paid", "PAID")}
    outcome = Outcome(
        rows=9,
        only_in_mysql=[(1,), (2,), (3,)],
        only_in_postgres=[(4,), (5,)],
        different=[((6,), difference)],
    )
    # PostgreSQL holds 2 and 3 past the cut; MySQL holds 5 past it. 1 and 4 are missing.
    kept = set_aside(outcome, past_on_mysql={(5,)}, past_on_postgres={(2,), (3,)})
    assert kept.only_in_mysql == [(1,)]
    assert kept.only_in_postgres == [(4,)]
    assert kept.different == [((6,), difference)]  # both below the cut: they must agree
    assert kept.in_flight == [(2,), (3,), (5,)]
    assert kept.rows == 9


def test_keys_past_the_cut_on_the_same_side_do_not_excuse_a_missing_row() -> None:
    # MySQL holds 1 below the cut; "past on MySQL" says nothing about PostgreSQL's row.
    kept = set_aside(Outcome(only_in_mysql=[(1,)]), past_on_mysql={(1,)}, past_on_postgres=set())
    assert kept.only_in_mysql == [(1,)]
    assert kept.in_flight == []


def test_union_counts_each_key_once_and_keeps_the_smallest() -> None:
    mysql: list[Key] = [(1,), (3,), (5,), (7,)]
    postgres: list[Key] = [(2,), (3,), (7,), (9,)]
    found = union(iter(mysql), iter(postgres), max_samples=3)
    assert found == InFlight(6, [(1,), (2,), (3,)])
    assert union(iter([]), iter([]), max_samples=3) == InFlight()


@given(
    st.sets(st.tuples(st.integers(0, 50), st.text(max_size=2))),
    st.sets(st.tuples(st.integers(0, 50), st.text(max_size=2))),
    st.integers(0, 5),
)
def test_union_is_the_size_of_the_set_union(
    mysql: set[tuple[int, str]], postgres: set[tuple[int, str]], samples: int
) -> None:
    found = union(iter(sorted(mysql)), iter(sorted(postgres)), samples)
    assert found.count == len(mysql | postgres)
    assert found.samples == sorted(mysql | postgres)[:samples]


# --- the report ---------------------------------------------------------------------------------


def _report(consistency: Consistency | None) -> TablesReport:
    return TablesReport(
        id="tables-orders-1",
        created_at="2026-01-01T00:00:00+00:00",
        verdict="fail",
        reasons=["1 row differs (status: 1)"],
        table="orders",
        mysql_table="orders",
        pg_table="orders_v2",
        key=["order_id"],
        columns=["status"],
        kinds={"order_id": "int", "status": "text"},
        rules={"order_id": "integers by value", "status": "text exactly"},
        ignored=[],
        rows=(10, 11),
        only_in_mysql=0,
        only_in_postgres=0,
        different=1,
        different_columns={"status": 1},
        causes={"case-only": 1},
        samples={
            "only_in_mysql": [],
            "only_in_postgres": [],
            "different": [{"key": 6, "columns": {"status": {"mysql": "paid", "postgres": "PAID"}}}],
        },
        schema=([], []),
        older_than=None,
        recheck=Recheck(enabled=True, delay_s=1.0, candidates=2, cleared=1),
        effort=Effort(2.0, WalkStats(checked=3, rows=[10, 11]), 21),
        consistency=consistency,
    )


def test_the_tables_report_json_has_the_contract_fields() -> None:
    body = _report(None).as_json()
    assert body["kind"] == "tables"
    assert (body["verdict"], body["reasons"]) == ("fail", ["1 row differs (status: 1)"])
    assert (body["mysql_table"], body["pg_table"], body["key"]) == (
        "orders",
        "orders_v2",
        ["order_id"],
    )
    assert body["rows"] == {"mysql": 10, "postgres": 11}
    assert (body["only_in_mysql"], body["only_in_postgres"], body["different"]) == (0, 0, 1)
    assert body["samples"]["different"][0]["key"] == 6
    assert body["recheck"] == {
        "enabled": True,
        "delay_s": 1.0,
        "candidates": 2,
        "cleared": 1,
        "skipped": None,
    }
    assert body["stats"]["rows_per_s"] == 10.5
    assert "cut" not in body
    assert "in_flight" not in body
    assert "in_flight" not in body["samples"]


def test_a_consistent_report_carries_the_cut_and_what_was_in_flight() -> None:
    cut = _cut({0: 10, 1: 5}, {0: 4, 1: 9}, range(2))
    body = _report(Consistency(cut, InFlight(7, [(3,), (8,)]))).as_json()
    assert body["cut"] == {"0": 4, "1": 5}
    assert body["in_flight"] == 7
    assert body["samples"]["in_flight"] == [3, 8]
    assert body["consistent"] == {
        "topic": "orders",
        "groups": {"legacy": "legacy-group", "ring": "ring-group"},
        "commits": {"legacy": {"0": 10, "1": 5}, "ring": {"0": 4, "1": 9}},
    }
