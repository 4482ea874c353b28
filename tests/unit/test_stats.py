"""Latency statistics: nearest-rank percentiles against a plain reference, and the paired
bootstrap of the P99 gap."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.core.stats import Summary, nearest_rank, paired, summarize

# Percentiles in tenths of a percent, so ranks come from integer arithmetic only.
TENTHS = {"p50": 500, "p95": 950, "p99": 990, "p999": 999}


def reference(values: list[float]) -> dict[str, float]:
    """Nearest rank by the textbook: the value at rank ceil(P/100 * n) of the sorted list."""
    ordered = sorted(values)
    n = len(ordered)
    body = {"count": float(n), "mean": math.fsum(ordered) / n, "max": ordered[-1]}
    for name, tenths in TENTHS.items():
        rank = max(1, -(-tenths * n // 1000))  # ceil without floating point
        body[name] = ordered[rank - 1]
    return body


def assert_within_contract(actual: float, exact: float) -> None:
    """CONTRACTS §5: within 1 % or 0.1 ms of the exact value, whichever is larger."""
    assert abs(actual - exact) <= max(0.01 * abs(exact), 0.1), (actual, exact)


_latencies = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=3000,
)


@settings(max_examples=300)
@given(_latencies)
def test_summary_is_exact_nearest_rank(values: list[float]) -> None:
    summary = summarize(values)
    expected = reference(values)
    assert summary.count == len(values)
    for name in ("p50", "p95", "p99", "p999", "max"):
        assert getattr(summary, name) == expected[name], name
    assert summary.mean == pytest.approx(expected["mean"], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n", [1, 2, 10, 99, 100, 101, 999, 1000, 1001, 2000, 20_000, 100_000])
def test_ranks_at_the_edges(n: int) -> None:
    # Distinct values 1..n, so the value is the rank: an off-by-one shows.
    values = list(range(n, 0, -1))
    summary = summarize(values)
    for name, tenths in TENTHS.items():
        assert getattr(summary, name) == max(1, math.ceil(tenths * n / 1000)), name
    assert summary.p999 == max(1, -(-999 * n // 1000))


def test_p999_of_a_thousand_is_the_999th_value() -> None:
    values = [1.0] * 999 + [5000.0]
    summary = summarize(values)
    assert summary.p999 == 1.0
    assert summary.max == 5000.0


@settings(max_examples=100)
@given(_latencies)
def test_summary_is_within_the_contracts_accuracy(values: list[float]) -> None:
    summary = summarize(values)
    expected = reference(values)
    for name in ("mean", "p50", "p95", "p99", "p999", "max"):
        assert_within_contract(getattr(summary, name), expected[name])


def test_summary_of_a_known_distribution() -> None:
    rng = np.random.default_rng(1)
    values = rng.exponential(40.0, size=100_000)
    summary = summarize(values)
    ordered = sorted(values.tolist())
    assert summary.p50 == ordered[50_000 - 1]
    assert summary.p99 == ordered[99_000 - 1]
    assert summary.p999 == ordered[99_900 - 1]
    # The exponential's quantiles, as a sanity check of the data itself.
    assert summary.p50 == pytest.approx(40.0 * math.log(2), rel=0.03)
    assert summary.p99 == pytest.approx(40.0 * math.log(100), rel=0.05)


def test_empty_summary_is_zeros() -> None:
    assert summarize([]) == Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert summarize([]).as_json() == {
        "count": 0,
        "mean": 0.0,
        "p50": 0.0,
        "p95": 0.0,
        "p99": 0.0,
        "p999": 0.0,
        "max": 0.0,
    }


def test_nearest_rank_on_an_empty_array() -> None:
    assert nearest_rank(np.array([]), 99.0) == 0.0


def test_single_value() -> None:
    summary = summarize([7.25])
    assert (summary.p50, summary.p999, summary.max, summary.mean) == (7.25, 7.25, 7.25, 7.25)


# --- the paired bootstrap ------------------------------------------------------------------


def _pairs(n: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    legacy = rng.exponential(40.0, size=n)
    ring = rng.exponential(8.0, size=n)
    return list(zip(legacy.tolist(), ring.tolist(), strict=True))


def _exact_p99(values: list[float]) -> float:
    return reference(values)["p99"]


@pytest.mark.parametrize("n", [1, 5, 200, 5_000, 60_000])
def test_gap_is_ring_p99_minus_legacy_p99_and_the_ci_contains_it(n: int) -> None:
    pairs = _pairs(n, seed=n)
    result = paired(pairs, seed=3)
    legacy = [a for a, _ in pairs]
    ring = [b for _, b in pairs]
    assert result.count == n
    assert result.p99_gap == pytest.approx(_exact_p99(ring) - _exact_p99(legacy), abs=1e-9)
    low, high = result.p99_gap_ci95
    assert low <= result.p99_gap <= high
    diffs = sorted(b - a for a, b in pairs)
    assert result.ring_faster_share == pytest.approx(sum(d < 0 for d in diffs) / n)
    assert result.median_diff == pytest.approx(float(np.median(diffs)))


def test_ci_narrows_with_more_data() -> None:
    widths = []
    for n in (1_000, 10_000, 100_000):
        low, high = paired(_pairs(n, seed=11), seed=0).p99_gap_ci95
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2] > 0
    # A quantile's spread shrinks as 1/sqrt(n): a hundred times the data, roughly a tenth.
    assert widths[2] < widths[0] / 4


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    pairs = _pairs(3_000, seed=5)
    assert paired(pairs, seed=9) == paired(pairs, seed=9)
    assert paired(pairs, seed=9).p99_gap_ci95 != paired(pairs, seed=10).p99_gap_ci95


@pytest.mark.parametrize("n", [50, 3_000, 50_000])
def test_ring_exactly_ten_ms_faster(n: int) -> None:
    rng = np.random.default_rng(n)
    legacy = (20.0 + rng.exponential(30.0, size=n)).tolist()
    pairs = [(value, value - 10.0) for value in legacy]
    result = paired(pairs, seed=1)
    assert result.p99_gap == pytest.approx(-10.0, abs=1e-9)
    low, high = result.p99_gap_ci95
    assert low == pytest.approx(-10.0, abs=1e-9)
    assert high == pytest.approx(-10.0, abs=1e-9)
    assert result.median_diff == pytest.approx(-10.0, abs=1e-9)
    assert result.ring_faster_share == 1.0


def test_no_pairs() -> None:
    result = paired([])
    assert result.count == 0
    assert result.p99_gap_ci95 == (0.0, 0.0)
    assert result.as_json() == {
        "count": 0,
        "median_diff": 0.0,
        "ring_faster_share": 0.0,
        "p99_gap": 0.0,
        "p99_gap_ci95": [0.0, 0.0],
    }


@settings(max_examples=30)
@given(st.integers(0, 2**32))
def test_bootstrap_does_not_depend_on_the_order_of_the_pairs(shuffle_seed: int) -> None:
    # The diff reads partitions interleaved in no fixed order; a rerun must agree.
    pairs = _pairs(2_000, seed=21)
    shuffled = list(pairs)
    random.Random(shuffle_seed).shuffle(shuffled)
    assert paired(shuffled, seed=4) == paired(pairs, seed=4)


def test_a_sample_of_a_larger_population_widens_nothing_but_scales_the_interval() -> None:
    # The join hands over a uniform sample of the pairs and how many there were: the
    # interval is that of the whole population, narrower than the sample's own.
    pairs = _pairs(5_000, seed=31)
    own = paired(pairs, seed=2)
    scaled = paired(pairs, seed=2, population=500_000)
    assert scaled.count == 500_000
    assert (scaled.p99_gap, scaled.median_diff, scaled.ring_faster_share) == (
        own.p99_gap,
        own.median_diff,
        own.ring_faster_share,
    )
    own_width = own.p99_gap_ci95[1] - own.p99_gap_ci95[0]
    width = scaled.p99_gap_ci95[1] - scaled.p99_gap_ci95[0]
    assert width == pytest.approx(own_width * (5_000 / 500_000) ** 0.5, rel=1e-9)
    assert scaled.p99_gap_ci95[0] <= scaled.p99_gap <= scaled.p99_gap_ci95[1]
    # a population smaller than the sample is the sample
    assert paired(pairs, seed=2, population=10) == own
