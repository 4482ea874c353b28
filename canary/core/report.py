"""Builds the stream report of CONTRACTS §7 from a join result (pure)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from canary.core.join import JoinResult
from canary.core.stats import paired, summarize
from canary.core.verdict import Thresholds, judge


def stream_report(
    report_id: str, run_id: str, result: JoinResult, limits: Thresholds, created_at: str
) -> dict[str, Any]:
    """The JSON report; fields beyond §7 (id, created_at, paired statistics, thresholds,
    pending) are additions a reader may ignore."""
    legacy = summarize(result.latencies[0])
    ring = summarize(result.latencies[1])
    p99_gap = ring.p99 - legacy.p99
    pairs = paired(result.paired)
    verdict, reasons = judge(result, pairs, p99_gap, limits)
    return {
        "kind": "stream",
        "id": report_id,
        "run_id": run_id,
        "created_at": created_at,
        "verdict": verdict,
        "reasons": reasons,
        "records": {"legacy": result.records[0], "ring": result.records[1]},
        "matched": result.matched,
        "mismatched": result.mismatched,
        "missing_in_ring": result.missing_in_ring,
        "missing_in_legacy": result.missing_in_legacy,
        "duplicates": {"legacy": result.duplicates[0], "ring": result.duplicates[1]},
        "invalid": result.invalid,
        "latency_ms": {
            "legacy": legacy.as_json(),
            "ring": ring.as_json(),
            "p99_gap": p99_gap,
            "paired": pairs.as_json(),
            "histogram": histogram(result.latencies),
        },
        "samples": {
            "mismatched": [s.as_json() for s in result.mismatched_samples],
            "missing_in_ring": [s.as_json() for s in result.missing_in_ring_samples],
            "missing_in_legacy": [s.as_json() for s in result.missing_in_legacy_samples],
        },
        "pending": pending(result),
        "thresholds": asdict(limits),
    }


def pending(result: JoinResult) -> dict[str, Any]:
    """Records only one path had when the read began, within the grace period: counts and
    samples by the path still to write them, and that grace period (null when the read
    waited it out instead, so nothing can be pending)."""
    horizon = result.horizon
    return {
        "in_ring": result.pending_in_ring,
        "in_legacy": result.pending_in_legacy,
        "grace_s": None if horizon is None else horizon.grace_ms / 1000,
        "samples": {
            "in_ring": [s.as_json() for s in result.pending_in_ring_samples],
            "in_legacy": [s.as_json() for s in result.pending_in_legacy_samples],
        },
    }


def histogram(latencies: tuple[list[float], list[float]], bins: int = 40) -> dict[str, Any]:
    """Counts per path over shared log-spaced bins, for the report's distribution chart."""
    arrays = [np.asarray(values, dtype=np.float64) for values in latencies]
    positive = np.concatenate([values[values > 0] for values in arrays])
    if positive.size == 0:
        return {"edges": [], "legacy": [], "ring": []}
    # Log-spaced: latencies span orders of magnitude, and the tail is what matters.
    low = max(float(positive.min()), 0.01)
    high = max(float(positive.max()), low * 1.01)
    edges = np.geomspace(low, high, bins + 1)
    counts = [np.histogram(np.clip(values, low, high), bins=edges)[0].tolist() for values in arrays]
    return {
        "edges": [round(float(edge), 4) for edge in edges],
        "legacy": counts[0],
        "ring": counts[1],
    }
