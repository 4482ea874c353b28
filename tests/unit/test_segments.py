"""The pure planning of a table diff: ranges partition the key space, and the bisection
walk finds exactly the differing keys, whatever they are."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.core.segments import (
    Action,
    Key,
    Range,
    Settled,
    Summary,
    decide,
    sample_step,
    split_at,
    value_cuts,
    walk,
)
from canary.diff.tables.columns import Column
from canary.diff.tables.compare import RowComparer, _json_equal, merge
from canary.errors import KeyOrderError
from comparators.values import ColumnKind, Tolerance, equal
from sinks.checksums import Field, Mode

R = TypeVar("R")


class Immediate(Executor):
    """Runs each task at once on the calling thread: the walk's logic, deterministic."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        future: Future[R] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the future, as a pool would
            future.set_exception(exc)
        return future


# --- ranges ---------------------------------------------------------------------------------

ints = st.integers(min_value=-1000, max_value=1000)
texts = st.text(alphabet="aAbB é\t", max_size=3)
int_keys = st.tuples(ints)
text_keys = st.tuples(texts)
pair_keys = st.tuples(st.integers(0, 5), texts)


def _bounded(keys: st.SearchStrategy[Key]) -> st.SearchStrategy[Range]:
    def make(bounds: tuple[Key | None, Key | None]) -> Range:
        lo, hi = bounds
        if lo is not None and hi is not None:
            if lo == hi:
                return Range(lo, None)
            lo, hi = min(lo, hi), max(lo, hi)
        return Range(lo, hi)

    return st.tuples(st.none() | keys, st.none() | keys).map(make)


def _assert_partition(rng: Range, pieces: Sequence[Range], probes: Sequence[Key]) -> None:
    assert pieces[0].lo == rng.lo
    assert pieces[-1].hi == rng.hi
    for before, after in itertools.pairwise(pieces):
        assert before.hi == after.lo  # contiguous: no gap, no overlap
        assert before.hi is not None
    for piece in pieces:
        if piece.lo is not None and piece.hi is not None:
            assert piece.lo < piece.hi
    for key in probes:
        holders = [piece for piece in pieces if piece.contains(key)]
        assert len(holders) == (1 if rng.contains(key) else 0)


@pytest.mark.parametrize("keys", [int_keys, text_keys, pair_keys], ids=["int", "text", "pair"])
def test_split_at_partitions_the_range(keys: st.SearchStrategy[Key]) -> None:
    @given(_bounded(keys), st.lists(keys, max_size=12), st.lists(keys, max_size=30))
    def check(rng: Range, cuts: list[Key], probes: list[Key]) -> None:
        pieces = split_at(rng, cuts)
        _assert_partition(rng, pieces, probes + cuts)
        inside = {c for c in cuts if rng.contains(c) and c != rng.lo}
        assert len(pieces) == len(inside) + 1

    check()


@given(ints, st.integers(0, 5000), st.integers(2, 64))
def test_value_cuts_make_equal_pieces_within_the_bounds(low: int, width: int, parts: int) -> None:
    high = low + width
    cuts = value_cuts(low, high, parts)
    assert cuts == sorted(set(cuts))
    assert all(low < cut <= high for cut in cuts)
    assert len(cuts) <= parts - 1
    edges = [low, *cuts, high + 1]
    sizes = [b - a for a, b in itertools.pairwise(edges)]
    assert max(sizes) <= -(-(width + 1) // parts)
    if width >= 1:
        assert cuts  # two keys or more can always be split


def test_value_cuts_of_a_single_key_is_nothing() -> None:
    assert value_cuts(7, 7, 32) == []


@given(st.integers(0, 10**7), st.integers(2, 1024))
def test_sample_step_gives_at_most_parts_pieces(count: int, parts: int) -> None:
    step = sample_step(count, parts)
    assert step >= 1
    assert count // step <= parts


def test_range_refuses_to_be_empty() -> None:
    with pytest.raises(ValueError, match="empty range"):
        Range((5,), (5,))
    assert str(Range((1,), None)) == "[1, +inf)"


def test_decide() -> None:
    same = Summary(10, 123, 7)
    assert decide(same, same, 5) is Action.EQUAL
    assert decide(same, Summary(10, 124, 7), 10) is Action.SPLIT
    assert decide(same, Summary(10, 124, 7), 11) is Action.DOWNLOAD
    assert decide(same, Summary(9, 123, 7), 11) is Action.DOWNLOAD
    assert decide(same, Summary(10, 123, 8), 1) is Action.LOOSE
    assert decide(same, Summary(10, 123, None), 1) is Action.LOOSE  # not computed: verify
    assert decide(Summary(0, 0, None), Summary(0, 0, None), 1) is Action.EQUAL
    assert decide(Summary(0, 0), Summary(0, 0), 1) is Action.EQUAL


# --- the walk over an in-memory pair of tables ----------------------------------------------------


@dataclass(frozen=True)
class Loose:
    """A loose value: what it means, and the text its engine happens to print."""

    meaning: int
    text: str


Table = dict[Key, tuple[int, Loose]]


@dataclass
class Found:
    only_in_mysql: set[Key]
    only_in_postgres: set[Key]
    different: set[Key]


def _hash(*parts: object) -> int:
    return int(hashlib.md5(repr(parts).encode(), usedforsecurity=False).hexdigest()[:15], 16)


class MemoryProbe:
    """The Probe contract over two dicts, with the databases' semantics."""

    def __init__(self, mysql: Table, postgres: Table, integer: bool) -> None:
        self.sides = (mysql, postgres)
        self.integer = integer
        self.visited: list[Range] = []
        self.parents: set[Range] = set()
        self.settled: list[Range] = []

    def _keys(self, side: int, rng: Range) -> list[Key]:
        return sorted(k for k in self.sides[side] if rng.contains(k))

    def _summary(self, side: int, rng: Range) -> Summary:
        keys = self._keys(side, rng)
        rows = self.sides[side]
        exact = sum(_hash(k, rows[k][0]) for k in keys)
        loose = sum(_hash(k, rows[k][1].text) for k in keys)
        low = high = None
        if self.integer and keys:
            low, high = int(keys[0][0]), int(keys[-1][0])
        return Summary(len(keys), exact, loose, low, high)

    def summarize(self, rng: Range) -> tuple[Summary, Summary]:
        self.visited.append(rng)
        return self._summary(0, rng), self._summary(1, rng)

    def cuts(self, rng: Range, mysql: Summary, postgres: Summary, parts: int) -> list[Key]:
        self.parents.add(rng)
        if self.integer:
            lows = [s.low for s in (mysql, postgres) if s.low is not None]
            highs = [s.high for s in (mysql, postgres) if s.high is not None]
            return [(c,) for c in value_cuts(min(lows), max(highs), parts)]
        side = 0 if mysql.count >= postgres.count else 1
        keys = self._keys(side, rng)
        step = sample_step(len(keys), parts)
        return keys[step - 1 :: step]  # every step-th row, as ROW_NUMBER() % step = 0

    def settle(self, rng: Range, *, loose_only: bool) -> Found:
        self.settled.append(rng)
        mine, theirs = (set(self._keys(side, rng)) for side in (0, 1))
        different = set()
        for key in mine & theirs:
            (a_exact, a_loose), (b_exact, b_loose) = self.sides[0][key], self.sides[1][key]
            if a_loose.meaning != b_loose.meaning or (not loose_only and a_exact != b_exact):
                different.add(key)
        return Found(mine - theirs, theirs - mine, different)


@st.composite
def table_pairs(draw: st.DrawFn, keys: st.SearchStrategy[Key]) -> tuple[Table, Table, Found]:
    """Two tables and exactly how they differ: missing rows, changed values, and loose
    values that only print differently (which are no difference)."""
    base = draw(
        st.dictionaries(keys, st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=120)
    )
    mysql: Table = {}
    postgres: Table = {}
    expected = Found(set(), set(), set())
    for key, (exact, meaning) in base.items():
        fate = draw(
            st.sampled_from(["same", "same", "same", "mysql", "pg", "exact", "loose", "text"])
        )
        mysql[key] = (exact, Loose(meaning, f"{meaning}"))
        if fate == "mysql":
            expected.only_in_mysql.add(key)
            continue
        other = (exact, Loose(meaning, f"{meaning}"))
        if fate == "exact":
            other = (exact + 1, other[1])
            expected.different.add(key)
        elif fate == "loose":
            other = (exact, Loose(meaning + 1, f"{meaning + 1}"))
            expected.different.add(key)
        elif fate == "text":  # same meaning, another spelling: JSON key order, say
            other = (exact, Loose(meaning, f" {meaning} "))
        postgres[key] = other
        if fate == "pg":
            del mysql[key]
            expected.only_in_postgres.add(key)
    for key in draw(st.lists(keys, max_size=15)):
        if key not in base:
            postgres[key] = (0, Loose(0, "0"))
            expected.only_in_postgres.add(key)
    return mysql, postgres, expected


def _run_walk(
    mysql: Table, postgres: Table, integer: bool, parts: int, below: int, roots: list[Range]
) -> tuple[Found, MemoryProbe]:
    probe = MemoryProbe(mysql, postgres, integer)
    found = Found(set(), set(), set())
    seen: list[Key] = []

    def collect(done: Settled[Found]) -> None:
        for name in ("only_in_mysql", "only_in_postgres", "different"):
            keys = getattr(done.outcome, name)
            getattr(found, name).update(keys)
            seen.extend(keys)

    stats = walk(
        roots, probe, parts=parts, download_below=below, executor=Immediate(), settled=collect
    )
    assert len(seen) == len(set(seen))  # no key settled twice
    assert stats.rows == [len(mysql), len(postgres)]
    # The leaves (ranges not split further) partition the key space.
    settled = set(probe.settled)
    leaves = sorted(
        (r for r in probe.visited if r not in probe.parents or r in settled),
        key=lambda r: (r.lo is not None, r.lo or ()),
    )
    _assert_partition(Range(), leaves, [*mysql, *postgres])
    return found, probe


@pytest.mark.parametrize(
    ("keys", "integer"),
    [(st.tuples(st.integers(-300, 300)), True), (text_keys, False), (pair_keys, False)],
    ids=["int", "text", "composite"],
)
def test_the_walk_finds_exactly_the_differing_keys(
    keys: st.SearchStrategy[Key], integer: bool
) -> None:
    @settings(max_examples=150, deadline=None)
    @given(table_pairs(keys), st.integers(2, 5), st.integers(1, 6), st.integers(2, 8))
    def check(pair: tuple[Table, Table, Found], parts: int, below: int, segments: int) -> None:
        mysql, postgres, expected = pair
        roots = [Range()]
        every = [*mysql, *postgres]
        if integer and every:
            low, high = min(every)[0], max(every)[0]
            assert isinstance(low, int)
            assert isinstance(high, int)
            roots = split_at(Range(), [(c,) for c in value_cuts(low, high, segments)])
        found, probe = _run_walk(mysql, postgres, integer, parts, below, roots)
        assert found == expected
        for rng in probe.settled:  # a settled range was small, or could not be cut
            assert rng in probe.visited

    check()


def test_the_walk_reports_the_first_error() -> None:
    class Broken(MemoryProbe):
        def summarize(self, rng: Range) -> tuple[Summary, Summary]:
            raise ConnectionError("gone")

    with pytest.raises(ConnectionError, match="gone"):
        walk(
            [Range()],
            Broken({}, {}, True),
            parts=2,
            download_below=1,
            executor=Immediate(),
            settled=lambda _: None,
        )


def test_a_range_that_cannot_be_cut_is_downloaded() -> None:
    class Uncuttable(MemoryProbe):
        def cuts(self, rng: Range, mysql: Summary, postgres: Summary, parts: int) -> list[Key]:
            return []

    mysql = {(i,): (0, Loose(0, "0")) for i in range(10)}
    postgres = {**mysql, (3,): (1, Loose(0, "0"))}
    probe = Uncuttable(mysql, postgres, False)
    results: list[Settled[Found]] = []
    stats = walk(
        [Range()], probe, parts=2, download_below=2, executor=Immediate(), settled=results.append
    )
    assert [r.action for r in results] == [Action.DOWNLOAD]
    assert results[0].outcome.different == {(3,)}
    assert stats.downloaded == 1


# --- merging rows ---------------------------------------------------------------------------------


def _col(name: str, mode: Mode, kind: ColumnKind, tolerance: Tolerance | None = None) -> Column:
    family = {"json": "json", "float": "float", "number": "decimal"}.get(mode, "text")
    field = Field(name, family, mode)  # type: ignore[arg-type]
    return Column(name, field, field, kind, tolerance or Tolerance(), mode in ("json", "float"))


def test_merge_classifies_every_key() -> None:
    comparer = RowComparer(
        [
            _col("amount", "number", "decimal"),
            _col("doc", "json", "json"),
            _col("f", "float", "float", Tolerance(absolute=0.01)),
        ]
    )
    mysql = [
        (1, Decimal("1.50"), '{"b":1,"a":[1,2]}', "0.5"),
        (2, Decimal("2.00"), "[true]", "1"),
        (3, Decimal("3"), "{}", "2"),
        (5, Decimal("5"), "{}", "2"),
    ]
    postgres = [
        (1, Decimal("1.5"), '{"a": [1, 2], "b": 1}', "0.505"),
        (2, Decimal("2.01"), "[1]", "1"),
        (4, Decimal("4"), "{}", "2"),
        (5, Decimal("5"), "{}", "2.5"),
    ]
    outcome = merge(mysql, postgres, key_width=1, comparer=comparer)
    assert outcome.only_in_mysql == [(3,)]
    assert outcome.only_in_postgres == [(4,)]
    assert [key for key, _ in outcome.different] == [(2,), (5,)]
    assert set(outcome.different[0][1]) == {"amount", "doc"}
    assert set(outcome.different[1][1]) == {"f"}
    assert outcome.rows == 8


def test_merge_refuses_rows_out_of_key_order() -> None:
    comparer = RowComparer([])
    with pytest.raises(KeyOrderError, match="MySQL returned key"):
        merge([("b",), ("a",)], [], key_width=1, comparer=comparer)
    with pytest.raises(KeyOrderError, match="PostgreSQL"):
        merge([], [(1,), (1,)], key_width=1, comparer=comparer)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["1.5", "1.50", "0.1", "1e2", "100", "-0", "0.10000000000000000001"]).map(
        Decimal
    )
    | st.text("ab", max_size=2),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)


def _dump(value: object, spaced: bool) -> str:
    if isinstance(value, dict):
        sep = ", " if spaced else ","
        items = sorted(value.items(), reverse=spaced)
        return "{" + sep.join(f'"{k}": {_dump(v, spaced)}' for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + (", " if spaced else ",").join(_dump(v, spaced) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@settings(max_examples=300)
@given(json_values, json_values, st.booleans(), st.booleans())
def test_the_json_fast_path_never_contradicts_the_rule(
    a: object, b: object, spaced_a: bool, spaced_b: bool
) -> None:
    first, second = _dump(a, spaced_a), _dump(b, spaced_b)
    if _json_equal(first, second):
        assert equal(first, second, "json")
    assert _json_equal(first, _dump(a, not spaced_a)) or "true" in first or "false" in first
