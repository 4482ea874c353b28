"""The per-message work both paths share: handler, checksum, dead letters, compare events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from canary.core.checksum import Row, row_checksum
from canary.core.events import SourceCoord
from canary.core.message import SourceMessage
from canary.handlers.loader import Handler
from canary.paths.outbox import Outbox
from sinks.schema import HANDLER_COLUMNS, KEY, SinkRow

Complete = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A source message turned into the row to write and the checksum to publish."""

    src: SourceCoord
    key: str
    row: Row
    checksum: str

    def sink_row(self) -> SinkRow:
        return SinkRow(self.row, self.src.p, self.src.o)


def coordinate(message: SourceMessage) -> SourceCoord:
    kind, stamp = message.timestamp()
    return SourceCoord(
        t=message.topic() or "",
        p=message.partition() or 0,
        o=message.offset() or 0,
        ts=stamp if kind else 0,
    )


def prepare(
    messages: Iterable[SourceMessage], handler: Handler, outbox: Outbox, complete: Complete
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
            outbox.dead_letter(message, str(exc) or type(exc).__name__, exc, _done(complete, src))
            continue
        raw_key = message.key()
        key = raw_key.decode("utf-8", "replace") if raw_key is not None else str(row[KEY])
        prepared.append(Prepared(src=src, key=key, row=row, checksum=checksum))
    return prepared


def publish(prepared: Sequence[Prepared], outbox: Outbox, at_ms: float, complete: Complete) -> None:
    """Compare events for rows whose transaction committed at ``at_ms``."""
    for item in prepared:
        outbox.compare(item.key, item.src, item.checksum, at_ms, _done(complete, item.src))


def _done(complete: Complete, src: SourceCoord) -> Callable[[], None]:
    return lambda: complete(src.t, src.p, src.o)
