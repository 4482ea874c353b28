"""Running one scheduled job now: the job's options over the configuration, then the diff.

The diff functions store their report in the report store themselves; this module only
maps a job spec onto their arguments. They are imported when a job runs, so that
listing the schedule needs neither Kafka nor the databases' drivers to be importable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canary.config import ScheduledJob, Settings

StreamProgress = Callable[[int, int], None]


def run_job(
    settings: Settings, job: ScheduledJob, *, progress: StreamProgress | None = None
) -> dict[str, Any]:
    """Run ``job`` once and return its report (stored in the report store).

    Raises whatever the diff raises: CanaryError subclasses for a missing topic or table
    (UsageError) or an unreachable service (ServiceUnavailable).
    """
    if job.kind == "stream":
        return _stream(settings, job, progress)
    return _tables(settings, job)


def _stream(
    settings: Settings, job: ScheduledJob, progress: StreamProgress | None
) -> dict[str, Any]:
    from canary.core.report import as_json  # noqa: PLC0415 - imported when a job runs
    from canary.diff.run import diff_stream  # noqa: PLC0415

    if job.run_id is None:  # excluded by ScheduledJob's validation
        raise ValueError(f"stream job {job.name!r} has no run_id")
    if job.compare_topic is not None:
        kafka = settings.kafka.model_copy(update={"compare_topic": job.compare_topic})
        settings = settings.model_copy(update={"kafka": kafka})
    report = diff_stream(
        settings,
        run_id=job.run_id,
        grace=job.grace,
        until_idle=job.until_idle,
        progress=progress,
        drill_down=job.drill_down is not False,
        store=True,
    )
    return as_json(report)


def _tables(settings: Settings, job: ScheduledJob) -> dict[str, Any]:
    from canary.diff.tables.run import diff_tables  # noqa: PLC0415 - imported when a job runs

    if job.table is None:  # excluded by ScheduledJob's validation
        raise ValueError(f"tables job {job.name!r} has no table")
    return diff_tables(
        settings,
        table=job.table,
        mysql_table=job.mysql_table,
        pg_table=job.pg_table,
        key=list(job.key),
        columns=list(job.columns) or None,
        max_samples=job.max_samples,
        older_than=job.older_than,
        recheck=job.recheck,
        store=True,
    )
