"""Bounded, mergeable latency statistics: a log-bucket quantile sketch and a sample of
paired records.

``LatencySketch`` keeps counts in logarithmic buckets, the mapping of DDSketch: a value
``x`` goes to bucket ``ceil(log_gamma(x))`` with ``gamma = (1 + a) / (1 - a)``, and a
bucket is reported as ``2 gamma^i / (gamma + 1)``, within ``a`` = 0.5 % of every value in
it. The buckets are one fixed numpy array per sign, covering 1 µs to 10^9 ms, so values
are binned a batch at a time by vectorised arithmetic (a per-value library call would
cost more than the whole join of an event) and two sketches merge by adding arrays.
Count, sum, minimum and maximum are exact; a quantile is clamped to [min, max].

``PairSample`` keeps the pairs (legacy, ring latency) of the records whose coordinate
hashes are the ``size`` smallest: a uniform sample that depends only on which records
there are, not on the order they were read in, and that merges by taking the smallest
hashes again.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from canary.core.stats import Summary, rank

RELATIVE_ACCURACY = 0.005
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LN_GAMMA = math.log(_GAMMA)
SMALLEST_MS = 1e-3  # below this magnitude a value counts as zero
_LARGEST_MS = 1e9  # beyond this (eleven days) a value is clamped into the last bucket
_LOW = math.ceil(math.log(SMALLEST_MS) / _LN_GAMMA)
_HIGH = math.ceil(math.log(_LARGEST_MS) / _LN_GAMMA)
BUCKETS = _HIGH - _LOW + 1
PAIR_SAMPLE_SIZE = 20_000


def _bucket_values() -> np.ndarray:
    indices = np.arange(_LOW, _HIGH + 1, dtype=np.float64)
    return 2 * np.power(_GAMMA, indices) / (_GAMMA + 1)


_VALUES = _bucket_values()


class LatencySketch:
    """Quantiles of latencies in milliseconds, each within 0.5 % of the exact one."""

    __slots__ = ("count", "maximum", "minimum", "negative", "positive", "total", "zero")

    def __init__(self) -> None:
        self.positive = np.zeros(BUCKETS, dtype=np.int64)
        self.negative = np.zeros(BUCKETS, dtype=np.int64)  # by magnitude
        self.zero = 0
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add_many(self, values: Sequence[float]) -> None:
        if not values:
            return
        data = np.asarray(values, dtype=np.float64)
        self.count += len(data)
        self.total += float(data.sum())
        self.minimum = min(self.minimum, float(data.min()))
        self.maximum = max(self.maximum, float(data.max()))
        magnitude = np.abs(data)
        small = magnitude < SMALLEST_MS
        self.zero += int(small.sum())
        self.positive += _binned(magnitude[data >= SMALLEST_MS])
        self.negative += _binned(magnitude[data <= -SMALLEST_MS])

    def merge(self, other: LatencySketch) -> None:
        self.positive += other.positive
        self.negative += other.negative
        self.zero += other.zero
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """(value, count) of every non-empty bucket, smallest value first."""
        values = np.concatenate((-_VALUES[::-1], [0.0], _VALUES))
        counts = np.concatenate((self.negative[::-1], [self.zero], self.positive))
        kept = counts > 0
        return values[kept], counts[kept]

    def quantile(self, percentile: float) -> float:
        """Nearest rank: the value at rank ceil(percentile % of count)."""
        if self.count == 0:
            return 0.0
        values, counts = self._ordered()
        position = int(np.searchsorted(np.cumsum(counts), rank(percentile, self.count)))
        value = float(values[min(position, len(values) - 1)])
        return min(max(value, self.minimum), self.maximum)

    def summary(self) -> Summary:
        if self.count == 0:
            return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return Summary(
            count=self.count,
            mean=self.total / self.count,
            p50=self.quantile(50.0),
            p95=self.quantile(95.0),
            p99=self.quantile(99.0),
            p999=self.quantile(99.9),
            max=self.maximum,
        )

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket values and their counts, for a histogram of the distribution."""
        return self._ordered()

    def as_state(self) -> dict[str, Any]:
        return {
            "positive": _sparse(self.positive),
            "negative": _sparse(self.negative),
            "zero": self.zero,
            "count": self.count,
            "total": self.total,
            "minimum": None if self.count == 0 else self.minimum,
            "maximum": None if self.count == 0 else self.maximum,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LatencySketch:
        sketch = cls()
        for store, pairs in (
            (sketch.positive, state["positive"]),
            (sketch.negative, state["negative"]),
        ):
            if pairs:
                index, counts = zip(*pairs, strict=True)
                store[list(index)] = counts
        sketch.zero = state["zero"]
        sketch.count = state["count"]
        sketch.total = state["total"]
        if sketch.count:
            sketch.minimum, sketch.maximum = state["minimum"], state["maximum"]
        return sketch


def _binned(magnitudes: np.ndarray) -> np.ndarray:
    """Bucket counts of positive values, all at least ``SMALLEST_MS``."""
    if not magnitudes.size:
        return np.zeros(BUCKETS, dtype=np.int64)
    index = np.ceil(np.log(magnitudes) / _LN_GAMMA).astype(np.int64) - _LOW
    np.clip(index, 0, BUCKETS - 1, out=index)
    return np.bincount(index, minlength=BUCKETS)


def _sparse(store: np.ndarray) -> list[list[int]]:
    index = np.flatnonzero(store)
    return [[int(i), int(store[i])] for i in index]


class PairSample:
    """The ``size`` pairs with the smallest coordinate hashes, in numpy arrays.

    A pair whose hash is below ``threshold`` (the largest hash kept, once the sample is
    full) goes to a flat buffer; the buffer is folded into the arrays when it holds
    ``size`` pairs or the sample is read. Most pairs of a long run are rejected by one
    comparison, and the sample costs 24 bytes a pair rather than a tuple of objects.
    """

    __slots__ = ("_buffer", "_hashes", "_size", "_values", "threshold")

    def __init__(self, size: int = PAIR_SAMPLE_SIZE) -> None:
        self._size = size
        self._hashes = np.empty(0, dtype=np.uint64)
        self._values = np.empty((0, 2), dtype=np.float64)
        self._buffer: list[float] = []  # hash, legacy, ring, hash, ...
        self.threshold = 1 << 64

    def add(self, hashed: int, legacy: float, ring: float) -> None:
        if hashed < self.threshold:
            buffer = self._buffer
            buffer += (hashed, legacy, ring)
            if len(buffer) >= 3 * self._size:
                self._fold()

    def _fold(self, hashes: np.ndarray | None = None, values: np.ndarray | None = None) -> None:
        parts_h, parts_v = [self._hashes], [self._values]
        buffer = self._buffer
        if buffer:
            parts_h.append(np.array(buffer[0::3], dtype=np.uint64))
            parts_v.append(np.column_stack((buffer[1::3], buffer[2::3])).astype(np.float64))
            buffer.clear()
        if hashes is not None and values is not None:
            parts_h.append(hashes)
            parts_v.append(values)
        if len(parts_h) == 1:
            return
        all_h, all_v = np.concatenate(parts_h), np.concatenate(parts_v)
        if len(all_h) > self._size:
            kept = np.argpartition(all_h, self._size - 1)[: self._size]
            all_h, all_v = all_h[kept], all_v[kept]
            self.threshold = int(all_h.max())
        self._hashes, self._values = all_h, all_v

    def merge(self, other: PairSample) -> None:
        other._fold()
        self._fold(other._hashes, other._values)

    def __len__(self) -> int:
        return len(self._hashes) + len(self._buffer) // 3

    def pairs(self) -> list[tuple[float, float]]:
        self._fold()
        return [(legacy, ring) for legacy, ring in self._values.tolist()]

    def as_state(self) -> str:
        """Base64 of the hashes (uint64), then the (legacy, ring) pairs (float64)."""
        self._fold()
        return base64.b64encode(self._hashes.tobytes() + self._values.tobytes()).decode()

    @classmethod
    def from_state(cls, state: str, size: int = PAIR_SAMPLE_SIZE) -> PairSample:
        raw = base64.b64decode(state)
        count = len(raw) // 24
        sample = cls(size)
        sample._fold(
            np.frombuffer(raw[: 8 * count], dtype=np.uint64).copy(),
            np.frombuffer(raw[8 * count :], dtype=np.float64).reshape(count, 2).copy(),
        )
        return sample
