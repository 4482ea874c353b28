"""Job specs: the validated ``[schedule]`` jobs paired with their APScheduler triggers.

Everything here is computed from values: the configuration, a time zone and, where a
trigger needs one, the current time passed in by the caller. Nothing runs a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from canary.config import ScheduledJob, Settings
from canary.errors import ConfigError, UsageError


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job of ``[schedule]`` with the trigger that fires it."""

    index: int
    job: ScheduledJob
    trigger: BaseTrigger

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def kind(self) -> str:
        return self.job.kind


def build_specs(settings: Settings, now: datetime) -> list[JobSpec]:
    """Every configured job with its trigger; a cron line that does not parse is a
    ConfigError naming ``schedule.jobs[i].cron``. ``now`` (aware) anchors interval
    triggers: their first run is one interval after it."""
    zone = ZoneInfo(settings.schedule.timezone)
    return [
        JobSpec(index, job, build_trigger(job, zone, now, index=index, source=settings.source))
        for index, job in enumerate(settings.schedule.jobs)
    ]


def build_trigger(
    job: ScheduledJob, zone: ZoneInfo, now: datetime, *, index: int = 0, source: str = "config"
) -> BaseTrigger:
    """The interval or cron trigger of ``job``, in ``zone``."""
    if job.cron is not None:
        try:
            return CronTrigger.from_crontab(job.cron, timezone=zone)
        except ValueError as exc:
            raise ConfigError(
                source,
                f"schedule.jobs[{index}].cron",
                f"not a valid crontab line 'minute hour day month day_of_week' "
                f"({exc}; got {job.cron!r})",
            ) from None
    if job.interval is None:  # excluded by ScheduledJob's validation
        raise ConfigError(source, f"schedule.jobs[{index}]", "needs interval or cron")
    every = timedelta(seconds=job.interval)
    return IntervalTrigger(seconds=job.interval, start_date=now + every, timezone=zone)


def next_run(spec: JobSpec, now: datetime) -> datetime | None:
    """When ``spec`` fires next after ``now`` (None: never again)."""
    fire: datetime | None = spec.trigger.get_next_fire_time(None, now)
    return fire


def describe(job: ScheduledJob) -> str:
    """The trigger as a person would write it: ``every 30s`` or ``cron 0 3 * * *``."""
    if job.cron is not None:
        return f"cron {job.cron.strip()}"
    seconds = job.interval or 0.0
    return f"every {_duration(seconds)}"


def target(job: ScheduledJob) -> str:
    """What the job compares: its run id, or its table pair and key, or both."""
    topic = f" on {job.compare_topic}" if job.compare_topic else ""
    if job.kind == "stream":
        return f"run {job.run_id}{topic}"
    mysql_table = job.mysql_table or job.table
    pg_table = job.pg_table or job.table
    tables = mysql_table if mysql_table == pg_table else f"{mysql_table} ~ {pg_table}"
    key = ",".join(job.key)
    if job.kind == "verify":
        named = tables or "mysql.table ~ postgres.table"
        return f"run {job.run_id}{topic} and table {named} by {key or 'order_id'} at the cut"
    at_cut = " at the cut" if job.consistent else ""
    return f"table {tables} by {key}{at_cut}"


def find(settings: Settings, name: str) -> ScheduledJob:
    """The job called ``name``; a UsageError listing the known ones otherwise."""
    for job in settings.schedule.jobs:
        if job.name == name:
            return job
    known = ", ".join(job.name for job in settings.schedule.jobs)
    where = f"[schedule] of {settings.source}"
    if not known:
        raise UsageError(f"no job {name!r}: no job is configured in {where}")
    raise UsageError(f"no job {name!r} in {where}; known jobs: {known}")


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
