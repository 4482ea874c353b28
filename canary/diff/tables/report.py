"""Builds the tables report of CONTRACTS §7 from a finished diff (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canary.core.segments import WalkStats
from canary.diff.tables.columns import Spec
from canary.diff.tables.tally import Tally


@dataclass(frozen=True, slots=True)
class Recheck:
    """How the differing keys were read a second time (``None`` fields: not done)."""

    enabled: bool
    delay_s: float
    candidates: int = 0  # differing keys found by the first pass
    cleared: int = 0  # of those, keys equal (or gone from both sides) on the second read
    skipped: str | None = None  # why the recheck did not run although enabled


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
    stats: WalkStats,
    tally: Tally,
    recheck: Recheck,
    older_than: float | None,
    seconds: float,
    loose_sums_skipped: bool = False,
) -> dict[str, Any]:
    """The JSON report; fields beyond §7 (id, created_at, table, kinds, rules, ignored, causes,
    different_columns, schema, older_than, recheck, stats, and a cause per differing
    column in the samples) are additions a reader may ignore."""
    found = reasons(spec, tally, table)
    rows_total = stats.rows[0] + stats.rows[1]
    return {
        "kind": "tables",
        "id": report_id,
        "created_at": created_at,
        "verdict": "fail" if found else "pass",
        "reasons": found,
        "table": table,
        "mysql_table": spec.mysql_table,
        "pg_table": spec.pg_table,
        "key": [column.name for column in spec.key],
        "columns": [column.name for column in spec.columns],
        "kinds": {column.name: column.kind for column in (*spec.key, *spec.columns)},
        "rules": {column.name: column.rule for column in (*spec.key, *spec.columns)},
        "ignored": list(spec.ignored),
        "rows": {"mysql": stats.rows[0], "postgres": stats.rows[1]},
        "only_in_mysql": tally.counts["only_in_mysql"],
        "only_in_postgres": tally.counts["only_in_postgres"],
        "different": tally.counts["different"],
        "different_columns": tally.column_counts(),
        "causes": tally.cause_counts(),
        "samples": tally.samples(),
        "schema": {
            "only_in_mysql": list(spec.only_in_mysql),
            "only_in_postgres": list(spec.only_in_postgres),
        },
        "older_than": older_than,
        "recheck": {
            "enabled": recheck.enabled,
            "delay_s": recheck.delay_s,
            "candidates": recheck.candidates,
            "cleared": recheck.cleared,
            "skipped": recheck.skipped,
        },
        "stats": {
            "seconds": round(seconds, 3),
            "rows_per_s": round(rows_total / seconds, 1) if seconds > 0 else 0.0,
            "ranges_checked": stats.checked,
            "ranges_equal": stats.equal,
            "ranges_split": stats.split,
            "ranges_downloaded": stats.downloaded,
            "ranges_streamed": stats.streamed,
            "depth": stats.depth,
            "rows_compared": tally.rows_compared,
            "loose_sums_skipped": loose_sums_skipped,
        },
    }
