"""The ring path: one fetcher, bounded per-partition rings, a worker pool, PostgreSQL.

The fetcher thread owns the consumer: it pulls batches, routes each record to its
partition's lane of the dispatcher, pauses a partition whose lane is full (and resumes
it below the low-water mark) while polling goes on, folds delivery acknowledgements into
the offset tracker, and stores offsets for Kafka commits.

Workers take key-ordered batches and apply each in one transaction (``apply_batch``):
the rows and the stored offsets of the batch's partitions. The stored offset is the
tracker's committable offset, which only counts a record once its compare event (or dead
letter) is acknowledged; so after any crash the path re-reads from a point where every
earlier record is in the table *and* published. Re-applied records are no-ops thanks to
the version guard: each message takes effect in PostgreSQL exactly once. On assignment
the fetcher starts each partition at the offset stored in PostgreSQL (from the earliest
offset when the stored one lies beyond the partition's end: the topic was recreated).

While PostgreSQL is away, workers wait with their batches (the retrier's backoff), the
rings fill, their partitions pause, and the fetcher keeps the group membership alive;
memory stays within the rings' bounds. With ``until_idle`` the path ends only once the
group's committed offsets have reached the end of every partition of the topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from canary.core import backpressure
from canary.core.dispatch import Item, KeyedDispatcher, Partition
from canary.core.message import SourceMessage
from canary.core.offsets import OffsetTracker
from canary.errors import DeliveryError, TransientFault
from canary.handlers.loader import Handler
from canary.metrics import PathMetrics
from canary.paths import checkpoint
from canary.paths.apply import apply_batch
from canary.paths.catchup import CatchUp
from canary.paths.pool import PoolStats, WorkerPool
from canary.paths.ports import BatchWriter, ConsumerControl, OffsetStore, Publisher
from canary.paths.remote import Done, RemoteWorker, record
from canary.paths.retry import Retrier, Stopped
from canary.paths.runtime import IdleTimer, RunSummary, StopFlag

log = logging.getLogger(__name__)
HOUSEKEEPING_S = 0.5
OFFSETS_RETRY_S = 1.0  # while PostgreSQL is away, how often the fetcher tries its save
REVOKE_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class RingOptions:
    run_id: str
    topic: str
    group: str
    until_idle: float | None
    workers: int
    min_workers: int
    ring_capacity: int
    max_inflight_bytes: int
    low_water: float
    batch_size: int
    protocol: str
    static_member_id: str
    checkpoint_path: Path
    worker_processes: bool = False
    max_outage: float | None = None


class StoreWriter(BatchWriter, OffsetStore, Protocol):
    """The fetcher's own connection: offsets-only transactions and offset reads."""


@dataclass(frozen=True, slots=True)
class RingPorts:
    """Everything the ring path talks to, built by the composition root."""

    consumer: ConsumerControl
    publisher: Publisher
    store: StoreWriter
    writers: Callable[[], BatchWriter]
    remote_workers: Callable[[], RemoteWorker] | None
    database: Retrier
    kafka: Retrier
    metrics: PathMetrics


class RingPath:
    """Consumes ``topic`` into PostgreSQL through rings and a worker pool."""

    def __init__(
        self, options: RingOptions, handler: Handler, ports: RingPorts, stop: StopFlag
    ) -> None:
        self._options = options
        self._handler = handler
        self._ports = ports
        self._consumer = ports.consumer
        self._publisher = ports.publisher
        self._metrics = ports.metrics
        self._stop = stop
        self._condition = threading.Condition()
        self._dispatcher: KeyedDispatcher[SourceMessage] = KeyedDispatcher(options.ring_capacity)
        self._tracker = OffsetTracker()
        self._acks: deque[tuple[str, int, int]] = deque()
        self._snapshot: dict[Partition, int] = {}
        self._paused: set[Partition] = set()
        self._failure: BaseException | None = None
        self._idle = IdleTimer(options.until_idle)
        self._catch_up = CatchUp(options.topic, self._consumer, ports.kafka)
        self._saved: dict[Partition, int] = {}
        self._next_offsets_try = 0.0
        self._remote_dead_letters = 0
        self._rows = 0
        self.summary = RunSummary(path="ring", run_id=options.run_id)
        self.pauses = 0
        self.peak_bytes = 0
        self.resumed_from: checkpoint.Checkpoint | None = checkpoint.read(options.checkpoint_path)
        self._limits = backpressure.Limits(
            options.ring_capacity, options.max_inflight_bytes, options.low_water
        )
        self._pool = WorkerPool(
            self._dispatcher,
            self._condition,
            self._make_worker,
            batch_size=options.batch_size,
            minimum=options.min_workers,
            maximum=options.workers,
            on_error=self._fail,
        )

    @property
    def metrics(self) -> PathMetrics:
        return self._metrics

    @property
    def pool_stats(self) -> PoolStats:
        return self._pool.stats

    # ----------------------------------------------------------------- workers

    def _offsets_for(self, batch: list[Item[SourceMessage]]) -> dict[Partition, int]:
        snapshot = self._snapshot
        return {
            item.partition: snapshot[item.partition] for item in batch if item.partition in snapshot
        }

    def _make_worker(self) -> _ThreadWorker | _ProcessWorker:
        if self._ports.remote_workers is not None:
            return _ProcessWorker(self, self._ports.remote_workers())
        return _ThreadWorker(self, self._ports.writers())

    def _finished(self, rows: int, dead_lettered: int, seconds: float) -> None:
        with self._condition:
            self._rows += rows
            self._remote_dead_letters += dead_lettered
            self.summary.last_at = time.monotonic()
        self._metrics.written(rows)
        self._metrics.observe_batch(seconds)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, Stopped):
            return  # stopped during an outage: the batch stays uncommitted and is re-read
        if self._failure is None:
            self._failure = exc
        self._stop.set(f"error: {exc}")

    # ----------------------------------------------------------------- fetcher

    def run(self) -> RunSummary:
        options = self._options
        self._consumer.subscribe(options.topic, self)
        self._metrics.set_lag_source(self._catch_up.last_lag)
        # A worker process takes a second to start: they all start now rather than one
        # per tick as the backlog grows (the pool still retires idle ones).
        self._pool.start(options.workers if options.worker_processes else None)
        started = time.monotonic()
        next_housekeeping = started
        fetch = min(1000, options.ring_capacity)
        try:
            while not self._stop.is_set():
                batch = self._consumer.consume(fetch, 0.05)
                if batch:
                    self._idle.touch()
                    self._route(batch)
                now = time.monotonic()
                if now >= next_housekeeping:
                    next_housekeeping = now + HOUSEKEEPING_S
                    self._housekeeping()
                    self._pool.adjust()
                    self._metrics.pool_size(self._pool.size)
                else:
                    self._publisher.serve()
                    self._absorb_acks()
                    self._backpressure()
                if not batch and self._idle.expired() and self._drained() and self._caught_up():
                    self._stop.set(f"idle for {options.until_idle:g} s")
        except Stopped:
            pass  # stopped while a service was away during an assignment: nothing is lost
        finally:
            self.summary.seconds = time.monotonic() - started
            self.summary.stopped_by = self._stop.reason or "error"
            self._shutdown()
        if self._failure is not None:
            raise self._failure
        return self.summary

    def _caught_up(self) -> bool:
        """Every partition's committed offset is at its end (after committing ours)."""
        if not self._catch_up.due():
            return False
        committable = self._tracker.committable()
        if not self._save_offsets(committable):
            return False
        self._consumer.store(committable)
        return self._catch_up.check(commit=True)

    def _route(self, batch: list[SourceMessage]) -> None:
        dispatcher, tracker = self._dispatcher, self._tracker
        with self._condition:
            owned = set(dispatcher.partitions())
            for message in batch:
                topic, partition = message.topic() or "", message.partition() or 0
                if (topic, partition) not in owned:
                    continue  # revoked while the batch was in flight: its new owner reads it
                offset, key, value = message.offset() or 0, message.key(), message.value()
                # The payload plus a fixed allowance for the message object around it.
                size = (len(key) if key else 0) + (len(value) if value else 0) + 64
                dispatcher.offer(Item((topic, partition), offset, key, size, message))
                tracker.register(topic, partition, offset)
            self.peak_bytes = max(self.peak_bytes, dispatcher.bytes)
            self._condition.notify_all()
        self.summary.saw(len(batch), time.monotonic())
        self._metrics.consumed(len(batch))

    def _absorb_acks(self) -> None:
        acks, tracker = self._acks, self._tracker
        if acks:
            while acks:
                tracker.complete(*acks.popleft())
            self._snapshot = tracker.committable()

    def _backpressure(self) -> None:
        with self._condition:
            levels = {p: self._dispatcher.occupancy(p) for p in self._dispatcher.partitions()}
            buffered = self._dispatcher.bytes
        decision = backpressure.decide(levels, buffered, self._paused, self._limits)
        if decision.pause:
            self._consumer.pause(decision.pause)
            self._paused.update(decision.pause)
            self.pauses += len(decision.pause)
        if decision.resume:
            self._consumer.resume(decision.resume)
            self._paused.difference_update(decision.resume)
        if decision.pause or decision.resume:
            self._metrics.paused(len(self._paused))

    def _housekeeping(self) -> None:
        self._publisher.serve()
        if self._publisher.failure is not None:
            raise DeliveryError(
                f"a compare event or dead letter was not delivered "
                f"({self._publisher.failure}); offsets after it stay uncommitted"
            )
        self._absorb_acks()
        self._backpressure()
        committable = self._tracker.committable()
        if self._save_offsets(committable):
            self._consumer.store(committable)
        self._save_checkpoint(committable)
        self._catch_up.note_owned(self._consumer.cached_lag(committable))
        self._count()

    def _count(self) -> None:
        self.summary.rows = self._rows
        self.summary.dead_lettered = self._publisher.dead_lettered + self._remote_dead_letters

    def _drained(self) -> bool:
        with self._condition:
            idle_pool = self._dispatcher.backlog() == 0 and self._pool.busy() == 0
        return idle_pool and not self._acks and self._tracker.pending() == 0

    def _save_offsets(self, committable: Mapping[Partition, int]) -> bool:
        """Offsets-only transaction, so a quiet partition's position still reaches the
        table. While PostgreSQL is away this is skipped (the workers notice its return);
        False means the offsets are not saved yet."""
        changed = {p: o for p, o in committable.items() if self._saved.get(p) != o}
        if not changed:
            return True
        database, now = self._ports.database, time.monotonic()
        if database.down and now < self._next_offsets_try:
            return False  # the fetcher keeps polling; it tries again in a moment
        self._next_offsets_try = now + OFFSETS_RETRY_S
        if not database.attempt(lambda: self._ports.store.write([], changed)):
            return False
        self._saved.update(changed)
        return True

    def _save_checkpoint(self, committable: dict[Partition, int]) -> None:
        if not committable:
            return  # owning nothing says nothing: keep the last snapshot
        options = self._options
        counters = {
            "messages": self.summary.messages,
            "rows": self.summary.rows,
            "dead_lettered": self.summary.dead_lettered,
        }
        snapshot = checkpoint.Checkpoint(
            group=options.group,
            topic=options.topic,
            offsets={p: o for (t, p), o in committable.items() if t == options.topic},
            counters=counters,
        )
        checkpoint.write(options.checkpoint_path, snapshot)

    # ---------------------------------------------------------------- rebalance

    def on_assign(self, partitions: list[Partition]) -> dict[Partition, int]:
        store, kafka = self._ports.store, self._ports.kafka
        stored: dict[str, dict[int, int]] = {}
        for topic in {t for t, _ in partitions}:
            stored[topic] = self._ports.database.call(partial(store.stored_offsets, topic))
        known = [p for p in partitions if p[1] in stored[p[0]]]
        spans = kafka.call(partial(self._consumer.end_offsets, known)) if known else {}
        positions: dict[Partition, int] = {}
        for partition in known:
            topic, number = partition
            position = stored[topic][number]
            low, high = spans[partition]
            if position > high:
                log.warning(
                    "ring: %s[%d]: the stored offset %d is beyond the partition's end %d "
                    "(was the topic deleted and created again?); reading from the "
                    "earliest offset %d",
                    topic,
                    number,
                    position,
                    high,
                    low,
                )
                self._ports.database.call(partial(store.reset_offset, topic, number, low))
                self._saved.pop(partition, None)
                position = low
            positions[partition] = position
        with self._condition:
            for partition in partitions:
                if partition in positions:
                    self._tracker.assign(*partition, positions[partition])
                self._dispatcher.add(partition)
        log.info("ring: assigned %s", sorted((p, positions.get((t, p), -1)) for t, p in partitions))
        self._idle.arm()
        return positions

    def on_revoke(self, partitions: list[Partition]) -> None:
        started = time.monotonic()
        with self._condition:
            for partition in partitions:
                # Dropped records were fetched but never processed: their new owner
                # reads them again, so they do not count as this member's messages.
                self.summary.messages -= len(self._dispatcher.revoke(partition))
            deadline = time.monotonic() + REVOKE_TIMEOUT_S
            while (
                any(self._dispatcher.inflight(p) for p in partitions)
                and time.monotonic() < deadline
            ):
                self._condition.wait(0.05)
        settled = time.monotonic()
        # Every record of these partitions is now either done or dropped; once the
        # acknowledgements are in, the committable offsets are final for them.
        self._publisher.drain(10.0)
        self._absorb_acks()
        final = {tp: o for tp, o in self._tracker.committable().items() if tp in partitions}
        if self._failure is None and self._publisher.failure is None and self._save_offsets(final):
            try:
                self._consumer.commit(final)
            except TransientFault as exc:
                log.warning("ring: commit on revocation failed (%s); the new owner re-reads", exc)
        for partition in partitions:
            self._tracker.revoke(*partition)
            self._paused.discard(partition)
        log.info(
            "ring: revoked %s in %.0f ms (%.0f ms waiting for their batches)",
            sorted(number for _, number in partitions),
            (time.monotonic() - started) * 1000,
            (settled - started) * 1000,
        )

    def on_lost(self, partitions: list[Partition]) -> None:
        with self._condition:
            for partition in partitions:
                self._dispatcher.revoke(partition)
                self._tracker.revoke(*partition)
                self._paused.discard(partition)
        log.warning("ring: lost %s", sorted(number for _, number in partitions))

    # ---------------------------------------------------------------- shutdown

    def _shutdown(self) -> None:
        self._pool.stop()
        try:
            if self._failure is None and self._publisher.failure is None:
                self._publisher.drain(30.0)
                self._absorb_acks()
                committable = self._tracker.committable()
                if self._save_offsets(committable):
                    self._consumer.store(committable)
                    self._catch_up.commit_final()
                self._save_checkpoint(committable)
            self._count()
        finally:
            self._metrics.set_lag_source(None)
            try:
                self._consumer.close()
            finally:
                self._ports.store.close()


class _ThreadWorker:
    """A pool thread's own writer (and connection), closed when the thread ends."""

    def __init__(self, path: RingPath, writer: BatchWriter) -> None:
        self._path = path
        self._writer = writer
        acks = path._acks

        def complete(topic: str, partition: int, offset: int) -> None:
            acks.append((topic, partition, offset))  # deque.append is atomic

        self._complete = complete

    def process(self, batch: list[Item[SourceMessage]]) -> None:
        path = self._path
        applied = apply_batch(
            [item.payload for item in batch],
            path._handler,
            self._writer,
            path._publisher,
            path._ports.database,
            self._complete,
            path._offsets_for(batch),
        )
        # Dead letters of this process are counted by the shared publisher.
        path._finished(applied.rows, 0, applied.write_seconds)

    def close(self) -> None:
        self._writer.close()


class _ProcessWorker:
    """A pool thread's child process, ended when the thread ends."""

    def __init__(self, path: RingPath, remote: RemoteWorker) -> None:
        self._path = path
        self._remote = remote

    def process(self, batch: list[Item[SourceMessage]]) -> None:
        path = self._path
        done: Done = self._remote.run(
            [record(item.payload) for item in batch], path._offsets_for(batch)
        )
        path._acks.extend(done.completed)
        path._finished(done.rows, done.dead_lettered, done.write_seconds)

    def close(self) -> None:
        self._remote.close()
