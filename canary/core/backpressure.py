"""When the ring path pauses and resumes a partition: a pure decision on ring levels."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Limits:
    """``capacity`` records per ring, ``max_bytes`` across all rings; a paused partition
    resumes once its ring and the byte total are below ``low_water`` of those."""

    capacity: int
    max_bytes: int
    low_water: float


@dataclass(frozen=True, slots=True)
class Decision:
    pause: list[Partition]
    resume: list[Partition]


def decide(
    levels: Mapping[Partition, int], buffered_bytes: int, paused: Set[Partition], limits: Limits
) -> Decision:
    """Pause a partition whose ring is full, or any non-empty one while the byte bound is
    reached; resume a paused one once both its ring and the byte total are low again.
    The gap between the two marks keeps a partition from flapping at the threshold."""
    over_bytes = buffered_bytes >= limits.max_bytes
    under_bytes = buffered_bytes <= limits.max_bytes * limits.low_water
    low = int(limits.capacity * limits.low_water)
    pause = [
        p
        for p, n in levels.items()
        if p not in paused and (n >= limits.capacity or (over_bytes and n > 0))
    ]
    resume = [p for p in paused if levels.get(p, 0) <= low and under_bytes]
    return Decision(sorted(pause), sorted(resume))
