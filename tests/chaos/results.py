"""What a drill found: per path, and whether that is what a fault-tolerant pair must show.

``DrillResult.problems`` is the single judgement shared by the tests and the driver: an
empty list means both paths came through the fault on their own with every record
written exactly as the other path wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PATHS = ("legacy", "ring")
HEADERS = (
    "fault",
    "outage (s)",
    "exit legacy/ring",
    "lost legacy/ring",
    "duplicates legacy/ring",
    "recover (s) legacy/ring",
)
STREAM_FIELDS = (
    "verdict",
    "records",
    "matched",
    "mismatched",
    "missing_in_ring",
    "missing_in_legacy",
    "duplicates",
)


@dataclass
class PathOutcome:
    path: str
    exit_code: int | None = None  # None: still running at the drill's bound, then killed
    records: int = 0  # distinct source records the path published a compare event for
    lost: int = 0  # records of the topic it never wrote
    duplicates: int = 0  # compare events beyond the first for one record (redeliveries)
    # Outage: from the service answering again to the path's first commit; kills: the
    # slowest restart's time to its first commit. None: no commit at all.
    recover_s: float | None = None
    must_recover: bool = False
    resumes: list[float | None] = field(default_factory=list)  # kills: one per restart
    kill_times: list[float] = field(default_factory=list)  # seconds into the drill
    kills_planned: int = 0
    kill_note: str = ""  # why killing stopped early
    last_tail: str = ""


@dataclass
class DrillResult:
    fault: str
    events: int
    published: int
    producer_exit: int | None
    outage_s: float | None
    paths: dict[str, PathOutcome]
    stream_exit: int | None
    stream: dict[str, Any]
    tables_exit: int | None
    tables: dict[str, Any]
    wall_s: float
    workdir: Path
    run_id: str
    resume_limit_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        found: list[str] = []
        if self.producer_exit != 0:
            found.append(f"canary produce: {_exit(self.producer_exit)}")
        if self.published != self.events:
            found.append(f"the source topic holds {self.published:,} of {self.events:,} events")
        for outcome in self.paths.values():
            found.extend(self._path_problems(outcome))
        if self.stream_exit not in (0, 1) or not self.stream:
            found.append(f"canary diff stream: {_exit(self.stream_exit)}, no report")
        else:
            for key in ("missing_in_ring", "missing_in_legacy", "mismatched"):
                if self.stream.get(key) != 0:
                    found.append(f"canary diff stream: {key} = {self.stream.get(key)}")
        if self.tables_exit != 0:
            counts = ", ".join(
                f"{key} {self.tables.get(key)}"
                for key in ("only_in_mysql", "only_in_postgres", "different")
            )
            found.append(
                f"canary diff tables: {_exit(self.tables_exit)}"
                + (f" ({counts})" if self.tables else ", no report")
            )
        return found

    def _path_problems(self, outcome: PathOutcome) -> list[str]:
        path, found = outcome.path, []
        if outcome.exit_code != 0:
            found.append(f"{path}: {_exit(outcome.exit_code)}")
        if outcome.lost:
            found.append(f"{path}: {outcome.lost:,} of {self.published:,} records never written")
        if outcome.kills_planned and len(outcome.kill_times) < outcome.kills_planned:
            found.append(
                f"{path}: {len(outcome.kill_times)} of {outcome.kills_planned} kills done"
                + (f" ({outcome.kill_note})" if outcome.kill_note else "")
            )
        for number, resume in enumerate(outcome.resumes, start=1):
            if resume is None:
                found.append(f"{path}: restart {number} made no progress")
            elif self.resume_limit_s is not None and resume > self.resume_limit_s:
                found.append(
                    f"{path}: restart {number} took {resume:.1f} s to resume "
                    f"(limit {self.resume_limit_s:g} s)"
                )
        return found

    def row(self) -> tuple[str, ...]:
        legacy, ring = self.paths["legacy"], self.paths["ring"]
        return (
            self.fault,
            "-" if self.outage_s is None else f"{self.outage_s:.1f}",
            f"{_code(legacy.exit_code)}/{_code(ring.exit_code)}",
            f"{legacy.lost:,}/{ring.lost:,}",
            f"{legacy.duplicates:,}/{ring.duplicates:,}",
            f"{_recover(legacy)}/{_recover(ring)}",
        )

    def explain(self) -> str:
        """The table row, what is wrong, the kill timeline and the last lines of each
        path's last run: enough to see why without opening the files."""
        lines = [render_table([self]), ""]
        problems = self.problems()
        lines += [f"problems ({len(problems)}):", *(f"  - {p}" for p in problems)]
        lines += [f"  . {note}" for note in self.notes]
        for outcome in self.paths.values():
            if outcome.kills_planned:
                kills = ", ".join(f"{t:.1f}" for t in outcome.kill_times) or "none"
                resumes = ", ".join(_seconds(r) for r in outcome.resumes) or "none"
                lines.append(f"{outcome.path}: killed at {kills} s; resumed after {resumes} s")
        lines.append(f"run {self.run_id}, files in {self.workdir} ({self.wall_s:.0f} s)")
        for outcome in self.paths.values():
            if outcome.last_tail:
                lines += [f"{outcome.path}, last run:", outcome.last_tail]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "run_id": self.run_id,
            "events": self.events,
            "published": self.published,
            "producer_exit": self.producer_exit,
            "outage_s": self.outage_s,
            "wall_s": self.wall_s,
            "paths": {
                path: {
                    "exit_code": o.exit_code,
                    "records": o.records,
                    "lost": o.lost,
                    "duplicates": o.duplicates,
                    "recover_s": o.recover_s,
                    "resumes_s": o.resumes,
                    "kill_times_s": o.kill_times,
                }
                for path, o in self.paths.items()
            },
            "stream": {key: self.stream.get(key) for key in STREAM_FIELDS},
            "stream_exit": self.stream_exit,
            "tables_exit": self.tables_exit,
            "problems": self.problems(),
        }


def render_table(results: Sequence[DrillResult]) -> str:
    rows = [HEADERS, *(result.row() for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _exit(code: int | None) -> str:
    return (
        "did not stop by itself (killed at the drill's bound)" if code is None else f"exit {code}"
    )


def _code(code: int | None) -> str:
    return "hung" if code is None else str(code)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def _recover(outcome: PathOutcome) -> str:
    if not outcome.must_recover:
        return "-"
    return _seconds(outcome.recover_s)
