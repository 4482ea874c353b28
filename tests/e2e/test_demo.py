"""`canary demo` end to end: a gray release with injected divergence, and a clean one.

The demo produces to a topic of its own and names it on stderr. This module reads that
topic back and works out, message by message, what the divergent handler did to each
record and so to each key's last row (``canary.handlers.divergent``), so both verdicts
of the demo's gate (the stream diff's mismatched and missing records, the table diff's
differing keys) can be checked against exactly the injected ones. The demo's HTML page
is opened in headless Chromium.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from canary.core.checksum import row_checksum
from canary.errors import HandlerError
from canary.handlers import divergent
from canary.handlers.orders import to_row
from canary.kafka import admin, client
from sinks import postgres
from tests.e2e.browser import browse
from tests.services import Services, drop_tables

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
COUNT = 3_000
RATE = 0.05
# Fast enough to keep the tests short, with a burst and checks while the paths run.
PACE = ("--rate", "1500", "--burst", "1", "--burst-factor", "3")
Coord = tuple[str, int, int]


@dataclass(frozen=True)
class Demo:
    process: subprocess.CompletedProcess[str]
    report: dict[str, Any]  # the gate's report, with the demo's part
    source_topic: str
    html: Path

    @property
    def stream(self) -> dict[str, Any]:
        body: dict[str, Any] = self.report["stream"]
        return body

    @property
    def tables(self) -> dict[str, Any]:
        body: dict[str, Any] = self.report["tables"]
        return body


@dataclass
class DemoEnv:
    """Environment of this module's demos, and the topics they leave behind."""

    env: dict[str, str]
    topics: list[str]
    table: str
    html_dir: Path


@pytest.fixture(scope="module")
def demo_env(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnv]:
    """Compare and dead-letter topics, tables and a report store of this module's own;
    every sample in both reports (so the injected records can be compared as whole sets)."""
    token = uuid.uuid4().hex[:10]
    compare, dlq, schema = f"e2e-demo-cmp-{token}", f"e2e-demo-dlq-{token}", f"e2e_demo_{token}"
    env = {
        **os.environ,
        "CANARY_KAFKA__COMPARE_TOPIC": compare,
        "CANARY_KAFKA__DLQ_TOPIC": dlq,
        "CANARY_POSTGRES__REPORT_SCHEMA": schema,
        "CANARY_DIFF__MAX_SAMPLES": "1000",
        "CANARY_TABLES__MAX_SAMPLES": "1000",
    }
    table = f"e2e_demo_{token}"
    context = DemoEnv(env, [compare, dlq], table, tmp_path_factory.mktemp("demo"))
    yield context
    drop_tables(services.settings, table)
    admin_client = client.admin(services.settings.kafka.bootstrap)
    existing = admin_client.list_topics(timeout=10).topics
    doomed = [topic for topic in context.topics if topic in existing]
    if doomed:
        for future in admin_client.delete_topics(doomed).values():
            future.result(timeout=30)
    with postgres.connect(services.settings.postgres) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.commit()


def run_demo(context: DemoEnv, name: str, *args: str) -> Demo:
    html = context.html_dir / f"{name}.html"
    command = [str(CANARY), "demo", "--count", str(COUNT), *PACE, "--table", context.table]
    process = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [*command, "--format", "json", "--html", str(html), *args],
        cwd=ROOT,
        env=context.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    found = re.search(r"both paths start on (\S+)", process.stderr)
    assert found, process.stderr
    context.topics.append(found.group(1))  # the demo's own source topic
    assert process.stdout.strip(), process.stderr
    return Demo(process, orjson.loads(process.stdout), found.group(1), html)


def read_topic(bootstrap: str, topic: str) -> list[tuple[Coord, bytes | None, bytes | None]]:
    """Every message of ``topic``: its coordinate, key and value."""
    spans = {
        span.partition: span.high
        for span in admin.watermarks(bootstrap, topic)
        if span.high > span.low
    }
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "e2e-demo-reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in spans])
    found: list[tuple[Coord, bytes | None, bytes | None]] = []
    done: dict[int, int] = {}
    try:
        for _ in range(600):
            if all(done.get(p, 0) >= high for p, high in spans.items()):
                break
            for message in consumer.consume(10_000, 0.1):
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None
                assert offset is not None
                found.append(((topic, partition, offset), message.key(), message.value()))
                done[partition] = offset + 1
    finally:
        consumer.close()
    assert all(done.get(p, 0) >= high for p, high in spans.items()), "source topic not read"
    return found


@dataclass(frozen=True)
class Injected:
    kinds: dict[Coord, str]  # every record the divergent handler touched, by kind
    mismatched: set[Coord]
    missing_in_ring: set[Coord]
    records: int  # records both handlers accept apart from the injection
    different_keys: set[int]  # keys whose last row differs between the tables
    missing_keys: set[int]  # keys with no row in PostgreSQL


def injected(bootstrap: str, topic: str) -> Injected:
    kinds: dict[Coord, str] = {}
    mismatched: set[Coord] = set()
    missing: set[Coord] = set()
    records = 0
    last: dict[int, tuple[int, str | None]] = {}  # order id -> (version, how its row ends)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(divergent.RATE_VARIABLE, str(RATE))
        for coord, key, value in read_topic(bootstrap, topic):
            try:
                normal = to_row(key, value)
            except HandlerError:
                continue  # refused by both paths alike: no compare event at all
            records += 1
            order_id, version = normal["order_id"], normal["version"]
            assert isinstance(order_id, int)
            assert isinstance(version, int)
            kind = divergent.divergence(key, RATE)
            ending: str | None = None
            if kind == "drop":
                missing.add(coord)
                ending = "missing"
            elif kind is not None:
                changed = divergent.to_row(key, value)
                if row_checksum(changed) != row_checksum(normal):
                    mismatched.add(coord)
                    ending = "different"
            if kind is not None:
                kinds[coord] = kind
            if order_id not in last or last[order_id][0] < version:  # the upserts' guard
                last[order_id] = (version, ending)
    different = {k for k, (_, ending) in last.items() if ending == "different"}
    gone = {k for k, (_, ending) in last.items() if ending == "missing"}
    return Injected(kinds, mismatched, missing, records, different, gone)


def coords(samples: list[dict[str, Any]]) -> list[Coord]:
    return [(s["src"]["t"], s["src"]["p"], s["src"]["o"]) for s in samples]


@pytest.fixture(scope="module")
def diverging(services: Services, demo_env: DemoEnv) -> tuple[Demo, Injected]:
    demo = run_demo(demo_env, "diverging", "--inject-divergence", str(RATE))
    return demo, injected(services.settings.kafka.bootstrap, demo.source_topic)


def _keys(samples: list[Any]) -> list[int]:
    """The keys of tables samples: a "different" sample is an object, an "only in" one the
    key itself."""
    return [sample["key"] if isinstance(sample, dict) else sample for sample in samples]


def test_injected_divergence_fails_both_verdicts(diverging: tuple[Demo, Injected]) -> None:
    demo, truth = diverging
    assert demo.process.returncode == 1, demo.process.stderr[-3000:]
    report = demo.report
    assert report["kind"] == "verify"
    assert report["verdict"] == "fail"
    assert report["checks"]["stream"]["verdict"] == "fail"
    assert report["checks"]["tables"]["verdict"] == "fail"
    assert truth.records == COUNT
    # The data really has all three kinds of divergence, and a rounding that changes
    # nothing (an amount already at one decimal place) is not counted.
    assert set(truth.kinds.values()) == {"rounding", "timezone", "drop"}
    assert truth.mismatched
    assert truth.missing_in_ring
    # The report on stdout, then one line on stderr naming why the run failed.
    last = demo.process.stderr.splitlines()[-1]
    assert last == "canary: FAIL: " + "; ".join(report["reasons"])


def test_the_stream_diff_finds_exactly_the_injected_records(
    diverging: tuple[Demo, Injected],
) -> None:
    demo, truth = diverging
    report = demo.stream
    assert report["mismatched"] == len(truth.mismatched)
    assert report["missing_in_ring"] == len(truth.missing_in_ring)
    assert report["missing_in_legacy"] == 0
    # Every sample is in the report (max_samples 1000), smallest coordinate first.
    assert coords(report["samples"]["mismatched"]) == sorted(truth.mismatched)
    assert coords(report["samples"]["missing_in_ring"]) == sorted(truth.missing_in_ring)
    assert report["samples"]["missing_in_legacy"] == []
    assert report["records"] == {
        "legacy": truth.records,
        "ring": truth.records - len(truth.missing_in_ring),
    }
    assert report["matched"] == truth.records - len(truth.mismatched) - len(truth.missing_in_ring)
    assert report["reasons"] == [
        f"{len(truth.mismatched):,} mismatched records (limit 0)",
        f"{len(truth.missing_in_ring):,} records missing in ring (limit 0)",
    ]


def test_the_table_diff_finds_exactly_the_injected_keys(
    diverging: tuple[Demo, Injected],
) -> None:
    demo, truth = diverging
    report = demo.tables
    assert truth.different_keys
    assert truth.missing_keys
    # Both paths caught up before the gate ran: nothing in flight, every key compared.
    assert report["in_flight"] == 0
    assert report["different"] == len(truth.different_keys)
    assert report["only_in_mysql"] == len(truth.missing_keys)
    assert report["only_in_postgres"] == 0
    assert _keys(report["samples"]["different"]) == sorted(truth.different_keys)
    assert _keys(report["samples"]["only_in_mysql"]) == sorted(truth.missing_keys)
    assert set(report["different_columns"]) <= {"amount", "event_time"}


def test_the_demo_says_what_was_injected_and_what_each_diff_found(
    diverging: tuple[Demo, Injected],
) -> None:
    demo, truth = diverging
    records = len(truth.mismatched) + len(truth.missing_in_ring)
    keys = len(truth.different_keys) + len(truth.missing_keys)
    injection = demo.report["demo"]["injection"]
    assert injection["expected"]["stream_records"] == records
    assert injection["expected"]["table_keys"] == keys
    assert injection["found"] == {"stream_records": records, "table_keys": keys}
    assert injection["exact"] is True
    assert injection["strangers"] == []
    said = demo.process.stderr
    assert f"== injected: {records:,} records" in said
    assert f"and {keys:,} keys whose last row differs" in said
    assert (
        f"== found: {records:,} records by the stream diff, {keys:,} keys by the table diff: "
        "both found exactly the injected records"
    ) in said
    assert "== stream diff: FAIL" in said
    assert "== table diff: FAIL" in said


def test_samples_name_the_column_and_the_cause(diverging: tuple[Demo, Injected]) -> None:
    demo, truth = diverging
    explained = {"rounding": 0, "timezone": 0}
    for sample in demo.stream["samples"]["mismatched"]:
        kind = truth.kinds[coords([sample])[0]]
        assert kind == divergent.divergence(sample["key"].encode(), RATE)
        assert sample["legacy_sum"] != sample["ring_sum"]
        columns = sample.get("columns")
        if kind == "timezone":
            # Every version of the key is an hour late, so the rows always differ.
            assert columns is not None
            assert set(columns) == {"event_time"}, sample
            assert columns["event_time"]["cause"] == "time-zone hour shift", sample
        elif columns:
            assert set(columns) == {"amount"}, sample
            assert columns["amount"]["cause"] == "precision loss", sample
        else:
            # The key's latest version has an amount that rounding leaves alone.
            assert sample["rows"].startswith("equal now"), sample
        if columns:
            explained[kind] += 1
    assert explained["rounding"] > 0
    assert explained["timezone"] > 0
    for sample in demo.stream["samples"]["missing_in_ring"]:
        assert truth.kinds[coords([sample])[0]] == "drop"
        assert sample["rows"] == "no row in PostgreSQL", sample
    causes = demo.stream["causes"]
    assert causes == {
        "time-zone hour shift": explained["timezone"],
        "precision loss": explained["rounding"],
    }


@pytest.fixture(scope="module")
def clean(demo_env: DemoEnv) -> Demo:
    return run_demo(demo_env, "clean")


def test_clean_demo_passes_both_verdicts(clean: Demo) -> None:
    assert clean.process.returncode == 0, clean.process.stderr[-3000:]
    assert "canary: FAIL" not in clean.process.stderr
    report = clean.report
    assert report["verdict"] == "pass"
    assert report["reasons"] == []
    stream = clean.stream
    assert stream["verdict"] == "pass"
    assert stream["matched"] == COUNT
    assert stream["records"] == {"legacy": COUNT, "ring": COUNT}
    assert stream["mismatched"] == stream["missing_in_ring"] == stream["missing_in_legacy"] == 0
    tables = clean.tables
    assert tables["verdict"] == "pass"
    assert tables["in_flight"] == 0
    assert tables["rows"]["mysql"] == tables["rows"]["postgres"] > 0
    assert report["demo"]["injection"] is None
    said = clean.process.stderr
    assert "== stream diff: PASS" in said
    assert "== table diff: PASS" in said
    assert "== verdict: PASS (exit code 0)" in said


def test_the_table_diff_passes_while_the_paths_run(clean: Demo) -> None:
    demo = clean.report["demo"]
    checks = demo["mid_run_checks"]
    assert checks, clean.process.stderr[-3000:]
    for check in checks:
        assert check["verdict"] == "pass", check
        assert check["differences"] == 0
    # They ran while production or the catching up went on: before the last look.
    assert all(check["at_s"] <= demo["timeline"][-1]["at_s"] for check in checks)
    lines = [line for line in clean.process.stderr.splitlines() if "table check at" in line]
    assert len(lines) == len(checks)
    assert all(": PASS," in line and "keys in flight" in line for line in lines)


def test_the_demo_paces_production_with_a_burst(clean: Demo) -> None:
    production = clean.report["demo"]["production"]
    assert production["count"] == COUNT
    assert production["rate_msg_s"] == 1500
    burst = production["burst"]
    assert burst["rate_msg_s"] == 4500
    # 1 s at 4,500/s wanted once 900 are out; 2,100 are left for it.
    assert burst["messages"] == COUNT - 900
    # Never faster than the schedule: 900 at 1,500/s, then 2,100 at 4,500/s.
    assert production["seconds"] >= 900 / 1500 + 2100 / 4500 - 0.05
    timeline = clean.report["demo"]["timeline"]
    assert timeline[-1]["produced"] == COUNT
    assert timeline[-1]["behind"] == {"legacy": 0, "ring": 0}


@pytest.mark.parametrize("which", ["clean", "diverging"])
def test_chromium_shows_both_verdicts_of_the_demo(
    which: str,
    request: pytest.FixtureRequest,
    chromium: str,
    tmp_path: Path,
) -> None:
    value = request.getfixturevalue(which)
    demo: Demo = value if which == "clean" else value[0]
    assert demo.html.stat().st_size > 0
    dom = browse(chromium, tmp_path, "--dump-dom", demo.html.as_uri())
    assert dom.returncode == 0, dom.stderr
    page = dom.stdout
    verdict = "PASS" if which == "clean" else "FAIL"
    # The gate's banner and each check's own banner, and the checks table.
    assert page.count(f'<section class="verdict {verdict.lower()}"><strong>{verdict}</strong>') == 3
    assert "<h2>The stream check</h2>" in page
    assert "<h2>The tables check</h2>" in page
    assert f"<td>stream</td><td>{verdict}</td>" in page
    assert f"<td>tables</td><td>{verdict}</td>" in page
    assert '<svg id="latency-chart"' in page
    assert '<svg id="backlog-chart"' in page
    assert "Consistent table checks while both paths were consuming" in page
    if which == "diverging":
        assert "Both diffs found exactly the injected records, and no other." in page
