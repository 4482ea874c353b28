"""`canary watch` against real Kafka and PostgreSQL: the same counts as the batch diff,
exact resumption after SIGKILL, two watchers sharing a run, alerts and metrics, and
records judged missing live by the paths' commits.

Every test publishes hand-made compare events to a compare topic of its own, under a run
id of its own, and runs the watcher as a child process (``python -m canary watch``) with
``CANARY_KAFKA__COMPARE_TOPIC`` pointing at that topic. The report store (and the
watchers' checkpoints) live in a schema of this module, dropped at the end.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from canary.core.events import CompareEvent, PathName, SourceCoord, encode_event
from canary.kafka.producer import CheckedProducer
from sinks import postgres
from sinks.checkpoints import CheckpointStore
from tests.runs import Member, start, wait_for
from tests.services import Services
from tests.stores import PrivateStore, private_store
from tests.topics import published

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6
COUNTS = (
    "records",
    "matched",
    "mismatched",
    "missing_in_ring",
    "missing_in_legacy",
    "duplicates",
    "invalid",
)


# --- the report store of this module ------------------------------------------------------


@dataclass(frozen=True)
class Store(PrivateStore):
    def checkpoints(self, run_id: str) -> list[tuple[int, int | None, int]]:
        """(partition, position, epoch) of every checkpoint row of ``run_id``."""
        with postgres.connect(self.settings.postgres) as connection:
            rows = connection.execute(
                f"SELECT partition, position, epoch FROM {self.schema}.watch_checkpoints "  # type: ignore[arg-type]
                "WHERE run_id = %s ORDER BY partition",
                (run_id,),
            ).fetchall()
        return [(p, pos, epoch) for p, pos, epoch in rows]

    def latest_run_report(self, run_id: str) -> dict[str, Any] | None:
        """The newest stored run-so-far report of a watch of ``run_id``."""
        with postgres.connect(self.settings.postgres) as connection:
            row = connection.execute(
                f"SELECT body FROM {self.schema}.reports "  # type: ignore[arg-type]
                "WHERE kind = 'stream' AND run_id = %s AND id LIKE %s "
                "ORDER BY created_at DESC, id DESC LIMIT 1",
                (run_id, f"watch-{run_id}-%-run"),
            ).fetchone()
        return None if row is None else dict(row[0])

    def report(self, report_id: str) -> tuple[str, dict[str, Any]] | None:
        with postgres.connect(self.settings.postgres) as connection:
            row = connection.execute(
                f"SELECT verdict, body FROM {self.schema}.reports WHERE id = %s",  # type: ignore[arg-type]
                (report_id,),
            ).fetchone()
        return None if row is None else (str(row[0]), dict(row[1]))


@pytest.fixture(scope="module")
def store(services: Services) -> Iterator[Store]:
    """A report store in a schema of its own (and throwaway sink tables beside it)."""
    with private_store(services, "watch_reports") as fresh:
        checkpoints = CheckpointStore(postgres.Connector(fresh.settings.postgres), fresh.schema)
        try:
            checkpoints.ensure()  # what a watcher creates: the tests read it before one does
        finally:
            checkpoints.close()
        yield Store(fresh.settings, fresh.schema)


@pytest.fixture
def topic(topic_factory: Callable[..., str]) -> str:
    return topic_factory("cmp", PARTITIONS)


@pytest.fixture
def run_id() -> str:
    return f"watch-{uuid.uuid4().hex[:10]}"


# --- the events of a run --------------------------------------------------------------------


class Events:
    """Compare events of one run published to one topic (Kafka key: the business key).

    Record ``r`` is source message (``source``, r % 6, r // 6), key ``k<r>``. The source
    topic defaults to a name of the run's own, on which no real path has committed.
    """

    def __init__(self, services: Services, topic: str, run: str, source: str | None = None):
        self.producer = CheckedProducer(services.settings.kafka.bootstrap, linger_ms=20)
        self.topic, self.run = topic, run
        self.source = source or f"src-{run}"
        self.sent = 0

    def publish(
        self, path: PathName, record: int, digest: str | None = None, latency: float = 5.0
    ) -> None:
        src = SourceCoord(self.source, record % PARTITIONS, record // PARTITIONS, _now_ms())
        event = CompareEvent(
            run=self.run,
            path=path,
            key=f"k{record}",
            src=src,
            sum=digest or f"{record:032x}",
            at=src.ts + latency,
        )
        self.producer.produce(self.topic, encode_event(event), key=event.key.encode())
        self.sent += 1
        if self.sent % 20_000 == 0:
            self.producer.poll(0)

    def raw(self, value: bytes, key: bytes = b"x") -> None:
        self.producer.produce(self.topic, value, key=key)
        self.sent += 1

    def records(self, first: int, count: int, *, divergent: bool = True) -> None:
        """Both paths' events of ``count`` records, flushed (rules: ``expected``)."""
        for record in range(first, first + count):
            kind = _kind(record) if divergent else "matched"
            if kind != "missing_in_legacy":
                self.publish("legacy", record, latency=20.0 + record % 13)
            if kind == "duplicate":
                self.publish("legacy", record, latency=90.0)
            if kind == "missing_in_ring":
                continue
            bad = "f" * 32 if kind == "mismatched" else None
            self.publish("ring", record, bad, latency=4.0 + record % 7)
        self.producer.flush()


def _kind(record: int) -> str:
    """The divergent rules: disjoint (the residues differ modulo every common divisor)."""
    if record % 500 == 2:
        return "mismatched"
    if record % 700 == 3:
        return "missing_in_ring"
    if record % 900 == 5:
        return "missing_in_legacy"
    if record % 300 == 1:
        return "duplicate"  # legacy delivers it twice, alike
    return "matched"


def expected(
    count: int, *, first: int = 0, divergent: bool = True, invalid: int = 0
) -> dict[str, Any]:
    """The counts of a run of records ``first``.. ``first + count - 1`` published by
    ``Events.records``."""
    kinds = [_kind(r) if divergent else "matched" for r in range(first, first + count)]
    missing_in_ring, missing_in_legacy = (
        kinds.count("missing_in_ring"),
        kinds.count("missing_in_legacy"),
    )
    return {
        "records": {"legacy": count - missing_in_legacy, "ring": count - missing_in_ring},
        "matched": kinds.count("matched") + kinds.count("duplicate"),
        "mismatched": kinds.count("mismatched"),
        "missing_in_ring": missing_in_ring,
        "missing_in_legacy": missing_in_legacy,
        "duplicates": {"legacy": kinds.count("duplicate"), "ring": 0},
        "invalid": invalid,
    }


def _now_ms() -> int:
    return int(time.time() * 1000)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- running canary -------------------------------------------------------------------------


def start_watch(
    store: Store, topic: str, run_id: str, folder: Path, *args: str, label: str = "watch"
) -> Member:
    return start(
        [sys.executable, "-m", "canary", "watch", "--run-id", run_id, *args],
        store.env(topic),
        folder,
        ROOT,
        label,
    )


def finish(member: Member, timeout: float = 120) -> tuple[int, dict[str, Any]]:
    """Wait for a ``--format json`` watcher; its exit code and report."""
    ended = member.wait(timeout)
    assert ended.code in (0, 1), f"exit {ended.code}:\n{ended.stdout}\n{ended.stderr}"
    return ended.code, dict(orjson.loads(ended.stdout))


def diff_stream(store: Store, topic: str, run_id: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """`canary diff stream --until-idle 0 --no-drill` of the run: exit code and report."""
    done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [
            sys.executable,
            "-m",
            "canary",
            "diff",
            "stream",
            "--run-id",
            run_id,
            "--until-idle",
            "0",
            "--no-drill",
            "--format",
            "json",
            *extra,
        ],
        cwd=ROOT,
        env=store.env(topic),
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, dict(orjson.loads(done.stdout))


def uninterrupted(store: Store, topic: str, run_id: str) -> dict[str, Any]:
    """The batch diff of the whole topic, ignoring any watcher's checkpoints; grace 0:
    every record still alone is missing, as at the end of an until-idle watch."""
    return diff_stream(store, topic, run_id, "--ignore-checkpoints", "--grace", "0")[1]


def counts(report: dict[str, Any]) -> dict[str, Any]:
    return {name: report[name] for name in COUNTS}


# --- metrics --------------------------------------------------------------------------------


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def _series(text: str, name: str, run_id: str, *labels: str) -> float | None:
    """The value of ``name{run_id="…", …}`` carrying every one of ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head = line.rsplit(" ", 1)[0]
        if f'run_id="{run_id}"' in head and all(label in head for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def metric(port: int, name: str, run_id: str, *labels: str) -> float | None:
    return _series(_scrape(port), name, run_id, *labels)


# --- 1. the same counts as the batch diff ----------------------------------------------------


def test_an_until_idle_watch_reports_what_the_batch_diff_reports(
    services: Services, store: Store, topic: str, run_id: str, tmp_path: Path
) -> None:
    events = Events(services, topic, run_id)
    events.records(0, 6_000)
    events.raw(b"garbage")  # not an event at all: invalid
    other = Events(services, topic, f"{run_id}-other")
    other.records(0, 500)  # another run's events on the same topic: ignored
    events.producer.flush()

    watcher = start_watch(
        store, topic, run_id, tmp_path, "--window", "2", "--until-idle", "3", "--format", "json"
    )
    code, report = finish(watcher)

    assert counts(report) == expected(6_000, invalid=1)
    assert report["missing_in_legacy"] > 0
    assert report["mismatched"] > 0
    assert (code, report["verdict"]) == (1, "fail")
    reference = uninterrupted(store, topic, run_id)
    assert counts(report) == counts(reference)
    # The plain batch diff (here resumed from the watcher's checkpoints) agrees too, and
    # exits as the watcher did.
    batch_code, batch = diff_stream(store, topic, run_id)
    assert counts(batch) == counts(report)
    assert batch_code == code

    windows = report["windows"]
    assert windows
    for window in windows:
        assert window["scope"] == "window"
        assert window["from"] <= window["to"]
    assert sum(window["matched"] for window in windows) == report["matched"]
    assert sum(window["mismatched"] for window in windows) == report["mismatched"]


def test_a_clean_until_idle_watch_passes(
    services: Services, store: Store, topic: str, run_id: str, tmp_path: Path
) -> None:
    Events(services, topic, run_id).records(0, 2_000, divergent=False)
    watcher = start_watch(store, topic, run_id, tmp_path, "--until-idle", "2", "--format", "json")
    code, report = finish(watcher)
    assert (code, report["verdict"], report["reasons"]) == (0, "pass", [])
    assert counts(report) == expected(2_000, divergent=False)
    assert counts(report) == counts(uninterrupted(store, topic, run_id))
    assert sum(window["matched"] for window in report["windows"]) == 2_000


# --- 2. SIGKILL, and resumption from the checkpoints -------------------------------------------


def test_a_watcher_killed_outright_resumes_from_its_checkpoint_with_the_same_counts(
    services: Services, store: Store, topic: str, run_id: str, tmp_path: Path
) -> None:
    events = Events(services, topic, run_id)
    total, upfront, held_back = 300_000, 100_000, 50_000
    events.records(0, upfront)
    first = start_watch(store, topic, run_id, tmp_path, "--window", "2", label="first")
    killed = threading.Event()
    failures: list[BaseException] = []

    def produce_the_rest() -> None:
        # The run goes on while the first watcher reads; the last records are published
        # only after the kill, so the kill is always mid-read.
        try:
            for chunk in range(upfront, total - held_back, 5_000):
                events.records(chunk, 5_000)
                time.sleep(0.2)
            killed.wait(120)
            events.records(total - held_back, held_back)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    producing = threading.Thread(target=produce_the_rest, daemon=True)
    producing.start()
    try:
        wait_for(
            "a checkpoint mid-read",
            lambda: any(pos for _, pos, _ in store.checkpoints(run_id)),
            first,
            timeout=60,
        )
        time.sleep(random.uniform(0.0, 2.0))
    finally:
        first.kill()  # asserts it died of the SIGKILL, i.e. it was still running
        killed.set()
    producing.join(120)
    assert not producing.is_alive()
    assert not failures, failures
    events.producer.flush()

    messages = published(services.settings, topic)
    saved = {p: pos or 0 for p, pos, _ in store.checkpoints(run_id)}
    assert sum(saved.values()) > 0
    # Saved while the run still went on: the held-back records came after the kill.
    assert sum(saved.values()) <= messages - 2 * held_back

    port = _free_port()
    second = start_watch(
        store,
        topic,
        run_id,
        tmp_path,
        "--window",
        "2",
        "--until-idle",
        "3",
        "--grace",
        "0",
        "--metrics-port",
        str(port),
        "--format",
        "json",
        label="second",
    )
    read = 0.0
    deadline = time.monotonic() + 120
    while second.process.poll() is None and time.monotonic() < deadline:
        value = metric(port, "canary_watch_events_read_total", run_id)
        read = max(read, value or 0.0)
        time.sleep(0.1)
    _, report = finish(second)

    assert counts(report) == expected(total)
    assert counts(report) == counts(uninterrupted(store, topic, run_id))
    # It went on from the checkpoints, not from offset 0: it read exactly what lay
    # past them (its last scrape came while it idled before ending).
    assert read == messages - sum(saved.values())
    assert all(epoch >= 2 for _, _, epoch in store.checkpoints(run_id))


# --- 3. two watchers ---------------------------------------------------------------------------


def test_two_watchers_share_a_run_and_one_leaving_loses_nothing(
    services: Services, store: Store, topic: str, run_id: str, tmp_path: Path
) -> None:
    events = Events(services, topic, run_id)
    events.records(0, 20_000)
    ports = [_free_port(), _free_port()]
    common = ("--window", "2", "--grace", "0")
    first = start_watch(
        store, topic, run_id, tmp_path, *common, "--metrics-port", str(ports[0]), label="a"
    )
    second: Member | None = None
    stop = threading.Event()
    produced: list[int] = []
    failures: list[BaseException] = []

    def partitions(port: int) -> float:
        return metric(port, "canary_watch_partitions", run_id) or 0.0

    def keep_publishing() -> None:
        # Records go on arriving through the handover, and a little after it.
        record, after = 20_000, 0
        try:
            while after < 5:
                events.records(record, 2_000)
                record += 2_000
                after += int(stop.is_set())
                time.sleep(0.1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        produced.append(record)

    producing = threading.Thread(target=keep_publishing, daemon=True)
    try:
        wait_for("the first watcher owns the run", lambda: partitions(ports[0]) == 6, first)
        second = start_watch(
            store,
            topic,
            run_id,
            tmp_path,
            *common,
            "--until-idle",
            "6",
            "--metrics-port",
            str(ports[1]),
            "--format",
            "json",
            label="b",
        )
        producing.start()
        wait_for(
            "both watchers own partitions",
            lambda: partitions(ports[0]) > 0 and partitions(ports[1]) > 0,
            first,
            second,
            timeout=90,
        )
        # The second took some over from the first: their claims raised the epochs.
        assert any(epoch > 1 for _, _, epoch in store.checkpoints(run_id))
        assert len(store.checkpoints(run_id)) == PARTITIONS
        time.sleep(1.0)
        first.process.send_signal(signal.SIGTERM)  # leaves the group: the other takes over
        left = first.wait(60)
        assert left.code in (0, 1), left.stderr
        wait_for("the second owns the run", lambda: partitions(ports[1]) == 6, second)
        stop.set()
        producing.join(120)
        assert not producing.is_alive()
        assert not failures, failures
        _, report = finish(second, timeout=180)
    finally:
        stop.set()
        for member in (first, second):
            if member is not None and member.process.poll() is None:
                member.process.kill()
    assert counts(report) == expected(produced[0])
    assert counts(report) == counts(uninterrupted(store, topic, run_id))


# --- 4. alerts and metrics ---------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(orjson.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()
    server.server_close()


def test_divergence_mid_run_alerts_and_shows_in_the_metrics(
    services: Services,
    store: Store,
    topic: str,
    run_id: str,
    tmp_path: Path,
    hook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = hook
    events = Events(services, topic, run_id)
    events.records(0, 1_000, divergent=False)
    port = _free_port()
    watcher = start_watch(
        store,
        topic,
        run_id,
        tmp_path,
        "--window",
        "1",
        "--alert-url",
        url,
        "--metrics-port",
        str(port),
        "--format",
        "json",
    )
    injected = 7
    try:
        wait_for(
            "a passing run",
            lambda: (
                metric(port, "canary_watch_matched_total", run_id) == 1_000
                and metric(port, "canary_watch_verdict", run_id) == 1
            ),
            watcher,
        )
        assert received == []  # no change of verdict yet
        for record in range(1_000, 1_000 + injected):
            events.publish("legacy", record)
            events.publish("ring", record, "e" * 32)
        events.producer.flush()
        wait_for("an alert", lambda: bool(received), watcher)
        alert = received[0]
        assert (alert["kind"], alert["run_id"], alert["state"], alert["previous"]) == (
            "canary.alert",
            run_id,
            "fail",
            "pass",
        )
        assert alert["window"]["mismatched"] > 0
        assert alert["window"]["from"] <= alert["window"]["to"]
        assert any("mismatched" in reason for reason in alert["reasons"])
        stored = store.report(alert["report_id"])
        assert stored is not None
        assert stored[0] == "fail"
        wait_for(
            "the metrics",
            lambda: metric(port, "canary_watch_mismatched_total", run_id) == injected,
            watcher,
        )
        text = _scrape(port)
        assert _series(text, "canary_watch_verdict", run_id) == 0
        assert _series(text, "canary_watch_matched_total", run_id) == 1_000
        assert _series(text, "canary_watch_alerts_total", run_id, 'outcome="sent"') == 1
        assert len(received) == 1  # one change of verdict, one alert
    finally:
        watcher.process.send_signal(signal.SIGTERM)
    code, report = finish(watcher)
    assert code == 1
    assert (report["verdict"], report["mismatched"], report["matched"]) == ("fail", injected, 1_000)


# --- 5. missing, live, by the paths' commits ----------------------------------------------------


def test_a_record_one_path_skipped_is_missing_live_once_that_path_committed_past_it(
    services: Services,
    store: Store,
    topic_factory: Callable[..., str],
    topic: str,
    run_id: str,
    tmp_path: Path,
) -> None:
    source = topic_factory("src", PARTITIONS)
    events = Events(services, topic, run_id, source)
    legacy_group, ring_group = f"{run_id}-legacy", f"{run_id}-ring"
    legacy_end, ring_end = 120, 100
    skipped = {7, 21}  # below ring's commit: missing
    for record in range(legacy_end):
        events.publish("legacy", record)
        if record not in skipped and record < ring_end:  # 100-119: above it, pending
            events.publish("ring", record)
    events.producer.flush()
    for end, group in ((legacy_end, legacy_group), (ring_end, ring_group)):
        consumer = Consumer(
            {
                "bootstrap.servers": services.settings.kafka.bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
            }
        )
        try:
            offsets = [
                TopicPartition(source, p, len(range(p, end, PARTITIONS))) for p in range(PARTITIONS)
            ]
            consumer.commit(offsets=offsets, asynchronous=False)
        finally:
            consumer.close()

    watcher = start_watch(
        store,
        topic,
        run_id,
        tmp_path,
        "--window",
        "1",
        "--grace",
        "0",
        "--legacy-group",
        legacy_group,
        "--ring-group",
        ring_group,
        "--format",
        "json",
    )
    live: dict[str, Any] = {}

    def judged_missing() -> bool:
        report = store.latest_run_report(run_id)
        if report is not None and report["missing_in_ring"] == len(skipped):
            live.update(report)
            return True
        return False

    try:
        wait_for("the skipped records judged missing", judged_missing, watcher)
        assert watcher.process.poll() is None  # live, not at the end of the watch
    finally:
        watcher.process.send_signal(signal.SIGTERM)
    assert live["verdict"] == "fail"
    assert live["matched"] == ring_end - len(skipped)
    assert (live["missing_in_legacy"], live["mismatched"]) == (0, 0)
    assert sorted(s["key"] for s in live["samples"]["missing_in_ring"]) == ["k21", "k7"]
    assert live["pending"]["in_ring"] == legacy_end - ring_end
    assert live["pending"]["in_legacy"] == 0

    code, report = finish(watcher)
    assert code == 1
    assert report["missing_in_ring"] == len(skipped)
    assert report["pending"]["in_ring"] == legacy_end - ring_end


# --- and the batch diff of a watched run ---------------------------------------------------------


def test_the_batch_diff_of_a_watched_run_starts_from_the_checkpoints(
    services: Services, store: Store, topic: str, run_id: str, tmp_path: Path
) -> None:
    events = Events(services, topic, run_id)
    events.records(0, 4_000)
    finish(start_watch(store, topic, run_id, tmp_path, "--until-idle", "2", "--format", "json"))
    saved = store.checkpoints(run_id)
    assert len(saved) == PARTITIONS
    assert all(pos for _, pos, _ in saved)
    # What the watcher read is gone from the topic: only its checkpoints still hold it.
    admin_client = AdminClient({"bootstrap.servers": services.settings.kafka.bootstrap})
    cut = [TopicPartition(topic, p, pos or 0) for p, pos, _ in saved]
    for future in admin_client.delete_records(cut).values():
        future.result(timeout=30)
    events.records(4_000, 1_000)
    _, resumed = diff_stream(store, topic, run_id, "--grace", "0")
    assert counts(resumed) == expected(5_000)
    assert counts(uninterrupted(store, topic, run_id)) == expected(1_000, first=4_000)
