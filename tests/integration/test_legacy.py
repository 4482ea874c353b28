"""The legacy path end to end: `canary run legacy` as a subprocess on the real services.

Every test owns its topics, table and group (the ``isolated`` fixture) and checks what
the run leaves behind: the MySQL table against the state computed by regenerating the
events, and the compare topic against the source topic read back message by message.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from canary import app
from canary.config import Settings
from canary.core.checksum import row_checksum
from canary.core.events import CompareEvent, decode_event
from canary.core.orders import generate_orders
from canary.core.schema import KEY, SinkRow
from canary.handlers.orders import to_row
from canary.kafka import admin
from canary.kafka import consumer as kafka_consumer
from canary.kafka.consumer import GroupConsumer
from canary.kafka.producer import CheckedProducer
from canary.metrics import PathMetrics
from canary.paths.legacy import LegacyOptions, LegacyPath, LegacyPorts
from canary.paths.retry import Retrier
from canary.paths.runtime import StopFlag
from sinks import mysql
from tests import runs
from tests.runs import Finished, Member, wait_for
from tests.topics import published, read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
COUNT, KEYS, SEED = 20_000, 2_000, 20_260_301
RUN_TIMEOUT_S = 90.0

Coord = tuple[str, int, int]
_STARTED: list[Member] = []


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    """A test that fails half-way leaves no `canary` process behind."""
    yield
    while _STARTED:
        process = _STARTED.pop().process
        if process.poll() is None:
            process.kill()
            process.wait()


def _env(settings: Settings, batch_size: int) -> dict[str, str]:
    """The environment that points a `canary` subprocess at this test's topics and table."""
    return {
        **os.environ,
        "CANARY_KAFKA__SOURCE_TOPIC": settings.kafka.source_topic,
        "CANARY_KAFKA__COMPARE_TOPIC": settings.kafka.compare_topic,
        "CANARY_KAFKA__DLQ_TOPIC": settings.kafka.dlq_topic,
        "CANARY_MYSQL__TABLE": settings.mysql.table,
        "CANARY_LEGACY__GROUP": settings.legacy.group,
        "CANARY_LEGACY__BATCH_SIZE": str(batch_size),
    }


def _start(
    settings: Settings,
    tmp: Path,
    run_id: str,
    *,
    until_idle: float | None = 3,
    batch_size: int = 50,
) -> Member:
    """Start `canary run -v legacy --run-id RUN_ID [--until-idle S]` with the test's env."""
    command = [str(CANARY), "run", "-v", "legacy", "--run-id", run_id]
    if until_idle is not None:
        command += ["--until-idle", f"{until_idle:g}"]
    member = runs.start(command, _env(settings, batch_size), tmp, ROOT)
    _STARTED.append(member)
    return member


def _run(settings: Settings, tmp: Path, run_id: str, **options: Any) -> Finished:
    """Run the legacy path to completion (by default until idle for 3 s)."""
    return _start(settings, tmp, run_id, **options).wait(RUN_TIMEOUT_S)


def _source_ends(settings: Settings) -> dict[int, int]:
    """The high watermark of every source partition."""
    spans = admin.watermarks(settings.kafka.bootstrap, settings.kafka.source_topic)
    return {span.partition: span.high for span in spans}


def _compare_events(settings: Settings, run_id: str) -> list[CompareEvent]:
    """The compare events of ``run_id`` on this test's compare topic, decoded."""
    events = [decode_event(m.value()) for m in read_topic(settings, settings.kafka.compare_topic)]
    return [event for event in events if event.run == run_id]


def _table(settings: Settings) -> dict[int, dict[str, Any]]:
    connection = mysql.connect(settings.mysql)
    try:
        return mysql.fetch_rows(connection, settings.mysql.table)
    finally:
        connection.close()


def _init_table(settings: Settings) -> None:
    """What `canary db init` does for the MySQL side."""
    connection = mysql.connect(settings.mysql)
    try:
        mysql.init_schema(connection, settings.mysql.table)
    finally:
        connection.close()


def _committed(settings: Settings, partitions: int = 6) -> dict[int, int]:
    """The group's committed offset per source partition (negative: none)."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka.bootstrap, "group.id": settings.legacy.group}
    )
    try:
        topic = settings.kafka.source_topic
        offsets = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in offsets}


@dataclass(frozen=True)
class Source:
    """The source topic read back: each message by coordinate, with its row and checksum."""

    messages: dict[Coord, Message]

    @classmethod
    def read(cls, settings: Settings) -> Source:
        messages = read_topic(settings, settings.kafka.source_topic)
        return cls({_coord(m): m for m in messages})

    def coordinate_of(self) -> dict[bytes, Coord]:
        """Coordinates by value (every generated value is unique: it holds id and version)."""
        return {m.value() or b"": coord for coord, m in self.messages.items()}

    def checksum(self, coord: Coord) -> str:
        message = self.messages[coord]
        return row_checksum(to_row(message.key(), message.value()))


def _headers(message: Message) -> dict[str, str]:
    """A consumed message's headers as text (the client hands them back as a list)."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {
        name: value.decode() if isinstance(value, bytes) else str(value) for name, value in pairs
    }


def _coord(message: Message) -> Coord:
    return (message.topic() or "", message.partition() or 0, message.offset() or 0)


def _produce(settings: Settings, count: int = COUNT, keys: int = KEYS) -> None:
    result = app.produce(
        settings, count=count, rate=0, seed=SEED, topic=None, partitions=None, keys=keys
    )
    assert result.count == count


def _expected_table(values: Iterable[bytes], source: Source) -> dict[int, dict[str, Any]]:
    """The newest version of every key, as the table must hold it after a full run."""
    where = source.coordinate_of()
    newest: dict[int, dict[str, Any]] = {}
    for value in values:
        row: dict[str, Any] = dict(to_row(None, value))
        key: int = row[KEY]
        if key not in newest or row["version"] > newest[key]["version"]:
            _, partition, offset = where[value]
            newest[key] = {**row, "src_partition": partition, "src_offset": offset}
    return newest


def _generated() -> list[bytes]:
    return [event.value for event in generate_orders(COUNT, KEYS, SEED)]


def _assert_table(settings: Settings, expected: dict[int, dict[str, Any]]) -> None:
    table = _table(settings)
    assert set(table) == set(expected)
    wrong = [key for key in expected if table[key] != expected[key]]
    assert not wrong, f"{len(wrong)} rows differ, e.g. {table[wrong[0]]} != {expected[wrong[0]]}"


def _assert_events(
    events: list[CompareEvent], source: Source, *, exactly_once: bool
) -> Counter[Coord]:
    """Every source message has a compare event carrying the checksum of its row; extra
    events are redeliveries (same coordinate, same sum). Returns the events per coordinate."""
    per_coord: Counter[Coord] = Counter()
    for event in events:
        coord = (event.src.t, event.src.p, event.src.o)
        per_coord[coord] += 1
        message = source.messages.get(coord)
        assert message is not None, f"compare event for an unknown source coordinate {coord}"
        assert event.path == "legacy"
        assert event.key == (message.key() or b"").decode()
        assert event.src.ts == message.timestamp()[1]
        assert event.sum == source.checksum(coord), f"wrong sum for {coord}"
        assert event.at >= event.src.ts
    missing = set(source.messages) - set(per_coord)
    assert not missing, f"{len(missing)} source messages without a compare event"
    if exactly_once:
        repeated = {coord: n for coord, n in per_coord.items() if n > 1}
        assert not repeated, f"{len(repeated)} coordinates have several events"
    return per_coord


def _assignments(log: str) -> list[list[int]]:
    return [
        orjson.loads(found)
        for found in re.findall(r"legacy: assigned (\[[\d, ]*\])", log, re.MULTILINE)
    ]


def _owned(member: Member) -> list[int]:
    """The partitions of ``member``'s latest assignment, from its log."""
    found = _assignments(member.log())
    return found[-1] if found else []


# --- tests -----------------------------------------------------------------------------


def test_a_full_run_writes_the_newest_version_and_one_event_per_message(
    isolated: Settings, tmp_path: Path
) -> None:
    _init_table(isolated)
    _produce(isolated)

    result = _run(isolated, tmp_path, "full")

    assert result.code == 0, result.stderr
    assert result.stopped_by() == "idle for 3 s"
    assert result.counter("messages") == COUNT
    assert result.counter("rows written") == COUNT
    assert result.counter("dead-lettered") == 0
    assert result.counter("errors") == 0
    source = Source.read(isolated)
    generated = _generated()
    assert sorted(m.value() or b"" for m in source.messages.values()) == sorted(generated)
    _assert_table(isolated, _expected_table(generated, source))
    events = _compare_events(isolated, "full")
    assert len(events) == COUNT
    _assert_events(events, source, exactly_once=True)
    assert _committed(isolated) == _source_ends(isolated)


def test_a_rerun_after_sigkill_completes_the_table_and_only_repeats_events(
    isolated: Settings, tmp_path: Path
) -> None:
    _init_table(isolated)
    _produce(isolated)
    compare = isolated.kafka.compare_topic

    # A smaller batch keeps the first run busy long enough to be killed in the middle.
    first = _start(isolated, tmp_path, "crash", until_idle=None, batch_size=10)
    wait_for("half of the events", lambda: published(isolated, compare) >= COUNT // 2, first)
    first.process.send_signal(signal.SIGKILL)
    assert first.wait(RUN_TIMEOUT_S).code == -signal.SIGKILL
    assert published(isolated, compare) < COUNT, "killed too late"

    rerun = _run(isolated, tmp_path, "crash")

    assert rerun.code == 0, rerun.stderr
    # The killed run had committed part of its work (stored offsets, auto-committed).
    assert 0 < rerun.counter("messages") < COUNT
    source = Source.read(isolated)
    _assert_table(isolated, _expected_table(_generated(), source))
    events = _compare_events(isolated, "crash")
    per_coord = _assert_events(events, source, exactly_once=False)
    # The rerun re-read from the last commit: what it repeats is redeliveries only.
    assert len(events) == COUNT + sum(n - 1 for n in per_coord.values())


def test_two_members_share_the_partitions_and_one_leaving_loses_nothing(
    isolated: Settings, tmp_path: Path
) -> None:
    _init_table(isolated)
    compare = isolated.kafka.compare_topic

    # The events are produced once both members own partitions, so that both take part.
    leaving = _start(isolated, tmp_path, "pair", until_idle=None, batch_size=10)
    wait_for("the first member's assignment", lambda: bool(_owned(leaving)), leaving)
    staying = _start(isolated, tmp_path, "pair", batch_size=10)
    wait_for(
        "the partitions to be shared",
        lambda: bool(_owned(staying)) and len(_owned(leaving)) + len(_owned(staying)) == 6,
        leaving,
        staying,
    )
    _produce(isolated)
    wait_for(
        "a quarter of the events",
        lambda: published(isolated, compare) >= COUNT // 4,
        leaving,
        staying,
    )
    leaving.process.send_signal(signal.SIGTERM)
    left = leaving.wait(RUN_TIMEOUT_S)
    stayed = staying.wait(RUN_TIMEOUT_S)

    assert left.code == 0, left.stderr
    assert stayed.code == 0, stayed.stderr
    assert left.stopped_by() == "SIGTERM"
    assert left.counter("rows written") > 0, "the leaving member wrote nothing"
    assert stayed.counter("rows written") > 0, "the staying member wrote nothing"
    assert left.counter("messages") < COUNT, "the leaving member was stopped too late"
    # The staying member took over every partition once the other left.
    assert sorted(_assignments(stayed.stderr)[-1]) == list(range(6))
    source = Source.read(isolated)
    _assert_table(isolated, _expected_table(_generated(), source))
    events = _compare_events(isolated, "pair")
    # A graceful leave commits on revocation: nothing is read twice.
    _assert_events(events, source, exactly_once=True)
    assert left.counter("messages") + stayed.counter("messages") == COUNT


def test_malformed_messages_are_dead_lettered_and_the_path_goes_on(
    isolated: Settings, tmp_path: Path
) -> None:
    _init_table(isolated)
    topic = isolated.kafka.source_topic
    good = [event.value for event in generate_orders(60, 20, SEED)]
    wrong_amount = orjson.loads(good[0]) | {"order_id": 999, "amount": "12.345"}
    malformed = [(b"998", b"{not json"), (b"999", orjson.dumps(wrong_amount))]
    producer = CheckedProducer(isolated.kafka.bootstrap)
    # One partition, so the good messages after the malformed ones prove the path went on.
    keyed = [(str(orjson.loads(value)["order_id"]).encode(), value) for value in good]
    for key, value in [*keyed[:30], *malformed, *keyed[30:]]:
        producer.produce(topic, value, key=key, partition=0)
    producer.flush()

    result = _run(isolated, tmp_path, "dlq")

    assert result.code == 0, result.stderr
    assert result.counter("messages") == 62
    assert result.counter("rows written") == 60
    assert result.counter("dead-lettered") == 2
    assert result.counter("errors") == 0
    letters = read_topic(isolated, isolated.kafka.dlq_topic)
    assert [(m.key(), m.value()) for m in letters] == malformed
    reasons = []
    for message, offset in zip(letters, (30, 31), strict=True):
        headers = _headers(message)
        assert headers["canary.src.topic"] == topic
        assert headers["canary.src.partition"] == "0"
        assert headers["canary.src.offset"] == str(offset)
        assert headers["canary.path"] == "legacy"
        assert headers["canary.run"] == "dlq"
        reasons.append(headers["canary.reason"])
    assert "not JSON" in reasons[0]
    assert "decimal places" in reasons[1]
    source = Source.read(isolated)
    _assert_table(isolated, _expected_table(good, source))
    events = _compare_events(isolated, "dlq")
    assert sorted(e.src.o for e in events) == [*range(30), *range(32, 62)]
    assert all(e.sum == source.checksum((topic, 0, e.src.o)) for e in events)
    # Dead letters count as done: the group committed past them.
    assert _committed(isolated)[0] == 62


def test_sigterm_commits_so_a_rerun_reads_nothing_twice(isolated: Settings, tmp_path: Path) -> None:
    _init_table(isolated)
    _produce(isolated)
    compare = isolated.kafka.compare_topic

    # Stopped in the middle: the rerun starts exactly where the graceful stop ended.
    first = _start(isolated, tmp_path, "term", until_idle=None, batch_size=10)
    wait_for("a quarter of the events", lambda: published(isolated, compare) >= COUNT // 4, first)
    first.process.send_signal(signal.SIGTERM)
    stopped = first.wait(RUN_TIMEOUT_S)
    assert stopped.code == 0, stopped.stderr
    assert stopped.stopped_by() == "SIGTERM"
    done = stopped.counter("messages")
    assert 0 < done < COUNT, "stopped too late"
    assert sum(offset for offset in _committed(isolated).values() if offset > 0) == done

    # Stopped after everything is done: the next rerun has nothing left to read.
    second = _start(isolated, tmp_path, "term", until_idle=None)
    wait_for("every event", lambda: published(isolated, compare) >= COUNT, second)
    second.process.send_signal(signal.SIGTERM)
    finished = second.wait(RUN_TIMEOUT_S)
    assert finished.code == 0, finished.stderr
    assert finished.counter("messages") == COUNT - done

    third = _run(isolated, tmp_path, "term")
    assert third.code == 0, third.stderr
    assert third.counter("messages") == 0
    source = Source.read(isolated)
    _assert_table(isolated, _expected_table(_generated(), source))
    _assert_events(_compare_events(isolated, "term"), source, exactly_once=True)


class _CountingWriter(mysql.OrdersWriter):
    """The real writer, remembering how many rows each transaction held."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(mysql.Connector(settings.mysql), settings.mysql.table)
        self.sizes: list[int] = []

    def write(
        self, rows: Sequence[SinkRow], next_offsets: Mapping[tuple[str, int], int] | None = None
    ) -> None:
        super().write(rows, next_offsets)
        self.sizes.append(len(rows))


def test_a_batch_larger_than_one_fetch_is_one_transaction(isolated: Settings) -> None:
    _init_table(isolated)
    _produce(isolated, count=3_000, keys=300)
    options = LegacyOptions(
        run_id="big",
        topic=isolated.kafka.source_topic,
        group=isolated.legacy.group,
        until_idle=1,
        batch_size=1_000,
        assignment_strategy="range",
    )
    stop = StopFlag()
    metrics = PathMetrics("legacy")
    writer = _CountingWriter(isolated)
    ports = LegacyPorts(
        consumer=GroupConsumer(
            isolated.kafka.bootstrap, options.group, kafka_consumer.classic_settings("range")
        ),
        writer=writer,
        publisher=app.publisher(isolated, "big", "legacy"),
        database=Retrier("MySQL", stop),
        kafka=Retrier("Kafka", stop),
        metrics=metrics,
    )
    summary = LegacyPath(options, to_row, ports, stop).run()

    assert summary.rows == sum(writer.sizes) == 3_000
    assert max(writer.sizes) == 1_000
