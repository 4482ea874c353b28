"""The legacy path: a classic consumer-group member writing each message to MySQL.

Per batch of ``legacy.batch_size`` messages (1 = one row per transaction, as many
existing consumers do): handler -> version-guarded upsert -> COMMIT -> compare events
-> once Kafka has acknowledged them, the offsets are stored and later committed. This is
at-least-once: a crash redelivers, the version guard makes the rewrite a no-op, and the
diff sees the second compare event as a duplicate of the same source coordinate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import Consumer, Message, TopicPartition

from canary.config import Settings
from canary.core.offsets import OffsetTracker
from canary.errors import DeliveryError
from canary.handlers.loader import Handler
from canary.kafka import consumer as kafka_consumer
from canary.paths.outbox import Outbox
from canary.paths.process import prepare, publish
from canary.paths.runtime import IdleTimer, RunSummary, StopFlag
from sinks.schema import SinkRow

log = logging.getLogger(__name__)
FETCH_BATCH = 500
STORE_INTERVAL_S = 0.5


class RowWriter(Protocol):
    """Writes rows in one transaction and commits before returning."""

    def write(self, rows: Sequence[SinkRow]) -> None: ...


@dataclass(frozen=True, slots=True)
class LegacyOptions:
    run_id: str
    topic: str
    group: str
    until_idle: float | None
    batch_size: int
    assignment_strategy: str


class LegacyPath:
    """Consumes ``topic`` as a member of ``group`` and writes every message to MySQL."""

    def __init__(
        self,
        settings: Settings,
        options: LegacyOptions,
        handler: Handler,
        writer: RowWriter,
        outbox: Outbox,
        stop: StopFlag,
    ) -> None:
        self._settings = settings
        self._options = options
        self._handler = handler
        self._writer = writer
        self._outbox = outbox
        self._stop = stop
        self._tracker = OffsetTracker()
        self.summary = RunSummary(path="legacy", run_id=options.run_id)
        self._idle = IdleTimer(options.until_idle)

    def run(self) -> RunSummary:
        options = self._options
        bootstrap = self._settings.kafka.bootstrap
        fatal = kafka_consumer.FatalErrors()
        consumer = kafka_consumer.build(
            bootstrap,
            options.group,
            kafka_consumer.classic_settings(options.assignment_strategy),
            fatal,
        )
        consumer.subscribe(
            [options.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        idle = self._idle = IdleTimer(options.until_idle)
        # One fetch bounds one transaction: fetch at least a whole batch.
        fetch = max(FETCH_BATCH, options.batch_size)
        started = time.monotonic()
        last_store = started
        try:
            while not self._stop.is_set():
                fatal.check(bootstrap)
                batch = kafka_consumer.consume(consumer, bootstrap, fetch, 0.2)
                if batch:
                    idle.touch()
                    self._process(batch)
                elif idle.expired():
                    self._stop.set(f"idle for {options.until_idle:g} s")
                self._check_outbox()
                if time.monotonic() - last_store >= STORE_INTERVAL_S:
                    kafka_consumer.store(consumer, self._tracker.committable())
                    last_store = time.monotonic()
        finally:
            self.summary.seconds = time.monotonic() - started
            self.summary.stopped_by = self._stop.reason or "error"
            self._finish(consumer)
        return self.summary

    def _process(self, batch: list[Message]) -> None:
        tracker, size = self._tracker, self._options.batch_size
        for message in batch:
            tracker.register(message.topic() or "", message.partition() or 0, message.offset() or 0)
        self.summary.saw(len(batch), time.monotonic())
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            prepared = prepare(chunk, self._handler, self._outbox, tracker.complete)
            if prepared:
                self._writer.write([item.sink_row() for item in prepared])
                publish(prepared, self._outbox, time.time() * 1000.0, tracker.complete)
                self.summary.rows += len(prepared)
            self._outbox.serve()
        self.summary.dead_lettered = self._outbox.dead_lettered
        self.summary.last_at = time.monotonic()

    def _check_outbox(self) -> None:
        self._outbox.serve()
        if self._outbox.failure is not None:
            self.summary.errors += 1
            raise DeliveryError(
                f"a compare event or dead letter was not delivered "
                f"({self._outbox.failure}); offsets after it stay uncommitted"
            )

    def _settle(self, consumer: Consumer) -> None:
        """Wait for acknowledgements, store what is now committable and commit it."""
        self._outbox.drain()
        if self._outbox.failure is None:
            kafka_consumer.store(consumer, self._tracker.committable())
            kafka_consumer.commit(consumer)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("legacy: assigned %s", [p.partition for p in partitions])
        self._idle.arm()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Eager protocol: everything is revoked; the work in hand is durable already, so
        # settling the acknowledgements and committing loses nothing for the next owner.
        self._settle(consumer)
        for partition in partitions:
            self._tracker.revoke(partition.topic, partition.partition)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            self._tracker.revoke(partition.topic, partition.partition)

    def _finish(self, consumer: Consumer) -> None:
        try:
            self._settle(consumer)
        finally:
            consumer.close()
