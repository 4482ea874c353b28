"""Runs one consumer path in a child process and reports its figures.

Each measured run gets a fresh interpreter (the ``spawn`` start method): its peak
memory is its own, and no Kafka client threads are inherited across a fork. SIGTERM
stops a child the way it stops ``canary run``: the member commits and leaves its group.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

from canary import app
from canary.bench.memory import TreeSampler
from canary.config import Settings
from canary.paths.runtime import RunSummary, StopFlag, peak_rss_mb, stop_on_signals

KINDS = ("legacy", "ring", "classic_to_postgres", "ring_processes")


@dataclass(frozen=True, slots=True)
class ChildRun:
    kind: str
    run_id: str
    group: str
    until_idle: float


@dataclass(frozen=True, slots=True)
class ChildResult:
    kind: str
    messages: int
    rows: int
    rate: float
    busy_seconds: float
    peak_rss_mb: float
    error: str = ""
    peak_tree_rss_mb: float = 0.0  # the child and every process it started, summed
    peak_bytes: int = 0  # the ring path's peak of buffered records; 0 for the others


Handle = tuple[Any, Any]  # the process and the queue its result comes back on


def start(settings: Settings, run: ChildRun) -> Handle:
    """Start the child; ``finish`` collects its result."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    # Not a daemon: the ring path in worker-process mode starts processes of its own.
    process = context.Process(target=_child, args=(settings, run, queue))
    process.start()
    return process, queue


def stop(handle: Handle) -> None:
    """Ask the child to stop cleanly (it still sends its result to ``finish``)."""
    process, _ = handle
    process.terminate()  # SIGTERM, which the child turns into its StopFlag


def finish(handle: Handle, timeout: float = 900.0) -> ChildResult:
    process, queue = handle
    result: ChildResult = queue.get(timeout=timeout)
    process.join(30)
    return result


def run(settings: Settings, run: ChildRun) -> ChildResult:
    return finish(start(settings, run))


def _child(settings: Settings, run: ChildRun, queue: Any) -> None:
    stop = StopFlag()
    sampler = TreeSampler()
    try:
        with sampler, stop_on_signals(stop):
            summary, peak_bytes = run_path(settings, run, stop)
        queue.put(
            ChildResult(
                run.kind,
                summary.messages,
                summary.rows,
                summary.rate,
                summary.busy_seconds,
                peak_rss_mb(),
                peak_tree_rss_mb=sampler.peak_mb,
                peak_bytes=peak_bytes,
            )
        )
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the bench
        queue.put(ChildResult(run.kind, 0, 0, 0.0, 0.0, peak_rss_mb(), error=str(exc)))


def run_path(settings: Settings, run: ChildRun, stop: StopFlag) -> tuple[RunSummary, int]:
    """The run's summary and, for the ring path, its peak of buffered bytes."""
    if run.kind == "legacy":
        summary = app.run_legacy(
            settings,
            run_id=run.run_id,
            topic=None,
            group=run.group,
            until_idle=run.until_idle,
            stop=stop,
        )
        return summary, 0
    if run.kind == "ring_processes":
        settings = settings.model_copy(
            update={"ring": settings.ring.model_copy(update={"worker_mode": "processes"})}
        )
    if run.kind in ("ring", "ring_processes"):
        options = app.ring_options(
            settings,
            run_id=run.run_id,
            topic=None,
            group=run.group,
            until_idle=run.until_idle,
            workers=None,
            ring_capacity=None,
        )
        path = app.run_ring(settings, options, stop)
        return path.summary, path.peak_bytes
    return _classic_to_postgres(settings, run, stop), 0


def _classic_to_postgres(settings: Settings, run: ChildRun, stop: StopFlag) -> RunSummary:
    """The legacy design writing to PostgreSQL: separates the database's share of the
    difference from the architecture's."""
    return app.run_legacy(
        settings,
        run_id=run.run_id,
        topic=None,
        group=run.group,
        until_idle=run.until_idle,
        stop=stop,
        sink="postgres",
    )


def wait_for(predicate: Any, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False
