"""Latency statistics: nearest-rank percentiles, and a paired bootstrap for the P99 gap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
BOOTSTRAP_ROUNDS = 300
# Resamples of at most this many pairs (m-out-of-n bootstrap): a quantile's spread
# shrinks as 1/sqrt(size), so the spread seen at m is scaled by sqrt(m/n) to the full run.
BOOTSTRAP_PAIRS = 20_000
_ROUNDS_AT_ONCE = 25


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    p999: float
    max: float

    def as_json(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "p999": self.p999,
            "max": self.max,
        }


def nearest_rank(sorted_values: np.ndarray, percentile: float) -> float:
    """The smallest value with at least ``percentile`` % of the values at or below it."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    return float(sorted_values[rank(percentile, n) - 1])


def rank(percentile: float, n: int) -> int:
    """``ceil(percentile / 100 * n)``, at least 1, in exact arithmetic: in floats 99.9 %
    of 1,000 is 999.0000000000001, which would pick rank 1,000 (the maximum)."""
    return max(1, math.ceil(Fraction(repr(percentile)) * n / 100))


def summarize(values: Sequence[float] | np.ndarray) -> Summary:
    data = np.sort(np.asarray(values, dtype=np.float64))
    if len(data) == 0:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Summary(
        count=len(data),
        mean=float(data.mean()),
        p50=nearest_rank(data, 50.0),
        p95=nearest_rank(data, 95.0),
        p99=nearest_rank(data, 99.0),
        p999=nearest_rank(data, 99.9),
        max=float(data[-1]),
    )


@dataclass(frozen=True, slots=True)
class Paired:
    """Ring minus legacy for the same records: how the gap looks and how sure we are."""

    count: int
    median_diff: float
    ring_faster_share: float
    p99_gap: float
    p99_gap_ci95: tuple[float, float]

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "median_diff": self.median_diff,
            "ring_faster_share": self.ring_faster_share,
            "p99_gap": self.p99_gap,
            "p99_gap_ci95": list(self.p99_gap_ci95),
        }


def paired(
    pairs: Sequence[tuple[float, float]], seed: int = 0, population: int | None = None
) -> Paired:
    """Bootstrap over records (pairs stay together), so the interval reflects that both
    paths saw the same messages under the same load.

    ``pairs`` may be a uniform sample of the ``population`` records both paths wrote
    (default: all of them): the interval is then scaled from the sample's size to the
    population's, as an m-out-of-n bootstrap scales from m to n.
    """
    if not pairs:
        return Paired(0, 0.0, 0.0, 0.0, (0.0, 0.0))
    data = np.asarray(pairs, dtype=np.float64)
    total = len(data) if population is None else max(population, len(data))
    # In a canonical order first: the resamples pick pairs by index, and the order in
    # which the events were read must not change the interval.
    data = data[np.lexsort((data[:, 1], data[:, 0]))]
    legacy, ring = data[:, 0], data[:, 1]
    diff = ring - legacy
    gap = _p99(ring) - _p99(legacy)
    rng = np.random.default_rng(seed)
    n = min(len(data), BOOTSTRAP_PAIRS)
    index = rank(99.0, n) - 1
    gaps = np.empty(BOOTSTRAP_ROUNDS)
    # A few rounds at a time: all 300 at once would hold 300 x n draws (~100 MB).
    for first in range(0, BOOTSTRAP_ROUNDS, _ROUNDS_AT_ONCE):
        rounds = min(_ROUNDS_AT_ONCE, BOOTSTRAP_ROUNDS - first)
        draws = rng.integers(0, len(data), size=(rounds, n))
        ring_p99 = np.partition(ring[draws], index, axis=1)[:, index]
        legacy_p99 = np.partition(legacy[draws], index, axis=1)[:, index]
        gaps[first : first + rounds] = ring_p99 - legacy_p99
    scale = math.sqrt(n / total)
    center = float(np.median(gaps))
    low_m, high_m = np.quantile(gaps, [0.025, 0.975])
    low, high = gap + (low_m - center) * scale, gap + (high_m - center) * scale
    return Paired(
        count=total,
        median_diff=float(np.median(diff)),
        ring_faster_share=float(np.mean(diff < 0)),
        p99_gap=gap,
        p99_gap_ci95=(float(low), float(high)),
    )


def _p99(values: np.ndarray) -> float:
    return nearest_rank(np.sort(values), 99.0)
