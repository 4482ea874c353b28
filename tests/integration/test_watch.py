"""`canary watch` against real Kafka and PostgreSQL: the same counts as the batch diff,
exact resumption after SIGKILL, two watchers sharing a run, alerts and metrics, and
records judged missing live by the paths' commits."""

from __future__ import annotations

import os
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
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from canary.core.events import CompareEvent, PathName, SourceCoord, encode_event
from canary.kafka.producer import CheckedProducer
from sinks import postgres
from tests.services import Services

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


class Events:
    """Compare events of one run published to one topic."""

    def __init__(self, services: Services, topic: str, run: str, source: str = "orders") -> None:
        self.producer = CheckedProducer(services.settings.kafka.bootstrap, linger_ms=20)
        self.topic, self.run, self.source = topic, run, source

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

    def records(self, first: int, count: int, *, divergent: bool = True) -> None:
        """Both paths' events of ``count`` records; with ``divergent``, every 500th is
        mismatched, every 700th missing in ring and every 300th redelivered by legacy."""
        for record in range(first, first + count):
            self.publish("legacy", record, latency=20.0 + record % 13)
            if divergent and record % 300 == 1:
                self.publish("legacy", record, latency=90.0)
            if divergent and record % 700 == 3:
                continue
            bad = "f" * 32 if divergent and record % 500 == 2 else None
            self.publish("ring", record, bad, latency=4.0 + record % 7)
        self.producer.flush()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def topic(topic_factory: Callable[..., str]) -> str:
    return topic_factory("cmp", PARTITIONS)


@pytest.fixture
def run_id() -> str:
    return f"watch-{uuid.uuid4().hex[:10]}"


def canary(*args: str, topic: str) -> list[str]:
    return [sys.executable, "-m", "canary", *args]


def environment(topic: str) -> dict[str, str]:
    return {**os.environ, "CANARY_KAFKA__COMPARE_TOPIC": topic}


def start_watch(topic: str, run_id: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own command
        canary("watch", "--run-id", run_id, *args, topic=topic),
        env=environment(topic),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, dict[str, Any]]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode in (0, 1), err
    return process.returncode, orjson.loads(out)


def batch_diff(topic: str, run_id: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603
        canary(
            "diff",
            "stream",
            "--run-id",
            run_id,
            "--until-idle",
            "0",
            "--grace",
            "0",  # every record still alone is missing, as at the end of a watch
            "--no-drill",
            "--ignore-checkpoints",
            "--format",
            "json",
            topic=topic,
        ),
        env=environment(topic),
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode in (0, 1), done.stderr
    return dict(orjson.loads(done.stdout))


def counts(report: dict[str, Any]) -> dict[str, Any]:
    return {name: report[name] for name in COUNTS}


def checkpoints(services: Services, run_id: str) -> list[tuple[int, int | None, int]]:
    schema = services.settings.postgres.report_schema
    with postgres.connect(services.settings.postgres) as connection:
        exists = connection.execute(
            "SELECT to_regclass(%s)", (f"{schema}.watch_checkpoints",)
        ).fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = connection.execute(
            f"SELECT partition, position, epoch FROM {schema}.watch_checkpoints "
            "WHERE run_id = %s ORDER BY partition",
            (run_id,),
        ).fetchall()
    return [(p, pos, epoch) for p, pos, epoch in rows]


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_an_until_idle_watch_reports_what_the_batch_diff_reports(
    services: Services, topic: str, run_id: str
) -> None:
    Events(services, topic, run_id).records(0, 6_000)
    watcher = start_watch(topic, run_id, "--window", "1", "--until-idle", "3", "--format", "json")
    code, report = finish(watcher)
    expected = batch_diff(topic, run_id)
    assert counts(report) == counts(expected)
    assert report["mismatched"] == 12
    assert report["missing_in_ring"] == 9
    assert report["duplicates"] == {"legacy": 20, "ring": 0}
    assert code == 1
    assert report["verdict"] == "fail"
    windows = report["windows"]
    assert windows
    assert all(window["scope"] == "window" and window["from"] <= window["to"] for window in windows)
    assert sum(window["matched"] for window in windows) == report["matched"]


def test_a_clean_run_passes(services: Services, topic: str, run_id: str) -> None:
    Events(services, topic, run_id).records(0, 2_000, divergent=False)
    code, report = finish(start_watch(topic, run_id, "--until-idle", "2", "--format", "json"))
    assert (code, report["verdict"], report["matched"]) == (0, "pass", 2_000)


def test_a_watcher_killed_outright_resumes_from_its_checkpoint_with_the_same_counts(
    services: Services, topic: str, run_id: str
) -> None:
    Events(services, topic, run_id).records(0, 150_000)
    expected = batch_diff(topic, run_id)
    first = start_watch(topic, run_id, "--window", "2")
    try:
        wait_until(
            "a checkpoint mid-read",
            lambda: any(pos for _, pos, _ in checkpoints(services, run_id)),
        )
        time.sleep(random.uniform(0.0, 1.5))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    saved = {p: pos for p, pos, _ in checkpoints(services, run_id)}
    assert any(saved.values())
    second = start_watch(topic, run_id, "--until-idle", "3", "--format", "json")
    _, report = finish(second, timeout=300)
    assert counts(report) == counts(expected)
    # It went on from the checkpoints: the partitions' epochs were raised by the claim.
    assert all(epoch == 2 for _, _, epoch in checkpoints(services, run_id))


def test_two_watchers_share_a_run_and_one_leaving_loses_nothing(
    services: Services, topic: str, run_id: str
) -> None:
    events = Events(services, topic, run_id)
    events.records(0, 30_000)
    ports = [_free_port(), _free_port()]
    first = start_watch(topic, run_id, "--window", "1", "--metrics-port", str(ports[0]))
    second = start_watch(
        topic,
        run_id,
        "--window",
        "1",
        "--until-idle",
        "6",
        "--metrics-port",
        str(ports[1]),
        "--format",
        "json",
    )
    try:
        wait_until(
            "both watchers own partitions",
            lambda: all(_metric(port, "canary_watch_partitions") for port in ports),
            timeout=90,
        )
        events.records(30_000, 10_000)
        first.send_signal(signal.SIGTERM)  # leaves the group: the other takes over
        assert first.wait(60) in (0, 1)
        events.records(40_000, 10_000)
        _, report = finish(second, timeout=180)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
    assert counts(report) == counts(batch_diff(topic, run_id))


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test

    def do_POST(self) -> None:
        self.received.append(orjson.loads(self.rfile.read(int(self.headers["Content-Length"]))))
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


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def _metric(port: int, name: str) -> float:
    for line in _scrape(port).splitlines():
        if line.startswith((name + "{", name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_divergence_mid_run_alerts_and_shows_in_the_metrics(
    services: Services, topic: str, run_id: str, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    events = Events(services, topic, run_id)
    events.records(0, 1_000, divergent=False)
    port = _free_port()
    watcher = start_watch(
        topic,
        run_id,
        "--window",
        "1",
        "--alert-url",
        url,
        "--metrics-port",
        str(port),
        "--format",
        "json",
    )
    try:
        wait_until("a passing run", lambda: _metric(port, "canary_watch_matched_total") == 1_000)
        assert received == []
        for record in range(1_000, 1_007):
            events.publish("legacy", record)
            events.publish("ring", record, "e" * 32)
        events.producer.flush()
        wait_until("an alert", lambda: bool(received), timeout=60)
        alert = received[0]
        assert (alert["kind"], alert["run_id"], alert["state"], alert["previous"]) == (
            "canary.alert",
            run_id,
            "fail",
            "pass",
        )
        assert alert["window"]["mismatched"] > 0
        assert "7 mismatched records (limit 0)" in alert["reasons"][0]
        wait_until("the metrics", lambda: _metric(port, "canary_watch_mismatched_total") == 7)
        assert _metric(port, "canary_watch_verdict") == 0
    finally:
        watcher.send_signal(signal.SIGTERM)
    code, report = finish(watcher)
    assert code == 1
    assert report["mismatched"] == 7


def test_a_record_one_path_skipped_is_missing_live_once_that_path_committed_past_it(
    services: Services, topic_factory: Callable[..., str], topic: str, run_id: str
) -> None:
    source = topic_factory("src", PARTITIONS)
    events = Events(services, topic, run_id, source)
    legacy_group, ring_group = f"{run_id}-legacy", f"{run_id}-ring"
    skipped = {7, 21}
    for record in range(120):
        events.publish("legacy", record)
        if record not in skipped and record < 100:
            events.publish("ring", record)
    events.producer.flush()
    # Ring stands at record 100 on every source partition: 7 and 21 are below its commit,
    # 100-119 above it (not reached yet).
    committed = {
        "legacy": {p: len([r for r in range(120) if r % PARTITIONS == p]) for p in range(6)},
        "ring": {p: len([r for r in range(100) if r % PARTITIONS == p]) for p in range(6)},
    }
    for path, group in (("legacy", legacy_group), ("ring", ring_group)):
        consumer = Consumer(
            {"bootstrap.servers": services.settings.kafka.bootstrap, "group.id": group}
        )
        offsets = [TopicPartition(source, p, o) for p, o in committed[path].items()]
        consumer.commit(offsets=offsets, asynchronous=False)
        consumer.close()
    port = _free_port()
    watcher = start_watch(
        topic,
        run_id,
        "--window",
        "1",
        "--grace",
        "0",
        "--metrics-port",
        str(port),
        "--legacy-group",
        legacy_group,
        "--ring-group",
        ring_group,
        "--format",
        "json",
    )
    try:
        wait_until(
            "the skipped records judged missing",
            lambda: _missing_in_ring(port) == len(skipped),
            timeout=60,
        )
        assert _pending_in_ring(port) == 20
        assert watcher.poll() is None  # live, not at the end of the watch
    finally:
        watcher.send_signal(signal.SIGTERM)
    _, report = finish(watcher)
    assert report["missing_in_ring"] == len(skipped)
    assert sorted(s["key"] for s in report["samples"]["missing_in_ring"]) == ["k21", "k7"]
    assert report["pending"]["in_ring"] == 20


def _missing_in_ring(port: int) -> float:
    return _labelled(port, "canary_watch_missing_total", 'path="ring"')


def _pending_in_ring(port: int) -> float:
    return _labelled(port, "canary_watch_pending", 'path="ring"')


def _labelled(port: int, name: str, label: str) -> float:
    for line in _scrape(port).splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return -1.0


def test_the_batch_diff_of_a_watched_run_starts_from_the_checkpoints(
    services: Services, topic: str, run_id: str, tmp_path: Path
) -> None:
    events = Events(services, topic, run_id)
    events.records(0, 4_000)
    finish(start_watch(topic, run_id, "--until-idle", "2", "--format", "json"))
    events.records(4_000, 1_000)
    done = subprocess.run(  # noqa: S603
        canary(
            "diff",
            "stream",
            "--run-id",
            run_id,
            "--until-idle",
            "0",
            "--grace",
            "0",
            "--no-drill",
            "--format",
            "json",
            topic=topic,
        ),
        env=environment(topic),
        capture_output=True,
        text=True,
        check=False,
    )
    resumed = orjson.loads(done.stdout)
    assert counts(resumed) == counts(batch_diff(topic, run_id))
    assert resumed["matched"] > 4_000
