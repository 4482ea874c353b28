"""The stream join: pairs the two paths' compare events by source coordinate (CONTRACTS §5),
with state that follows the records in flight, not the history of the run.

Both paths' events of one record carry its key, so they share a compare partition; each
compare partition is joined by a ``PartitionJoin`` of its own, and their tallies merge.

Per compare partition:

- a record seen on one path waits in ``pending`` until the other path's event comes;
  then it is judged (matched or mismatched) into the window's ``Tally`` and leaves no
  per-record state behind but one bit;
- every (path, source partition) has a *lane*: a bitmap of the source offsets that path's
  events have shown, above a *floor*. An event at an offset already in the bitmap, or
  below the floor, is a redelivery: a duplicate;
- ``settle`` raises the floors to what each path has committed on each source
  partition. A path commits a source offset only after the compare events below it are
  acknowledged, so once this partition has been read past where the topic ended when
  the commits were taken, every event of that path below the commit is in hand: a
  record the other path still waits for there is missing, exactly. Memory is then the
  records between the two paths' commits, not the run.

A ``Horizon`` is for a read that ends: a record whose only event committed within the
grace period before it is *pending*, counted apart and not judged.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from canary.core.events import CompareEvent
from canary.core.sketch import LatencySketch
from canary.core.tally import LEGACY, RING, Reservoir, Sample, Tally

__all__ = [
    "LEGACY",
    "RING",
    "Horizon",
    "JoinResult",
    "PartitionJoin",
    "Sample",
    "Snapshot",
    "StreamJoin",
    "merge",
]

_PATH_INDEX = {"legacy": LEGACY, "ring": RING}
_OFFSET_BITS = 64  # a Kafka offset is a signed 64-bit integer
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
_PARTITION_BITS = 32
_PARTITION_MASK = (1 << _PARTITION_BITS) - 1
# A lane's bitmap grows to cover a new offset only this far (bits) past its end or below
# its start; an offset farther away (a hostile one, or a topic created again) is kept
# in a plain set instead of a bitmap of gigabytes.
_REACH = 1 << 26
_HASH_SPREAD = 0x632BE59BD9B4E019
_HASH_MULTIPLIER = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
Commits = Mapping[str, Mapping[tuple[str, int], int]]
"""Per path name, the committed (next) offset of each source (topic, partition)."""


@dataclass(frozen=True, slots=True)
class Horizon:
    """The moment a read of the compare topic stands for, and the grace period before it.

    A read that does not wait for late events ends at the topic's end as it was at
    ``as_of_ms`` (epoch ms). A record the other path wrote within ``grace_ms`` of the
    first one may still be on its way then, so an event that committed after
    ``as_of_ms - grace_ms`` and is still alone proves nothing missing yet.
    """

    as_of_ms: float
    grace_ms: float

    def too_young(self, at: float) -> bool:
        """Whether an event that committed at ``at`` (epoch ms) is still within grace."""
        return at > self.as_of_ms - self.grace_ms


class Lane:
    """The source offsets one path's events have shown on one source partition: every
    offset below ``floor``, and the bits set above it."""

    __slots__ = ("base", "bits", "far", "floor")

    def __init__(self, base: int) -> None:
        self.floor = -1
        self.base = base - (base & 7)
        self.bits = bytearray()
        self.far: set[int] = set()

    def add(self, offset: int) -> bool:
        """Record ``offset``; False when it was shown before (or lies below the floor)."""
        if offset < self.floor:
            return False
        index = offset - self.base
        bits = self.bits
        if index < 0 or (index >> 3) >= len(bits):
            if not self._cover(offset):
                if offset in self.far:
                    return False
                self.far.add(offset)
                return True
            index = offset - self.base
            bits = self.bits
        byte = index >> 3
        mask = 1 << (index & 7)
        if bits[byte] & mask:
            return False
        bits[byte] |= mask
        return True

    def _cover(self, offset: int) -> bool:
        """Grow the bitmap to hold ``offset`` if it is near enough."""
        index = offset - self.base
        if index < 0:
            if -index > _REACH:
                return False
            grow = ((-index + 7) >> 3) + min(len(self.bits), _REACH >> 3) // 2
            self.bits[:0] = bytes(grow)
            self.base -= grow * 8
            self._absorb()
            return True
        need = (index >> 3) + 1
        if need - len(self.bits) > _REACH >> 3:
            return False
        self.bits.extend(bytes(need - len(self.bits) + min(len(self.bits) // 2, 1 << 16) + 64))
        self._absorb()
        return True

    def _absorb(self) -> None:
        """Move the far offsets the bitmap now covers into it: an offset is in ``far``
        or in the bits, never looked for in the wrong one."""
        if not self.far:
            return
        end = self.base + 8 * len(self.bits)
        covered = {o for o in self.far if self.base <= o < end}
        for offset in covered:
            index = offset - self.base
            self.bits[index >> 3] |= 1 << (index & 7)
        self.far -= covered

    def raise_floor(self, offset: int) -> None:
        """Every offset below ``offset`` is now settled: its bits are no longer needed."""
        if offset <= self.floor:
            return
        self.floor = offset
        cut = min((offset - self.base) >> 3, len(self.bits))
        if cut > 0:
            del self.bits[:cut]
            self.base += cut * 8
        if not self.bits:
            # Nothing left to keep: start again at the floor, or a floor far past the
            # old bits would leave every later offset out of reach, in ``far``.
            self.base = offset - (offset & 7)
        if self.far:
            self.far = {o for o in self.far if o >= offset}

    def as_state(self) -> list[Any]:
        packed = base64.b64encode(zlib.compress(bytes(self.bits), 1)).decode()
        return [self.floor, self.base, packed, sorted(self.far)]

    @classmethod
    def from_state(cls, state: list[Any]) -> Lane:
        lane = cls(0)
        lane.floor, lane.base = state[0], state[1]
        lane.bits = bytearray(zlib.decompress(base64.b64decode(state[2])))
        lane.far = set(state[3])
        return lane


@dataclass(slots=True)
class JoinResult:
    """Everything the report needs; latencies in milliseconds."""

    records: tuple[int, int]
    matched: int
    mismatched: int
    missing_in_ring: int
    missing_in_legacy: int
    duplicates: tuple[int, int]
    invalid: int
    sketches: tuple[LatencySketch, LatencySketch]
    paired: list[tuple[float, float]]  # (legacy, ring): a uniform sample of the pairs
    paired_count: int  # records both paths wrote
    mismatched_samples: list[Sample]
    missing_in_ring_samples: list[Sample]
    missing_in_legacy_samples: list[Sample]
    # Records only one path has, not yet judged: within grace at the horizon, or (on a
    # live run) not yet settled by the other path's commits.
    pending_in_ring: int = 0
    pending_in_legacy: int = 0
    pending_in_ring_samples: list[Sample] = field(default_factory=list)
    pending_in_legacy_samples: list[Sample] = field(default_factory=list)
    horizon: Horizon | None = None


@dataclass(slots=True)
class Snapshot:
    """A tally and the records still pending, of one partition or merged; ``pending[p]``
    holds the records only path ``p`` has."""

    tally: Tally
    pending: tuple[Reservoir, Reservoir]
    horizon: Horizon | None = None

    def merge(self, other: Snapshot) -> None:
        self.tally.merge(other.tally)
        for mine, theirs in zip(self.pending, other.pending, strict=True):
            mine.merge(theirs)
        if self.horizon is None:
            self.horizon = other.horizon

    def result(self) -> JoinResult:
        tally = self.tally
        tally.flush()
        return JoinResult(
            records=(tally.records[LEGACY], tally.records[RING]),
            matched=tally.matched,
            mismatched=tally.mismatched.count,
            missing_in_ring=tally.missing[LEGACY].count,
            missing_in_legacy=tally.missing[RING].count,
            duplicates=(tally.duplicates[LEGACY], tally.duplicates[RING]),
            invalid=tally.invalid,
            sketches=tally.sketches,
            paired=tally.pairs.pairs(),
            paired_count=tally.paired_count,
            mismatched_samples=tally.mismatched.sorted(),
            missing_in_ring_samples=tally.missing[LEGACY].sorted(),
            missing_in_legacy_samples=tally.missing[RING].sorted(),
            pending_in_ring=self.pending[LEGACY].count,
            pending_in_legacy=self.pending[RING].count,
            pending_in_ring_samples=self.pending[LEGACY].sorted(),
            pending_in_legacy_samples=self.pending[RING].sorted(),
            horizon=self.horizon,
        )


def merge(parts: Iterable[Snapshot], max_samples: int) -> Snapshot:
    """One snapshot of joins over disjoint sets of compare partitions."""
    merged = Snapshot(Tally(max_samples), (Reservoir(max_samples), Reservoir(max_samples)))
    for part in parts:
        merged.merge(part)
    return merged


STATE_VERSION = 3  # of ``PartitionJoin.as_state``
# A pending entry: path, latency, commit time, the 16 bytes of the sum, then the key.
_ENTRY = struct.Struct("<Bdd16s")


def _unpack(packed: bytes) -> tuple[int, float, float, str, str]:
    """(path, latency, at, sum, key) of a pending entry."""
    path, latency, at, digest = _ENTRY.unpack_from(packed)
    key = packed[_ENTRY.size :].decode("utf-8", "surrogatepass")
    return path, latency, at, digest.hex(), key


_HEAD = struct.Struct("<QQI")  # source, offset, length of the entry


def _pack_pending(pending: dict[int, bytes]) -> str:
    """The pending entries as one base64 text: a few bytes per record, not a list of
    Python objects, so a checkpoint of a long lag stays cheap."""
    head = _HEAD.pack
    blob = b"".join(
        head(coordinate >> _OFFSET_BITS, coordinate & _OFFSET_MASK, len(packed)) + packed
        for coordinate, packed in pending.items()
    )
    return base64.b64encode(zlib.compress(blob, 1)).decode()


def _unpack_pending(text: str) -> dict[int, bytes]:
    blob = zlib.decompress(base64.b64decode(text))
    pending: dict[int, bytes] = {}
    at, size = 0, _HEAD.size
    while at < len(blob):
        source, offset, length = _HEAD.unpack_from(blob, at)
        at += size
        pending[(source << _OFFSET_BITS) | offset] = blob[at : at + length]
        at += length
    return pending


class PartitionJoin:
    """The join state of one compare partition.

    Judged records go into ``window``; ``roll`` moves the window into ``total`` and
    starts a new one, so a run's figures are ``total`` plus ``window``.
    """

    def __init__(self, max_samples: int = 20) -> None:
        self.max_samples = max_samples
        self._topic_ids: dict[str, int] = {}
        self.topics: list[str] = []
        self._topic_spread: list[int] = []
        # packed coordinate -> the first event, packed (``_pack``): a few hundred
        # bytes less per record in flight than a tuple of Python objects
        self.pending: dict[int, bytes] = {}
        self.lanes: tuple[dict[int, Lane], dict[int, Lane]] = ({}, {})
        self.window = Tally(max_samples)
        self.total = Tally(max_samples)
        self.events = 0

    def _topic_id(self, topic: str) -> int:
        topic_id = self._topic_ids[topic] = len(self.topics)
        self.topics.append(topic)
        self._topic_spread.append((zlib.crc32(topic.encode()) * _HASH_SPREAD) & _MASK64)
        return topic_id

    def add_invalid(self, count: int = 1) -> None:
        self.window.invalid += count

    def flush(self) -> None:
        """Bin the latencies buffered since the last call (a batch's worth)."""
        self.window.flush()

    def add(self, event: CompareEvent) -> None:
        src = event.src
        self.add_fields(event.path, event.key, src.t, src.p, src.o, src.ts, event.sum, event.at)

    def add_fields(
        self,
        path_name: str,
        key: str,
        topic: str,
        partition: int,
        offset: int,
        ts: int,
        digest: str,
        at: float,
    ) -> None:
        """Fold one valid event of this run (the caller filters other runs out)."""
        self.events += 1
        path = _PATH_INDEX[path_name]
        topic_id = self._topic_ids.get(topic)
        if topic_id is None:
            topic_id = self._topic_id(topic)
        source = (topic_id << _PARTITION_BITS) | (partition & _PARTITION_MASK)
        window = self.window
        lanes = self.lanes[path]
        lane = lanes.get(source)
        if lane is None:
            lane = lanes[source] = Lane(offset)
        if not lane.add(offset):
            window.duplicates[path] += 1
            return
        latency = at - ts
        window.records[path] += 1
        window.buffered[path].append(latency)
        coordinate = (source << _OFFSET_BITS) | offset
        packed = self.pending.pop(coordinate, None)
        if packed is None:
            self.pending[coordinate] = _ENTRY.pack(path, latency, at, bytes.fromhex(digest)) + (
                key.encode("utf-8", "surrogatepass")
            )
            return
        _, first_latency, _, first_sum = _ENTRY.unpack_from(packed)
        hashed = (
            (offset ^ self._topic_spread[topic_id] ^ (partition << 40)) * _HASH_MULTIPLIER
        ) & _MASK64
        pairs = window.pairs
        if hashed < pairs.threshold:  # most pairs of a long run are not sampled
            if path == RING:
                pairs.add(hashed, first_latency, latency)
            else:
                pairs.add(hashed, latency, first_latency)
        if first_sum == bytes.fromhex(digest):
            window.matched += 1
            return
        other = first_sum.hex()
        legacy_sum, ring_sum = (other, digest) if path == RING else (digest, other)
        window.mismatched.add(Sample(topic, partition, offset, key, legacy_sum, ring_sum))

    def unpaired(self) -> int:
        return len(self.pending)

    def settle(self, commits: Commits, now_ms: float, grace_ms: float) -> int:
        """Raise the floors to ``commits``, which this partition has been read past, and
        judge missing every pending record the other path has committed past (and that
        waited longer than the grace period). Returns how many were judged missing."""
        for path_name, offsets in commits.items():
            lanes = self.lanes[_PATH_INDEX[path_name]]
            for (topic, partition), offset in offsets.items():
                topic_id = self._topic_ids.get(topic)
                if topic_id is None:
                    continue  # nothing of that topic here yet: nothing to settle
                source = (topic_id << _PARTITION_BITS) | partition
                lane = lanes.get(source)
                if lane is None:
                    lane = lanes[source] = Lane(offset)
                lane.raise_floor(offset)
        # Even when no floor rose: a record too young at the last settle may have come
        # of age since (on an idle stream the commits stand still).
        if not self.pending:
            return 0
        floors = tuple({s: lane.floor for s, lane in lanes.items()} for lanes in self.lanes)
        cutoff = now_ms - grace_ms
        gone = []
        for coordinate, packed in self.pending.items():
            path, _, at, _ = _ENTRY.unpack_from(packed)
            floor = floors[1 - path].get(coordinate >> _OFFSET_BITS, -1)
            if at <= cutoff and (coordinate & _OFFSET_MASK) < floor:
                gone.append(coordinate)
        for coordinate in gone:
            path, _, _, digest, key = _unpack(self.pending.pop(coordinate))
            self.window.missing[path].add(self._sample(coordinate, path, digest, key))
        return len(gone)

    def _sample(self, coordinate: int, path: int, digest: str, key: str) -> Sample:
        source = coordinate >> _OFFSET_BITS
        topic = self.topics[source >> _PARTITION_BITS]
        sums = {"legacy_sum": digest} if path == LEGACY else {"ring_sum": digest}
        return Sample(topic, source & _PARTITION_MASK, coordinate & _OFFSET_MASK, key, **sums)

    def roll(self) -> Tally:
        """End the window: return it and add it to the total."""
        window = self.window
        window.flush()
        self.total.merge(window)
        self.window = Tally(self.max_samples)
        return window

    def snapshot(self, horizon: Horizon | None = None, *, ended: bool = True) -> Snapshot:
        """The run's figures so far. With ``ended``, a record still alone is missing on
        the other path unless ``horizon`` says it is within grace; without, every
        record still alone is pending (a live run: the other path may yet write it)."""
        tally = self.total.copy()
        tally.merge(self.window)
        pending = (Reservoir(self.max_samples), Reservoir(self.max_samples))
        for coordinate, packed in self.pending.items():
            path, _, at, digest, key = _unpack(packed)
            waiting = not ended or (horizon is not None and horizon.too_young(at))
            (pending if waiting else tally.missing)[path].add(
                self._sample(coordinate, path, digest, key)
            )
        return Snapshot(tally, pending, horizon)

    def as_state(self) -> dict[str, Any]:
        """Everything this join holds, as JSON-able values (for a checkpoint)."""
        return {
            "v": STATE_VERSION,
            "topics": list(self.topics),
            "events": self.events,
            "pending": _pack_pending(self.pending),
            "lanes": [
                [path, source, lane.as_state()]
                for path, lanes in enumerate(self.lanes)
                for source, lane in lanes.items()
            ],
            "window": self.window.as_state(),
            "total": self.total.as_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], max_samples: int = 20) -> PartitionJoin:
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"join state of version {state.get('v')!r}, not {STATE_VERSION}")
        join = cls(max_samples)
        for topic in state["topics"]:
            join._topic_id(topic)
        join.events = state["events"]
        join.pending = _unpack_pending(state["pending"])
        for path, source, lane in state["lanes"]:
            join.lanes[path][source] = Lane.from_state(lane)
        join.window = Tally.from_state(max_samples, state["window"])
        join.total = Tally.from_state(max_samples, state["total"])
        return join


class StreamJoin:
    """The join of one run over every compare partition read: one ``PartitionJoin``
    each, created as events of a partition arrive."""

    def __init__(self, run_id: str, max_samples: int = 20) -> None:
        self.run_id = run_id
        self.max_samples = max_samples
        self.partitions: dict[int, PartitionJoin] = {}

    def partition(self, number: int) -> PartitionJoin:
        found = self.partitions.get(number)
        if found is None:
            found = self.partitions[number] = PartitionJoin(self.max_samples)
        return found

    @property
    def events(self) -> int:
        return sum(part.events for part in self.partitions.values())

    def add(self, event: CompareEvent, partition: int = 0) -> None:
        self.partition(partition).add(event)

    def add_invalid(self, count: int = 1, partition: int = 0) -> None:
        self.partition(partition).add_invalid(count)

    def unpaired(self) -> int:
        return sum(part.unpaired() for part in self.partitions.values())

    def snapshot(self, horizon: Horizon | None = None, *, ended: bool = True) -> Snapshot:
        return merge(
            (part.snapshot(horizon, ended=ended) for part in self.partitions.values()),
            self.max_samples,
        )

    def result(self, horizon: Horizon | None = None) -> JoinResult:
        """Classify what is still unpaired as missing on the other side, or as pending
        when ``horizon`` says its other event may still come."""
        snapshot = self.snapshot(horizon)
        snapshot.horizon = horizon
        return snapshot.result()
