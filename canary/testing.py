"""In-memory doubles of the paths' ports, for tests of the logic around them.

``MemoryWriter`` keeps rows and offsets as the real writers do (version guard, first
applied wins among equal versions, offsets never lowered by ``write``) and can be told
to fail: transiently for the next N calls, or to reject any row for which a predicate
holds. ``MemoryPublisher`` acknowledges what it is given on ``serve``/``drain``.
The same contract tests run over these and over MariaDB and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from canary.core.events import SourceCoord
from canary.core.message import SourceMessage
from canary.core.schema import KEY, VERSION, SinkRow
from canary.errors import RowRejected, TransientFault

Partition = tuple[str, int]
Done = Callable[[], None]


class MemoryWriter:
    """A BatchWriter and OffsetStore held in dictionaries."""

    service = "memory"

    def __init__(self, reject: Callable[[SinkRow], str | None] | None = None) -> None:
        self.rows: dict[Any, dict[str, Any]] = {}
        self.offsets: dict[Partition, int] = {}
        self.transactions: list[int] = []  # rows per committed write
        self.fail_next = 0
        self.calls = 0
        self.closed = 0
        self._reject = reject

    def write(self, rows: Sequence[SinkRow], next_offsets: Mapping[Partition, int]) -> None:
        self.calls += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransientFault(self.service, "memory", "connection lost (injected)")
        if self._reject is not None:
            for row in rows:
                reason = self._reject(row)
                if reason is not None:
                    raise RowRejected(self.service, reason)
        for row in rows:
            values = {**row.values, "src_partition": row.partition, "src_offset": row.offset}
            current = self.rows.get(values[KEY])
            if current is None or current[VERSION] < values[VERSION]:
                self.rows[values[KEY]] = values
        for partition, offset in next_offsets.items():
            self.offsets[partition] = max(self.offsets.get(partition, offset), offset)
        self.transactions.append(len(rows))

    def stored_offsets(self, topic: str) -> dict[int, int]:
        return {p: o for (t, p), o in self.offsets.items() if t == topic}

    def reset_offset(self, topic: str, partition: int, offset: int) -> None:
        self.offsets[(topic, partition)] = offset

    def close(self) -> None:
        self.closed += 1


@dataclass
class Published:
    kind: str  # "compare" or "dead_letter"
    key: str | None
    src: tuple[str, int, int]
    checksum: str = ""
    reason: str = ""


@dataclass
class MemoryPublisher:
    """A Publisher whose messages are acknowledged when served or drained."""

    failure: str | None = None
    dead_lettered: int = 0
    sent: list[Published] = field(default_factory=list)
    _waiting: list[Done] = field(default_factory=list)

    def compare(self, key: str, src: SourceCoord, checksum: str, at_ms: float, done: Done) -> None:
        self.sent.append(Published("compare", key, (src.t, src.p, src.o), checksum=checksum))
        self._waiting.append(done)

    def dead_letter(
        self, message: SourceMessage, reason: str, error: BaseException, done: Done
    ) -> None:
        src = (message.topic() or "", message.partition() or 0, message.offset() or 0)
        raw = message.key()
        self.sent.append(
            Published("dead_letter", raw.decode() if raw else None, src, reason=reason)
        )
        self.dead_lettered += 1
        self._waiting.append(done)

    def serve(self, timeout: float = 0) -> None:
        waiting, self._waiting = self._waiting, []
        for done in waiting:
            done()

    def drain(self, timeout: float = 60.0) -> int:
        self.serve()
        return 0


@dataclass(frozen=True)
class MemoryMessage:
    """A source message as the handler sees one."""

    value_bytes: bytes | None
    key_bytes: bytes | None = None
    coordinate: tuple[str, int, int] = ("t", 0, 0)
    stamp: int = 1

    def topic(self) -> str:
        return self.coordinate[0]

    def partition(self) -> int:
        return self.coordinate[1]

    def offset(self) -> int:
        return self.coordinate[2]

    def key(self) -> bytes | None:
        return self.key_bytes

    def value(self) -> bytes | None:
        return self.value_bytes

    def timestamp(self) -> tuple[int, int]:
        return (1, self.stamp)

    def error(self) -> None:
        return None
