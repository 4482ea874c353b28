"""``apply_batch`` over the shipped doubles: what reaches the writer, what is published,
and when a message counts as complete, when rows are refused, handlers fail and the
database comes and goes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from canary.core.backoff import Backoff
from canary.core.checksum import Row, row_checksum
from canary.core.orders import generate_orders
from canary.core.schema import KEY, SinkRow
from canary.errors import OutageTooLong
from canary.handlers.orders import to_row
from canary.paths.apply import apply_batch
from canary.paths.ports import Partition
from canary.paths.retry import Retrier, Stopped
from canary.paths.runtime import StopFlag
from canary.testing import MemoryMessage, MemoryPublisher, MemoryWriter

TOPIC = "orders"
QUICK = Backoff(base=0.001, cap=0.002)
REASON = "amount out of range (refused by the test)"


class RecordingWriter(MemoryWriter):
    """A MemoryWriter that remembers the source offsets of each committed write."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        refused = refuse or set()
        super().__init__(reject=lambda row: REASON if row.offset in refused else None)
        self.committed: list[list[int]] = []

    def write(self, rows: Sequence[SinkRow], next_offsets: Mapping[Partition, int]) -> None:
        super().write(rows, next_offsets)
        self.committed.append([row.offset for row in rows])


class Completions:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    def __call__(self, topic: str, partition: int, offset: int) -> None:
        self.seen.append((topic, partition, offset))


def _messages(count: int = 10) -> list[MemoryMessage]:
    events = list(generate_orders(count, keys=1_000_000, seed=11))
    # Distinct keys, so each message leaves a row of its own to look for.
    assert len({event.key for event in events}) == count
    return [
        MemoryMessage(event.value, event.key, (TOPIC, 3, 100 + index), stamp=1_000 + index)
        for index, event in enumerate(events)
    ]


def _key(message: MemoryMessage) -> int:
    assert message.key_bytes is not None
    return int(message.key_bytes)


def test_a_rejected_row_is_isolated_and_the_rest_is_written_in_order() -> None:
    messages = _messages()
    refused = messages[6]
    writer = RecordingWriter(refuse={refused.offset()})
    publisher = MemoryPublisher()
    complete = Completions()

    applied = apply_batch(
        messages, to_row, writer, publisher, Retrier("memory", StopFlag(), backoff=QUICK), complete
    )

    others = [m for m in messages if m is not refused]
    assert applied.rows == 9
    assert applied.dead_lettered == 1
    assert [o for batch in writer.committed for o in batch] == [m.offset() for m in others]
    assert set(writer.rows) == {_key(m) for m in others}
    dead = [p for p in publisher.sent if p.kind == "dead_letter"]
    assert [(p.src, p.reason) for p in dead] == [((TOPIC, 3, refused.offset()), REASON)]
    compares = [p for p in publisher.sent if p.kind == "compare"]
    assert [p.src for p in compares] == [(TOPIC, 3, m.offset()) for m in others]
    assert [p.checksum for p in compares] == [
        row_checksum(to_row(m.key(), m.value())) for m in others
    ]

    # Complete means Kafka holds the compare event or dead letter, not merely queued.
    assert complete.seen == []
    publisher.serve()
    assert Counter(complete.seen) == Counter((TOPIC, 3, m.offset()) for m in messages)


def test_a_message_the_handler_refuses_is_dead_lettered_with_its_reason() -> None:
    messages = _messages()
    broken = MemoryMessage(b"{not json", b"17", (TOPIC, 3, 99))
    batch = [broken, *messages]
    writer = RecordingWriter()
    publisher = MemoryPublisher()
    complete = Completions()

    applied = apply_batch(
        batch, to_row, writer, publisher, Retrier("memory", StopFlag(), backoff=QUICK), complete
    )

    assert applied.rows == 10
    assert applied.dead_lettered == 1
    dead = [p for p in publisher.sent if p.kind == "dead_letter"]
    assert [p.src for p in dead] == [(TOPIC, 3, 99)]
    assert "not JSON" in dead[0].reason
    assert writer.committed == [[m.offset() for m in messages]]
    publisher.drain()
    assert Counter(complete.seen) == Counter((TOPIC, 3, m.offset()) for m in batch)


def test_a_handler_row_lacking_columns_is_dead_lettered() -> None:
    def partial(key: bytes | None, value: bytes | None) -> Row:
        return {KEY: 1}

    message = MemoryMessage(b"{}", None, (TOPIC, 0, 5))
    writer = RecordingWriter()
    publisher = MemoryPublisher()

    applied = apply_batch(
        [message],
        partial,
        writer,
        publisher,
        Retrier("memory", StopFlag(), backoff=QUICK),
        Completions(),
    )

    assert (applied.rows, applied.dead_lettered) == (0, 1)
    assert "lacks columns" in publisher.sent[0].reason
    assert writer.rows == {}


def test_a_transient_fault_is_retried_and_the_batch_written_once() -> None:
    messages = _messages()
    writer = RecordingWriter()
    writer.fail_next = 3
    changes: list[tuple[str, bool]] = []
    retries: list[str] = []
    retrier = Retrier(
        "memory",
        StopFlag(),
        backoff=QUICK,
        on_change=lambda service, down: changes.append((service, down)),
        on_retry=retries.append,
    )
    publisher = MemoryPublisher()

    applied = apply_batch(
        messages, to_row, writer, publisher, retrier, Completions(), {(TOPIC, 3): 100}
    )

    assert applied.rows == 10
    assert writer.calls == 4
    assert writer.committed == [[m.offset() for m in messages]]
    assert writer.offsets == {(TOPIC, 3): 100}
    assert retries == ["memory"] * 3
    assert changes == [("memory", True), ("memory", False)]
    assert not retrier.down
    assert [p.kind for p in publisher.sent] == ["compare"] * 10


class SteppingClock:
    """Time that moves ``step`` seconds every time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_an_outage_longer_than_max_outage_ends_the_batch() -> None:
    writer = RecordingWriter()
    writer.fail_next = 1_000
    clock = SteppingClock(1.0)
    publisher = MemoryPublisher()
    complete = Completions()
    retrier = Retrier("memory", StopFlag(), backoff=QUICK, max_outage=10.0, clock=clock)

    with pytest.raises(OutageTooLong) as ended:
        apply_batch(_messages(), to_row, writer, publisher, retrier, complete)

    assert "max-outage 10" in str(ended.value)
    # It kept trying while the outage was shorter than the bound, and stopped after.
    assert 3 <= writer.calls <= 8
    assert writer.rows == {}
    assert publisher.sent == []
    publisher.serve()
    assert complete.seen == []


def test_a_stop_during_the_wait_ends_the_batch_as_stopped() -> None:
    writer = RecordingWriter()
    writer.fail_next = 1_000
    stop = StopFlag()
    publisher = MemoryPublisher()
    complete = Completions()
    retrier = Retrier("memory", stop, backoff=Backoff(base=60.0, cap=60.0, jitter=0.0))
    timer = threading.Timer(0.2, stop.set, args=("test stop",))

    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(Stopped):
            apply_batch(_messages(), to_row, writer, publisher, retrier, complete)
    finally:
        timer.cancel()

    # Woken by the stop, not by the end of a 60 s backoff.
    assert time.monotonic() - started < 10
    assert writer.calls == 1
    assert writer.rows == {}
    assert publisher.sent == []
    publisher.serve()
    assert complete.seen == []


def test_any_exception_of_a_handler_is_a_dead_letter_named_by_its_type() -> None:
    def crashing(key: bytes | None, value: bytes | None) -> Row:
        raise RuntimeError

    messages = _messages(3)
    publisher = MemoryPublisher()
    complete = Completions()

    applied = apply_batch(
        messages, crashing, RecordingWriter(), publisher, Retrier("memory", StopFlag()), complete
    )

    assert (applied.rows, applied.dead_lettered) == (0, 3)
    assert [p.reason for p in publisher.sent] == ["RuntimeError"] * 3
    publisher.serve()
    assert complete.seen == [(TOPIC, 3, m.offset()) for m in messages]
