"""The legacy path: a classic consumer-group member writing each message to MySQL.

Per batch of ``legacy.batch_size`` messages (1 = one row per transaction, as many
existing consumers do): handler -> version-guarded upsert -> COMMIT -> compare events
-> once Kafka has acknowledged them, the offsets are stored and later committed. This is
at-least-once: a crash redelivers, the version guard makes the rewrite a no-op, and the
diff sees the second compare event as a duplicate of the same source coordinate.

While MySQL is away the loop waits with its batch (the retrier's backoff) and goes on
once it is back; a row MySQL refuses is dead-lettered with MySQL's reason. With
``until_idle`` the path ends only once the group's committed offsets have reached the
end of every partition of the topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from canary.core.message import SourceMessage
from canary.core.offsets import OffsetTracker
from canary.errors import DeliveryError, TransientFault
from canary.handlers.loader import Handler
from canary.metrics import PathMetrics
from canary.paths.apply import apply_batch
from canary.paths.catchup import CatchUp
from canary.paths.ports import BatchWriter, ConsumerControl, Partition, Publisher
from canary.paths.retry import Retrier, Stopped
from canary.paths.runtime import IdleTimer, RunSummary, StopFlag

log = logging.getLogger(__name__)
FETCH_BATCH = 500
STORE_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class LegacyOptions:
    run_id: str
    topic: str
    group: str
    until_idle: float | None
    batch_size: int
    assignment_strategy: str
    max_outage: float | None = None


@dataclass(frozen=True, slots=True)
class LegacyPorts:
    """Everything the legacy path talks to, built by the composition root."""

    consumer: ConsumerControl
    writer: BatchWriter
    publisher: Publisher
    database: Retrier
    kafka: Retrier
    metrics: PathMetrics


class LegacyPath:
    """Consumes ``topic`` as a member of ``group`` and writes every message to MySQL."""

    def __init__(
        self, options: LegacyOptions, handler: Handler, ports: LegacyPorts, stop: StopFlag
    ) -> None:
        self._options = options
        self._handler = handler
        self._ports = ports
        self._consumer = ports.consumer
        self._publisher = ports.publisher
        self._stop = stop
        self._tracker = OffsetTracker()
        self._catch_up = CatchUp(options.topic, self._consumer, ports.kafka)
        self.summary = RunSummary(path="legacy", run_id=options.run_id)
        self._idle = IdleTimer(options.until_idle)

    def run(self) -> RunSummary:
        options = self._options
        self._consumer.subscribe(options.topic, self)
        self._ports.metrics.set_lag_source(self._catch_up.last_lag)
        self._ports.metrics.pool_size(1)
        # One fetch bounds one transaction: fetch at least a whole batch.
        fetch = max(FETCH_BATCH, options.batch_size)
        started = time.monotonic()
        last_store = started
        try:
            while not self._stop.is_set():
                batch = self._consumer.consume(fetch, 0.2)
                if batch:
                    self._idle.touch()
                    self._process(batch)
                elif self._idle.expired() and self._caught_up():
                    self._stop.set(f"idle for {options.until_idle:g} s")
                self._check_publisher()
                if time.monotonic() - last_store >= STORE_INTERVAL_S:
                    committable = self._tracker.committable()
                    self._consumer.store(committable)
                    self._catch_up.note_owned(self._consumer.cached_lag(committable))
                    last_store = time.monotonic()
        except Stopped:
            pass  # stopped while MySQL was away: the batch in hand is re-read next time
        finally:
            self.summary.seconds = time.monotonic() - started
            self.summary.stopped_by = self._stop.reason or "error"
            self._finish()
        return self.summary

    def _caught_up(self) -> bool:
        if not self._catch_up.due():
            return False
        self._publisher.drain(5.0)
        if self._tracker.pending():
            return False
        self._consumer.store(self._tracker.committable())
        return self._catch_up.check(commit=True)

    def _process(self, batch: list[SourceMessage]) -> None:
        tracker, size, ports = self._tracker, self._options.batch_size, self._ports
        for message in batch:
            tracker.register(message.topic() or "", message.partition() or 0, message.offset() or 0)
        self.summary.saw(len(batch), time.monotonic())
        ports.metrics.consumed(len(batch))
        for start in range(0, len(batch), size):
            applied = apply_batch(
                batch[start : start + size],
                self._handler,
                ports.writer,
                self._publisher,
                ports.database,
                tracker.complete,
            )
            self.summary.rows += applied.rows
            ports.metrics.written(applied.rows)
            ports.metrics.observe_batch(applied.write_seconds)
            self._publisher.serve()
        self.summary.dead_lettered = self._publisher.dead_lettered
        self.summary.last_at = time.monotonic()

    def _check_publisher(self) -> None:
        self._publisher.serve()
        if self._publisher.failure is not None:
            self.summary.errors += 1
            raise DeliveryError(
                f"a compare event or dead letter was not delivered "
                f"({self._publisher.failure}); offsets after it stay uncommitted"
            )

    def _settle(self, offsets: Mapping[Partition, int] | None = None) -> None:
        """Wait for acknowledgements, store what is now committable and commit it."""
        self._publisher.drain(10.0)
        if self._publisher.failure is None:
            self._consumer.store(self._tracker.committable())
            try:
                self._consumer.commit(offsets)
            except TransientFault as exc:
                log.warning("legacy: commit failed (%s); the next owner re-reads", exc)

    def on_assign(self, partitions: list[Partition]) -> dict[Partition, int]:
        log.info("legacy: assigned %s", sorted(p for _, p in partitions))
        self._idle.arm()
        return {}

    def on_revoke(self, partitions: list[Partition]) -> None:
        # Eager protocol: everything is revoked; the work in hand is durable already, so
        # settling the acknowledgements and committing loses nothing for the next owner.
        self._settle()
        for partition in partitions:
            self._tracker.revoke(*partition)

    def on_lost(self, partitions: list[Partition]) -> None:
        for partition in partitions:
            self._tracker.revoke(*partition)

    def _finish(self) -> None:
        try:
            self._publisher.drain(30.0)
            if self._publisher.failure is None:
                self._consumer.store(self._tracker.committable())
                self._catch_up.commit_final()
            self.summary.dead_lettered = self._publisher.dead_lettered
        finally:
            self._ports.metrics.set_lag_source(None)
            try:
                self._consumer.close()
            finally:
                self._ports.writer.close()
