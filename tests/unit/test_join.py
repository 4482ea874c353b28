"""The stream join of CONTRACTS §5, checked against a plain reference model.

The reference below is written from the contract, not from the join: per coordinate and
path it keeps the first event in arrival order, counts every later one as a duplicate,
and classifies the coordinate from the two first events. Samples are the smallest
coordinates of each class.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.core.events import CompareEvent, PathName, SourceCoord, encode_event
from canary.core.join import Horizon, JoinResult, StreamJoin, merge
from canary.core.sketch import LatencySketch
from canary.core.stats import nearest_rank
from canary.diff.fold import fold as fold_messages
from canary.testing import MemoryMessage

RUN = "run-1"
SUM_A = "a" * 32
SUM_B = "b" * 32
SUM_C = "0123456789abcdef" * 2
TS = 1_700_000_000_000
Coord = tuple[str, int, int]


def event(
    coord: Coord,
    path: PathName,
    checksum: str = SUM_A,
    latency: float = 5.0,
    key: str | None = None,
    run: str = RUN,
) -> CompareEvent:
    topic, partition, offset = coord
    return CompareEvent(
        run=run,
        path=path,
        key=key if key is not None else f"k{partition}-{offset}",
        src=SourceCoord(t=topic, p=partition, o=offset, ts=TS),
        sum=checksum,
        at=TS + latency,
    )


def fold(
    events: Iterable[CompareEvent], max_samples: int = 20, horizon: Horizon | None = None
) -> JoinResult:
    join = StreamJoin(RUN, max_samples=max_samples)
    for item in events:
        join.add(item)
    return join.result(horizon)


def coords_of(samples: Sequence[Any]) -> list[Coord]:
    return [(s.topic, s.partition, s.offset) for s in samples]


# --- the reference model ----------------------------------------------------------------


@dataclass
class Expected:
    records: tuple[int, int]
    matched: int
    mismatched: list[Coord]
    missing_in_ring: list[Coord]
    missing_in_legacy: list[Coord]
    duplicates: tuple[int, int]
    latencies: tuple[list[float], list[float]]
    paired: list[tuple[float, float]]
    sums: dict[Coord, tuple[str | None, str | None]]


def reference(events: Sequence[CompareEvent]) -> Expected:
    first: dict[tuple[Coord, str], CompareEvent] = {}
    duplicates: Counter[str] = Counter()
    for item in events:
        slot = ((item.src.t, item.src.p, item.src.o), item.path)
        if slot in first:
            duplicates[item.path] += 1
        else:
            first[slot] = item
    coords = sorted({coord for coord, _ in first})
    matched = 0
    mismatched, missing_in_ring, missing_in_legacy = [], [], []
    paired = []
    sums: dict[Coord, tuple[str | None, str | None]] = {}
    for coord in coords:
        legacy, ring = first.get((coord, "legacy")), first.get((coord, "ring"))
        sums[coord] = (legacy.sum if legacy else None, ring.sum if ring else None)
        if legacy and ring:
            paired.append((legacy.at - TS, ring.at - TS))
            if legacy.sum == ring.sum:
                matched += 1
            else:
                mismatched.append(coord)
        elif legacy:
            missing_in_ring.append(coord)
        else:
            missing_in_legacy.append(coord)
    latencies = tuple(
        sorted(ev.at - ev.src.ts for (_, path), ev in first.items() if path == name)
        for name in ("legacy", "ring")
    )
    return Expected(
        records=(len(latencies[0]), len(latencies[1])),
        matched=matched,
        mismatched=mismatched,
        missing_in_ring=missing_in_ring,
        missing_in_legacy=missing_in_legacy,
        duplicates=(duplicates["legacy"], duplicates["ring"]),
        latencies=(latencies[0], latencies[1]),
        paired=sorted(paired),
        sums=sums,
    )


def values(result: JoinResult) -> tuple[list[float], list[float]]:
    """Each path's latencies, for results with at most one record a path: a sketch keeps
    the exact minimum and maximum, so a single value comes back exactly."""
    found: list[list[float]] = []
    for sketch in result.sketches:
        assert sketch.count <= 1
        found.append([sketch.maximum] if sketch.count else [])
    return found[0], found[1]


def assert_close(sketch: LatencySketch, exact: list[float]) -> None:
    """Count, maximum exact; percentiles within 1 % (or 0.1 ms) of nearest rank."""
    assert sketch.count == len(exact)
    if not exact:
        return
    ordered = np.sort(np.asarray(exact))
    summary = sketch.summary()
    assert summary.max == ordered[-1]
    for name, percentile in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9)):
        want = nearest_rank(ordered, percentile)
        assert abs(getattr(summary, name) - want) <= max(0.01 * abs(want), 0.1), name


def assert_agrees(result: JoinResult, expected: Expected, cap: int) -> None:
    assert result.records == expected.records
    assert result.matched == expected.matched
    assert result.mismatched == len(expected.mismatched)
    assert result.missing_in_ring == len(expected.missing_in_ring)
    assert result.missing_in_legacy == len(expected.missing_in_legacy)
    assert result.duplicates == expected.duplicates
    for sketch, exact in zip(result.sketches, expected.latencies, strict=True):
        assert_close(sketch, exact)
    assert sorted(result.paired) == expected.paired
    for samples, coords in (
        (result.mismatched_samples, expected.mismatched),
        (result.missing_in_ring_samples, expected.missing_in_ring),
        (result.missing_in_legacy_samples, expected.missing_in_legacy),
    ):
        assert coords_of(samples) == coords[:cap]
        for sample in samples:
            coord = (sample.topic, sample.partition, sample.offset)
            assert (sample.legacy_sum, sample.ring_sum) == expected.sums[coord]


# --- classification, one rule at a time --------------------------------------------------


def test_matched() -> None:
    result = fold([event(("t", 0, 1), "legacy"), event(("t", 0, 1), "ring")])
    assert (result.matched, result.mismatched) == (1, 0)
    assert (result.missing_in_ring, result.missing_in_legacy) == (0, 0)
    assert result.records == (1, 1)
    assert result.duplicates == (0, 0)
    assert result.mismatched_samples == []


def test_mismatched_keeps_both_sums() -> None:
    result = fold([event(("t", 2, 7), "ring", SUM_B), event(("t", 2, 7), "legacy", SUM_A)])
    assert (result.matched, result.mismatched) == (0, 1)
    [sample] = result.mismatched_samples
    assert sample.as_json() == {
        "key": "k2-7",
        "src": {"t": "t", "p": 2, "o": 7},
        "legacy_sum": SUM_A,
        "ring_sum": SUM_B,
    }


def test_missing_in_ring_and_in_legacy() -> None:
    result = fold([event(("t", 0, 1), "legacy"), event(("t", 0, 2), "ring", SUM_B)])
    assert result.matched == result.mismatched == 0
    assert (result.missing_in_ring, result.missing_in_legacy) == (1, 1)
    assert result.records == (1, 1)
    [only_legacy] = result.missing_in_ring_samples
    [only_ring] = result.missing_in_legacy_samples
    assert only_legacy.as_json() == {
        "key": "k0-1",
        "src": {"t": "t", "p": 0, "o": 1},
        "legacy_sum": SUM_A,
    }
    assert only_ring.as_json() == {
        "key": "k0-2",
        "src": {"t": "t", "p": 0, "o": 2},
        "ring_sum": SUM_B,
    }


def test_duplicate_before_the_pair_keeps_the_first_sum_and_latency() -> None:
    coord = ("t", 0, 1)
    result = fold(
        [
            event(coord, "legacy", SUM_A, latency=3.0),
            event(coord, "legacy", SUM_B, latency=300.0),  # redelivery with another sum
            event(coord, "ring", SUM_A, latency=4.0),
        ]
    )
    assert (result.matched, result.mismatched) == (1, 0)
    assert result.duplicates == (1, 0)
    assert result.records == (1, 1)
    assert values(result) == ([3.0], [4.0])
    assert result.paired == [(3.0, 4.0)]


def test_first_sum_decides_even_when_the_duplicate_would_match() -> None:
    coord = ("t", 0, 1)
    result = fold(
        [
            event(coord, "ring", SUM_B, latency=1.0),
            event(coord, "ring", SUM_A, latency=2.0),
            event(coord, "legacy", SUM_A, latency=9.0),
        ]
    )
    assert (result.matched, result.mismatched) == (0, 1)
    assert result.duplicates == (0, 1)
    assert (result.mismatched_samples[0].legacy_sum, result.mismatched_samples[0].ring_sum) == (
        SUM_A,
        SUM_B,
    )
    assert values(result) == ([9.0], [1.0])


@pytest.mark.parametrize("path", ["legacy", "ring"])
def test_redelivery_after_the_match_is_a_duplicate_not_a_mismatch(path: PathName) -> None:
    coord = ("t", 4, 40)
    result = fold(
        [
            event(coord, "legacy", SUM_A, latency=10.0),
            event(coord, "ring", SUM_A, latency=2.0),
            event(coord, path, SUM_C, latency=5000.0),
            event(coord, path, SUM_B, latency=6000.0),
        ]
    )
    assert (result.matched, result.mismatched) == (1, 0)
    assert result.duplicates == ((2, 0) if path == "legacy" else (0, 2))
    assert result.records == (1, 1)
    assert values(result) == ([10.0], [2.0])
    assert result.paired == [(10.0, 2.0)]


def test_duplicates_of_a_record_missing_on_the_other_side() -> None:
    coord = ("t", 0, 1)
    result = fold([event(coord, "legacy"), event(coord, "legacy", SUM_B, latency=99.0)])
    assert result.missing_in_ring == 1
    assert result.duplicates == (1, 0)
    assert result.records == (1, 0)
    assert values(result) == ([5.0], [])
    assert result.missing_in_ring_samples[0].legacy_sum == SUM_A


def test_same_offset_on_other_topics_or_partitions_is_another_coordinate() -> None:
    result = fold(
        [
            event(("orders", 0, 5), "legacy"),
            event(("orders", 1, 5), "ring"),
            event(("payments", 0, 5), "ring"),
            event(("payments", 1, 5), "legacy"),
        ]
    )
    assert result.matched == result.mismatched == 0
    assert (result.missing_in_ring, result.missing_in_legacy) == (2, 2)
    assert coords_of(result.missing_in_ring_samples) == [("orders", 0, 5), ("payments", 1, 5)]
    assert coords_of(result.missing_in_legacy_samples) == [("orders", 1, 5), ("payments", 0, 5)]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("t", 0, 2**48), ("t", 1, 0)),  # an offset past 48 bits
        (("t", 2**20, 0), ("u", 0, 0)),  # a partition past 20 bits
        (("t", 0, 2**63 - 1), ("t", 0, 2**63 - 2)),  # the largest Kafka offsets
    ],
)
def test_large_coordinates_stay_distinct(one: Coord, other: Coord) -> None:
    result = fold([event(one, "legacy"), event(other, "ring")])
    assert (result.matched, result.mismatched) == (0, 0)
    assert coords_of(result.missing_in_ring_samples) == [one]
    assert coords_of(result.missing_in_legacy_samples) == [other]


def test_invalid_events_are_counted_and_nothing_else() -> None:
    join = StreamJoin(RUN)
    join.add_invalid()
    join.add_invalid(3)
    join.add(event(("t", 0, 0), "legacy"))
    result = join.result()
    assert result.invalid == 4
    assert result.records == (1, 0)
    assert join.events == 1


def test_empty_join() -> None:
    result = StreamJoin(RUN).result()
    assert result.records == (0, 0)
    assert result.matched == result.mismatched == result.invalid == 0
    assert values(result) == ([], [])


def test_unpaired_counts_records_still_waiting() -> None:
    join = StreamJoin(RUN)
    join.add(event(("t", 0, 0), "legacy"))
    join.add(event(("t", 0, 1), "ring"))
    assert join.unpaired() == 2
    join.add(event(("t", 0, 0), "ring"))
    assert join.unpaired() == 1


# --- the grace period at a horizon: pending, not missing -----------------------------------

GRACE_MS = 10_000.0


def at_horizon(seconds_after: float) -> Horizon:
    """A horizon ``seconds_after`` the commit of an event made by ``event`` (TS + 5 ms)."""
    return Horizon(as_of_ms=TS + 5.0 + seconds_after * 1000, grace_ms=GRACE_MS)


def test_a_lone_event_younger_than_grace_is_pending_not_missing() -> None:
    events = [event(("t", 0, 1), "legacy"), event(("t", 0, 2), "ring", SUM_B)]
    result = fold(events, horizon=at_horizon(3))
    assert (result.missing_in_ring, result.missing_in_legacy) == (0, 0)
    assert (result.pending_in_ring, result.pending_in_legacy) == (1, 1)
    assert [s.as_json() for s in result.pending_in_ring_samples] == [
        {"key": "k0-1", "src": {"t": "t", "p": 0, "o": 1}, "legacy_sum": SUM_A}
    ]
    assert [s.as_json() for s in result.pending_in_legacy_samples] == [
        {"key": "k0-2", "src": {"t": "t", "p": 0, "o": 2}, "ring_sum": SUM_B}
    ]
    assert result.missing_in_ring_samples == result.missing_in_legacy_samples == []
    assert result.records == (1, 1)  # still records of their path, with their latency
    assert values(result) == ([5.0], [5.0])
    assert result.horizon == at_horizon(3)


@pytest.mark.parametrize("seconds_after", [10.0, 60.0])
def test_a_lone_event_as_old_as_the_grace_period_is_missing(seconds_after: float) -> None:
    result = fold([event(("t", 0, 1), "legacy")], horizon=at_horizon(seconds_after))
    assert (result.missing_in_ring, result.pending_in_ring) == (1, 0)
    assert coords_of(result.missing_in_ring_samples) == [("t", 0, 1)]


def test_without_a_horizon_every_lone_event_is_missing() -> None:
    result = fold([event(("t", 0, 1), "legacy", latency=1e12)])
    assert (result.missing_in_ring, result.pending_in_ring) == (1, 0)
    assert result.horizon is None


def test_a_pair_is_judged_however_young() -> None:
    coord = ("t", 0, 1)
    result = fold([event(coord, "legacy"), event(coord, "ring", SUM_B)], horizon=at_horizon(0))
    assert (result.mismatched, result.pending_in_ring, result.pending_in_legacy) == (1, 0, 0)


def test_the_first_delivery_decides_whether_a_lone_record_is_pending() -> None:
    coord = ("t", 0, 1)
    # Delivered long ago and redelivered just now: the record has waited long enough.
    events = [event(coord, "ring"), event(coord, "ring", latency=55_000.0)]
    result = fold(events, horizon=at_horizon(60))
    assert (result.missing_in_legacy, result.pending_in_legacy) == (1, 0)
    assert result.duplicates == (0, 1)


def test_merge_adds_up_pending_records_and_keeps_the_horizon() -> None:
    horizon = at_horizon(3)
    young = [event(("t", 0, o), "legacy") for o in range(3)]
    old = [event(("t", 1, 0), "ring", latency=-60_000.0)]
    joins = [StreamJoin(RUN, max_samples=2), StreamJoin(RUN, max_samples=2)]
    for join, items in zip(joins, (young[:2], [young[2], *old]), strict=True):
        for item in items:
            join.add(item)
    merged = merge([join.snapshot(horizon) for join in joins], 2).result()
    assert (merged.pending_in_ring, merged.missing_in_legacy) == (3, 1)
    assert coords_of(merged.pending_in_ring_samples) == [("t", 0, 0), ("t", 0, 1)]
    assert merged.horizon == horizon


# --- what the stream reader folds: invalid events and other runs -------------------------


def test_fold_counts_invalid_values_and_skips_other_runs() -> None:
    join = StreamJoin(RUN)
    good = encode_event(event(("t", 0, 0), "legacy"))
    other_run = encode_event(event(("t", 0, 1), "legacy", run="run-10"))
    prefix_run = encode_event(event(("t", 0, 2), "legacy", run="run-1x"))
    body = orjson.loads(good)
    # Fields in another order: the reader must decode it, then see the run.
    reordered_other = orjson.dumps({**{k: body[k] for k in reversed(body)}, "run": "zz"})
    reordered_ours = orjson.dumps(
        {k: body[k] for k in reversed(body)} | {"src": {**body["src"], "o": 3}}
    )
    invalid = [
        b"not json",
        orjson.dumps({**body, "v": 2}),
        orjson.dumps({**body, "sum": "XYZ"}),
        None,
    ]
    marker = b'"run":' + orjson.dumps(RUN)
    for raw in [good, other_run, prefix_run, reordered_other, reordered_ours, *invalid]:
        fold_messages([MemoryMessage(raw, None, ("cmp", 0, 0))], marker, RUN, join)
    result = join.result()
    assert result.invalid == len(invalid)
    assert join.events == 2
    assert coords_of(result.missing_in_ring_samples) == [("t", 0, 0), ("t", 0, 3)]


# --- samples ------------------------------------------------------------------------------


def test_samples_are_the_smallest_coordinates_and_counts_stay_exact() -> None:
    coords = [("t", p, o) for p in range(3) for o in range(40)]
    rng = random.Random(7)
    rng.shuffle(coords)
    events = [event(c, "legacy") for c in coords] + [event(c, "ring", SUM_B) for c in coords]
    rng.shuffle(events)
    result = fold(events, max_samples=5)
    assert result.mismatched == 120
    assert coords_of(result.mismatched_samples) == sorted(coords)[:5]


def test_zero_samples_still_count() -> None:
    result = fold([event(("t", 0, 1), "legacy")], max_samples=0)
    assert result.missing_in_ring == 1
    assert result.missing_in_ring_samples == []


# --- properties -----------------------------------------------------------------------------

_coords = st.tuples(
    st.sampled_from(["a", "b", "orders"]),
    st.one_of(st.integers(0, 3), st.integers(0, 2**31 - 1)),
    st.one_of(st.integers(0, 30), st.integers(0, 2**63 - 1)),
)
_latency = st.floats(min_value=0, max_value=10_000, allow_nan=False).map(lambda x: round(x, 3))


@st.composite
def _histories(draw: st.DrawFn) -> list[CompareEvent]:
    """Events for a set of coordinates: each path has 0 to 3 deliveries of each, with
    sums and latencies that may differ between deliveries."""
    coords = draw(st.lists(_coords, unique=True, max_size=25))
    events = []
    for coord in coords:
        for path in ("legacy", "ring"):
            for _ in range(draw(st.integers(0, 3))):
                events.append(
                    event(coord, path, draw(st.sampled_from([SUM_A, SUM_B])), draw(_latency))
                )
    return events


@settings(max_examples=300)
@given(_histories(), st.randoms(use_true_random=False), st.integers(0, 6))
def test_agrees_with_the_reference_in_any_arrival_order(
    events: list[CompareEvent], rng: random.Random, cap: int
) -> None:
    rng.shuffle(events)
    assert_agrees(fold(events, max_samples=cap), reference(events), cap)


@settings(max_examples=200)
@given(_histories(), st.randoms(use_true_random=False), _latency, st.floats(0, 10_000))
def test_a_horizon_splits_the_missing_records_by_the_age_of_their_first_event(
    events: list[CompareEvent], rng: random.Random, as_of: float, grace: float
) -> None:
    rng.shuffle(events)
    horizon = Horizon(as_of_ms=TS + as_of, grace_ms=grace)
    expected = reference(events)
    result = fold(events, max_samples=1000, horizon=horizon)
    first: dict[tuple[Coord, str], CompareEvent] = {}
    for item in events:
        first.setdefault(((item.src.t, item.src.p, item.src.o), item.path), item)
    for path, lonely, missing, pending in (
        (
            "legacy",
            expected.missing_in_ring,
            result.missing_in_ring_samples,
            result.pending_in_ring_samples,
        ),
        (
            "ring",
            expected.missing_in_legacy,
            result.missing_in_legacy_samples,
            result.pending_in_legacy_samples,
        ),
    ):
        young = [c for c in lonely if first[(c, path)].at > horizon.as_of_ms - horizon.grace_ms]
        assert coords_of(pending) == young
        assert coords_of(missing) == [c for c in lonely if c not in young]
    assert result.pending_in_ring + result.missing_in_ring == len(expected.missing_in_ring)
    assert result.pending_in_legacy + result.missing_in_legacy == len(expected.missing_in_legacy)
    assert (result.matched, result.mismatched) == (expected.matched, len(expected.mismatched))


def _normal(result: JoinResult) -> dict[str, Any]:
    body = {
        name: getattr(result, name)
        for name in (
            "records",
            "matched",
            "mismatched",
            "missing_in_ring",
            "missing_in_legacy",
            "duplicates",
            "invalid",
        )
    }
    body["latencies"] = tuple(
        {k: round(v, 6) for k, v in sketch.summary().as_json().items()}
        for sketch in result.sketches
    )
    body["paired"] = sorted(result.paired)
    for name in ("mismatched_samples", "missing_in_ring_samples", "missing_in_legacy_samples"):
        body[name] = [s.as_json() for s in getattr(result, name)]
    return body


@settings(max_examples=200)
@given(_histories(), st.randoms(use_true_random=False), st.integers(0, 4))
def test_shuffling_the_events_changes_nothing(
    events: list[CompareEvent], rng: random.Random, cap: int
) -> None:
    # Redeliveries carry what the first delivery did, so arrival order cannot matter.
    canonical: dict[tuple[Coord, str], CompareEvent] = {}
    events = [canonical.setdefault(((e.src.t, e.src.p, e.src.o), e.path), e) for e in events]
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert _normal(fold(shuffled, cap)) == _normal(fold(events, cap))
