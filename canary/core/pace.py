"""When each message of a paced production is due: a steady rate with at most one burst (pure).

A pace is a schedule, not a clock: ``due(n)`` is the time, in seconds after the first
message, by which the ``n``-th message (1-based) may have been sent. The producer
sleeps until then, so a slow broker makes it late but never makes it send faster than
the schedule to catch up beyond the rate of the current phase.

The burst sends ``burst_seconds * rate * burst_factor`` messages at ``burst_factor``
times the rate, starting once ``burst_after`` of the count has been sent at the steady
rate: latency rises while the paths work off the backlog, then recovers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pace:
    """``rate`` messages per second (0: as fast as possible), with one optional burst."""

    count: int
    rate: float = 0.0
    burst_seconds: float = 0.0
    burst_factor: float = 1.0
    burst_after: float = 0.3  # share of ``count`` sent before the burst

    def __post_init__(self) -> None:
        if self.count < 0 or self.rate < 0 or self.burst_seconds < 0:
            raise ValueError(f"a pace needs non-negative values, got {self}")
        if self.burst_factor < 1 or not 0 <= self.burst_after <= 1:
            raise ValueError(f"a burst needs a factor >= 1 and a start in [0, 1], got {self}")

    @property
    def burst_start(self) -> int:
        """Messages sent before the burst."""
        return math.floor(self.count * self.burst_after) if self.burst_size else self.count

    @property
    def burst_size(self) -> int:
        """Messages sent at the burst's rate (never more than the count leaves)."""
        if self.rate <= 0 or self.burst_seconds <= 0 or self.burst_factor <= 1:
            return 0
        wanted = round(self.burst_seconds * self.rate * self.burst_factor)
        return min(wanted, self.count - math.floor(self.count * self.burst_after))

    def due(self, sent: int) -> float:
        """Seconds after the start by which the ``sent``-th message may have gone out."""
        if self.rate <= 0:
            return 0.0
        start, size = self.burst_start, self.burst_size
        before = min(sent, start)
        during = min(max(sent - start, 0), size)
        after = max(sent - start - size, 0)
        return (before + after) / self.rate + during / (self.rate * self.burst_factor)

    @property
    def seconds(self) -> float:
        """How long the whole schedule takes (0 for an unpaced one)."""
        return self.due(self.count)

    @property
    def burst_window(self) -> tuple[float, float] | None:
        """When the burst begins and ends, in seconds after the start; None without one."""
        if not self.burst_size:
            return None
        return self.due(self.burst_start), self.due(self.burst_start + self.burst_size)
