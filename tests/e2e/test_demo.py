"""`canary demo` end to end: a gray release with injected divergence, and a clean one.

The demo produces to a topic of its own and names it on stderr. This module reads that
topic back and works out, message by message, what the divergent handler did to each
record (``canary.handlers.divergent``), so the report's mismatched and missing records
can be checked against exactly the injected ones.
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
from tests.services import Services

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
COUNT = 3_000
RATE = 0.05
Coord = tuple[str, int, int]


@dataclass(frozen=True)
class Demo:
    process: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    source_topic: str


@dataclass
class DemoEnv:
    """Environment of this module's demos, and the topics they leave behind."""

    env: dict[str, str]
    topics: list[str]


@pytest.fixture(scope="module")
def demo_env(services: Services) -> Iterator[DemoEnv]:
    """Compare and dead-letter topics and a report store of this module's own; every
    sample in the report (so the injected records can be compared as whole sets)."""
    token = uuid.uuid4().hex[:10]
    compare, dlq, schema = f"e2e-demo-cmp-{token}", f"e2e-demo-dlq-{token}", f"e2e_demo_{token}"
    env = {
        **os.environ,
        "CANARY_KAFKA__COMPARE_TOPIC": compare,
        "CANARY_KAFKA__DLQ_TOPIC": dlq,
        "CANARY_POSTGRES__REPORT_SCHEMA": schema,
        "CANARY_DIFF__MAX_SAMPLES": "1000",
    }
    context = DemoEnv(env, [compare, dlq])
    yield context
    admin_client = client.admin(services.settings.kafka.bootstrap)
    existing = admin_client.list_topics(timeout=10).topics
    doomed = [topic for topic in context.topics if topic in existing]
    if doomed:
        for future in admin_client.delete_topics(doomed).values():
            future.result(timeout=30)
    with postgres.connect(services.settings.postgres) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.commit()


def run_demo(context: DemoEnv, *args: str) -> Demo:
    process = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), "demo", "--count", str(COUNT), "--format", "json", *args],
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
    return Demo(process, orjson.loads(process.stdout), found.group(1))


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


def injected(bootstrap: str, topic: str) -> Injected:
    kinds: dict[Coord, str] = {}
    mismatched: set[Coord] = set()
    missing: set[Coord] = set()
    records = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(divergent.RATE_VARIABLE, str(RATE))
        for coord, key, value in read_topic(bootstrap, topic):
            try:
                normal = to_row(key, value)
            except HandlerError:
                continue  # refused by both paths alike: no compare event at all
            records += 1
            kind = divergent.divergence(key, RATE)
            if kind is None:
                continue
            kinds[coord] = kind
            if kind == "drop":
                missing.add(coord)
                continue
            changed = divergent.to_row(key, value)
            if row_checksum(changed) != row_checksum(normal):
                mismatched.add(coord)
    return Injected(kinds, mismatched, missing, records)


def coords(samples: list[dict[str, Any]]) -> list[Coord]:
    return [(s["src"]["t"], s["src"]["p"], s["src"]["o"]) for s in samples]


@pytest.fixture(scope="module")
def diverging(services: Services, demo_env: DemoEnv) -> tuple[Demo, Injected]:
    demo = run_demo(demo_env, "--inject-divergence", str(RATE))
    return demo, injected(services.settings.kafka.bootstrap, demo.source_topic)


def test_injected_divergence_fails_the_run(diverging: tuple[Demo, Injected]) -> None:
    demo, truth = diverging
    assert demo.process.returncode == 1, demo.process.stderr[-3000:]
    report = demo.report
    assert report["verdict"] == "fail"
    assert truth.records == COUNT
    # The data really has all three kinds of divergence, and a rounding that changes
    # nothing (an amount already at one decimal place) is not counted.
    assert set(truth.kinds.values()) == {"rounding", "timezone", "drop"}
    assert truth.mismatched
    assert truth.missing_in_ring
    # The report on stdout, then one line on stderr naming why the run failed.
    last = demo.process.stderr.splitlines()[-1]
    assert last == "canary: FAIL: " + "; ".join(report["reasons"])


def test_mismatched_and_missing_are_exactly_the_injected_records(
    diverging: tuple[Demo, Injected],
) -> None:
    demo, truth = diverging
    report = demo.report
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


def test_samples_name_the_column_and_the_cause(diverging: tuple[Demo, Injected]) -> None:
    demo, truth = diverging
    explained = {"rounding": 0, "timezone": 0}
    for sample in demo.report["samples"]["mismatched"]:
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
    for sample in demo.report["samples"]["missing_in_ring"]:
        assert truth.kinds[coords([sample])[0]] == "drop"
        assert sample["rows"] == "no row in PostgreSQL", sample
    causes = demo.report["causes"]
    assert causes == {
        "time-zone hour shift": explained["timezone"],
        "precision loss": explained["rounding"],
    }


def test_clean_demo_passes(demo_env: DemoEnv) -> None:
    demo = run_demo(demo_env)
    assert demo.process.returncode == 0, demo.process.stderr[-3000:]
    assert "canary: FAIL" not in demo.process.stderr
    report = demo.report
    assert report["verdict"] == "pass"
    assert report["reasons"] == []
    assert report["matched"] == COUNT
    assert report["records"] == {"legacy": COUNT, "ring": COUNT}
    assert report["mismatched"] == report["missing_in_ring"] == report["missing_in_legacy"] == 0
