"""The tables report of CONTRACTS §7 as a typed object, built from a finished diff (pure).

``TablesReport.as_json`` is the one place that spells the JSON: the diff returns the
object, the renderers, the report store and ``canary verify`` take its JSON. Fields
beyond §7 (id, created_at, table, kinds, rules, ignored, causes, different_columns, schema,
older_than, recheck, stats, a cause per differing column in the samples and, for a
consistent diff, ``consistent`` and ``samples.in_flight``) are additions a reader may
ignore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from canary.core.cut import Cut
from canary.core.segments import WalkStats
from canary.diff.tables.columns import Spec
from canary.diff.tables.inflight import InFlight
from canary.diff.tables.tally import Tally, key_json


@dataclass(frozen=True, slots=True)
class Recheck:
    """How the differing keys were read a second time (``None`` fields: not done)."""

    enabled: bool
    delay_s: float
    candidates: int = 0  # differing keys found by the first pass
    cleared: int = 0  # of those, equal (gone from both, or past the cut) on the second read
    skipped: str | None = None  # why the recheck did not run although enabled

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "delay_s": self.delay_s,
            "candidates": self.candidates,
            "cleared": self.cleared,
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class Consistency:
    """What a consistent diff (``--consistent``) compared at: the cut, and what it left."""

    cut: Cut
    in_flight: InFlight

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.cut.topic,
            "groups": {"legacy": self.cut.legacy.group, "ring": self.cut.ring.group},
            "commits": {
                commits.path: {str(p): o for p, o in sorted(commits.offsets.items())}
                for commits in (self.cut.legacy, self.cut.ring)
            },
        }


@dataclass(frozen=True, slots=True)
class Effort:
    """How much work the diff took."""

    seconds: float
    walk: WalkStats
    rows_compared: int
    loose_sums_skipped: bool = False

    def as_json(self) -> dict[str, Any]:
        rows_total = self.walk.rows[0] + self.walk.rows[1]
        return {
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(rows_total / self.seconds, 1) if self.seconds > 0 else 0.0,
            "ranges_checked": self.walk.checked,
            "ranges_equal": self.walk.equal,
            "ranges_split": self.walk.split,
            "ranges_downloaded": self.walk.downloaded,
            "ranges_streamed": self.walk.streamed,
            "depth": self.walk.depth,
            "rows_compared": self.rows_compared,
            "loose_sums_skipped": self.loose_sums_skipped,
        }


@dataclass(slots=True)
class TablesReport:
    """One verdict over a MySQL table and a PostgreSQL table (all rows, or those below
    the cut of a consistent diff)."""

    id: str
    created_at: str
    verdict: str
    reasons: list[str]
    table: str
    mysql_table: str
    pg_table: str
    key: list[str]
    columns: list[str]
    kinds: dict[str, str]
    rules: dict[str, str]  # per column, how it is compared, in words
    ignored: list[str]
    rows: tuple[int, int]  # (MySQL, PostgreSQL), below the cut when there is one
    only_in_mysql: int
    only_in_postgres: int
    different: int
    different_columns: dict[str, int]
    causes: dict[str, int]
    samples: dict[str, list[Any]]
    schema: tuple[list[str], list[str]]  # columns only in MySQL, only in PostgreSQL
    older_than: float | None
    recheck: Recheck
    effort: Effort
    consistency: Consistency | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_flight(self) -> int | None:
        return None if self.consistency is None else self.consistency.in_flight.count

    def as_json(self) -> dict[str, Any]:
        samples = dict(self.samples)
        body: dict[str, Any] = {
            "kind": "tables",
            "id": self.id,
            "created_at": self.created_at,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "table": self.table,
            "mysql_table": self.mysql_table,
            "pg_table": self.pg_table,
            "key": list(self.key),
            "columns": list(self.columns),
            "kinds": dict(self.kinds),
            "rules": dict(self.rules),
            "ignored": list(self.ignored),
            "rows": {"mysql": self.rows[0], "postgres": self.rows[1]},
            "only_in_mysql": self.only_in_mysql,
            "only_in_postgres": self.only_in_postgres,
            "different": self.different,
            "different_columns": dict(self.different_columns),
            "causes": dict(self.causes),
            "samples": samples,
            "schema": {"only_in_mysql": self.schema[0], "only_in_postgres": self.schema[1]},
            "older_than": self.older_than,
            "recheck": self.recheck.as_json(),
            "stats": self.effort.as_json(),
        }
        if self.consistency is not None:
            body["cut"] = self.consistency.cut.as_json()
            body["in_flight"] = self.consistency.in_flight.count
            body["consistent"] = self.consistency.as_json()
            samples["in_flight"] = [key_json(k) for k in self.consistency.in_flight.samples]
        body.update(self.extra)
        return body


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def reasons(spec: Spec, tally: Tally, table: str) -> list[str]:
    found = []
    counts = tally.counts
    if counts["only_in_mysql"]:
        found.append(f"{_plural(counts['only_in_mysql'], 'row', 'rows')} only in MySQL")
    if counts["only_in_postgres"]:
        found.append(f"{_plural(counts['only_in_postgres'], 'row', 'rows')} only in PostgreSQL")
    if counts["different"]:
        by_column = ", ".join(f"{name}: {n:,}" for name, n in tally.column_counts().items())
        found.append(f"{_plural(counts['different'], 'row differs', 'rows differ')} ({by_column})")
    for engine, names in (("MySQL", spec.only_in_mysql), ("PostgreSQL", spec.only_in_postgres)):
        if names:
            found.append(
                f"{_plural(len(names), 'column', 'columns')} only in {engine}: "
                f"{', '.join(names)} (compare named --columns, or ignore them in "
                f"[tables.rules.{table}])"
            )
    return found


def tables_report(
    *,
    report_id: str,
    created_at: str,
    table: str,
    spec: Spec,
    tally: Tally,
    recheck: Recheck,
    older_than: float | None,
    effort: Effort,
    consistency: Consistency | None = None,
) -> TablesReport:
    """Judge a finished diff: it fails on any difference, pass otherwise."""
    found = reasons(spec, tally, table)
    return TablesReport(
        id=report_id,
        created_at=created_at,
        verdict="fail" if found else "pass",
        reasons=found,
        table=table,
        mysql_table=spec.mysql_table,
        pg_table=spec.pg_table,
        key=[column.name for column in spec.key],
        columns=[column.name for column in spec.columns],
        kinds={column.name: column.kind for column in (*spec.key, *spec.columns)},
        rules={column.name: column.rule for column in (*spec.key, *spec.columns)},
        ignored=list(spec.ignored),
        rows=(effort.walk.rows[0], effort.walk.rows[1]),
        only_in_mysql=tally.counts["only_in_mysql"],
        only_in_postgres=tally.counts["only_in_postgres"],
        different=tally.counts["different"],
        different_columns=tally.column_counts(),
        causes=tally.cause_counts(),
        samples=tally.samples(),
        schema=(list(spec.only_in_mysql), list(spec.only_in_postgres)),
        older_than=older_than,
        recheck=recheck,
        effort=effort,
        consistency=consistency,
    )
