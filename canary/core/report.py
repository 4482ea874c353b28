"""The stream report of CONTRACTS §7 as a typed object, built from a join result (pure).

``StreamReport.as_json`` is the one place that spells the JSON: the batch diff, the
watcher's window and run reports, the renderers and the report store all go through it.
Fields beyond §7 (id, created_at, paired statistics, histogram, thresholds, pending,
causes, scope, windows) are additions a reader may ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from canary.core.join import JoinResult
from canary.core.sketch import LatencySketch
from canary.core.stats import Paired, Summary, paired
from canary.core.verdict import Thresholds, judge


class HasJson(Protocol):
    def as_json(self) -> dict[str, Any]: ...


Reported = HasJson | Mapping[str, Any]
"""A typed report, or the JSON of one (as the report store gives it back)."""


def as_json(report: Reported) -> dict[str, Any]:
    """The JSON body of ``report``."""
    if isinstance(report, Mapping):
        return dict(report)
    return report.as_json()


@dataclass(slots=True)
class StreamReport:
    """One verdict over the records of a run (all of it, or one window of it)."""

    id: str
    run_id: str
    created_at: str
    verdict: str
    reasons: list[str]
    records: tuple[int, int]
    matched: int
    mismatched: int
    missing_in_ring: int
    missing_in_legacy: int
    duplicates: tuple[int, int]
    invalid: int
    legacy: Summary
    ring: Summary
    pairs: Paired
    histogram: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]]
    pending: dict[str, Any]
    thresholds: Thresholds
    causes: dict[str, int] | None = None
    # "run" (so far, or the whole of it) or "window"; with its ISO-8601 bounds
    scope: str | None = None
    span: tuple[str, str] | None = None
    windows: list[StreamReport] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def p99_gap(self) -> float:
        return self.ring.p99 - self.legacy.p99

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "stream",
            "id": self.id,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "records": {"legacy": self.records[0], "ring": self.records[1]},
            "matched": self.matched,
            "mismatched": self.mismatched,
            "missing_in_ring": self.missing_in_ring,
            "missing_in_legacy": self.missing_in_legacy,
            "duplicates": {"legacy": self.duplicates[0], "ring": self.duplicates[1]},
            "invalid": self.invalid,
            "latency_ms": {
                "legacy": self.legacy.as_json(),
                "ring": self.ring.as_json(),
                "p99_gap": self.p99_gap,
                "paired": self.pairs.as_json(),
                "histogram": self.histogram,
            },
            "samples": self.samples,
            "pending": self.pending,
            "thresholds": asdict(self.thresholds),
        }
        if self.causes is not None:
            body["causes"] = self.causes
        if self.scope is not None:
            body["scope"] = self.scope
        if self.span is not None:
            body["from"], body["to"] = self.span
        if self.windows:
            body["windows"] = [window.as_json() for window in self.windows]
        body.update(self.extra)
        return body


def stream_report(
    report_id: str,
    run_id: str,
    result: JoinResult,
    limits: Thresholds,
    created_at: str,
    *,
    scope: str | None = None,
    span: tuple[str, str] | None = None,
    live: bool = False,
) -> StreamReport:
    """Judge ``result`` against ``limits`` (``live``: see ``verdict.judge``)."""
    legacy = result.sketches[0].summary()
    ring = result.sketches[1].summary()
    p99_gap = ring.p99 - legacy.p99
    pairs = paired(result.paired, population=result.paired_count)
    verdict, reasons = judge(result, pairs, p99_gap, limits, live=live)
    return StreamReport(
        id=report_id,
        run_id=run_id,
        created_at=created_at,
        verdict=verdict,
        reasons=reasons,
        records=result.records,
        matched=result.matched,
        mismatched=result.mismatched,
        missing_in_ring=result.missing_in_ring,
        missing_in_legacy=result.missing_in_legacy,
        duplicates=result.duplicates,
        invalid=result.invalid,
        legacy=legacy,
        ring=ring,
        pairs=pairs,
        histogram=histogram(result.sketches),
        samples={
            "mismatched": [s.as_json() for s in result.mismatched_samples],
            "missing_in_ring": [s.as_json() for s in result.missing_in_ring_samples],
            "missing_in_legacy": [s.as_json() for s in result.missing_in_legacy_samples],
        },
        pending=pending(result),
        thresholds=limits,
        scope=scope,
        span=span,
    )


def pending(result: JoinResult) -> dict[str, Any]:
    """Records only one path had, not judged yet: within the grace period when the read
    began, or, on a live run, not yet passed by the other path's commits. Counts and
    samples by the path still to write them, and the grace period (null when the read
    waited it out instead)."""
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


def histogram(sketches: tuple[LatencySketch, LatencySketch], bins: int = 40) -> dict[str, Any]:
    """Counts per path over shared log-spaced bins, for the report's distribution chart."""
    weighted = [sketch.weighted() for sketch in sketches]
    positive = [values[values > 0] for values, _ in weighted]
    joined = np.concatenate(positive)
    if joined.size == 0:
        return {"edges": [], "legacy": [], "ring": []}
    # Log-spaced: latencies span orders of magnitude, and the tail is what matters.
    low = max(float(joined.min()), 0.01)
    high = max(float(joined.max()), low * 1.01)
    edges = np.geomspace(low, high, bins + 1)
    counts = [
        np.histogram(np.clip(values, low, high), bins=edges, weights=weights)[0]
        .astype(np.int64)
        .tolist()
        for values, weights in weighted
    ]
    return {
        "edges": [round(float(edge), 4) for edge in edges],
        "legacy": counts[0],
        "ring": counts[1],
    }
