"""One compare partition's join: duplicates by lane bitmap and floor, settling missing
records by the paths' commits, bounded memory, checkpoints, windows; and the fast wire
decoder against ``decode_fields``."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.core.events import WireError, decode_fields, decode_wire
from canary.core.join import _REACH, LEGACY, RING, Lane, PartitionJoin, Snapshot
from canary.errors import InvalidEvent

TS = 1_700_000_000_000
SUM_A = "a" * 32
SUM_B = "b" * 32
GRACE = 10_000.0


@dataclass(frozen=True)
class Ev:
    path: str
    offset: int
    digest: str = SUM_A
    latency: float = 5.0
    topic: str = "t"
    partition: int = 0
    ts: int = TS

    @property
    def at(self) -> float:
        return self.ts + self.latency


def add(join: PartitionJoin, *events: Ev) -> None:
    for e in events:
        key = f"k-{e.topic}-{e.partition}-{e.offset}"
        join.add_fields(e.path, key, e.topic, e.partition, e.offset, e.ts, e.digest, e.at)
    join.flush()


def commits(legacy: int | None = None, ring: int | None = None, source: Any = ("t", 0)) -> Any:
    body: dict[str, dict[tuple[str, int], int]] = {}
    if legacy is not None:
        body["legacy"] = {source: legacy}
    if ring is not None:
        body["ring"] = {source: ring}
    return body


def offsets(samples: list[Any]) -> list[int]:
    return [s.offset for s in samples]


def figures(snapshot: Snapshot) -> dict[str, Any]:
    """Everything a report reads from a snapshot, in comparable form."""
    result = snapshot.result()
    body: dict[str, Any] = {
        name: getattr(result, name)
        for name in (
            "records",
            "matched",
            "mismatched",
            "missing_in_ring",
            "missing_in_legacy",
            "duplicates",
            "invalid",
            "paired_count",
            "pending_in_ring",
            "pending_in_legacy",
        )
    }
    body["sketches"] = [
        (s.summary(), s.zero, s.positive.tolist(), s.negative.tolist()) for s in result.sketches
    ]
    body["paired"] = sorted(result.paired)
    for name in (
        "mismatched_samples",
        "missing_in_ring_samples",
        "missing_in_legacy_samples",
        "pending_in_ring_samples",
        "pending_in_legacy_samples",
    ):
        body[name] = [s.as_json() for s in getattr(result, name)]
    return body


# --- (a) duplicates: in the bitmap, and below the floor --------------------------------


def test_a_redelivery_above_the_floor_is_a_duplicate() -> None:
    join = PartitionJoin()
    add(join, Ev("legacy", 5), Ev("legacy", 5, SUM_B, latency=99.0), Ev("ring", 5))
    add(join, Ev("ring", 5, SUM_B))
    snapshot = join.snapshot()
    assert snapshot.tally.duplicates == [1, 1]
    assert snapshot.tally.records == [1, 1]
    assert (snapshot.tally.matched, snapshot.tally.mismatched.count) == (1, 0)
    assert join.lanes[LEGACY][0].floor == -1  # nothing settled: found by the bits alone


def test_an_event_below_the_floor_is_a_duplicate_once_settled() -> None:
    join = PartitionJoin()
    add(join, *[Ev(path, o) for o in range(10) for path in ("legacy", "ring")])
    assert join.settle(commits(legacy=10, ring=10), TS + 1e9, GRACE) == 0
    assert join.lanes[LEGACY][0].floor == 10
    # 5 was seen, its bit is gone with the floor; 3 and 7 come again on one path only
    add(join, Ev("legacy", 5), Ev("ring", 3, SUM_B), Ev("legacy", 7, SUM_B))
    tally = join.snapshot().tally
    assert tally.duplicates == [2, 1]
    assert tally.records == [10, 10]
    assert (tally.matched, tally.mismatched.count) == (10, 0)
    assert join.unpaired() == 0
    # above the floor, new offsets are new records
    add(join, Ev("legacy", 10), Ev("legacy", 10))
    assert join.snapshot().tally.records == [11, 10]
    assert join.snapshot().tally.duplicates == [3, 1]


# --- (b) settle: missing exactly when the other path has committed past -------------------


@pytest.mark.parametrize(("lonely", "other"), [("legacy", "ring"), ("ring", "legacy")])
def test_settle_judges_a_lonely_record_past_the_other_commit_missing_once(
    lonely: str, other: str
) -> None:
    join = PartitionJoin()
    add(join, Ev(lonely, 5), *[Ev(p, o) for o in (4, 6) for p in ("legacy", "ring")])
    old = Ev(lonely, 5).at + GRACE + 1
    assert join.settle({other: {("t", 0): 7}}, old, GRACE) == 1
    assert join.settle({other: {("t", 0): 7}}, old + 1, GRACE) == 0
    assert join.settle({other: {("t", 0): 8}, lonely: {("t", 0): 8}}, old + 2, GRACE) == 0
    assert join.unpaired() == 0
    result = join.snapshot(ended=False).result()
    missing, missing_samples = (
        (result.missing_in_ring, result.missing_in_ring_samples)
        if lonely == "legacy"
        else (result.missing_in_legacy, result.missing_in_legacy_samples)
    )
    assert missing == 1
    assert offsets(missing_samples) == [5]
    assert (result.missing_in_ring + result.missing_in_legacy) == 1
    assert (result.pending_in_ring, result.pending_in_legacy) == (0, 0)
    assert result.matched == 2
    # once ended, it is still counted once, not again from pending
    assert (
        join.snapshot(ended=True).result().missing_in_ring
        + join.snapshot(ended=True).result().missing_in_legacy
        == 1
    )


def test_settle_leaves_a_record_younger_than_grace_pending_until_it_ages() -> None:
    join = PartitionJoin()
    lonely = Ev("legacy", 5)
    add(join, lonely)
    young = lonely.at + GRACE - 1
    assert join.settle(commits(ring=10), young, GRACE) == 0
    assert join.unpaired() == 1
    result = join.snapshot(ended=False).result()
    assert (result.missing_in_ring, result.pending_in_ring) == (0, 1)
    # The commits stand still (an idle stream); the record comes of age all the same.
    assert join.settle(commits(ring=10), lonely.at + GRACE, GRACE) == 1
    result = join.snapshot(ended=False).result()
    assert (result.missing_in_ring, result.pending_in_ring) == (1, 0)


def test_settle_leaves_a_record_at_or_above_the_other_commit_pending() -> None:
    join = PartitionJoin()
    add(join, Ev("legacy", 5), Ev("legacy", 6), Ev("legacy", 4), Ev("ring", 4))
    old = TS + 1e9
    # ring's next offset is 5: offset 5 is not committed by ring yet
    assert join.settle(commits(ring=5), old, GRACE) == 0
    assert join.unpaired() == 2
    # legacy's own commit proves nothing about ring
    assert join.settle(commits(legacy=100), old, GRACE) == 0
    # another source partition's commit neither
    assert join.settle(commits(ring=100, source=("t", 1)), old, GRACE) == 0
    assert join.unpaired() == 2
    # ring comes later for 5: a pair; 6 is then settled missing
    add(join, Ev("ring", 5))
    assert join.settle(commits(ring=7), old, GRACE) == 1
    result = join.snapshot(ended=False).result()
    assert (result.matched, result.missing_in_ring) == (2, 1)
    assert offsets(result.missing_in_ring_samples) == [6]
    assert result.missing_in_legacy == 0


# --- (c) memory follows the records in flight ----------------------------------------------


def test_after_settle_the_lanes_are_cut_and_nothing_matched_is_pending() -> None:
    join = PartitionJoin()
    n = 50_000
    rng = random.Random(3)
    events = [Ev(p, o) for o in range(n) for p in ("legacy", "ring")]
    rng.shuffle(events)
    add(join, *events)
    assert join.unpaired() == 0
    assert all(len(lane.bits) >= n // 8 for lanes in join.lanes for lane in lanes.values())
    join.settle(commits(legacy=n, ring=n), TS + 1e9, GRACE)
    for lanes in join.lanes:
        for lane in lanes.values():
            # what is left is the slack grown ahead of the newest offset, nothing seen
            assert not any(lane.bits)
            assert len(lane.bits) <= n // 16 + 64 + 8
            assert not lane.far
    assert join.unpaired() == 0
    assert join.snapshot().tally.matched == n


def test_a_long_run_settled_as_it_goes_holds_no_more_than_its_chunks() -> None:
    join = PartitionJoin()
    chunk = 4_000
    rng = random.Random(5)
    largest = []
    for start in range(0, 40 * chunk, chunk):
        events = [Ev(p, o) for o in range(start, start + chunk) for p in ("legacy", "ring")]
        rng.shuffle(events)
        add(join, *events)
        # ring lags: its commit is half a chunk behind
        join.settle(commits(legacy=start + chunk, ring=start + chunk // 2), TS + 1e9, GRACE)
        assert join.unpaired() == 0
        largest.append(max(len(lane.bits) for lanes in join.lanes for lane in lanes.values()))
    # the run's 160,000 offsets would take 20,000 bytes a lane
    assert max(largest) <= 2 * chunk // 8 + 64
    assert join.snapshot().tally.matched == 40 * chunk


def test_a_floor_far_past_the_bits_moves_the_bitmap_with_it() -> None:
    join = PartitionJoin()
    add(join, Ev("legacy", 0), Ev("ring", 0))
    far = 10 * _REACH
    join.settle(commits(legacy=far, ring=far), TS + 1e9, GRACE)
    add(join, *[Ev(p, far + o) for o in range(100) for p in ("legacy", "ring")])
    for lanes in join.lanes:
        lane = lanes[0]
        assert not lane.far  # in the bitmap, not a set of Python ints
        assert len(lane.bits) < 1024
    assert join.snapshot().tally.matched == 101


# --- (d) checkpoint and restore ----------------------------------------------------------


def _history(seed: int, n: int = 3_000) -> list[Ev]:
    rng = random.Random(seed)
    events: list[Ev] = []
    for o in range(n):
        for path in ("legacy", "ring"):
            if rng.random() < 0.03:
                continue  # this path lost it
            digest = SUM_B if path == "ring" and rng.random() < 0.02 else SUM_A
            events.append(Ev(path, o, digest, round(rng.lognormvariate(2, 1), 3), "t", o % 3))
            if rng.random() < 0.05:
                events.append(Ev(path, o, digest, 9_000.0, "t", o % 3))  # redelivered
    rng.shuffle(events)
    return events


def _settle_all(join: PartitionJoin, upto: int, now: float) -> None:
    source_commits = {("t", p): upto for p in range(3)}
    join.settle({"legacy": source_commits, "ring": source_commits}, now, GRACE)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_restored_checkpoint_goes_on_as_if_never_stopped(seed: int) -> None:
    events = _history(seed)
    half = len(events) // 2
    now = TS + 1e9

    def first_half(join: PartitionJoin) -> None:
        add(join, *events[:half])
        _settle_all(join, 200, now)  # floors and missing records in the state, too
        join.roll()
        add(join, Ev("legacy", 10**12), Ev("legacy", 10**12))  # a far offset, in ``far``

    def second_half(join: PartitionJoin) -> None:
        add(join, *events[half:])
        _settle_all(join, 2_000, now)

    uninterrupted = PartitionJoin(max_samples=7)
    first_half(uninterrupted)
    second_half(uninterrupted)

    stopped = PartitionJoin(max_samples=7)
    first_half(stopped)
    state = orjson.loads(orjson.dumps(stopped.as_state()))
    restored = PartitionJoin.from_state(state, max_samples=7)
    assert restored.events == stopped.events
    second_half(restored)

    assert restored.events == uninterrupted.events
    assert restored.unpaired() == uninterrupted.unpaired() > 0
    for ended in (False, True):
        expected = figures(uninterrupted.snapshot(ended=ended))
        assert figures(restored.snapshot(ended=ended)) == expected
    assert expected["duplicates"][0] > 0
    assert expected["mismatched"] > 0
    assert expected["missing_in_ring"] + expected["missing_in_legacy"] > 0
    assert figures(Snapshot(restored.window, uninterrupted.snapshot().pending)) == figures(
        Snapshot(uninterrupted.window, uninterrupted.snapshot().pending)
    )


def test_a_state_of_another_version_is_refused() -> None:
    state = PartitionJoin().as_state()
    state["v"] = 2
    with pytest.raises(ValueError, match="version"):
        PartitionJoin.from_state(state)


# --- (e) windows -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [4, 5])
def test_windows_and_total_add_up_to_never_rolling(seed: int) -> None:
    events = _history(seed, 1_500)
    rolled, whole = PartitionJoin(max_samples=5), PartitionJoin(max_samples=5)
    windows = []
    for start in range(0, len(events), 400):
        for join in (rolled, whole):
            add(join, *events[start : start + 400])
            _settle_all(join, start // 3, TS + 1e9)
        windows.append(rolled.roll())
    add(rolled, *events[:50])  # redeliveries into the open window
    add(whole, *events[:50])
    assert figures(rolled.snapshot()) == figures(whole.snapshot())
    assert figures(rolled.snapshot(ended=False)) == figures(whole.snapshot(ended=False))
    # the windows handed out add up to the total
    assert sum(w.matched for w in windows) == rolled.total.matched
    assert sum(w.records[LEGACY] for w in windows) == rolled.total.records[LEGACY]
    assert sum(w.sketches[RING].count for w in windows) == rolled.total.sketches[RING].count
    assert sum(w.duplicates[RING] for w in windows) == rolled.total.duplicates[RING]
    assert rolled.window.duplicates[LEGACY] + rolled.window.duplicates[RING] == 50


# --- (f) hostile offsets ------------------------------------------------------------------


def test_a_hostile_offset_does_not_allocate_a_giant_bitmap() -> None:
    join = PartitionJoin()
    hostile = 2**62
    add(join, *[Ev(p, o) for o in range(100) for p in ("legacy", "ring")])
    add(join, Ev("legacy", hostile), Ev("ring", hostile), Ev("legacy", hostile, SUM_B))
    for lanes in join.lanes:
        lane = lanes[0]
        assert hostile in lane.far
        assert len(lane.bits) < 1 << 12
    tally = join.snapshot().tally
    assert tally.duplicates == [1, 0]
    assert (tally.records, tally.matched) == ([101, 101], 101)
    # and settling past it forgets it
    join.settle(commits(legacy=hostile + 1, ring=hostile + 1), TS + 1e9, GRACE)
    assert not join.lanes[LEGACY][0].far
    add(join, Ev("ring", hostile))
    assert join.snapshot().tally.duplicates == [1, 1]


def test_a_far_offset_the_bitmap_grows_over_is_still_remembered() -> None:
    lane = Lane(0)
    far = _REACH + 1000
    assert lane.add(0)
    assert lane.add(far)
    assert far in lane.far
    assert lane.add(_REACH // 2)
    assert lane.add(far - 100)  # the bitmap now reaches past ``far``
    assert far - lane.base < 8 * len(lane.bits)
    assert not lane.add(far)
    assert not lane.add(far - 100)
    assert lane.add(far + 1)


def test_a_lane_below_its_first_offset_grows_down_and_keeps_what_it_saw() -> None:
    lane = Lane(1_000)
    for offset in (1_000, 0, 999, 5):
        assert lane.add(offset)
    for offset in (1_000, 0, 999, 5):
        assert not lane.add(offset)
    assert not lane.far


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.integers(0, 3_000), st.integers(0, 2**63 - 1), st.just(_REACH + 7)),
        max_size=60,
    ),
    st.lists(st.integers(0, 2**63), max_size=3),
)
def test_a_lane_agrees_with_a_set(offsets_seen: list[int], floors: list[int]) -> None:
    lane, seen, floor = Lane(offsets_seen[0] if offsets_seen else 0), set(), -1
    cuts = {i * max(1, len(offsets_seen) // (len(floors) + 1)): f for i, f in enumerate(floors)}
    for index, offset in enumerate(offsets_seen):
        if index in cuts and cuts[index] > floor:
            floor = cuts[index]
            lane.raise_floor(floor)
        new = offset >= floor and offset not in seen
        assert lane.add(offset) == new
        seen.add(offset)


# --- (g) the fast decoder decides exactly as decode_fields --------------------------------

_BASE: dict[str, Any] = {
    "v": 1,
    "run": "r1",
    "path": "legacy",
    "key": "order-42",
    "src": {"t": "orders", "p": 3, "o": 1234, "ts": TS},
    "sum": "0123456789abcdef" * 2,
    "at": TS + 12.5,
}
_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from(
        [0, -1, 1, 2, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1]
    ),
    st.just(10**400),  # beyond any float: orjson refuses it
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 0.0, -0.0, 3.0, 1e308, 1e-320]),
    st.text(max_size=5),
    st.sampled_from(
        [
            "legacy",
            "ring",
            "Legacy",
            "",
            "a" * 32,
            "A" * 32,
            "a" * 31,
            "a" * 33,
            "a" * 32 + "\n",
            "\n" + "a" * 32,
            "g" * 32,
        ]
    ),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["t", "p", "o", "ts", "x"]), st.integers(0, 9), max_size=3),
)


_FIELDS = ["v", "run", "path", "key", "src", "sum", "at", "src.t", "src.p", "src.o", "src.ts"]


@st.composite
def _near_valid(draw: st.DrawFn) -> Any:
    """A valid event with up to two fields dropped or given odd values, and maybe extra
    fields: mostly one flaw at a time, where a decoder that is lax about it shows."""
    obj: Any = json.loads(json.dumps(_BASE))
    for name in draw(st.lists(st.sampled_from(_FIELDS), max_size=2, unique=True)):
        target, field = (obj.get("src"), name[4:]) if name.startswith("src.") else (obj, name)
        if type(target) is not dict:
            continue
        if draw(st.integers(0, 4)) == 0:
            target.pop(field, None)
        else:
            target[field] = draw(_ODD)
    if draw(st.integers(0, 3)) == 0:
        obj[draw(st.sampled_from(["x", "extra", "V", "src2"]))] = draw(_ODD)
    if type(obj.get("src")) is dict and draw(st.integers(0, 3)) == 0:
        obj["src"][draw(st.sampled_from(["x", "T", "partition"]))] = draw(_ODD)
    if draw(st.integers(0, 19)) == 0:
        obj = draw(st.sampled_from([[obj], "event", 1, None]))
    return obj


def _verdict(raw: bytes | None) -> tuple[str, Any]:
    try:
        fields = decode_fields(raw)
    except InvalidEvent:
        return ("reject", None)
    return ("accept", fields)


def _wire_verdict(raw: bytes | None) -> tuple[str, Any]:
    try:
        event = decode_wire(raw)  # type: ignore[arg-type]
    except WireError:
        return ("reject", None)
    src = event.src
    return (
        "accept",
        (event.run, event.path, event.key, src.t, src.p, src.o, src.ts, event.sum, event.at),
    )


@settings(max_examples=1_500, deadline=None)
@given(_near_valid(), st.booleans(), st.integers(0, 30))
def test_decode_wire_accepts_exactly_what_decode_fields_accepts(
    obj: Any, ascii_only: bool, mangle: int
) -> None:
    # json (not orjson) writes any integer, NaN and Infinity: a writer that is not canary
    raw = json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":")).encode()
    if mangle == 1:
        raw = raw[: len(raw) // 2]
    elif mangle == 2:
        raw += b" x"
    elif mangle == 3:
        raw = b" \n" + raw + b"\t"
    elif mangle == 4 and raw.startswith(b"{") and len(raw) > 2:
        raw = b'{"x":"\xff",' + raw[1:]  # invalid UTF-8 in a field no one reads
    assert _wire_verdict(raw) == _verdict(raw)


def test_near_valid_objects_include_both_verdicts() -> None:
    assert _verdict(orjson.dumps(_BASE))[0] == "accept"
    assert _verdict(orjson.dumps({**_BASE, "v": True}))[0] == "reject"


def _event_with(
    after_at: bytes = b"", at: bytes = b"1.5", o: bytes = b"1", s: bytes = b""
) -> bytes:
    return (
        b'{"v":1,"run":"r1","path":"legacy","key":"k","src":{"t":"t","p":0,"o":'
        + o
        + b',"ts":5},"sum":"'
        + b"a" * 32
        + s
        + b'","at":'
        + at
        + after_at
        + b"}"
    )


@pytest.mark.parametrize(
    "raw",
    [
        _event_with(s=b"\\n"),  # a sum with a newline: "$" of a regex allows it
        _event_with(o=b"1" + b"0" * 30),  # an offset past 64 bits: orjson gives a float
        _event_with(o=b"18446744073709551615"),  # 2**64 - 1: an integer to orjson
        _event_with(o=b"9223372036854775808"),  # 2**63
        _event_with(after_at=b',"x":' + b"[" * 1000 + b"]" * 1000),  # deep, within orjson's limit
        _event_with(after_at=b',"x":' + b"[" * 5000 + b"]" * 5000),  # past it
        _event_with(after_at=b',"x":1e999'),  # an unknown field out of range
        _event_with(after_at=b',"x":"\xff"'),  # an unknown field of invalid UTF-8
        _event_with(after_at=b',"x":1' + b"0" * 500),
        _event_with(after_at=b',"v":2'),  # a field twice: the last one counts
        _event_with().replace(b'"v":1', b'"v":2,"v":1'),
        _event_with(at=b"1e-400"),
        _event_with(at=b"123456789012345678901234567890"),
        _event_with().replace(b'"ts":5', b'"ts":-9223372036854775809'),
    ],
)
def test_decode_wire_agrees_on_edge_cases(raw: bytes) -> None:
    assert _wire_verdict(raw) == _verdict(raw)
