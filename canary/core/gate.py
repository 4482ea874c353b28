"""`canary verify`: one verdict and one exit code over the stream and the table check (pure).

Each check ends with a report (pass or fail) or an error that kept it from one (its
exit code: 2 usage or configuration, 3 a service unreachable). The gate passes only
when both reports pass; its exit code is the worst of the two (3 > 2 > 1 > 0), and its
``explanation`` says what the combination means. The two checks look at different
things: the stream diff compares what each path's *handler* computed for every source
record (the checksum of the row it wrote); the table diff compares what the
*databases* hold at the cut. So they can disagree, and how they disagree tells where
to look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canary.core.report import Reported, as_json
from canary.core.verdict import failure
from canary.errors import EXIT_FAILED, EXIT_PASS, CanaryError

CHECKS = ("stream", "tables")


@dataclass(frozen=True, slots=True)
class Check:
    """One check's end: its report, or the error that kept it from one."""

    name: str  # "stream" or "tables"
    report: Reported | None = None
    error: CanaryError | None = None

    @property
    def body(self) -> dict[str, Any] | None:
        return None if self.report is None else as_json(self.report)

    @property
    def verdict(self) -> str:
        """ "pass", "fail", or "error" when the check could not run."""
        body = self.body
        return "error" if body is None else str(body.get("verdict", "error"))

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return EXIT_PASS if self.verdict == "pass" else EXIT_FAILED

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "error": None if self.error is None else str(self.error),
        }


@dataclass(slots=True)
class VerifyReport:
    """The gate over one run: both checks, the verdict, and what their combination means."""

    id: str
    run_id: str
    created_at: str
    stream: Check
    tables: Check

    @property
    def checks(self) -> tuple[Check, Check]:
        return self.stream, self.tables

    @property
    def exit_code(self) -> int:
        return max(check.exit_code for check in self.checks)

    @property
    def verdict(self) -> str:
        """ "pass" when both passed, "fail" when either failed, else "error"."""
        verdicts = {check.verdict for check in self.checks}
        if verdicts == {"pass"}:
            return "pass"
        return "fail" if "fail" in verdicts else "error"

    @property
    def worst_error(self) -> CanaryError | None:
        """The error behind the exit code when it is above 1 (the earlier check of equals)."""
        errors = [check.error for check in self.checks if check.error is not None]
        return max(errors, key=lambda error: error.exit_code, default=None)

    def failure(self) -> CanaryError | None:
        """The error the gate amounts to, None when it passed: the error behind an exit
        code of 2 or 3, else the ``VerificationFailed`` of a failed verdict."""
        worst = self.worst_error
        if worst is not None and worst.exit_code == self.exit_code > EXIT_FAILED:
            return worst
        return failure(self.as_json())

    @property
    def reasons(self) -> list[str]:
        found: list[str] = []
        for check in self.checks:
            if check.error is not None:
                found.append(f"{check.name}: could not run: {check.error}")
            elif check.verdict != "pass":
                body = check.body or {}
                found += [f"{check.name}: {reason}" for reason in body.get("reasons") or []]
                if not body.get("reasons"):
                    found.append(f"{check.name}: verdict {check.verdict}")
        return found

    @property
    def explanation(self) -> str:
        return explain(self.stream, self.tables)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "verify",
            "id": self.id,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "exit_code": self.exit_code,
            "explanation": self.explanation,
            "checks": {check.name: check.as_json() for check in self.checks},
            "stream": self.stream.body,
            "tables": self.tables.body,
        }


def explain(stream: Check, tables: Check) -> str:
    """What the two verdicts together mean, in a sentence or three."""
    pair = (stream.verdict, tables.verdict)
    if "error" in pair:
        failed = " and ".join(c.name for c in (stream, tables) if c.verdict == "error")
        return (
            f"The {failed} check could not run, so the release is not verified: fix what "
            "its error names and run canary verify again."
        )
    if pair == ("pass", "pass"):
        return (
            "Both checks agree: both paths' handlers computed the same row for every "
            "record (stream), and both databases hold the same rows at the cut (tables)."
        )
    if pair == ("pass", "fail"):
        return (
            "The handlers agree (stream PASS: both paths computed the same row for every "
            "record), yet the tables differ below the cut (tables FAIL). So the rows "
            "changed on the database side, after the handlers wrote them: a trigger or "
            "default that rewrites a column, a tie-break between versions of a key that "
            "the two engines settle differently, a value truncated or rounded by a column "
            "type, or a collation that folds case or trailing spaces. Look at the "
            f"differing rows{_columns(tables.body)} in the tables report, not at the "
            "handlers."
        )
    if pair == ("fail", "pass"):
        body = stream.body or {}
        if not any(body.get(name) for name in _STREAM_COUNTS):
            return (
                "The tables agree at the cut (tables PASS) and no record's row differs, but "
                f"the stream check fails on another limit ({_first_reason(body)}): a "
                "finding about the paths' behaviour (latency, duplicates, invalid events), "
                "not about the data they wrote."
            )
        return (
            "The tables agree at the cut (tables PASS) but the compare events do not "
            f"(stream FAIL: {_stream_counts(body)}). The databases hold the same rows, so "
            "the divergence is in what the paths reported or in rows the table check does "
            "not judge: a path that did not publish the events of some records (or not "
            "within the grace period), records past the cut, or versions of a key that "
            "differed when written and that a later version then overwrote alike on both "
            "sides. The stream report's samples name the records."
        )
    return (
        "Both checks fail: the handlers computed different rows for some records "
        "(stream) and the tables differ (tables). Start with the stream report's "
        "mismatched samples: they name the source records and the columns."
    )


def _columns(body: Mapping[str, Any] | None) -> str:
    columns = (body or {}).get("different_columns") or {}
    return f" (columns {', '.join(columns)})" if columns else ""


_STREAM_COUNTS = ("mismatched", "missing_in_ring", "missing_in_legacy")


def _stream_counts(body: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{body[name]:,} {name.replace('_', ' ')}" for name in _STREAM_COUNTS if body.get(name)
    )


def _first_reason(body: Mapping[str, Any]) -> str:
    reasons = body.get("reasons") or []
    return str(reasons[0]) if reasons else f"verdict {body.get('verdict')}"
