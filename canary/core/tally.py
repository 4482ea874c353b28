"""What a set of judged records adds up to: counts, latency sketches, the pair sample and
the samples worth showing. One ``Tally`` serves a window, a compare partition and a
whole run alike; tallies merge, and save to and load from plain JSON-able state.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from typing import Any

from canary.core.sketch import LatencySketch, PairSample

LEGACY, RING = 0, 1


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

    def as_state(self) -> list[Any]:
        return [self.topic, self.partition, self.offset, self.key, self.legacy_sum, self.ring_sum]

    @classmethod
    def from_state(cls, state: list[Any]) -> Sample:
        return cls(*state)


class Reservoir:
    """Counts samples and keeps the ``cap`` smallest coordinates, in order: which ones
    are shown does not depend on the order the events were read in."""

    __slots__ = ("_cap", "_kept", "count")

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

    def merge(self, other: Reservoir) -> None:
        self.count += other.count
        self._kept = heapq.nsmallest(self._cap, [*self._kept, *other._kept])

    def sorted(self) -> list[Sample]:
        return list(self._kept)

    def as_state(self) -> dict[str, Any]:
        return {"count": self.count, "kept": [s.as_state() for s in self._kept]}

    @classmethod
    def from_state(cls, cap: int, state: dict[str, Any]) -> Reservoir:
        reservoir = cls(cap)
        reservoir.count = state["count"]
        reservoir._kept = sorted(Sample.from_state(s) for s in state["kept"])[:cap]
        return reservoir


class Tally:
    """Counts and statistics of the records judged in some span of the run.

    ``missing[p]`` holds the records only path ``p`` wrote: ``missing[LEGACY]`` are
    missing in ring. Latencies are buffered as plain floats and binned a batch at a time
    by ``flush``; everything that reads the sketches flushes first.
    """

    __slots__ = (
        "buffered",
        "cap",
        "duplicates",
        "invalid",
        "matched",
        "mismatched",
        "missing",
        "pairs",
        "records",
        "sketches",
    )

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.records = [0, 0]
        self.duplicates = [0, 0]
        self.matched = 0
        self.invalid = 0
        self.mismatched = Reservoir(cap)
        self.missing = (Reservoir(cap), Reservoir(cap))
        self.sketches = (LatencySketch(), LatencySketch())
        self.pairs = PairSample()
        self.buffered: tuple[list[float], list[float]] = ([], [])

    def flush(self) -> None:
        for sketch, values in zip(self.sketches, self.buffered, strict=True):
            if values:
                sketch.add_many(values)
                values.clear()

    def merge(self, other: Tally) -> None:
        self.flush()
        other.flush()
        for index in (LEGACY, RING):
            self.records[index] += other.records[index]
            self.duplicates[index] += other.duplicates[index]
            self.missing[index].merge(other.missing[index])
            self.sketches[index].merge(other.sketches[index])
        self.matched += other.matched
        self.invalid += other.invalid
        self.mismatched.merge(other.mismatched)
        self.pairs.merge(other.pairs)

    def copy(self) -> Tally:
        copied = Tally(self.cap)
        copied.merge(self)
        return copied

    @property
    def paired_count(self) -> int:
        """Records both paths wrote."""
        return self.matched + self.mismatched.count

    def as_state(self) -> dict[str, Any]:
        self.flush()
        return {
            "records": list(self.records),
            "duplicates": list(self.duplicates),
            "matched": self.matched,
            "invalid": self.invalid,
            "mismatched": self.mismatched.as_state(),
            "missing": [reservoir.as_state() for reservoir in self.missing],
            "sketches": [sketch.as_state() for sketch in self.sketches],
            "pairs": self.pairs.as_state(),
        }

    @classmethod
    def from_state(cls, cap: int, state: dict[str, Any]) -> Tally:
        tally = cls(cap)
        tally.records = list(state["records"])
        tally.duplicates = list(state["duplicates"])
        tally.matched = state["matched"]
        tally.invalid = state["invalid"]
        tally.mismatched = Reservoir.from_state(cap, state["mismatched"])
        legacy, ring = (Reservoir.from_state(cap, s) for s in state["missing"])
        tally.missing = (legacy, ring)
        first, second = (LatencySketch.from_state(s) for s in state["sketches"])
        tally.sketches = (first, second)
        tally.pairs = PairSample.from_state(state["pairs"])
        return tally
