"""The ring path: one fetcher, bounded per-partition rings, a worker pool, PostgreSQL.

The fetcher thread owns the Kafka consumer: it pulls batches with ``consume(n)``, routes
each record to its partition's lane of the dispatcher, pauses a partition whose lane is
full (and resumes it below the low-water mark) while polling goes on, folds delivery
acknowledgements into the offset tracker, and stores offsets for Kafka commits.

Workers take key-ordered batches and apply each in one PostgreSQL transaction: COPY into
a staging table, a version-guarded upsert, and the stored offsets of the batch's
partitions. The stored offset is the tracker's committable offset, which only counts a
record once its compare event (or dead letter) is acknowledged; so after any crash the
path re-reads from a point where every earlier record is in the table *and* published.
Re-applied records are no-ops thanks to the version guard: each message takes effect in
PostgreSQL exactly once. On assignment the fetcher seeks to the offsets in PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from canary.config import Settings
from canary.core.dispatch import Item, KeyedDispatcher, Partition
from canary.core.offsets import OffsetTracker
from canary.errors import DeliveryError
from canary.handlers.loader import Handler
from canary.kafka import consumer as kafka_consumer
from canary.paths import checkpoint
from canary.paths.outbox import Outbox
from canary.paths.pool import PoolStats, Process, WorkerPool
from canary.paths.process import prepare, publish
from canary.paths.remote import RemoteWorker, WorkerSpec
from canary.paths.runtime import IdleTimer, RunSummary, StopFlag
from sinks import postgres

log = logging.getLogger(__name__)
HOUSEKEEPING_S = 0.5
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


class RingPath:
    """Consumes ``topic`` into PostgreSQL through rings and a worker pool."""

    def __init__(
        self,
        settings: Settings,
        options: RingOptions,
        handler: Handler,
        outbox: Outbox,
        stop: StopFlag,
    ) -> None:
        self._settings = settings
        self._options = options
        self._handler = handler
        self._outbox = outbox
        self._stop = stop
        self._condition = threading.Condition()
        self._dispatcher: KeyedDispatcher[Message] = KeyedDispatcher(options.ring_capacity)
        self._tracker = OffsetTracker()
        self._acks: deque[tuple[str, int, int]] = deque()
        self._snapshot: dict[Partition, int] = {}
        self._paused: set[Partition] = set()
        self._failure: BaseException | None = None
        self._idle = IdleTimer(options.until_idle)
        self._connection = postgres.connect(settings.postgres)
        self._offsets_writer = postgres.OrdersWriter(
            self._connection,
            settings.postgres.table,
            settings.postgres.offsets_table,
            options.group,
        )
        self._saved: dict[Partition, int] = {}
        self._worker_connections: list[Any] = []
        self._remote_workers: list[RemoteWorker] = []
        self._remote_dead_letters = 0
        self._rows = 0
        self.summary = RunSummary(path="ring", run_id=options.run_id)
        self.pauses = 0
        self.peak_bytes = 0
        self.resumed_from: checkpoint.Checkpoint | None = checkpoint.read(options.checkpoint_path)
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
    def pool_stats(self) -> PoolStats:
        return self._pool.stats

    # ----------------------------------------------------------------- workers

    def _make_worker(self) -> Process:
        if self._options.worker_processes:
            return self._make_remote_worker()
        pg = self._settings.postgres
        connection = postgres.connect(pg)
        self._worker_connections.append(connection)
        writer = postgres.OrdersWriter(connection, pg.table, pg.offsets_table, self._options.group)
        acks = self._acks

        def complete(topic: str, partition: int, offset: int) -> None:
            acks.append((topic, partition, offset))  # deque.append is atomic

        def process(batch: list[Item[Message]]) -> None:
            prepared = prepare(
                [item.payload for item in batch], self._handler, self._outbox, complete
            )
            snapshot = self._snapshot
            offsets = {
                item.partition: snapshot[item.partition]
                for item in batch
                if item.partition in snapshot
            }
            with postgres.translated(pg):
                writer.write([p.sink_row() for p in prepared], offsets)
            publish(prepared, self._outbox, time.time() * 1000.0, complete)
            with self._condition:
                self._rows += len(prepared)
                self.summary.last_at = time.monotonic()

        return process

    def _make_remote_worker(self) -> Process:
        remote = RemoteWorker(WorkerSpec(self._settings, self._options.group, self._options.run_id))
        self._remote_workers.append(remote)

        def process(batch: list[Item[Message]]) -> None:
            records = [
                (
                    m.topic() or "",
                    m.partition() or 0,
                    m.offset() or 0,
                    m.key(),
                    m.value(),
                    m.timestamp(),
                )
                for m in (item.payload for item in batch)
            ]
            snapshot = self._snapshot
            offsets = {
                item.partition: snapshot[item.partition]
                for item in batch
                if item.partition in snapshot
            }
            done = remote.run(records, offsets)
            self._acks.extend(done.completed)
            with self._condition:
                self._rows += done.rows
                self._remote_dead_letters += done.dead_lettered
                self.summary.last_at = time.monotonic()

        return process

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._stop.set(f"error: {exc}")

    # ----------------------------------------------------------------- fetcher

    def run(self) -> RunSummary:
        options = self._options
        bootstrap = self._settings.kafka.bootstrap
        fatal = kafka_consumer.FatalErrors()
        consumer = kafka_consumer.build(bootstrap, options.group, self._consumer_settings(), fatal)
        consumer.subscribe(
            [options.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        # A worker process takes a second to start: they all start now rather than one
        # per tick as the backlog grows (the pool still retires idle ones).
        self._pool.start(options.workers if options.worker_processes else None)
        started = time.monotonic()
        next_housekeeping = started
        fetch = min(1000, options.ring_capacity)
        try:
            while not self._stop.is_set():
                fatal.check(bootstrap)
                batch = kafka_consumer.consume(consumer, bootstrap, fetch, 0.05)
                if batch:
                    self._idle.touch()
                    self._route(batch)
                now = time.monotonic()
                if now >= next_housekeeping:
                    next_housekeeping = now + HOUSEKEEPING_S
                    self._housekeeping(consumer)
                    self._pool.adjust()
                else:
                    self._outbox.serve()
                    self._absorb_acks()
                    self._backpressure(consumer)
                if not batch and self._idle.expired() and self._drained():
                    self._stop.set(f"idle for {options.until_idle:g} s")
        finally:
            self.summary.seconds = time.monotonic() - started
            self.summary.stopped_by = self._stop.reason or "error"
            self._shutdown(consumer)
        if self._failure is not None:
            raise self._failure
        return self.summary

    def _consumer_settings(self) -> dict[str, Any]:
        options = self._options
        extra: dict[str, Any] = {
            # librdkafka's own prefetch is bounded too, so pausing a partition bounds
            # the whole process, not only the rings.
            "queued.max.messages.kbytes": max(1024, options.max_inflight_bytes // 4096),
            "enable.auto.commit": True,
        }
        if options.protocol == "consumer":
            extra["group.protocol"] = "consumer"
        else:
            extra.update(kafka_consumer.classic_settings(options.protocol))
        if options.static_member_id:
            extra["group.instance.id"] = options.static_member_id
        return extra

    def _route(self, batch: list[Message]) -> None:
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

    def _absorb_acks(self) -> None:
        acks, tracker = self._acks, self._tracker
        if acks:
            while acks:
                tracker.complete(*acks.popleft())
            self._snapshot = tracker.committable()

    def _backpressure(self, consumer: Consumer) -> None:
        options = self._options
        high = options.ring_capacity
        low = int(options.ring_capacity * options.low_water)
        with self._condition:
            over_bytes = self._dispatcher.bytes >= options.max_inflight_bytes
            under_bytes = self._dispatcher.bytes <= options.max_inflight_bytes * options.low_water
            levels = {p: self._dispatcher.occupancy(p) for p in self._dispatcher.partitions()}
        to_pause = [
            p
            for p, n in levels.items()
            if p not in self._paused and (n >= high or (over_bytes and n > 0))
        ]
        to_resume = [p for p in self._paused if levels.get(p, 0) <= low and under_bytes]
        if to_pause:
            consumer.pause([TopicPartition(t, p) for t, p in to_pause])
            self._paused.update(to_pause)
            self.pauses += len(to_pause)
        if to_resume:
            consumer.resume([TopicPartition(t, p) for t, p in to_resume])
            self._paused.difference_update(to_resume)

    def _housekeeping(self, consumer: Consumer) -> None:
        self._outbox.serve()
        if self._outbox.failure is not None:
            raise DeliveryError(
                f"a compare event or dead letter was not delivered "
                f"({self._outbox.failure}); offsets after it stay uncommitted"
            )
        self._absorb_acks()
        self._backpressure(consumer)
        committable = self._tracker.committable()
        kafka_consumer.store(consumer, committable)
        self._save_offsets(committable)
        self._save_checkpoint(committable)
        self._count()

    def _count(self) -> None:
        self.summary.rows = self._rows
        self.summary.dead_lettered = self._outbox.dead_lettered + self._remote_dead_letters

    def _drained(self) -> bool:
        with self._condition:
            idle_pool = self._dispatcher.backlog() == 0 and self._pool.busy() == 0
        return idle_pool and not self._acks and self._tracker.pending() == 0

    def _save_offsets(self, committable: dict[Partition, int]) -> None:
        """Offsets-only transaction, so a quiet partition's position still reaches the table."""
        changed = {p: o for p, o in committable.items() if self._saved.get(p) != o}
        if changed:
            with postgres.translated(self._settings.postgres):
                self._offsets_writer.write([], changed)
            self._saved.update(changed)

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

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        stored: dict[str, dict[int, int]] = {}
        with postgres.translated(self._settings.postgres):
            for topic in {tp.topic for tp in partitions}:
                stored[topic] = postgres.stored_offsets(
                    self._connection,
                    self._settings.postgres.offsets_table,
                    self._options.group,
                    topic,
                )
        with self._condition:
            for tp in partitions:
                position = stored[tp.topic].get(tp.partition)
                if position is not None:
                    tp.offset = position
                    self._tracker.assign(tp.topic, tp.partition, position)
                self._dispatcher.add((tp.topic, tp.partition))
        log.info("ring: assigned %s", sorted((tp.partition, tp.offset) for tp in partitions))
        # Both protocols the ring path speaks (KIP-848, cooperative-sticky) are incremental.
        consumer.incremental_assign(partitions)
        self._idle.arm()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        started = time.monotonic()
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        with self._condition:
            for partition in revoked:
                # Dropped records were fetched but never processed: their new owner
                # reads them again, so they do not count as this member's messages.
                self.summary.messages -= len(self._dispatcher.revoke(partition))
            deadline = time.monotonic() + REVOKE_TIMEOUT_S
            while (
                any(self._dispatcher.inflight(p) for p in revoked) and time.monotonic() < deadline
            ):
                self._condition.wait(0.05)
        settled = time.monotonic()
        # Every record of these partitions is now either done or dropped; once the
        # acknowledgements are in, the committable offsets are final for them.
        self._outbox.drain()
        self._absorb_acks()
        final = {tp: o for tp, o in self._tracker.committable().items() if tp in revoked}
        if self._failure is None and self._outbox.failure is None:
            self._save_offsets(final)
            kafka_consumer.commit(
                consumer, [TopicPartition(t, p, o) for (t, p), o in final.items()]
            )
        for name, number in revoked:
            self._tracker.revoke(name, number)
            self._paused.discard((name, number))
        log.info(
            "ring: revoked %s in %.0f ms (%.0f ms waiting for their batches)",
            sorted(number for _, number in revoked),
            (time.monotonic() - started) * 1000,
            (settled - started) * 1000,
        )
        consumer.incremental_unassign(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._condition:
            for tp in partitions:
                self._dispatcher.revoke((tp.topic, tp.partition))
                self._tracker.revoke(tp.topic, tp.partition)
                self._paused.discard((tp.topic, tp.partition))
        log.warning("ring: lost %s", sorted(tp.partition for tp in partitions))

    # ---------------------------------------------------------------- shutdown

    def _shutdown(self, consumer: Consumer) -> None:
        self._pool.stop()
        try:
            if self._failure is None and self._outbox.failure is None:
                self._outbox.drain()
                self._absorb_acks()
                committable = self._tracker.committable()
                self._save_offsets(committable)
                kafka_consumer.store(consumer, committable)
                kafka_consumer.commit(consumer)
                self._save_checkpoint(committable)
            self._count()
        finally:
            consumer.close()
            for remote in self._remote_workers:
                remote.close()
            for connection in (*self._worker_connections, self._connection):
                connection.close()
