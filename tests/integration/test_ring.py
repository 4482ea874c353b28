"""The ring path end to end: `canary run ring` as subprocesses on the real services.

Every test owns its topics, tables and group (the ``isolated`` fixture) and checks what
the runs leave behind against what the source topic holds: the PostgreSQL table against
the newest version of every key (regenerated with the same seed and the default
handler), the compare topic against the source messages one by one (checksum of the row
of exactly that message), and the offsets table against the topic's high watermarks.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from canary import app
from canary.config import Settings
from canary.core.checksum import row_checksum
from canary.core.events import CompareEvent, decode_event
from canary.core.orders import generate_orders
from canary.core.schema import KEY, VERSION
from canary.handlers import orders
from canary.kafka import admin
from canary.paths import checkpoint
from sinks import postgres
from tests import runs
from tests.runs import Finished, Member
from tests.topics import published, read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
SLOW_HANDLER = "tests.integration.slow_handler:to_row"
SEED = 20_260_415
RUN_TIMEOUT_S = 120.0
PARTITIONS = 6  # of the isolated source topic

Coord = tuple[str, int, int]


def to_row(key: bytes | None, value: bytes) -> dict[str, Any]:
    """The default handler's row for one message (the slow handler's rows are the same)."""
    return dict(orders.to_row(key, value))


# --- running the CLI -------------------------------------------------------------------


def _env(settings: Settings, tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that points a `canary` subprocess at this test's topics and tables."""
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "CANARY_KAFKA__SOURCE_TOPIC": settings.kafka.source_topic,
        "CANARY_KAFKA__COMPARE_TOPIC": settings.kafka.compare_topic,
        "CANARY_KAFKA__DLQ_TOPIC": settings.kafka.dlq_topic,
        "CANARY_POSTGRES__TABLE": settings.postgres.table,
        "CANARY_POSTGRES__OFFSETS_TABLE": settings.postgres.offsets_table,
        "CANARY_RING__GROUP": settings.ring.group,
        "CANARY_RING__CHECKPOINT_PATH": str(tmp / "cp.json"),
        **(extra or {}),
    }


def _start(
    settings: Settings,
    tmp: Path,
    run_id: str,
    *,
    until_idle: float | None = 2,
    workers: int | None = None,
    capacity: int | None = None,
    env: dict[str, str] | None = None,
) -> Member:
    command = [str(CANARY), "run", "-v", "ring", "--run-id", run_id]
    if until_idle is not None:
        command += ["--until-idle", f"{until_idle:g}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if capacity is not None:
        command += ["--ring-capacity", str(capacity)]
    return runs.start(command, _env(settings, tmp, env), tmp, ROOT, run_id)


def _run(settings: Settings, tmp: Path, run_id: str, **options: Any) -> Finished:
    result = _start(settings, tmp, run_id, **options).wait(RUN_TIMEOUT_S)
    assert result.code == 0, f"exit {result.code}:\n{result.stdout}\n{result.stderr}"
    return result


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# --- reading what the runs left behind --------------------------------------------------


def _highs(settings: Settings) -> dict[int, int]:
    spans = admin.watermarks(settings.kafka.bootstrap, settings.kafka.source_topic)
    return {span.partition: span.high for span in spans}


def _compare_events(settings: Settings) -> list[tuple[int, CompareEvent]]:
    """Every compare event of this test, with the compare partition it was found in,
    in the order of that partition."""
    return [
        (message.partition() or 0, decode_event(message.value()))
        for message in read_topic(settings, settings.kafka.compare_topic)
    ]


def _table(settings: Settings) -> dict[int, dict[str, Any]]:
    with postgres.connect(settings.postgres) as connection:
        return postgres.fetch_rows(connection, settings.postgres.table)


def _stored_offsets(settings: Settings) -> dict[int, int]:
    with postgres.connect(settings.postgres) as connection:
        return postgres.stored_offsets(
            connection,
            settings.postgres.offsets_table,
            settings.ring.group,
            settings.kafka.source_topic,
        )


def _init_tables(settings: Settings) -> None:
    """What `canary db init` does for the PostgreSQL side."""
    with postgres.connect(settings.postgres) as connection:
        postgres.init_schema(connection, settings.postgres)


def _produce(settings: Settings, count: int, keys: int) -> list[bytes]:
    """Publish ``count`` events over ``keys`` keys; returns the values, regenerated."""
    result = app.produce(
        settings, count=count, rate=0, seed=SEED, topic=None, partitions=None, keys=keys
    )
    assert result.count == count
    return [event.value for event in generate_orders(count, keys, SEED)]


@dataclass
class Source:
    """The source topic read back: each message by coordinate."""

    keys: dict[Coord, bytes]
    values: dict[Coord, bytes]
    stamps: dict[Coord, int]
    _sums: dict[Coord, str] = field(default_factory=dict)

    @classmethod
    def read(cls, settings: Settings) -> Source:
        keys, values, stamps = {}, {}, {}
        for message in read_topic(settings, settings.kafka.source_topic):
            coord = (message.topic() or "", message.partition() or 0, message.offset() or 0)
            keys[coord] = message.key() or b""
            values[coord] = message.value() or b""
            stamps[coord] = message.timestamp()[1]
        return cls(keys, values, stamps)

    def checksum(self, coord: Coord) -> str:
        """The sum the compare event of ``coord`` must carry: its own row's checksum."""
        if coord not in self._sums:
            self._sums[coord] = row_checksum(to_row(self.keys[coord], self.values[coord]))
        return self._sums[coord]

    def version(self, coord: Coord) -> int:
        version: int = to_row(self.keys[coord], self.values[coord])[VERSION]
        return version

    def expected_table(self, generated: list[bytes]) -> dict[int, dict[str, Any]]:
        """The newest version of every key, computed from the regenerated values, with
        the coordinate where the source topic holds that value."""
        assert sorted(self.values.values()) == sorted(generated), "source topic != generated"
        where = {value: coord for coord, value in self.values.items()}
        newest: dict[int, dict[str, Any]] = {}
        for value in generated:
            row = to_row(None, value)
            if row[VERSION] > newest.get(row[KEY], {VERSION: 0})[VERSION]:
                _, partition, offset = where[value]
                newest[row[KEY]] = {**row, "src_partition": partition, "src_offset": offset}
        return newest


def _assert_table(settings: Settings, source: Source, generated: list[bytes]) -> None:
    expected = source.expected_table(generated)
    table = _table(settings)
    assert set(table) == set(expected), (
        f"{len(set(expected) - set(table))} keys missing, "
        f"{len(set(table) - set(expected))} unexpected"
    )
    wrong = [key for key in expected if table[key] != expected[key]]
    assert not wrong, f"{len(wrong)} rows differ, e.g. {table[wrong[0]]} != {expected[wrong[0]]}"


def _assert_events(
    events: list[CompareEvent], source: Source, *, exactly_once: bool
) -> Counter[Coord]:
    """Every source message has a compare event carrying the checksum of its own row;
    any extra event repeats a coordinate (with, by the check above, the same sum)."""
    per_coord: Counter[Coord] = Counter()
    for event in events:
        coord = (event.src.t, event.src.p, event.src.o)
        assert coord in source.values, f"compare event for an unknown coordinate {coord}"
        assert event.v == 1
        assert event.path == "ring"
        assert event.key == source.keys[coord].decode()
        assert event.src.ts == source.stamps[coord]
        assert event.sum == source.checksum(coord), f"wrong sum for {coord}"
        assert event.at >= event.src.ts
        per_coord[coord] += 1
    missing = set(source.values) - set(per_coord)
    assert not missing, f"{len(missing)} source messages without a compare event"
    if exactly_once:
        repeated = {coord: n for coord, n in per_coord.items() if n > 1}
        assert not repeated, f"{len(repeated)} coordinates have several events"
    return per_coord


def _assert_offsets_at_high_watermarks(settings: Settings) -> None:
    highs = _highs(settings)
    stored = _stored_offsets(settings)
    assert stored == {p: high for p, high in highs.items() if high > 0}


# --- tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_full_run_writes_the_newest_version_and_one_event_per_message(
    isolated: Settings, tmp_path: Path, mode: str
) -> None:
    count, keys = 20_000, 2_000
    _init_tables(isolated)
    generated = _produce(isolated, count, keys)

    result = _run(isolated, tmp_path, "full", env={"CANARY_RING__WORKER_MODE": mode})

    assert result.stopped_by() == "idle for 2 s"
    assert result.counter("messages") == count
    assert result.counter("rows written") == count
    assert result.counter("dead-lettered") == 0
    assert result.counter("errors") == 0
    source = Source.read(isolated)
    _assert_table(isolated, source, generated)
    events = [event for _, event in _compare_events(isolated)]
    assert {event.run for event in events} == {"full"}
    assert len(events) == count
    _assert_events(events, source, exactly_once=True)
    _assert_offsets_at_high_watermarks(isolated)
    saved = checkpoint.read(tmp_path / "cp.json")
    assert saved is not None
    assert saved.group == isolated.ring.group
    assert saved.offsets == {p: high for p, high in _highs(isolated).items() if high > 0}


def test_each_key_is_applied_and_published_in_offset_order_under_stress(
    isolated: Settings, tmp_path: Path
) -> None:
    """Few keys with many versions each, small rings, several workers, small batches:
    the most contention a key can see. Compare events of one key share a compare
    partition, so reading it in order shows the order the path published them in."""
    count, keys = 30_000, 10
    _init_tables(isolated)
    generated = _produce(isolated, count, keys)

    result = _run(
        isolated,
        tmp_path,
        "order",
        workers=4,
        capacity=1024,
        env={"CANARY_RING__BATCH_SIZE": "50", "CANARY_RING__MIN_WORKERS": "4"},
    )

    assert result.counter("messages") == count
    assert result.counter("peak workers") == 4
    source = Source.read(isolated)
    _assert_table(isolated, source, generated)
    table = _table(isolated)
    assert sorted(table) == list(range(1, keys + 1))
    per_key_versions = Counter(to_row(None, value)[KEY] for value in generated)
    assert {key: row[VERSION] for key, row in table.items()} == dict(per_key_versions)
    found = _compare_events(isolated)
    _assert_events([event for _, event in found], source, exactly_once=True)
    offsets: dict[str, list[int]] = defaultdict(list)
    compare_partitions: dict[str, set[int]] = defaultdict(set)
    for compare_partition, event in found:
        offsets[event.key].append(event.src.o)
        compare_partitions[event.key].add(compare_partition)
    assert len(offsets) == keys
    for key, seen in offsets.items():
        assert len(compare_partitions[key]) == 1, f"key {key} in several compare partitions"
        out_of_order = [(a, b) for a, b in pairwise(seen) if a >= b]
        assert not out_of_order, f"key {key}: events out of offset order at {out_of_order[:5]}"
    _assert_offsets_at_high_watermarks(isolated)


def test_sigkill_at_random_moments_loses_nothing_and_only_repeats_events(
    isolated: Settings, tmp_path: Path
) -> None:
    """Five runs killed at random moments of their work, then a run to the end.

    Each run is killed 0.2 to 1.5 s after its first compare event appears. A slow
    handler (1 ms per record) and batches of 10 keep that well inside the work, and
    make many transactions to be killed in. The runs use the classic cooperative-sticky
    protocol with a static member id, so a restarted member takes over the killed one's
    partitions at once; under the default KIP-848 protocol the broker keeps a killed
    member's partitions for its session timeout (45 s at least), which is Kafka's
    behaviour, not the path's.
    """
    count, keys = 20_000, 2_000
    _init_tables(isolated)
    generated = _produce(isolated, count, keys)
    source = Source.read(isolated)
    highs = _highs(isolated)
    compare = isolated.kafka.compare_topic
    seed = random.randrange(2**32)
    print(f"\nsigkill test: random seed {seed}")
    rng = random.Random(seed)
    crash_env = {
        "CANARY_RING__PROTOCOL": "cooperative-sticky",
        "CANARY_RING__STATIC_MEMBER_ID": f"ring-{uuid.uuid4().hex[:8]}",
        "CANARY_RING__BATCH_SIZE": "10",
        "CANARY_RING__MIN_WORKERS": "2",
        "CANARY_HANDLER__PATH": SLOW_HANDLER,
        "SLOW_HANDLER_DELAY_MS": "1",
    }
    progress = []

    for round_number in range(1, 6):
        before = published(isolated, compare)
        member = _start(isolated, tmp_path, "crash", until_idle=None, workers=2, env=crash_env)
        _wait_for(
            f"run {round_number} to publish",
            lambda: published(isolated, compare) > before,  # noqa: B023
        )
        delay = rng.uniform(0.2, 1.5)
        time.sleep(delay)
        member.kill()

        stored = _stored_offsets(isolated)
        progress.append(sum(stored.values()))
        print(f"  kill {round_number} after {delay:.2f} s: offsets {dict(sorted(stored.items()))}")
        assert progress[-1] < count, "killed after the end: nothing was interrupted"
        for partition, next_offset in stored.items():
            assert 0 <= next_offset <= highs[partition], (partition, next_offset)
        # Everything below a stored offset is in the table and was published.
        table = _table(isolated)
        announced = {(e.src.t, e.src.p, e.src.o) for _, e in _compare_events(isolated)}
        for coord in source.values:
            _, partition, offset = coord
            if offset < stored.get(partition, 0):
                assert coord in announced, f"{coord} is below the stored offset, unpublished"
                row = table.get(to_row(None, source.values[coord])[KEY])
                assert row is not None, f"{coord} is below the stored offset, not in the table"
                assert row[VERSION] >= source.version(coord), coord
        saved = checkpoint.read(tmp_path / "cp.json")
        if (tmp_path / "cp.json").exists():
            assert saved is not None, "the checkpoint file is torn"
            for partition, offset in saved.offsets.items():
                assert offset <= stored.get(partition, 0), "checkpoint ahead of PostgreSQL"
    assert progress[-1] > 0, "the killed runs stored no progress: nothing to resume from"

    result = _run(isolated, tmp_path, "crash", workers=2, env=crash_env)

    # The last run resumed exactly where PostgreSQL said the killed ones had got to.
    assert result.counter("messages") == count - progress[-1]
    _assert_table(isolated, source, generated)
    events = [event for _, event in _compare_events(isolated)]
    per_coord = _assert_events(events, source, exactly_once=False)
    duplicates = sum(n - 1 for n in per_coord.values())
    print(f"  {len(events)} events for {count} messages: {duplicates} repeated")
    assert len(events) == count + duplicates
    _assert_offsets_at_high_watermarks(isolated)


def test_a_slow_sink_pauses_partitions_and_bounds_what_is_buffered(
    isolated: Settings, tmp_path: Path
) -> None:
    count, keys, capacity = 8_000, 800, 256
    _init_tables(isolated)
    generated = _produce(isolated, count, keys)
    source = Source.read(isolated)

    result = _run(
        isolated,
        tmp_path,
        "slow",
        workers=4,
        capacity=capacity,
        env={"CANARY_HANDLER__PATH": SLOW_HANDLER, "CANARY_RING__MIN_WORKERS": "4"},
    )

    assert result.counter("messages") == count
    pauses = result.counter("partition pauses")
    peak_mb = result.counter("peak buffered")
    # A partition is paused once it holds `capacity` records (queued or in flight), so
    # each one holds fewer before a fetch; one fetch (at most min(1000, capacity)
    # records) can push some over. Each record counts its key, value and 64 bytes.
    largest = max(len(source.keys[c]) + len(source.values[c]) + 64 for c in source.values)
    fetch = min(1000, capacity)
    bound_mb = (PARTITIONS * (capacity - 1) + fetch) * largest / 1e6
    print(f"\nslow sink: {pauses:.0f} pauses, peak buffered {peak_mb} MB (bound {bound_mb:.2f})")
    assert pauses > 0
    assert 0 < peak_mb <= bound_mb + 0.05  # the summary rounds to 0.1 MB
    _assert_table(isolated, source, generated)
    events = [event for _, event in _compare_events(isolated)]
    _assert_events(events, source, exactly_once=True)
    _assert_offsets_at_high_watermarks(isolated)


def _assigned(log: str) -> list[list[int]]:
    """Partitions of each "ring: assigned" line of a member's -v log."""
    return [
        [int(p) for p in re.findall(r"\((\d+), -?\d+\)", found)]
        for found in re.findall(r"ring: assigned \[(.*)\]$", log, re.MULTILINE)
    ]


def _longest_gap(stamps: list[float], start: float, end: float) -> float:
    """The longest pause between consecutive stamps that overlaps [start, end]."""
    ordered = sorted(stamps)
    gaps = [b - a for a, b in pairwise(ordered) if b >= start and a <= end]
    return max(gaps, default=0.0)


def test_a_member_joining_mid_run_does_not_stall_the_partitions_that_stay(
    isolated: Settings, tmp_path: Path
) -> None:
    """Member A works through a backlog with a slowish handler; member B joins the group
    (default protocol). The partitions that stay with A must keep producing compare
    events while B joins: the longest gap between consecutive events of such a
    partition, over B's join, stays far below the 3.2 s stall of a classic eager
    rebalance. Nothing is lost, and nothing is repeated on a graceful hand-over."""
    count, keys = 30_000, 3_000
    _init_tables(isolated)
    generated = _produce(isolated, count, keys)
    slow = {
        "CANARY_HANDLER__PATH": SLOW_HANDLER,
        "SLOW_HANDLER_DELAY_MS": "1.5",
        "CANARY_RING__BATCH_SIZE": "20",
        "CANARY_RING__MIN_WORKERS": "4",
    }
    compare = isolated.kafka.compare_topic

    first = _start(isolated, tmp_path, "A", until_idle=3, workers=4, capacity=1024, env=slow)
    _wait_for("member A to process", lambda: published(isolated, compare) >= 500)
    second = _start(isolated, tmp_path, "B", until_idle=3, workers=4, capacity=1024, env=slow)
    a, b = first.wait(RUN_TIMEOUT_S), second.wait(RUN_TIMEOUT_S)

    assert a.code == 0, a.stderr
    assert b.code == 0, b.stderr
    found = [event for _, event in _compare_events(isolated)]
    events = {run: [e for e in found if e.run == run] for run in ("A", "B")}
    print(f"\nrebalance: A assignments {_assigned(a.stderr)}, B {_assigned(b.stderr)}")
    # What B was given when it joined moved; the rest stayed with A (B may get those
    # too later, once A has finished them and left).
    # Cooperative rebalancing assigns in two rounds: the first may hand B nothing.
    moved = set(next((found for found in _assigned(b.stderr) if found), []))
    stayed = set(range(PARTITIONS)) - moved
    print(f"  B took {sorted(moved)}, A kept {sorted(stayed)}")
    assert moved, "member B was given nothing"
    assert stayed, "member B took every partition"
    assert {event.src.p for event in events["B"]} == moved
    # B's join: from B's start until B published its first event.
    join_start = second.started_ms
    join_end = min(event.at for event in events["B"])
    print(f"  B joined within {join_end - join_start:.0f} ms of starting")
    for name, finished in (("A", a), ("B", b)):
        print(f"  {name}: {finished.counter('messages'):.0f} messages, {finished.stopped_by()}")
    gaps, after = {}, {}
    for partition in sorted(stayed):
        stamps = [e.at for e in events["A"] if e.src.p == partition]
        assert stamps, f"A published nothing for partition {partition}"
        assert min(stamps) < join_start, f"A had not begun partition {partition} before B"
        assert max(stamps) > join_end, f"A had finished partition {partition} before B joined"
        gaps[partition] = _longest_gap(stamps, join_start, join_end)
        after[partition] = max(stamps) - join_end
    print(f"  A went on {min(after.values()):.0f} ms or more after B's first event")
    longest = max(gaps.values())
    print(f"  longest gap of a partition that stayed with A during B's join: {longest:.0f} ms")
    print(f"  per partition (ms): { {p: round(g) for p, g in gaps.items()} }")
    assert longest < 2000, "the partitions that stayed with A stalled during the join"

    source = Source.read(isolated)
    _assert_table(isolated, source, generated)
    per_coord = _assert_events(found, source, exactly_once=False)
    duplicates = sum(n - 1 for n in per_coord.values())
    print(f"  {len(found)} events for {count} messages: {duplicates} repeated")
    # A graceful hand-over stores the final offsets before the partition moves.
    assert duplicates == 0
    _assert_offsets_at_high_watermarks(isolated)
