"""One stream diff end to end: read the run's events, join, judge, drill down, store."""

from __future__ import annotations

from datetime import UTC, datetime

from canary.config import Settings
from canary.core.report import StreamReport, stream_report
from canary.core.verdict import Thresholds
from canary.diff import drill
from canary.diff.parallel import join_run
from canary.diff.stream import Progress, ReadOptions
from sinks import mysql, postgres, reports


def thresholds(settings: Settings) -> Thresholds:
    diff = settings.diff
    return Thresholds(
        max_mismatched=diff.max_mismatched,
        max_missing_in_ring=diff.max_missing_in_ring,
        max_missing_in_legacy=diff.max_missing_in_legacy,
        max_duplicates=diff.max_duplicates,
        max_invalid=diff.max_invalid,
        max_p99_gap_ms=diff.max_p99_gap_ms,
    )


def diff_stream(
    settings: Settings,
    *,
    run_id: str,
    grace: float | None,
    until_idle: float | None,
    progress: Progress | None = None,
    drill_down: bool = True,
    store: bool = True,
) -> StreamReport:
    """The stream report of ``run_id``, stored in the report store."""
    options = ReadOptions(
        topic=settings.kafka.compare_topic,
        run_id=run_id,
        until_idle=settings.diff.until_idle if until_idle is None else until_idle,
        grace=settings.diff.grace if grace is None else grace,
    )
    result = join_run(settings.kafka.bootstrap, options, settings.diff.max_samples, progress)
    now = datetime.now(UTC)
    report_id = f"stream-{run_id}-{now:%Y%m%dT%H%M%S%f}"
    report = stream_report(
        report_id, run_id, result, thresholds(settings), now.isoformat(timespec="seconds")
    )
    if drill_down:
        _drill(settings, report)
    if store:
        with (
            postgres.connect(settings.postgres) as connection,
            postgres.translated(settings.postgres),
        ):
            reports.save(connection, settings.postgres.report_schema, report.as_json())
    return report


def _drill(settings: Settings, report: StreamReport) -> None:
    """Replace the mismatched and missing samples by their explained versions."""
    samples = report.samples
    everything = [
        s
        for label in ("mismatched", "missing_in_ring", "missing_in_legacy")
        for s in samples[label]
    ]
    keys = drill.table_keys(everything)
    if not keys:
        return
    connection = mysql.connect(settings.mysql)
    try:
        with mysql.translated(settings.mysql):
            mysql_rows = mysql.fetch_rows(connection, settings.mysql.table, keys)
    finally:
        connection.close()
    with postgres.connect(settings.postgres) as pg, postgres.translated(settings.postgres):
        pg_rows = postgres.fetch_rows(pg, settings.postgres.table, keys)
    for label in ("mismatched", "missing_in_ring", "missing_in_legacy"):
        samples[label] = [drill.explain(s, mysql_rows, pg_rows) for s in samples[label]]
    causes: dict[str, int] = {}
    for sample in samples["mismatched"]:
        for column in sample.get("columns", {}).values():
            causes[column["cause"]] = causes.get(column["cause"], 0) + 1
    report.causes = causes
