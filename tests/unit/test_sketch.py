"""The latency sketch against exact nearest-rank percentiles, and the pair sample against
a plain "smallest hashes" reference."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.core.sketch import RELATIVE_ACCURACY, SMALLEST_MS, LatencySketch, PairSample
from canary.core.stats import nearest_rank

PERCENTILES = (0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0)
# 0.5 %, and a hair for the rounding of a value right at a bucket's edge
RELATIVE = RELATIVE_ACCURACY * (1 + 1e-9)


def sketch_of(values: list[float]) -> LatencySketch:
    sketch = LatencySketch()
    sketch.add_many(values)
    return sketch


def assert_within(sketch: LatencySketch, values: list[float]) -> None:
    """Every quantile within 0.5 % of the exact one (within ``SMALLEST_MS`` for the values
    a sketch counts as zero); count, sum, minimum and maximum exact."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    assert sketch.count == len(values)
    assert sketch.total == pytest.approx(float(ordered.sum()), rel=1e-9, abs=1e-9)
    assert sketch.minimum == ordered[0]
    assert sketch.maximum == ordered[-1]
    for percentile in PERCENTILES:
        exact = nearest_rank(ordered, percentile)
        found = sketch.quantile(percentile)
        assert abs(found - exact) <= max(RELATIVE * abs(exact), SMALLEST_MS), percentile


_magnitudes = st.one_of(
    st.floats(min_value=SMALLEST_MS, max_value=1e6),
    st.floats(min_value=0.0, max_value=10.0),
    st.floats(min_value=1e-6, max_value=1e-2),
    st.integers(0, 100_000).map(float),
)
_values = st.one_of(_magnitudes, _magnitudes.map(lambda x: -x))


@settings(max_examples=300, deadline=None)
@given(st.lists(_values, min_size=1, max_size=300))
def test_quantiles_are_within_half_a_percent_of_nearest_rank(values: list[float]) -> None:
    assert_within(sketch_of(values), values)


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_of_large_skewed_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        (rng.lognormal(2.0, 1.5, 50_000), rng.exponential(500.0, 500), rng.normal(0, 1, 200))
    ).tolist()
    sketch = LatencySketch()
    for start in range(0, len(values), 7_000):  # binned a batch at a time
        sketch.add_many(values[start : start + 7_000])
    assert_within(sketch, values)


def test_empty_sketch() -> None:
    sketch = LatencySketch()
    sketch.add_many([])
    assert sketch.count == 0
    assert sketch.quantile(99.0) == 0.0
    assert sketch.summary().as_json() == {
        "count": 0,
        "mean": 0.0,
        "p50": 0.0,
        "p95": 0.0,
        "p99": 0.0,
        "p999": 0.0,
        "max": 0.0,
    }


def test_a_single_value_comes_back_exactly() -> None:
    for value in (0.0, 7.25, -3.5, 1e-4, 123_456.789):
        summary = sketch_of([value]).summary()
        assert (summary.p50, summary.p99, summary.p999, summary.max) == (value,) * 4
        assert summary.mean == value


def test_zero_and_negative_values() -> None:
    # A path's clock ahead of the source's gives negative latencies; they sort below zero.
    values = [-50.0, -2.0, -2.0, -0.0005, 0.0, 0.0, 0.0004, 1.0, 3.0, 40.0]
    sketch = sketch_of(values)
    assert_within(sketch, values)
    assert sketch.quantile(10.0) == -50.0  # clamped to the exact minimum
    assert sketch.quantile(20.0) == pytest.approx(-2.0, rel=RELATIVE)
    assert abs(sketch.quantile(50.0)) < SMALLEST_MS  # the zero bucket
    assert sketch.zero == 4
    assert int(sketch.negative.sum()) == 3
    assert int(sketch.positive.sum()) == 3
    only_zero = sketch_of([0.0, 0.0, 0.0])
    assert (only_zero.quantile(50.0), only_zero.maximum, only_zero.zero) == (0.0, 0.0, 3)


def test_all_negative() -> None:
    values = [-(i + 1) * 1.5 for i in range(200)]
    sketch = sketch_of(values)
    assert_within(sketch, values)
    assert sketch.summary().max == -1.5


def test_weighted_adds_up_to_the_count() -> None:
    values = [0.0, -1.0, 2.0, 2.0, 300.0]
    bucket_values, counts = sketch_of(values).weighted()
    assert int(counts.sum()) == len(values)
    assert list(bucket_values) == sorted(bucket_values)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_values, max_size=60), min_size=1, max_size=5))
def test_merge_equals_the_sketch_of_the_union(parts: list[list[float]]) -> None:
    merged = LatencySketch()
    for part in parts:
        merged.merge(sketch_of(part))
    union = sketch_of([v for part in parts for v in part])
    np.testing.assert_array_equal(merged.positive, union.positive)
    np.testing.assert_array_equal(merged.negative, union.negative)
    assert (merged.zero, merged.count) == (union.zero, union.count)
    assert merged.total == pytest.approx(union.total, rel=1e-9, abs=1e-9)
    if union.count:
        assert (merged.minimum, merged.maximum) == (union.minimum, union.maximum)
        for percentile in PERCENTILES:
            assert merged.quantile(percentile) == union.quantile(percentile)


@settings(max_examples=150, deadline=None)
@given(st.lists(_values, max_size=200))
def test_state_round_trip_through_json(values: list[float]) -> None:
    sketch = sketch_of(values)
    restored = LatencySketch.from_state(orjson.loads(orjson.dumps(sketch.as_state())))
    np.testing.assert_array_equal(restored.positive, sketch.positive)
    np.testing.assert_array_equal(restored.negative, sketch.negative)
    assert (restored.zero, restored.count, restored.total) == (
        sketch.zero,
        sketch.count,
        sketch.total,
    )
    assert restored.summary() == sketch.summary()
    # and it goes on from where it was
    more = [1.0, 2.0, -3.0]
    restored.add_many(more)
    whole = sketch_of(values + more)
    np.testing.assert_array_equal(restored.positive, whole.positive)
    got, want = restored.summary(), whole.summary()
    assert got.mean == pytest.approx(want.mean, rel=1e-9, abs=1e-9)  # summed in another order
    assert (got.count, got.p50, got.p95, got.p99, got.p999, got.max) == (
        want.count,
        want.p50,
        want.p95,
        want.p99,
        want.p999,
        want.max,
    )


# --- the pair sample --------------------------------------------------------------------


def _hashed_pairs(n: int, seed: int) -> list[tuple[int, float, float]]:
    rng = random.Random(seed)
    hashes: set[int] = set()  # distinct, as coordinates' hashes are
    while len(hashes) < n:
        hashes.add(rng.getrandbits(64))
    return [(h, rng.uniform(0, 100), rng.uniform(0, 100)) for h in hashes]


def _reference(items: list[tuple[int, float, float]], size: int) -> list[tuple[float, float]]:
    return sorted((a, b) for _, a, b in sorted(items)[:size])


def _sample(items: list[tuple[int, float, float]], size: int) -> PairSample:
    sample = PairSample(size)
    for hashed, legacy, ring in items:
        sample.add(hashed, legacy, ring)
    return sample


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 400), st.integers(1, 50), st.integers(0, 2**32))
def test_pair_sample_is_the_smallest_hashes_in_any_order(n: int, size: int, seed: int) -> None:
    items = _hashed_pairs(n, seed)
    expected = _reference(items, size)
    shuffled = list(items)
    random.Random(seed + 1).shuffle(shuffled)
    for order in (items, shuffled, sorted(items), sorted(items, reverse=True)):
        sample = _sample(order, size)
        assert sorted(sample.pairs()) == expected
        assert len(sample) == min(n, size)


def test_all_pairs_when_fewer_than_the_size() -> None:
    items = _hashed_pairs(300, 3)
    assert sorted(_sample(items, 20_000).pairs()) == sorted((a, b) for _, a, b in items)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 200), min_size=1, max_size=5), st.integers(1, 40), st.integers(0, 99)
)
def test_pair_sample_merge_equals_the_sample_of_the_union(
    sizes: list[int], size: int, seed: int
) -> None:
    items = _hashed_pairs(sum(sizes), seed)
    merged = PairSample(size)
    start = 0
    for count in sizes:
        merged.merge(_sample(items[start : start + count], size))
        start += count
    assert sorted(merged.pairs()) == _reference(items, size)
    # merging more after reading goes on correctly
    extra = [(h ^ (1 << 63), a, b) for h, a, b in _hashed_pairs(30, seed + 7)]
    extra = [e for e in extra if e[0] not in {h for h, _, _ in items}]
    merged.merge(_sample(extra, size))
    assert sorted(merged.pairs()) == _reference(items + extra, size)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 300), st.integers(1, 50), st.integers(0, 99))
def test_pair_sample_state_round_trip(n: int, size: int, seed: int) -> None:
    items = _hashed_pairs(n, seed)
    sample = _sample(items[: n // 2], size)
    restored = PairSample.from_state(orjson.loads(orjson.dumps(sample.as_state())), size)
    assert sorted(restored.pairs()) == sorted(sample.pairs())
    for hashed, legacy, ring in items[n // 2 :]:
        restored.add(hashed, legacy, ring)
    assert sorted(restored.pairs()) == _reference(items, size)
