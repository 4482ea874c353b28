"""The bench report's derived figures: pure functions of values measured elsewhere.

Times are epoch milliseconds; an event is ``(partition, at, latency)`` as collected by
``canary.bench.events``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from canary.bench.events import longest_gap_ms
from canary.core.stats import Summary

Window = tuple[float, float]
Event = tuple[int, float, float]


def limits_ratio(throughput: Mapping[str, float], limits: Mapping[str, float]) -> dict[str, float]:
    """Each path's throughput as a share of its database's batched-upsert ceiling."""
    pg = max(limits["postgres_upsert"], 1e-9)
    return {
        "ring": throughput["ring"] / pg,
        "ring_processes": throughput["ring_processes"] / pg,
        "legacy": throughput["legacy"] / max(limits["mysql_upsert"], 1e-9),
    }


@dataclass(frozen=True, slots=True)
class Phases:
    """A rebalance run's timeline: the load starts, member B joins, then leaves.

    Each window lasts one phase, so the three gaps are taken over equal spans and the
    quiet one is a fair baseline for the other two.
    """

    load_start: float
    joined: float
    left: float
    phase_ms: float

    @property
    def quiet(self) -> Window:
        return (self.load_start, self.load_start + self.phase_ms)

    @property
    def join(self) -> Window:
        return (self.joined, self.joined + self.phase_ms)

    @property
    def leave(self) -> Window:
        return (self.left, self.left + self.phase_ms)


def rebalance_gaps(events: Sequence[Event], unmoved: set[int], phases: Phases) -> dict[str, float]:
    """Longest standstill of the ``unmoved`` partitions in each window of ``phases``."""
    listed = list(events)
    return {
        "join_gap": longest_gap_ms(listed, unmoved, phases.join),
        "leave_gap": longest_gap_ms(listed, unmoved, phases.leave),
        "quiet_gap": longest_gap_ms(listed, unmoved, phases.quiet),
    }


def percentiles(summary: Summary) -> dict[str, float]:
    return {"p50": summary.p50, "p99": summary.p99}


def latency_point(
    load: float,
    alone: Mapping[str, Summary],
    side_by_side: Mapping[str, Summary],
) -> dict[str, object]:
    """One entry of ``latency_points``: both paths alone and side by side at ``load``."""
    return {
        "load_msg_s": load,
        "alone": {path: percentiles(alone[path]) for path in ("ring", "legacy")},
        "side_by_side": {path: percentiles(side_by_side[path]) for path in ("ring", "legacy")},
    }


def drain_timeout(load: float, seconds: float, slowest: float, spare: float) -> float:
    """How long a member may take to finish a load it cannot keep up with: everything
    produced, drained at ``slowest`` msg/s, plus ``spare`` seconds."""
    return seconds + load * seconds / slowest + spare
