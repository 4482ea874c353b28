"""Driving the jobs on an APScheduler 3 scheduler: one run of a job at a time, every
failure logged and survived, and a stop on a signal, a run budget or a time limit.

``GuardedJob`` and ``RunBudget`` hold the rules and are plain Python, so they are tested
with fake job functions; ``run_schedule`` wires them to a ``BackgroundScheduler``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from canary.core.verdict import failure
from canary.errors import CanaryError
from canary.paths.runtime import StopFlag
from canary.schedule.jobs import JobSpec

log = logging.getLogger(__name__)

JobFunction = Callable[[], dict[str, Any]]
"""Runs a job once and returns its report (a dict with ``id`` and ``verdict``)."""
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One run of one job: its report's id and verdict, or the error that ended it.

    ``error`` is set whenever the run did not pass: the ``VerificationFailed`` of a
    failed verdict (beside the report's id and verdict), or the error that stopped the
    run before it had a report (no verdict then).
    """

    job: str
    started: datetime
    seconds: float
    report_id: str | None = None
    verdict: str | None = None
    error: CanaryError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class RunBudget:
    """Counts runs across all jobs; with a limit, refuses to start more than ``limit``
    and calls ``on_spent`` once the last of them has finished. Thread-safe."""

    def __init__(self, limit: int | None = None, on_spent: Callable[[], None] = lambda: None):
        self._limit = limit
        self._on_spent = on_spent
        self._lock = threading.Lock()
        self._started = 0
        self.outcomes: list[Outcome] = []

    def try_start(self) -> bool:
        with self._lock:
            if self._limit is not None and self._started >= self._limit:
                return False
            self._started += 1
            return True

    def finish(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            spent = self._limit is not None and len(self.outcomes) >= self._limit
        if spent:
            self._on_spent()

    def worst(self) -> CanaryError | None:
        """The error of the worst run so far, None when every run passed: the one whose
        exit code is highest (an unreachable service over a usage error over a failed
        verdict), the earliest of equals."""
        with self._lock:
            errors = [outcome.error for outcome in self.outcomes if outcome.error is not None]
        return max(errors, key=lambda error: error.exit_code, default=None)


class GuardedJob:
    """One job as the scheduler calls it.

    Invariants: two runs of the same job never overlap (a call while one is running is
    skipped and returns None); no exception escapes (it becomes an ``Outcome`` with the
    error, logged with the job's name), so one failing run never stops the next.
    """

    def __init__(
        self,
        name: str,
        function: JobFunction,
        budget: RunBudget,
        on_run: Callable[[Outcome], None] = lambda _outcome: None,
        clock: Clock = lambda: datetime.now().astimezone(),
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._function = function
        self._budget = budget
        self._on_run = on_run
        self._clock = clock
        self._timer = timer
        self._running = threading.Lock()

    def __call__(self) -> Outcome | None:
        if not self._running.acquire(blocking=False):
            log.warning("job %s: the previous run is still going; this one is skipped", self.name)
            return None
        try:
            if not self._budget.try_start():
                return None
            outcome = self._run_once()
            try:
                self._on_run(outcome)
            except Exception:  # a broken reporter must not stop the schedule
                log.exception("job %s: reporting the run failed", self.name)
            self._budget.finish(outcome)
            return outcome
        finally:
            self._running.release()

    def _run_once(self) -> Outcome:
        started = self._clock()
        began = self._timer()
        try:
            report = self._function()
        except CanaryError as exc:
            log.error("job %s failed: %s", self.name, exc)
            return self._failure(started, began, exc)
        except Exception as exc:  # one failing job must not stop the others
            log.exception("job %s failed", self.name)
            unexpected = CanaryError(f"{type(exc).__name__}: {exc}")
            unexpected.__cause__ = exc
            return self._failure(started, began, unexpected)
        return Outcome(
            job=self.name,
            started=started,
            seconds=self._timer() - began,
            report_id=str(report.get("id", "")) or None,
            verdict=str(report.get("verdict", "unknown")),
            error=failure(report, subject=self.name),
        )

    def _failure(self, started: datetime, began: float, error: CanaryError) -> Outcome:
        return Outcome(job=self.name, started=started, seconds=self._timer() - began, error=error)


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    outcomes: list[Outcome]
    stopped_by: str
    worst: CanaryError | None  # the error the schedule as a whole ends with (RunBudget.worst)


def run_schedule(
    specs: Sequence[JobSpec],
    function_for: Callable[[JobSpec], JobFunction],
    *,
    zone: ZoneInfo,
    stop: StopFlag,
    max_runs: int | None = None,
    duration: float | None = None,
    on_run: Callable[[Outcome], None] = lambda _outcome: None,
    on_stopping: Callable[[str], None] = lambda _reason: None,
) -> ScheduleResult:
    """Run every job on its trigger until ``stop`` is set, ``max_runs`` runs (all jobs
    together) have finished, or ``duration`` seconds have passed; then wait for the runs
    in progress and shut the scheduler down.

    Each job gets its own worker thread, so a slow job never delays another; APScheduler's
    ``max_instances=1`` and ``coalesce=True`` keep one run per job and fold missed ones.
    """
    budget = RunBudget(max_runs, on_spent=lambda: stop.set("max-runs"))
    zone_clock: Clock = lambda: datetime.now(zone)  # noqa: E731 - a one-line clock
    scheduler = BackgroundScheduler(
        timezone=zone,
        executors={"default": ThreadPoolExecutor(max_workers=max(1, len(specs)))},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    for spec in specs:
        guarded = GuardedJob(spec.name, function_for(spec), budget, on_run, clock=zone_clock)
        scheduler.add_job(guarded, trigger=spec.trigger, id=spec.name, name=spec.name)
    deadline = None if duration is None else time.monotonic() + duration
    scheduler.start()
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                stop.set("time limit")
                break
            remaining = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
            stop.wait(min(0.5, remaining))
    finally:
        on_stopping(stop.reason or "error")
        scheduler.shutdown(wait=True)
    return ScheduleResult(budget.outcomes, stop.reason, budget.worst())
