"""The ring path's worker pool: threads that drain the dispatcher in key-ordered batches.

Workers share one condition variable with the fetcher. A worker takes a batch under the
lock, processes it outside the lock (handler, one PostgreSQL transaction, compare
events), then completes it under the lock so the keys it held become free again. Each
thread owns one ``Worker`` (a connection, or a child process): it is closed when the
thread ends, whether the pool shrank or stopped, so scaling up and down leaks nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from canary.core.dispatch import Item, KeyedDispatcher
from canary.core.scaling import PoolLoad, decide

log = logging.getLogger(__name__)


class Worker(Protocol):
    """What one pool thread runs its batches through."""

    def process(self, batch: list[Item[Any]]) -> None: ...
    def close(self) -> None: ...


WorkerFactory = Callable[[], Worker]


@dataclass(slots=True)
class PoolStats:
    batches: int = 0
    records: int = 0
    peak_workers: int = 0
    grown: int = 0
    shrunk: int = 0
    closed: int = 0  # workers whose connection or child process was released


class WorkerPool:
    """Between ``minimum`` and ``maximum`` worker threads, scaled by ``adjust``."""

    def __init__(
        self,
        dispatcher: KeyedDispatcher[Any],
        condition: threading.Condition,
        make_worker: WorkerFactory,
        *,
        batch_size: int,
        minimum: int,
        maximum: int,
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._dispatcher = dispatcher
        self._condition = condition
        self._make_worker = make_worker
        self._batch_size = batch_size
        self._minimum = max(1, min(minimum, maximum))
        self._maximum = maximum
        self._on_error = on_error
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._retire = 0
        self._stopping = False
        self._idle_since: float | None = None
        self._waiting = 0
        self.stats = PoolStats()

    @property
    def size(self) -> int:
        """Workers running and not about to retire."""
        return self.alive - self._retire

    @property
    def alive(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    def start(self, count: int | None = None) -> None:
        for _ in range(count if count is not None else self._minimum):
            self._spawn()

    def _spawn(self) -> None:
        worker = self._make_worker()
        thread = threading.Thread(
            target=self._run, args=(worker,), daemon=True, name=f"ring-worker-{len(self._threads)}"
        )
        # Finished threads are forgotten, so a pool that grows and shrinks for days keeps
        # a list as long as its live workers.
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        self.stats.peak_workers = max(self.stats.peak_workers, self.alive)

    def _run(self, worker: Worker) -> None:
        try:
            self._serve(worker)
        finally:
            worker.close()
            with self._condition:
                self.stats.closed += 1

    def _serve(self, worker: Worker) -> None:
        condition = self._condition
        while True:
            with condition:
                batch = self._next_batch()
                if batch is None:
                    return
                self._busy += 1
            try:
                worker.process(batch)
            except BaseException as exc:  # noqa: BLE001 - reported to the fetcher, which stops
                self._on_error(exc)
            finally:
                with condition:
                    self._dispatcher.complete(batch)
                    self._busy -= 1
                    self.stats.batches += 1
                    self.stats.records += len(batch)
                    condition.notify_all()

    def _next_batch(self) -> list[Item[Any]] | None:
        """Called with the lock held: a batch, or None when this worker should exit."""
        waiting = False
        try:
            while True:
                if self._stopping:
                    return None
                batch = self._dispatcher.take(self._batch_size)
                if batch:
                    return batch
                if self._retire > 0:
                    self._retire -= 1
                    return None
                if not waiting:
                    waiting = True
                    self._waiting += 1
                    if self._idle_since is None:
                        self._idle_since = time.monotonic()
                self._condition.wait(0.05)
        finally:
            if waiting:
                self._waiting -= 1
                if self._waiting == 0:
                    # Idle time counts while at least one worker has had nothing to do.
                    self._idle_since = None

    def adjust(self) -> None:
        """One controller tick (fetcher thread): grow or shrink by at most one worker."""
        with self._condition:
            idle = time.monotonic() - self._idle_since if self._idle_since else 0.0
            load = PoolLoad(
                alive=self.alive - self._retire,
                busy=self._busy,
                backlog=self._dispatcher.backlog(),
                batch_size=self._batch_size,
                idle_seconds=idle,
                cpu_load=_cpu_load(),
            )
        step = decide(load, self._minimum, self._maximum)
        if step > 0:
            self._spawn()
            self.stats.grown += 1
            log.info("ring: pool grew to %d workers (backlog %d)", self.alive, load.backlog)
        elif step < 0:
            with self._condition:
                self._retire += 1
                # The next shrink waits another full idle period.
                self._idle_since = time.monotonic() if self._waiting else None
                self._condition.notify_all()
            self.stats.shrunk += 1
            log.info("ring: pool shrinks to %d workers", load.alive - 1)

    def busy(self) -> int:
        return self._busy

    def stop(self, timeout: float = 120.0) -> None:
        """Let every worker finish its batch, then end the threads."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _cpu_load() -> float:
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0
