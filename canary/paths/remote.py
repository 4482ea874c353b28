"""Ring workers in child processes: a batch's CPU work runs outside the fetcher's GIL.

A worker thread of the pool keeps its role (it claims key-ordered batches and completes
them); it hands each batch to its own child process and waits for the answer. The child
owns its writer and publisher (built by the child's composition root, ``canary.workers``):
it applies the batch (``apply_batch``: handler, one transaction with the stored offsets,
compare events and dead letters, transient faults waited out), waits until Kafka has
acknowledged what it published, then answers with the source coordinates now complete.
Messages cross the pipe as plain tuples.

A child ignores SIGINT and SIGTERM (a signal to the process group is the parent's to
handle: it finishes the batches in hand, saves its offsets, then closes the pipes), and
reads until its pipe closes, so it ends with its parent, however that ends.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from canary.core.message import SourceMessage
from canary.errors import WorkerFailed
from canary.handlers.loader import Handler
from canary.paths.apply import apply_batch
from canary.paths.ports import BatchWriter, Partition, Publisher
from canary.paths.retry import Retrier, Stopped

# topic, partition, offset, key, value, (timestamp type, timestamp)
Record = tuple[str, int, int, bytes | None, bytes | None, tuple[int, int]]
Coordinate = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Done:
    """A child's answer for one batch."""

    completed: list[Coordinate]
    rows: int
    dead_lettered: int
    write_seconds: float


@dataclass(frozen=True, slots=True)
class ChildParts:
    """What a child works with, built once at its start."""

    handler: Handler
    writer: BatchWriter
    publisher: Publisher
    retrier: Retrier


def record(message: SourceMessage) -> Record:
    return (
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        message.key(),
        message.value(),
        message.timestamp(),
    )


class RemoteWorker:
    """The parent's end: one child process running ``target(pipe, *args)``, one batch
    at a time (canary.paths.pool.Worker once given the offsets to store)."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=target, args=(child_end, *args), daemon=True, name="ring-worker-process"
        )
        self._process.start()
        child_end.close()

    def run(self, records: Sequence[Record], offsets: dict[Partition, int]) -> Done:
        self._pipe.send((list(records), offsets))
        try:
            answer = self._pipe.recv()
        except EOFError:
            raise WorkerFailed("a ring worker process died") from None
        if isinstance(answer, Done):
            return answer
        message, exit_code = answer
        if exit_code is None:
            raise Stopped("worker process", "", message)
        raise WorkerFailed(message, exit_code)

    def close(self) -> None:
        self._pipe.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


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


def ignore_stop_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def serve(pipe: Any, parts: ChildParts) -> None:
    """The child's loop: one answer per batch until the pipe closes."""
    completed: list[Coordinate] = []

    def complete(topic: str, partition: int, offset: int) -> None:
        completed.append((topic, partition, offset))

    publisher = parts.publisher
    while True:
        try:
            records, offsets = pipe.recv()
        except EOFError:
            break
        try:
            batch = [_Message(r) for r in records]
            applied = apply_batch(
                batch, parts.handler, parts.writer, publisher, parts.retrier, complete, offsets
            )
            while publisher.drain(1.0) and publisher.failure is None:
                publisher.serve(0)  # a broker that is away: wait for it with the batch held
            if publisher.failure is not None:
                raise WorkerFailed(f"a compare event was not delivered ({publisher.failure})", 3)
            pipe.send(
                Done(list(completed), applied.rows, applied.dead_lettered, applied.write_seconds)
            )
        except Stopped as exc:
            pipe.send((str(exc), None))
        except Exception as exc:  # noqa: BLE001 - the parent reports it and stops the run
            pipe.send((str(exc) or type(exc).__name__, getattr(exc, "exit_code", 1)))
        completed.clear()
    parts.writer.close()
