"""Both paths under faults: poison input, rows only one database refuses, partitions
held by another member, a recreated topic, signals to a process group, SIGKILL and
restart, and the metrics endpoint, all through `canary run …` subprocesses.

Every test owns its topics, tables and groups (the ``isolated`` fixture) and checks what
the runs leave behind against the source topic read back: the tables against the newest
version of every key, the compare topic against the source messages one by one, the
dead-letter topic against the messages that had to go there. Each child runs in a
session of its own, so a signal can be sent to its whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import NewTopic
from prometheus_client.parser import text_string_to_metric_families

from canary import app
from canary.config import Settings
from canary.core.checksum import row_checksum
from canary.core.events import CompareEvent, decode_event
from canary.core.orders import generate_orders
from canary.core.schema import KEY, VERSION
from canary.handlers import orders
from canary.kafka import admin, client
from canary.kafka.producer import CheckedProducer
from sinks import mysql, postgres
from tests.runs import Finished, Member, env_for, wait_for
from tests.services import Services
from tests.topics import published, read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
SLOW_HANDLER = "tests.integration.slow_handler:to_row"
POISON_HANDLER = "tests.integration.poison_handler:to_row"
SEED = 20_260_502
RUN_TIMEOUT_S = 120.0
PARTITIONS = 6  # of the isolated source topic
# Room for the 2 MB poison message on the source topic and in the test's producer; the
# dead-letter topic keeps the broker's default (about 1 MB).
LARGE_MESSAGE_BYTES = 5 * 1024 * 1024

Coord = tuple[str, int, int]
_STARTED: list[Member] = []


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    """A test that fails half-way leaves no `canary` process (nor worker child) behind."""
    yield
    while _STARTED:
        process = _STARTED.pop().process
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()


# --- running the CLI -------------------------------------------------------------------


_env = env_for


def _start(
    settings: Settings,
    tmp: Path,
    path: str,
    run_id: str,
    *options: str,
    env: dict[str, str] | None = None,
) -> Member:
    """Start `canary run -v PATH --run-id RUN_ID OPTIONS…` in a session of its own."""
    command = [str(CANARY), "run", "-v", path, "--run-id", run_id, *options]
    name = f"{path}-{run_id}-{uuid.uuid4().hex[:8]}"
    stdout, stderr = tmp / f"{name}.out", tmp / f"{name}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            command,
            cwd=ROOT,
            env=_env(settings, tmp, env),
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    member = Member(process, stdout, stderr)
    _STARTED.append(member)
    return member


def _run(
    settings: Settings,
    tmp: Path,
    path: str,
    run_id: str,
    *options: str,
    env: dict[str, str] | None = None,
) -> Finished:
    """Run a path to its end and require exit code 0."""
    result = _start(settings, tmp, path, run_id, *options, env=env).wait(RUN_TIMEOUT_S)
    assert result.code == 0, f"{path} exit {result.code}:\n{result.stdout}\n{result.stderr}"
    return result


def _canary(settings: Settings, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), *args],
        cwd=ROOT,
        env=_env(settings, tmp),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has ended already
        os.killpg(pid, signum)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- setting up ------------------------------------------------------------------------


def _init_tables(settings: Settings) -> None:
    """What `canary db init` does, for this test's tables."""
    with postgres.connect(settings.postgres) as pg:
        postgres.init_schema(pg, settings.postgres)
    my = mysql.connect(settings.mysql)
    try:
        mysql.init_schema(my, settings.mysql.table)
    finally:
        my.close()


def _produce(settings: Settings, count: int, keys: int, seed: int = SEED) -> None:
    result = app.produce(
        settings, count=count, rate=0, seed=seed, topic=None, partitions=None, keys=keys
    )
    assert result.count == count


def _publish(
    settings: Settings, messages: list[tuple[bytes | None, bytes | None]], topic: str
) -> None:
    """Publish ``messages`` in order to partition 0 of ``topic``."""
    producer = CheckedProducer(
        settings.kafka.bootstrap, extra={"message.max.bytes": LARGE_MESSAGE_BYTES}
    )
    for key, value in messages:
        producer.produce(topic, value, key=key, partition=0)
    producer.flush()
    assert producer.delivered == len(messages)


@pytest.fixture
def roomy(isolated: Settings, services: Services) -> Iterator[Settings]:
    """``isolated`` with a one-partition source topic that takes 5 MB messages."""
    bootstrap = services.settings.kafka.bootstrap
    topic = services.unique("src1")
    admin_client = client.admin(bootstrap)
    config = {"max.message.bytes": str(LARGE_MESSAGE_BYTES)}
    admin_client.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(timeout=30)
    try:
        yield isolated.model_copy(
            update={"kafka": isolated.kafka.model_copy(update={"source_topic": topic})}
        )
    finally:
        admin_client.delete_topics([topic])[topic].result(timeout=30)


def _recreate_topic(settings: Settings, topic: str, partitions: int) -> None:
    """Delete ``topic`` and create it again under the same name (new topic id, empty)."""
    admin_client = client.admin(settings.kafka.bootstrap)
    admin_client.delete_topics([topic])[topic].result(timeout=30)
    deadline = time.monotonic() + 60
    while True:
        # Deletion finishes in the background; until then the name is still taken.
        try:
            admin_client.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)
            break
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            retry = isinstance(error, KafkaError) and error.code() in (
                KafkaError.TOPIC_ALREADY_EXISTS,
                KafkaError.UNKNOWN_TOPIC_OR_PART,
            )
            if not retry or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    wait_for(
        f"{topic} to have {partitions} partitions again",
        lambda: len(admin.watermarks(settings.kafka.bootstrap, topic)) == partitions,
    )


# --- reading what the runs left behind --------------------------------------------------


def _row(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    return dict(orders.to_row(key, value))


@dataclass(frozen=True)
class Source:
    """The source topic read back, message by coordinate."""

    messages: dict[Coord, Message]

    @classmethod
    def read(cls, settings: Settings) -> Source:
        found = read_topic(settings, settings.kafka.source_topic)
        return cls({_coord(m): m for m in found})

    def checksum(self, coord: Coord) -> str:
        message = self.messages[coord]
        return row_checksum(_row(message.key(), message.value()))

    def newest(self, exclude: frozenset[Coord] = frozenset()) -> dict[int, dict[str, Any]]:
        """The row every key must end with: its highest version, from where it was read."""
        newest: dict[int, dict[str, Any]] = {}
        for coord, message in self.messages.items():
            if coord in exclude:
                continue
            row = _row(message.key(), message.value())
            if row[VERSION] > newest.get(row[KEY], {VERSION: 0})[VERSION]:
                newest[row[KEY]] = {**row, "src_partition": coord[1], "src_offset": coord[2]}
        return newest


def _coord(message: Message) -> Coord:
    return (message.topic() or "", message.partition() or 0, message.offset() or 0)


def _headers(message: Message) -> dict[str, str]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {
        name: value.decode() if isinstance(value, bytes) else str(value) for name, value in pairs
    }


def _events(settings: Settings, run_id: str, path: str) -> list[CompareEvent]:
    found = [decode_event(m.value()) for m in read_topic(settings, settings.kafka.compare_topic)]
    return [event for event in found if event.run == run_id and event.path == path]


def _assert_events(
    events: list[CompareEvent],
    source: Source,
    *,
    exactly_once: bool,
    exclude: frozenset[Coord] = frozenset(),
) -> None:
    """Every source message (but ``exclude``) has a compare event with its own row's sum."""
    per_coord: Counter[Coord] = Counter()
    for event in events:
        coord = (event.src.t, event.src.p, event.src.o)
        assert coord in source.messages, f"compare event for an unknown coordinate {coord}"
        assert coord not in exclude, f"compare event for {coord}, which was not written"
        assert event.sum == source.checksum(coord), f"wrong sum for {coord}"
        per_coord[coord] += 1
    missing = set(source.messages) - exclude - set(per_coord)
    assert not missing, f"{len(missing)} source messages without a compare event"
    if exactly_once:
        repeated = {coord: n for coord, n in per_coord.items() if n > 1}
        assert not repeated, f"{len(repeated)} coordinates have several events"


def _pg_table(settings: Settings) -> dict[int, dict[str, Any]]:
    with postgres.connect(settings.postgres) as connection:
        return postgres.fetch_rows(connection, settings.postgres.table)


def _mysql_table(settings: Settings) -> dict[int, dict[str, Any]]:
    connection = mysql.connect(settings.mysql)
    try:
        return mysql.fetch_rows(connection, settings.mysql.table)
    finally:
        connection.close()


def _assert_table(table: dict[int, dict[str, Any]], expected: dict[int, dict[str, Any]]) -> None:
    assert set(table) == set(expected), (
        f"{len(set(expected) - set(table))} keys missing, "
        f"{len(set(table) - set(expected))} unexpected"
    )
    wrong = [key for key in expected if table[key] != expected[key]]
    assert not wrong, f"{len(wrong)} rows differ, e.g. {table[wrong[0]]} != {expected[wrong[0]]}"


def _highs(settings: Settings) -> dict[int, int]:
    spans = admin.watermarks(settings.kafka.bootstrap, settings.kafka.source_topic)
    return {span.partition: span.high for span in spans}


def _stored_offsets(settings: Settings) -> dict[int, int]:
    with postgres.connect(settings.postgres) as connection:
        return postgres.stored_offsets(
            connection,
            settings.postgres.offsets_table,
            settings.ring.group,
            settings.kafka.source_topic,
        )


def _assert_ring_done(settings: Settings, run_id: str, *, exactly_once: bool) -> None:
    """The ring path's table, compare events and stored offsets after a complete run."""
    source = Source.read(settings)
    _assert_table(_pg_table(settings), source.newest())
    _assert_events(_events(settings, run_id, "ring"), source, exactly_once=exactly_once)
    assert _stored_offsets(settings) == {p: h for p, h in _highs(settings).items() if h > 0}


# --- 1. poison input on both paths -----------------------------------------------------


def _poison(template: bytes) -> list[tuple[str, bytes | None, bytes | None]]:
    """Messages that no path may write, each with a phrase its dead-letter reason holds.
    Their order ids lie beyond every generated one."""
    base = orjson.loads(template)

    def event(order_id: int, **fields: Any) -> tuple[bytes, bytes]:
        return str(order_id).encode(), orjson.dumps({**base, "order_id": order_id, **fields})

    marked_key, marked = event(900_004, note="MARK")
    return [
        ("note is 70,000 bytes", *event(900_001, note="n" * 70_000)),
        ("note is 2,000,000 bytes", *event(900_002, note="h" * 2_000_000)),
        ("not JSON", b"900003", b'{"order_id": 900003, "amount": "1.00", '),
        ("not JSON", marked_key, marked.replace(b"MARK", b"caf\xc3\x28 \xff\xfe")),
        ("not JSON", b"900005", b""),
        ("no value", b"900006", None),
        ("DECIMAL(12,2)", *event(900_007, amount="12345678901.00")),
    ]


def _assert_dead_letters(
    path: str, letters: list[Message], source: Source, topic: str, reasons: dict[int, str]
) -> None:
    """One dead letter per poison offset of partition 0, each with its reason; the source
    message unchanged, or a marker when it is too large for the dead-letter topic."""
    by_offset = {int(_headers(m)["canary.src.offset"]): m for m in letters}
    assert len(letters) == len(by_offset) == len(reasons), f"{path}: {len(letters)} dead letters"
    assert set(by_offset) == set(reasons), path
    for offset, phrase in reasons.items():
        letter, original = by_offset[offset], source.messages[(topic, 0, offset)]
        headers = _headers(letter)
        assert phrase in headers.get("canary.reason", ""), (path, offset, headers)
        assert headers["canary.src.topic"] == topic
        assert headers["canary.src.partition"] == "0"
        assert headers["canary.run"] == "mixed"
        size = len(original.key() or b"") + len(original.value() or b"")
        if size > 900_000:
            assert headers.get("canary.marker") == "too-large", (path, headers)
            assert headers.get("canary.size") == str(size)
            marker = orjson.loads(letter.value() or b"")
            assert "canary.marker" in marker
            assert marker["size"] == size
            assert marker["src"] == {"t": topic, "p": 0, "o": offset}
        else:
            assert "canary.marker" not in headers, (path, offset)
            assert letter.key() == original.key()
            assert (letter.value() or None) == (original.value() or None)


def _assert_diffs_pass(
    settings: Settings, tmp: Path, run_id: str, *, matched: int, keys: int
) -> None:
    """`canary diff stream` and `canary diff tables` both pass, over what was written."""
    diff = _canary(
        settings,
        tmp,
        *("diff", "stream", "--run-id", run_id, "--grace", "0", "--until-idle", "0"),
        *("--format", "json"),
    )
    assert diff.returncode == 0, f"{diff.stdout}\n{diff.stderr}"
    report = json.loads(diff.stdout)
    assert report["verdict"] == "pass", report["reasons"]
    assert report["matched"] == matched
    assert report["mismatched"] == 0
    assert report["missing_in_ring"] == 0
    assert report["missing_in_legacy"] == 0
    assert report["invalid"] == 0
    tables = _canary(
        settings,
        tmp,
        *("diff", "tables", "--table", settings.mysql.table, "--key", KEY, "--format", "json"),
    )
    assert tables.returncode == 0, f"{tables.stdout}\n{tables.stderr}"
    compared = json.loads(tables.stdout)
    assert compared["verdict"] == "pass", compared["reasons"]
    assert compared["rows"] == {"mysql": keys, "postgres": keys}


def test_poison_input_is_dead_lettered_by_both_paths_and_the_rest_agrees(
    roomy: Settings, tmp_path: Path
) -> None:
    settings, topic = roomy, roomy.kafka.source_topic
    _init_tables(settings)
    good = [(e.key, e.value) for e in generate_orders(140, 35, SEED)]
    poison = _poison(good[0][1])
    # Poison spread through the stream, so the good messages after each prove the paths
    # went on; one partition keeps the order as produced.
    stream: list[tuple[bytes | None, bytes | None]] = []
    expected_reasons: dict[int, str] = {}
    for index, (key, value) in enumerate(good):
        stream.append((key, value))
        if index % 20 == 9:
            reason, bad_key, bad_value = poison[index // 20]
            expected_reasons[len(stream)] = reason
            stream.append((bad_key, bad_value))
    assert len(expected_reasons) == len(poison)
    _publish(settings, stream, topic)
    source = Source.read(settings)
    assert [(m.key(), m.value() or None) for _, m in sorted(source.messages.items())] == [
        (key, value or None) for key, value in stream
    ]
    poisoned = frozenset((topic, 0, offset) for offset in expected_reasons)

    legacy = _start(settings, tmp_path, "legacy", "mixed", "--until-idle", "3")
    ring = _start(settings, tmp_path, "ring", "mixed", "--until-idle", "3")
    results = {"legacy": legacy.wait(RUN_TIMEOUT_S), "ring": ring.wait(RUN_TIMEOUT_S)}

    for path, result in results.items():
        assert result.code == 0, f"{path} exit {result.code}:\n{result.stdout}\n{result.stderr}"
        assert result.counter("messages") == len(stream), path
        assert result.counter("rows written") == len(good), path
        assert result.counter("dead-lettered") == len(poison), path
        assert result.counter("errors") == 0, path
    letters = read_topic(settings, settings.kafka.dlq_topic)
    for path in results:
        mine = [m for m in letters if _headers(m).get("canary.path") == path]
        _assert_dead_letters(path, mine, source, topic, expected_reasons)
        _assert_events(
            _events(settings, "mixed", path), source, exactly_once=True, exclude=poisoned
        )
    expected = source.newest(exclude=poisoned)
    _assert_table(_pg_table(settings), expected)
    _assert_table(_mysql_table(settings), expected)
    _assert_diffs_pass(settings, tmp_path, "mixed", matched=len(good), keys=len(expected))


# --- 2. a row only MySQL refuses -------------------------------------------------------


def test_a_row_only_mysql_refuses_is_isolated_and_dead_lettered_alone(
    isolated: Settings, tmp_path: Path
) -> None:
    count, keys = 300, 30
    _init_tables(isolated)
    _produce(isolated, count, keys)
    source = Source.read(isolated)
    # A middle version of its key: later versions of the same key must still be written.
    versions = Counter(_row(m.key(), m.value())[KEY] for m in source.messages.values())
    target = next(
        coord
        for coord, m in sorted(source.messages.items(), key=lambda item: item[0][2])
        if (row := _row(m.key(), m.value()))[VERSION] == 3 and versions[row[KEY]] >= 5
    )
    target_row = _row(source.messages[target].key(), source.messages[target].value())
    env = {
        "CANARY_HANDLER__PATH": POISON_HANDLER,
        "POISON_ORDER": f"{target_row[KEY]}:{target_row[VERSION]}",
        "CANARY_LEGACY__BATCH_SIZE": "50",
    }

    result = _run(isolated, tmp_path, "legacy", "refused", "--until-idle", "3", env=env)

    assert result.counter("messages") == count
    assert result.counter("rows written") == count - 1
    assert result.counter("dead-lettered") == 1
    assert result.counter("errors") == 0
    letters = read_topic(isolated, isolated.kafka.dlq_topic)
    assert len(letters) == 1, [_headers(m) for m in letters]
    headers = _headers(letters[0])
    assert letters[0].value() == source.messages[target].value()
    assert "Data too long for column 'currency'" in headers["canary.reason"], headers
    assert headers["canary.path"] == "legacy"
    assert headers["canary.src.partition"] == str(target[1])
    assert headers["canary.src.offset"] == str(target[2])
    excluded = frozenset({target})
    _assert_events(
        _events(isolated, "refused", "legacy"), source, exactly_once=True, exclude=excluded
    )
    _assert_table(_mysql_table(isolated), source.newest(exclude=excluded))


# --- 3. --until-idle waits for partitions another member holds --------------------------


class _Holder:
    """A plain member of a group: takes what it is given, reads, never commits."""

    def __init__(self, settings: Settings, group: str, topic: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka.bootstrap,
                "group.id": group,
                "group.protocol": "classic",
                "partition.assignment.strategy": "cooperative-sticky",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
            }
        )
        self._topic = topic
        self._lock = threading.Lock()
        self._owned: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    @property
    def owned(self) -> set[int]:
        with self._lock:
            return set(self._owned)

    def start(self) -> None:
        def assigned(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
            with self._lock:
                self._owned.update(tp.partition for tp in partitions)

        def revoked(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
            with self._lock:
                self._owned.difference_update(tp.partition for tp in partitions)

        self._consumer.subscribe([self._topic], on_assign=assigned, on_revoke=revoked)
        self._thread.start()

    def _poll(self) -> None:
        # The consumer lives on this thread alone, from the first poll to close.
        try:
            while not self._stop.is_set():
                self._consumer.poll(0.1)
        finally:
            self._consumer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the holding consumer did not close"


def test_until_idle_waits_for_partitions_held_by_another_member(
    isolated: Settings, tmp_path: Path
) -> None:
    count, keys = 6_000, 600
    _init_tables(isolated)
    _produce(isolated, count, keys)
    holder = _Holder(isolated, isolated.ring.group, isolated.kafka.source_topic)
    try:
        holder.start()
        wait_for("the holder to own every partition", lambda: holder.owned == set(range(6)))

        ring = _start(isolated, tmp_path, "ring", "held", "--until-idle", "2")
        time.sleep(8)
        held = holder.owned
        assert ring.process.poll() is None, (
            f"the ring path ended while partitions {sorted(held)} were held and uncommitted:\n"
            f"{ring.stdout.read_text()}{ring.log()}"
        )
        assert held, "the holder gave up every partition: nothing was held"
        print(f"\nheld: the holder kept {sorted(held)} after 8 s; the ring path waited")
    finally:
        holder.close()

    result = ring.wait(RUN_TIMEOUT_S)
    assert result.code == 0, f"exit {result.code}:\n{result.stdout}\n{result.stderr}"
    assert result.stopped_by() == "idle for 2 s"
    assert result.counter("messages") == count
    events = _events(isolated, "held", "ring")
    assert len(events) == count
    _assert_ring_done(isolated, "held", exactly_once=True)


# --- 4. a topic deleted and created again ----------------------------------------------


def test_a_recreated_topic_is_read_from_its_start_with_a_warning(
    isolated: Settings, tmp_path: Path
) -> None:
    first, second, keys = 3_000, 300, 300
    _init_tables(isolated)
    _produce(isolated, first, keys)
    before = _run(isolated, tmp_path, "ring", "before", "--until-idle", "2")
    assert before.counter("messages") == first
    stored = _stored_offsets(isolated)
    assert sum(stored.values()) == first

    _recreate_topic(isolated, isolated.kafka.source_topic, PARTITIONS)
    _produce(isolated, second, keys // 10, seed=SEED + 1)
    highs = _highs(isolated)
    # Every partition now ends before its stored offset: nothing could be read from there.
    assert all(highs[p] < offset for p, offset in stored.items()), (highs, stored)

    after = _run(isolated, tmp_path, "ring", "after", "--until-idle", "2")

    assert after.counter("messages") == second
    assert after.counter("rows written") == second
    warned = re.findall(r"stored offset (\d+) is beyond the partition's end (\d+)", after.stderr)
    assert warned, f"no warning about the stored offsets:\n{after.stderr}"
    print(f"\nrecreated: {len(warned)} warnings, e.g. {warned[0]}")
    source = Source.read(isolated)
    assert len(source.messages) == second
    _assert_events(_events(isolated, "after", "ring"), source, exactly_once=True)
    assert _stored_offsets(isolated) == {p: h for p, h in highs.items() if h > 0}


# --- 5. process mode: a signal to the whole process group ------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_process_mode_stops_gracefully_on_a_signal_to_its_process_group(
    isolated: Settings, tmp_path: Path, signum: signal.Signals
) -> None:
    count, keys = 8_000, 800
    _init_tables(isolated)
    _produce(isolated, count, keys)
    env = {
        "CANARY_RING__WORKER_MODE": "processes",
        "CANARY_HANDLER__PATH": SLOW_HANDLER,
        "SLOW_HANDLER_DELAY_MS": "1.5",
        "CANARY_RING__BATCH_SIZE": "100",
    }
    compare = isolated.kafka.compare_topic

    member = _start(isolated, tmp_path, "ring", "signal", "--workers", "2", env=env)
    wait_for("the workers to publish", lambda: published(isolated, compare) >= 1_500, member)
    # The parent and its worker processes all receive it, as from a terminal or a
    # service manager.
    _signal_group(member.process.pid, signum)
    stopped = member.wait(RUN_TIMEOUT_S)

    assert stopped.code == 0, f"exit {stopped.code}:\n{stopped.stdout}\n{stopped.stderr}"
    assert stopped.stopped_by() == signum.name
    assert stopped.counter("errors") == 0
    assert 0 < stopped.counter("rows written") < count, "stopped too late"
    wait_for("the worker processes to end", lambda: not _group_alive(member.process.pid))
    saved = sum(_stored_offsets(isolated).values())
    assert 0 < saved < count, "the stop saved no offsets"

    rerun = _run(
        isolated, tmp_path, "ring", "signal", "--workers", "2", "--until-idle", "2", env=env
    )

    # The rerun starts exactly where the stopped run's saved offsets say.
    assert rerun.counter("messages") == count - saved
    _assert_ring_done(isolated, "signal", exactly_once=False)


# --- 6. the metrics endpoint ------------------------------------------------------------


METRIC_NAMES = (
    "canary_messages_consumed_total",
    "canary_rows_written_total",
    "canary_dead_lettered_total",
    "canary_retries_total",
    "canary_outage",
    "canary_consumer_lag",
    "canary_batch_write_seconds_count",
    "canary_worker_pool_size",
    "canary_paused_partitions",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _scrape(port: int) -> dict[str, dict[str, float]] | None:
    """Sample name -> {labels as text: value}, or None when nothing answers yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    samples: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def _value(samples: dict[str, dict[str, float]], name: str, path: str) -> float:
    return samples.get(name, {}).get(f"path={path}", -1.0)


@pytest.mark.parametrize("path", ["ring", "legacy"])
def test_metrics_are_served_while_a_path_runs(
    isolated: Settings, tmp_path: Path, path: str
) -> None:
    count, keys = 3_000, 300
    _init_tables(isolated)
    _produce(isolated, count, keys)
    port = _free_port()
    env = {"CANARY_LEGACY__BATCH_SIZE": "50"}

    member = _start(
        isolated,
        tmp_path,
        path,
        "metrics",
        "--until-idle",
        "5",
        "--metrics-port",
        str(port),
        env=env,
    )
    last: dict[str, dict[str, float]] = {}

    def caught_up() -> bool:
        nonlocal last
        last = _scrape(port) or {}
        return _value(last, "canary_rows_written_total", path) == count and all(
            any(f"path={path}" in labels.split(",") for labels in last.get(name, {}))
            for name in METRIC_NAMES
        )

    try:
        wait_for("the metrics to show every row written", caught_up, member, timeout=90)
    except pytest.fail.Exception:
        print(f"\nlast scrape: { {n: last.get(n) for n in METRIC_NAMES} }")
        raise
    assert _value(last, "canary_messages_consumed_total", path) == count
    assert _value(last, "canary_dead_lettered_total", path) == 0
    assert _value(last, "canary_batch_write_seconds_count", path) > 0
    assert _value(last, "canary_worker_pool_size", path) >= 1
    database = "PostgreSQL" if path == "ring" else "MySQL"
    assert last["canary_outage"].get(f"path={path},service={database}") == 0
    assert last["canary_outage"].get(f"path={path},service=Kafka") == 0
    lag = {
        labels: value
        for labels, value in last["canary_consumer_lag"].items()
        if f"path={path}" in labels.split(",")
    }
    assert lag, "no consumer lag series"
    assert all(value >= 0 for value in lag.values()), lag

    result = member.wait(RUN_TIMEOUT_S)
    assert result.code == 0, f"exit {result.code}:\n{result.stdout}\n{result.stderr}"
    assert result.counter("rows written") == count
    assert _scrape(port) is None, "the endpoint outlived the run"


# --- 7. static membership: a restart after SIGKILL resumes at once ----------------------


def _first_assignment(log: str) -> list[int] | None:
    """The partitions of the first non-empty "ring: assigned" line of a -v log."""
    for found in re.findall(r"ring: assigned \[(.*)\]$", log, re.MULTILINE):
        partitions = [int(p) for p in re.findall(r"\((\d+), -?\d+\)", found)]
        if partitions:
            return partitions
    return None


def test_a_ring_path_restarted_after_sigkill_gets_its_partitions_back_at_once(
    isolated: Settings, tmp_path: Path
) -> None:
    """Without static membership the broker would keep the killed member's partitions
    for its session timeout (10 s), and the restarted member would wait as long."""
    count, keys = 12_000, 1_200
    _init_tables(isolated)
    _produce(isolated, count, keys)
    env = {
        "CANARY_HANDLER__PATH": SLOW_HANDLER,
        "SLOW_HANDLER_DELAY_MS": "1",
        "CANARY_RING__BATCH_SIZE": "20",
        "CANARY_RING__MIN_WORKERS": "2",
    }
    compare = isolated.kafka.compare_topic

    first = _start(isolated, tmp_path, "ring", "restart", "--workers", "2", env=env)
    wait_for("the first run to publish", lambda: published(isolated, compare) >= 2_000, first)
    _signal_group(first.process.pid, signal.SIGKILL)
    assert first.process.wait(30) == -signal.SIGKILL
    assert published(isolated, compare) < count, "killed after the end: nothing was interrupted"

    started = time.monotonic()
    second = _start(
        isolated, tmp_path, "ring", "restart", "--workers", "2", "--until-idle", "2", env=env
    )
    wait_for(
        "the restarted run's assignment",
        lambda: _first_assignment(second.log()) is not None,
        second,
        timeout=60,
    )
    waited = time.monotonic() - started
    print(f"\nrestart: partitions {_first_assignment(second.log())} after {waited:.1f} s")
    assert waited < 5, f"the restarted member waited {waited:.1f} s for its partitions"
    assert sorted(_first_assignment(second.log()) or []) == list(range(PARTITIONS))

    result = second.wait(RUN_TIMEOUT_S)
    assert result.code == 0, f"exit {result.code}:\n{result.stdout}\n{result.stderr}"
    assert 0 < result.counter("messages") < count
    _assert_ring_done(isolated, "restart", exactly_once=False)
