"""The bench report's derived figures: limit shares, rebalance windows and gaps, and
latency points, from values given by hand."""

from __future__ import annotations

import pytest

from canary.bench.figures import (
    Phases,
    drain_timeout,
    latency_point,
    limits_ratio,
    rebalance_gaps,
)
from canary.core.stats import Summary


def test_limits_ratio_is_each_path_over_its_own_database() -> None:
    throughput = {"legacy": 1_000.0, "ring": 20_000.0, "ring_processes": 30_000.0}
    limits = {"consume_only": 1e6, "postgres_upsert": 40_000.0, "mysql_upsert": 25_000.0}
    assert limits_ratio(throughput, limits) == {
        "ring": 0.5,
        "ring_processes": 0.75,
        "legacy": 0.04,
    }


def test_limits_ratio_of_a_zero_limit_is_finite() -> None:
    ratio = limits_ratio(
        {"legacy": 1.0, "ring": 1.0, "ring_processes": 1.0},
        {"postgres_upsert": 0.0, "mysql_upsert": 0.0},
    )
    assert all(value > 0 and value != float("inf") for value in ratio.values())


def test_phases_are_three_windows_of_equal_length() -> None:
    phases = Phases(load_start=1_000.0, joined=6_000.0, left=11_000.0, phase_ms=5_000.0)
    assert phases.quiet == (1_000.0, 6_000.0)
    assert phases.join == (6_000.0, 11_000.0)
    assert phases.leave == (11_000.0, 16_000.0)


def _steady(
    partition: int, start: float, end: float, step: float
) -> list[tuple[int, float, float]]:
    count = int((end - start) / step)
    return [(partition, start + i * step, 5.0) for i in range(count + 1)]


def test_each_gap_is_found_in_its_own_window_only_on_unmoved_partitions() -> None:
    phases = Phases(load_start=0.0, joined=3_000.0, left=6_000.0, phase_ms=3_000.0)
    standstills = ((1_000.0, 1_040.0), (3_100.0, 3_800.0), (6_200.0, 6_500.0))
    kept = [
        e
        for e in _steady(0, 0.0, 9_000.0, 10.0)
        if not any(before < e[1] < after for before, after in standstills)
    ]
    moved = [(1, 0.0, 5.0), (1, 8_000.0, 5.0)]  # partition 1 went to the other member
    gaps = rebalance_gaps(kept + moved, {0}, phases)
    assert gaps == {"join_gap": 700.0, "leave_gap": 300.0, "quiet_gap": 40.0}


def test_no_events_means_no_gap() -> None:
    phases = Phases(0.0, 1.0, 2.0, 1.0)
    assert rebalance_gaps([], {0, 1}, phases) == {
        "join_gap": 0.0,
        "leave_gap": 0.0,
        "quiet_gap": 0.0,
    }


def _summary(p50: float, p99: float) -> Summary:
    return Summary(count=10, mean=p50, p50=p50, p95=p99, p99=p99, p999=p99, max=p99)


def test_latency_point_keeps_only_p50_and_p99() -> None:
    point = latency_point(
        500.0,
        {"ring": _summary(5, 20), "legacy": _summary(8, 90)},
        {"ring": _summary(6, 25), "legacy": _summary(9, 95)},
    )
    assert point == {
        "load_msg_s": 500.0,
        "alone": {"ring": {"p50": 5, "p99": 20}, "legacy": {"p50": 8, "p99": 90}},
        "side_by_side": {"ring": {"p50": 6, "p99": 25}, "legacy": {"p50": 9, "p99": 95}},
    }


def test_drain_timeout_grows_with_the_backlog() -> None:
    # 5,000 msg/s for 15 s is 75,000 messages: 375 s at 200 msg/s.
    assert drain_timeout(5_000.0, 15.0, 200.0, 30.0) == pytest.approx(15 + 375 + 30)
