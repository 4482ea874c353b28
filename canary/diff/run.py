"""One stream diff end to end: read the run's events, join, judge, drill down, store."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from canary.config import Settings
from canary.core.join import StreamJoin
from canary.core.report import StreamReport, stream_report
from canary.core.verdict import Thresholds
from canary.diff import drill
from canary.diff.checkpoint import UnreadableCheckpoint, decode_state
from canary.diff.parallel import join_run
from canary.diff.stream import Progress, ReadOptions
from canary.kafka.admin import watermarks
from sinks import mysql, postgres, reports
from sinks.checkpoints import CheckpointStore

log = logging.getLogger(__name__)


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
    checkpoints: bool = True,
) -> StreamReport:
    """The stream report of ``run_id``, stored in the report store.

    With ``checkpoints``, a run that ``canary watch`` has checkpointed is joined from
    the watchers' saved states and positions: only what came after is read."""
    options = ReadOptions(
        topic=settings.kafka.compare_topic,
        run_id=run_id,
        until_idle=settings.diff.until_idle if until_idle is None else until_idle,
        grace=settings.diff.grace if grace is None else grace,
    )
    resumed = _resumed(settings, run_id) if checkpoints else None
    join: StreamJoin | None = None
    if resumed is not None:
        join, starts = resumed
        options = replace(options, starts=starts)
    result = join_run(
        settings.kafka.bootstrap, options, settings.diff.max_samples, progress, resumed=join
    )
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


def _resumed(
    settings: Settings, run_id: str
) -> tuple[StreamJoin, tuple[tuple[int, int], ...]] | None:
    """The watchers' saved joins of ``run_id`` and their positions, if every partition
    of the compare topic has one; None otherwise (the topic is read from the start)."""
    topic = settings.kafka.compare_topic
    store = CheckpointStore(postgres.Connector(settings.postgres), settings.postgres.report_schema)
    try:
        saved = store.states(run_id, topic)
    finally:
        store.close()
    if not saved:
        return None
    partitions = {span.partition for span in watermarks(settings.kafka.bootstrap, topic)}
    if not partitions <= set(saved):
        return None
    join = StreamJoin(run_id, settings.diff.max_samples)
    try:
        for number, (_, state) in saved.items():
            join.partitions[number] = decode_state(state, settings.diff.max_samples)
    except UnreadableCheckpoint as exc:
        log.warning("diff: the watchers' checkpoints of %s are unreadable (%s)", run_id, exc)
        return None
    return join, tuple((number, position) for number, (position, _) in sorted(saved.items()))


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
