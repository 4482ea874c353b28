"""What a demo saw, as one typed report: the verify gate's report plus a ``demo`` part (pure).

The ``demo`` part holds what only the demo knows: how it produced (rate, burst), how far
behind each path was over time, the consistent table checks made while the paths ran,
and, with an injected divergence, what the injection must show and what each diff
found. ``as_json`` is the verify report's JSON (``"kind": "verify"``) with ``demo``
added, so everything that reads verify reports reads this one.

The injection is judged exactly: the stream diff must report as many records, and the
table diff as many keys, as the injection's footprint says, and every key either
report names as a sample must be one the injection chose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from canary.core.gate import VerifyReport
from canary.core.pace import Pace
from canary.errors import CanaryError
from canary.handlers.divergent import Footprint

STREAM_FOUND = ("mismatched", "missing_in_ring", "missing_in_legacy")
TABLES_FOUND = ("different", "only_in_mysql", "only_in_postgres")


@dataclass(frozen=True, slots=True)
class Point:
    """How far behind each path was, ``at`` seconds into production."""

    at: float
    produced: int
    legacy_behind: int
    ring_behind: int

    def as_json(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at, 2),
            "produced": self.produced,
            "behind": {"legacy": self.legacy_behind, "ring": self.ring_behind},
        }


@dataclass(frozen=True, slots=True)
class MidRunCheck:
    """One consistent table diff made while both paths were still consuming."""

    at: float  # seconds into production
    verdict: str
    in_flight: int
    rows: tuple[int, int]  # MySQL, PostgreSQL rows below the cut
    differences: int
    seconds: float

    @classmethod
    def of(cls, at: float, body: Mapping[str, Any]) -> MidRunCheck:
        """The check from a tables report's JSON."""
        return cls(
            at=at,
            verdict=str(body["verdict"]),
            in_flight=int(body.get("in_flight") or 0),
            rows=(int(body["rows"]["mysql"]), int(body["rows"]["postgres"])),
            differences=sum(int(body[name]) for name in TABLES_FOUND),
            seconds=float(body.get("stats", {}).get("seconds", 0.0)),
        )

    def line(self) -> str:
        return (
            f"table check at {self.at:.1f} s: {self.verdict.upper()}, "
            f"{self.rows[0]:,} MySQL and {self.rows[1]:,} PostgreSQL rows below the cut, "
            f"{self.differences:,} differences, {self.in_flight:,} keys in flight "
            f"({self.seconds:.1f} s)"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at, 2),
            "verdict": self.verdict,
            "in_flight": self.in_flight,
            "rows": {"mysql": self.rows[0], "postgres": self.rows[1]},
            "differences": self.differences,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Injection:
    """What the injected divergence must show, and what each diff of the gate found."""

    rate: float
    expected: Footprint
    stream_found: int | None  # None: the check could not run
    tables_found: int | None
    strangers: list[str]  # sample keys the injection never chose

    @classmethod
    def judge(
        cls,
        rate: float,
        expected: Footprint,
        gate: VerifyReport,
        chosen: Callable[[bytes], bool],
    ) -> Injection:
        """Compare the gate's two reports with ``expected``; ``chosen(key)`` tells whether
        the injection picked a key."""
        stream, tables = gate.stream.body, gate.tables.body
        keys = [
            _key(sample)
            for body, labels in ((stream, STREAM_FOUND), (tables, TABLES_FOUND))
            for label in labels
            for sample in ((body or {}).get("samples") or {}).get(label, [])
        ]
        strangers = sorted({key for key in keys if not chosen(key.encode())})
        return cls(
            rate=rate,
            expected=expected,
            stream_found=None if stream is None else sum(stream[name] for name in STREAM_FOUND),
            tables_found=None if tables is None else sum(tables[name] for name in TABLES_FOUND),
            strangers=strangers,
        )

    @property
    def exact(self) -> bool:
        """Both diffs found exactly what was injected, and nothing else."""
        return (
            self.stream_found == self.expected.stream
            and self.tables_found == self.expected.tables
            and not self.strangers
        )

    def lines(self) -> list[str]:
        e = self.expected
        stream = "could not run" if self.stream_found is None else f"{self.stream_found:,}"
        tables = "could not run" if self.tables_found is None else f"{self.tables_found:,}"
        verdict = "both found exactly the injected records"
        if not self.exact:
            verdict = "NOT exactly the injected records"
        if self.strangers:
            verdict += f" (sample keys never injected: {', '.join(self.strangers[:5])})"
        return [
            f"injected: {e.stream:,} records ({e.mismatched:,} rows changed, {e.dropped:,} "
            f"refused) and {e.tables:,} keys whose last row differs ({e.different_keys:,} "
            f"changed, {e.missing_keys:,} missing in PostgreSQL)",
            f"found: {stream} records by the stream diff, {tables} keys by the table diff: "
            + verdict,
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "expected": {
                **self.expected.as_json(),
                "stream_records": self.expected.stream,
                "table_keys": self.expected.tables,
            },
            "found": {"stream_records": self.stream_found, "table_keys": self.tables_found},
            "exact": self.exact,
            "strangers": self.strangers,
        }


def _key(sample: object) -> str:
    """The order id of a sample: a stream sample or a tables "different" sample is an
    object with its ``key``, a tables "only in" sample the key itself."""
    key = sample.get("key") if isinstance(sample, Mapping) else sample
    return str(key)


@dataclass(frozen=True, slots=True)
class Production:
    """How the demo produced: the schedule and what it took."""

    pace: Pace
    seconds: float

    def as_json(self) -> dict[str, Any]:
        window = self.pace.burst_window
        return {
            "count": self.pace.count,
            "rate_msg_s": self.pace.rate,
            "burst": None
            if window is None
            else {
                "messages": self.pace.burst_size,
                "rate_msg_s": self.pace.rate * self.pace.burst_factor,
                "from_s": round(window[0], 2),
                "to_s": round(window[1], 2),
            },
            "seconds": round(self.seconds, 2),
            "achieved_msg_s": round(self.pace.count / self.seconds, 1) if self.seconds else 0.0,
        }


@dataclass(slots=True)
class DemoReport:
    """The gate's report of the demo's run, with what the demo itself saw."""

    gate: VerifyReport
    production: Production
    timeline: list[Point] = field(default_factory=list)
    checks: list[MidRunCheck] = field(default_factory=list)
    injection: Injection | None = None

    @property
    def verdict(self) -> str:
        return self.gate.verdict

    def failure(self) -> CanaryError | None:
        """The gate's failure: the demo's exit code is the gate's."""
        return self.gate.failure()

    def as_json(self) -> dict[str, Any]:
        body = self.gate.as_json()
        body["demo"] = {
            "production": self.production.as_json(),
            "timeline": [point.as_json() for point in self.timeline],
            "mid_run_checks": [check.as_json() for check in self.checks],
            "injection": None if self.injection is None else self.injection.as_json(),
        }
        return body
