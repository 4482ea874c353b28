"""Thresholds applied to a stream diff: a verdict and the human-readable reasons for it;
and any report's failed verdict as the ``VerificationFailed`` it amounts to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canary.core.join import JoinResult
from canary.core.stats import Paired
from canary.errors import VerificationFailed


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits; a negative value means no limit."""

    max_mismatched: int = 0
    max_missing_in_ring: int = 0
    max_missing_in_legacy: int = 0
    max_duplicates: int = -1
    max_invalid: int = -1
    max_p99_gap_ms: float = -1.0


def judge(
    result: JoinResult, paired: Paired, p99_gap: float, limits: Thresholds, *, live: bool = False
) -> tuple[str, list[str]]:
    """("pass" | "fail", reasons). Every reason names the count and the limit it broke.

    A ``live`` judgement (a window, or a run still going) does not fail for having
    nothing to judge yet: quiet minutes of a release are not a divergence."""
    reasons: list[str] = []
    counted = (
        ("mismatched records", result.mismatched, limits.max_mismatched),
        ("records missing in ring", result.missing_in_ring, limits.max_missing_in_ring),
        ("records missing in legacy", result.missing_in_legacy, limits.max_missing_in_legacy),
        ("duplicate events", sum(result.duplicates), limits.max_duplicates),
        ("invalid events", result.invalid, limits.max_invalid),
    )
    for label, count, limit in counted:
        if 0 <= limit < count:
            reasons.append(f"{count:,} {label} (limit {limit:,})")
    if live:
        pass
    elif result.records == (0, 0):
        reasons.append("no compare events for this run: nothing was verified")
    elif _judged(result) == 0:
        waiting = result.pending_in_ring + result.pending_in_legacy
        reasons.append(
            f"no record could be judged yet: all {waiting:,} are still within the grace period"
        )
    limit_ms = limits.max_p99_gap_ms
    if limit_ms >= 0 and p99_gap > limit_ms:
        low, high = paired.p99_gap_ci95
        certainty = (
            "the whole 95 % interval is above the limit"
            if low > limit_ms
            else "the 95 % interval reaches below the limit, so this may be noise"
        )
        reasons.append(
            f"ring P99 latency exceeds legacy's by {p99_gap:.1f} ms (limit {limit_ms:g} ms); "
            f"over the {paired.count:,} records both paths wrote the gap is "
            f"{paired.p99_gap:.1f} ms, 95 % CI {low:.1f} to {high:.1f} ms: {certainty}"
        )
    return ("fail" if reasons else "pass"), reasons


def _judged(result: JoinResult) -> int:
    return result.matched + result.mismatched + result.missing_in_ring + result.missing_in_legacy


def failure(report: Mapping[str, Any], subject: str | None = None) -> VerificationFailed | None:
    """The error a report's verdict amounts to, None when it passed: one line naming the
    reasons, after ``subject`` (e.g. a job's name) when given. Works on any report kind
    with ``verdict`` and ``reasons``."""
    if report.get("verdict") == "pass":
        return None
    # Reasons are single lines already; collapsing whitespace keeps the message one line
    # whatever a report carries.
    reasons = [" ".join(str(reason).split()) for reason in report.get("reasons") or []]
    message = "; ".join(reasons) or f"verdict {report.get('verdict')}"
    return VerificationFailed(message if subject is None else f"{subject}: {message}")


def require_pass(report: Mapping[str, Any], subject: str | None = None) -> None:
    """Raise the ``VerificationFailed`` of ``report`` unless it passed."""
    error = failure(report, subject)
    if error is not None:
        raise error
