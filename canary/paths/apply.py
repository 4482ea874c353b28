"""The per-batch work both paths share: handler, durable write, compare events.

``apply_batch`` is the one place where a batch of source messages becomes rows in a
database and compare events in Kafka, in that order. A message the handler refuses,
or a row the database refuses, goes to the dead-letter topic with the reason; a
transient fault is waited out by the retrier; each message is complete (its offset
committable) once Kafka has acknowledged its compare event or its dead letter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from canary.core.checksum import Row, row_checksum
from canary.core.events import SourceCoord
from canary.core.message import SourceMessage
from canary.core.schema import HANDLER_COLUMNS, KEY, SinkRow
from canary.errors import RowRejected
from canary.handlers.loader import Handler
from canary.paths.ports import BatchWriter, Partition, Publisher
from canary.paths.retry import Retrier

Complete = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A source message turned into the row to write and the checksum to publish."""

    message: SourceMessage
    src: SourceCoord
    key: str
    row: Row
    checksum: str

    def sink_row(self) -> SinkRow:
        return SinkRow(self.row, self.src.p, self.src.o)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one batch did."""

    rows: int
    dead_lettered: int
    write_seconds: float


def coordinate(message: SourceMessage) -> SourceCoord:
    kind, stamp = message.timestamp()
    return SourceCoord(
        t=message.topic() or "",
        p=message.partition() or 0,
        o=message.offset() or 0,
        ts=stamp if kind else 0,
    )


def prepare(
    messages: Iterable[SourceMessage], handler: Handler, publisher: Publisher, complete: Complete
) -> list[Prepared]:
    """Rows for the messages the handler accepts; the others go to the dead-letter topic
    and count as complete once it has them."""
    prepared = []
    for message in messages:
        src = coordinate(message)
        try:
            row = handler(message.key(), message.value())
            missing = [name for name in HANDLER_COLUMNS if name not in row]
            if missing:
                raise ValueError(f"handler row lacks columns {', '.join(missing)}")
            checksum = row_checksum(row)
        except Exception as exc:  # noqa: BLE001 - any handler failure is a dead letter, by contract
            publisher.dead_letter(
                message, str(exc) or type(exc).__name__, exc, _done(complete, src)
            )
            continue
        raw_key = message.key()
        key = raw_key.decode("utf-8", "replace") if raw_key is not None else str(row[KEY])
        prepared.append(Prepared(message, src, key, row, checksum))
    return prepared


def write_isolating(
    prepared: Sequence[Prepared],
    writer: BatchWriter,
    next_offsets: Mapping[Partition, int],
    retrier: Retrier,
    publisher: Publisher,
    complete: Complete,
) -> list[Prepared]:
    """Write ``prepared`` in one transaction if the database takes it; when it refuses a
    row, halve the batch until that row is alone, dead-letter it with the database's
    reason and write the rest. Returns what was written, in order."""
    if not prepared and not next_offsets:
        return []
    try:
        retrier.call(lambda: writer.write([item.sink_row() for item in prepared], next_offsets))
    except RowRejected as exc:
        if len(prepared) <= 1:
            for item in prepared:
                publisher.dead_letter(item.message, exc.reason, exc, _done(complete, item.src))
            return []
        middle = len(prepared) // 2
        # Halves in order: a key's later version never lands before its earlier one.
        first = write_isolating(
            prepared[:middle], writer, next_offsets, retrier, publisher, complete
        )
        return first + write_isolating(
            prepared[middle:], writer, next_offsets, retrier, publisher, complete
        )
    return list(prepared)


def apply_batch(
    messages: Sequence[SourceMessage],
    handler: Handler,
    writer: BatchWriter,
    publisher: Publisher,
    retrier: Retrier,
    complete: Complete,
    next_offsets: Mapping[Partition, int] | None = None,
) -> Applied:
    """Handler -> one durable write (with ``next_offsets``) -> compare events."""
    dead_before = publisher.dead_lettered
    prepared = prepare(messages, handler, publisher, complete)
    started = time.monotonic()
    written = write_isolating(prepared, writer, next_offsets or {}, retrier, publisher, complete)
    finished = time.monotonic()
    at_ms = time.time() * 1000.0
    for item in written:
        publisher.compare(item.key, item.src, item.checksum, at_ms, _done(complete, item.src))
    return Applied(len(written), publisher.dead_lettered - dead_before, finished - started)


def _done(complete: Complete, src: SourceCoord) -> Callable[[], None]:
    return lambda: complete(src.t, src.p, src.o)
