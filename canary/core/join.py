"""The stream join: pairs the two paths' compare events by source coordinate (CONTRACTS §5).

Events are folded in one at a time. A coordinate seen on one path waits in ``pending``
until the other path's event arrives; then it is classified (matched or mismatched) and
only a compact integer marker stays behind to recognise later redeliveries as
duplicates. Besides that marker, a record costs its latency figures (kept for the
percentiles and the paired statistics): about 0.9 KB per record in all.

What still waits when the result is taken is missing on the other path, unless a
``Horizon`` says the other path's event may still come: a record whose only event
committed within the grace period before the horizon is *pending*, counted apart and
not judged.

Samples keep the records with the smallest coordinates, so a report does not depend on
the order in which events happened to be read.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from canary.core.events import CompareEvent

LEGACY, RING = 0, 1
_PATH_INDEX = {"legacy": LEGACY, "ring": RING}
_OFFSET_BITS = 48  # offsets stay far below 2**48; partition and topic id fit above
_PARTITION_BITS = 20
_OFFSET_LIMIT = 1 << _OFFSET_BITS
_PARTITION_LIMIT = 1 << _PARTITION_BITS
# A coordinate packed into one int, or, past those bits, spelled out as a tuple (an int
# never equals a tuple, so the two forms cannot collide).
Coordinate = int | tuple[str, int, int]


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


@dataclass(order=True, frozen=True, slots=True)
class Sample:
    """One record worth showing: its coordinate, key, and the sums seen."""

    topic: str
    partition: int
    offset: int
    key: str = field(compare=False)
    legacy_sum: str | None = field(compare=False, default=None)
    ring_sum: str | None = field(compare=False, default=None)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": self.key,
            "src": {"t": self.topic, "p": self.partition, "o": self.offset},
        }
        if self.legacy_sum is not None:
            body["legacy_sum"] = self.legacy_sum
        if self.ring_sum is not None:
            body["ring_sum"] = self.ring_sum
        return body


class _Reservoir:
    """Counts samples and keeps the ``cap`` smallest, in order."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._kept: list[Sample] = []
        self.count = 0

    def add(self, sample: Sample) -> None:
        self.count += 1
        kept = self._kept
        if len(kept) < self._cap:
            bisect.insort(kept, sample)
        elif kept and sample < kept[-1]:
            bisect.insort(kept, sample)
            kept.pop()

    def sorted(self) -> list[Sample]:
        return list(self._kept)


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
    latencies: tuple[list[float], list[float]]
    paired: list[tuple[float, float]]  # (legacy, ring) latency of each coordinate both have
    mismatched_samples: list[Sample]
    missing_in_ring_samples: list[Sample]
    missing_in_legacy_samples: list[Sample]
    # Records only one path has, still within grace at the horizon: neither missing nor
    # judged. Without a horizon there are none.
    pending_in_ring: int = 0
    pending_in_legacy: int = 0
    pending_in_ring_samples: list[Sample] = field(default_factory=list)
    pending_in_legacy_samples: list[Sample] = field(default_factory=list)
    horizon: Horizon | None = None


class StreamJoin:
    """Folds compare events of one run into the classification of §5."""

    def __init__(self, run_id: str, max_samples: int = 20) -> None:
        self.run_id = run_id
        self._max_samples = max_samples
        self._topics: dict[str, int] = {}
        self._topic_names: list[str] = []
        # coordinate -> (path index, sum, latency, key, at) of the first event seen
        self._pending: dict[Coordinate, tuple[int, str, float, str, float]] = {}
        self._paired: set[Coordinate] = set()
        self._records = [0, 0]
        self._duplicates = [0, 0]
        self._latencies: tuple[list[float], list[float]] = ([], [])
        self._pairs: list[tuple[float, float]] = []
        self._matched = 0
        self._mismatched = _Reservoir(max_samples)
        self.invalid = 0
        self.events = 0

    def _topic_id(self, topic: str) -> int:
        topic_id = self._topics[topic] = len(self._topic_names)
        self._topic_names.append(topic)
        return topic_id

    def _unpack(self, coordinate: Coordinate) -> tuple[str, int, int]:
        if isinstance(coordinate, tuple):
            return coordinate
        offset = coordinate & (_OFFSET_LIMIT - 1)
        partition = (coordinate >> _OFFSET_BITS) & (_PARTITION_LIMIT - 1)
        return self._topic_names[coordinate >> (_OFFSET_BITS + _PARTITION_BITS)], partition, offset

    def add_invalid(self, count: int = 1) -> None:
        self.invalid += count

    def add(self, event: CompareEvent) -> None:
        """Fold one event of this run (the caller filters other runs out)."""
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
        """``add`` for the fields of a decoded event, without building it."""
        self.events += 1
        path = _PATH_INDEX[path_name]
        if offset >= _OFFSET_LIMIT or partition >= _PARTITION_LIMIT:
            coordinate: Coordinate = (topic, partition, offset)
        else:
            topic_id = self._topics.get(topic)
            if topic_id is None:
                topic_id = self._topic_id(topic)
            coordinate = (((topic_id << _PARTITION_BITS) | partition) << _OFFSET_BITS) | offset
        if coordinate in self._paired:
            self._duplicates[path] += 1
            return
        latency = at - ts
        first = self._pending.pop(coordinate, None)
        if first is None:
            self._pending[coordinate] = (path, digest, latency, key, at)
            self._records[path] += 1
            self._latencies[path].append(latency)
            return
        if first[0] == path:
            self._pending[coordinate] = first
            self._duplicates[path] += 1
            return
        self._paired.add(coordinate)
        self._records[path] += 1
        self._latencies[path].append(latency)
        if path == RING:
            self._pairs.append((first[2], latency))
        else:
            self._pairs.append((latency, first[2]))
        if first[1] == digest:
            self._matched += 1
            return
        legacy_sum, ring_sum = (first[1], digest) if path == RING else (digest, first[1])
        self._mismatched.add(Sample(topic, partition, offset, key, legacy_sum, ring_sum))

    def unpaired(self) -> int:
        return len(self._pending)

    def result(self, horizon: Horizon | None = None) -> JoinResult:
        """Classify what is still unpaired as missing on the other side, or as pending
        when ``horizon`` says its other event may still come."""
        missing = (_Reservoir(self._max_samples), _Reservoir(self._max_samples))
        pending = (_Reservoir(self._max_samples), _Reservoir(self._max_samples))
        for coordinate, (path, checksum, _, key, at) in self._pending.items():
            topic, partition, offset = self._unpack(coordinate)
            sums = {"legacy_sum": checksum} if path == LEGACY else {"ring_sum": checksum}
            # Present only on `path`, so missing (or not yet there) on the other one.
            waiting = horizon is not None and horizon.too_young(at)
            (pending if waiting else missing)[path].add(
                Sample(topic, partition, offset, key, **sums)
            )
        return JoinResult(
            records=(self._records[0], self._records[1]),
            matched=self._matched,
            mismatched=self._mismatched.count,
            missing_in_ring=missing[LEGACY].count,
            missing_in_legacy=missing[RING].count,
            duplicates=(self._duplicates[0], self._duplicates[1]),
            invalid=self.invalid,
            latencies=self._latencies,
            paired=self._pairs,
            mismatched_samples=self._mismatched.sorted(),
            missing_in_ring_samples=missing[LEGACY].sorted(),
            missing_in_legacy_samples=missing[RING].sorted(),
            pending_in_ring=pending[LEGACY].count,
            pending_in_legacy=pending[RING].count,
            pending_in_ring_samples=pending[LEGACY].sorted(),
            pending_in_legacy_samples=pending[RING].sorted(),
            horizon=horizon,
        )


def merge(parts: Sequence[JoinResult], max_samples: int) -> JoinResult:
    """One result from joins over disjoint sets of compare partitions (both paths' events
    of a record share a partition, so no record is split between parts). The parts are
    taken against one horizon, so the first part's stands for all."""

    def total(field: str) -> int:
        return sum(getattr(part, field) for part in parts)

    def both(field: str) -> tuple[int, int]:
        return (sum(getattr(p, field)[0] for p in parts), sum(getattr(p, field)[1] for p in parts))

    def smallest(field: str) -> list[Sample]:
        return heapq.nsmallest(max_samples, (s for p in parts for s in getattr(p, field)))

    return JoinResult(
        records=both("records"),
        matched=total("matched"),
        mismatched=total("mismatched"),
        missing_in_ring=total("missing_in_ring"),
        missing_in_legacy=total("missing_in_legacy"),
        duplicates=both("duplicates"),
        invalid=total("invalid"),
        latencies=(
            [v for p in parts for v in p.latencies[0]],
            [v for p in parts for v in p.latencies[1]],
        ),
        paired=[pair for p in parts for pair in p.paired],
        mismatched_samples=smallest("mismatched_samples"),
        missing_in_ring_samples=smallest("missing_in_ring_samples"),
        missing_in_legacy_samples=smallest("missing_in_legacy_samples"),
        pending_in_ring=total("pending_in_ring"),
        pending_in_legacy=total("pending_in_legacy"),
        pending_in_ring_samples=smallest("pending_in_ring_samples"),
        pending_in_legacy_samples=smallest("pending_in_legacy_samples"),
        horizon=parts[0].horizon if parts else None,
    )
