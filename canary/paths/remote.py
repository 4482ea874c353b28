"""Ring workers in child processes: a batch's CPU work runs outside the fetcher's GIL.

A worker thread of the pool keeps its role (it claims key-ordered batches and completes
them); it hands each batch to its own child process and waits for the answer. The child
owns a PostgreSQL connection and a producer: it runs the handler, writes the batch in
one transaction with the stored offsets, publishes the compare events (and dead
letters) and waits until Kafka has acknowledged them, then answers with the source
coordinates that are now complete. Messages cross the pipe as plain tuples.

A child reads until its pipe closes, so it ends with its parent, however that ends.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from canary.config import Settings
from canary.errors import CanaryError
from canary.handlers.loader import load_handler
from canary.kafka.producer import CheckedProducer
from canary.paths.outbox import Outbox
from canary.paths.process import prepare, publish
from sinks import postgres

# topic, partition, offset, key, value, (timestamp type, timestamp)
Record = tuple[str, int, int, bytes | None, bytes | None, tuple[int, int]]
Coordinate = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Done:
    """A child's answer for one batch."""

    completed: list[Coordinate]
    rows: int
    dead_lettered: int


class RemoteError(CanaryError):
    """A batch failed in a worker process; carries that error's message and exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a child needs to set itself up (sent once, at start)."""

    settings: Settings
    group: str
    run_id: str


class RemoteWorker:
    """The parent's end: one child process, one batch at a time."""

    def __init__(self, spec: WorkerSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child_end, spec), daemon=True, name="ring-worker-process"
        )
        self._process.start()
        child_end.close()

    def run(self, records: Sequence[Record], offsets: dict[tuple[str, int], int]) -> Done:
        self._pipe.send((list(records), offsets))
        try:
            answer = self._pipe.recv()
        except EOFError:
            raise RemoteError("a ring worker process died", 1) from None
        if isinstance(answer, Done):
            return answer
        message, exit_code = answer
        raise RemoteError(message, exit_code)

    def close(self) -> None:
        self._pipe.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


class _Message:
    """A record as the handler code expects a Kafka message to look."""

    __slots__ = ("_record",)

    def __init__(self, record: Record) -> None:
        self._record = record

    def topic(self) -> str:
        return self._record[0]

    def partition(self) -> int:
        return self._record[1]

    def offset(self) -> int:
        return self._record[2]

    def key(self) -> bytes | None:
        return self._record[3]

    def value(self) -> bytes | None:
        return self._record[4]

    def timestamp(self) -> tuple[int, int]:
        return self._record[5]

    def error(self) -> None:
        return None


def _serve(pipe: Any, spec: WorkerSpec) -> None:
    settings = spec.settings
    pg = settings.postgres
    handler = load_handler(settings.handler.path)
    connection = postgres.connect(pg)
    writer = postgres.OrdersWriter(connection, pg.table, pg.offsets_table, spec.group)
    outbox = Outbox(
        CheckedProducer(settings.kafka.bootstrap, linger_ms=2),
        run_id=spec.run_id,
        path="ring",
        compare_topic=settings.kafka.compare_topic,
        dlq_topic=settings.kafka.dlq_topic,
    )
    completed: list[Coordinate] = []

    def complete(topic: str, partition: int, offset: int) -> None:
        completed.append((topic, partition, offset))

    while True:
        try:
            records, offsets = pipe.recv()
        except EOFError:
            break
        dead_before = outbox.dead_lettered
        try:
            prepared = prepare([_Message(r) for r in records], handler, outbox, complete)
            with postgres.translated(pg):
                writer.write([p.sink_row() for p in prepared], offsets)
            publish(prepared, outbox, time.time() * 1000.0, complete)
            outbox.drain()
            if outbox.failure is not None:
                raise CanaryError(f"a compare event was not delivered ({outbox.failure})")
            pipe.send(Done(list(completed), len(prepared), outbox.dead_lettered - dead_before))
        except Exception as exc:  # noqa: BLE001 - the parent reports it and stops the run
            pipe.send((str(exc) or type(exc).__name__, getattr(exc, "exit_code", 1)))
        completed.clear()
    connection.close()
