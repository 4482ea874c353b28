"""Compare-topic messages into a join: decoding, filtering by run, routing by partition.

Pure: the messages come from whoever reads the topic (the batch diff, a watcher).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson

from canary.core.events import WireError, decode_wire
from canary.core.message import SourceMessage

_OUR_PREFIX = b'{"v":1,"run":"'  # how canary's own encoder starts every event


class PartitionSink(Protocol):
    """What one compare partition's events are folded into."""

    def add_fields(
        self,
        path_name: str,
        key: str,
        topic: str,
        partition: int,
        offset: int,
        ts: int,
        digest: str,
        at: float,
    ) -> None: ...
    def add_invalid(self, count: int = 1) -> None: ...
    def flush(self) -> None:
        """The end of a batch: bin what was buffered."""


class EventSink(Protocol):
    """What the reader feeds: the stream join, or a benchmark's collector."""

    @property
    def events(self) -> int: ...
    def partition(self, number: int) -> PartitionSink: ...
    def unpaired(self) -> int: ...


def fold(batch: Sequence[SourceMessage], marker: bytes, run_id: str, join: EventSink) -> None:
    """Decode every message of ``batch`` and fold those of ``run_id`` into their
    partition's sink; anything that is not a valid event is counted invalid there.
    ``marker`` is ``run_marker(run_id)``."""
    sinks: dict[int, PartitionSink] = {}
    for message in batch:
        raw = message.value()
        if raw is not None and marker not in raw and raw.startswith(_OUR_PREFIX):
            continue  # another run's event: skipped without the cost of decoding it
        number = message.partition() or 0
        sink = sinks.get(number)
        if sink is None:
            sink = sinks[number] = join.partition(number)
        try:
            event = decode_wire(raw)  # type: ignore[arg-type]  # None raises TypeError
        except WireError:
            sink.add_invalid()
            continue
        if event.run == run_id:
            src = event.src
            sink.add_fields(event.path, event.key, src.t, src.p, src.o, src.ts, event.sum, event.at)
    for sink in sinks.values():
        sink.flush()


def run_marker(run_id: str) -> bytes:
    """Bytes every event of ``run_id`` written by canary contains."""
    return b'"run":' + orjson.dumps(run_id)
