"""Running one scheduled job now: the job's options over the configuration, then the check.

The diff functions (and ``verify_run``) store their report in the report store
themselves; this module only maps a job spec onto their arguments. They are imported
when a job runs, so that listing the schedule needs neither Kafka nor the databases'
drivers to be importable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canary.config import ScheduledJob, Settings
from canary.errors import EXIT_FAILED

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
    if job.kind == "verify":
        return _verify(settings, job)
    return _tables(settings, job)


def _compare_topic(settings: Settings, job: ScheduledJob) -> Settings:
    if job.compare_topic is None:
        return settings
    kafka = settings.kafka.model_copy(update={"compare_topic": job.compare_topic})
    return settings.model_copy(update={"kafka": kafka})


def _stream_options(job: ScheduledJob) -> dict[str, Any]:
    """The stream diff's options of a stream or verify job."""
    if job.run_id is None:  # excluded by ScheduledJob's validation
        raise ValueError(f"{job.kind} job {job.name!r} has no run_id")
    return {
        "run_id": job.run_id,
        "grace": job.grace,
        "until_idle": job.until_idle,
        "drill_down": job.drill_down is not False,
    }


def _table_options(job: ScheduledJob) -> dict[str, Any]:
    """The table diff's options of a tables or verify job (but the key)."""
    return {
        "table": job.table,
        "mysql_table": job.mysql_table,
        "pg_table": job.pg_table,
        "columns": list(job.columns) or None,
        "max_samples": job.max_samples,
        "older_than": job.older_than,
        "recheck": job.recheck,
        "topic": job.topic,
        "legacy_group": job.legacy_group,
        "ring_group": job.ring_group,
    }


def _stream(
    settings: Settings, job: ScheduledJob, progress: StreamProgress | None
) -> dict[str, Any]:
    from canary.core.report import as_json  # noqa: PLC0415 - imported when a job runs
    from canary.diff.run import diff_stream  # noqa: PLC0415

    settings = _compare_topic(settings, job)
    report = diff_stream(settings, progress=progress, store=True, **_stream_options(job))
    return as_json(report)


def _tables(settings: Settings, job: ScheduledJob) -> dict[str, Any]:
    from canary.core.report import as_json  # noqa: PLC0415 - imported when a job runs
    from canary.diff.tables.run import diff_tables  # noqa: PLC0415

    if job.table is None:  # excluded by ScheduledJob's validation
        raise ValueError(f"tables job {job.name!r} has no table")
    report = diff_tables(
        settings,
        key=list(job.key),
        consistent=bool(job.consistent),
        store=True,
        **_table_options(job),
    )
    return as_json(report)


def _verify(settings: Settings, job: ScheduledJob) -> dict[str, Any]:
    """The gate of ``canary verify``; a check that could not run (exit code 2 or 3)
    raises its error, so the schedule's exit code is the worst, as the command's is."""
    from canary.diff.verify import verify_run  # noqa: PLC0415 - imported when a job runs

    report = verify_run(
        _compare_topic(settings, job),
        key=list(job.key) or None,
        store=True,
        **_stream_options(job),
        **_table_options(job),
    )
    error = report.failure()
    if error is not None and error.exit_code > EXIT_FAILED:
        raise error
    return report.as_json()
