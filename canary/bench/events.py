"""Collects the compare events of benchmark runs, for latency and stall analysis."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise

from canary.diff.stream import ReadOptions, read_run


@dataclass
class Collected:
    """Per run id: (partition, at, latency) of every event, in topic order."""

    runs: set[str]
    current: str = ""  # the run being read now (the reader passes one run at a time)
    events: int = 0
    invalid: int = 0
    by_run: dict[str, list[tuple[int, float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )

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
        self.events += 1
        self.by_run[self.current].append((partition, at, at - ts))

    def add_invalid(self, count: int = 1) -> None:
        self.invalid += count

    def flush(self) -> None:
        pass  # nothing buffered

    def partition(self, number: int) -> Collected:
        return self  # the compare partition does not matter here

    def unpaired(self) -> int:
        return 0


def collect(bootstrap: str, topic: str, runs: set[str]) -> Collected:
    """Every compare event of ``runs`` in ``topic`` as it stands now."""
    collected = Collected(runs)
    for run in sorted(runs):
        collected.current = run
        read_run(bootstrap, ReadOptions(topic=topic, run_id=run, until_idle=0, grace=0), collected)
    return collected


def longest_gap_ms(
    events: list[tuple[int, float, float]], partitions: set[int], window: tuple[float, float]
) -> float:
    """The longest time between consecutive events of one of ``partitions`` where the
    gap overlaps ``window`` (epoch ms): how long processing of a partition stood still."""
    by_partition: dict[int, list[float]] = defaultdict(list)
    for partition, at, _ in events:
        if partition in partitions:
            by_partition[partition].append(at)
    start, end = window
    longest = 0.0
    for stamps in by_partition.values():
        stamps.sort()
        for before, after in pairwise(stamps):
            if after >= start and before <= end:
                longest = max(longest, after - before)
    return longest
