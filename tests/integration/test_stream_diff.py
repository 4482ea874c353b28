"""`canary diff stream` on the real services, fed with hand-made compare events.

Each scenario publishes compare events to a private compare topic and runs the installed
console script against it, with a report store in a schema of its own. Every figure of
the report is checked against what this module computes from the events it published,
by the rules of CONTRACTS §5: first event per path and coordinate, nearest rank.
"""

from __future__ import annotations

import math
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from canary.core.events import CompareEvent, PathName, SourceCoord, encode_event
from canary.kafka import admin, client
from canary.kafka.producer import CheckedProducer
from sinks import postgres
from tests.services import Services
from tests.stores import PrivateStore, private_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
SEED = 20_261_126
BASE_TS = 1_790_000_000_000
TOPICS = ("orders.src", "payments.src")  # two source topics: same (p, o) on each
SAMPLES = 20  # diff.max_samples of configs/local.toml

Coord = tuple[str, int, int]


# --- the report store and topics of this module -------------------------------------------


Store = PrivateStore


@pytest.fixture(scope="module")
def store(services: Services) -> Iterator[Store]:
    """A report store in a schema of its own (and throwaway sink tables beside it)."""
    with private_store(services, "reports") as fresh:
        yield fresh


@pytest.fixture(scope="module")
def module_topics(services: Services) -> Iterator[Callable[[str], str]]:
    bootstrap = services.settings.kafka.bootstrap
    admin_client: AdminClient = client.admin(bootstrap)
    created: list[str] = []

    def make(prefix: str) -> str:
        name = services.unique(prefix)
        admin.ensure_topic(admin_client, bootstrap, name, 6)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin_client.delete_topics(created).values():
            future.result(timeout=30)


def canary(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def diff_args(run_id: str) -> list[str]:
    return [
        "diff",
        "stream",
        "--run-id",
        run_id,
        "--until-idle",
        "0",
        "--format",
        "json",
        "--no-drill",
    ]


def publish(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = CheckedProducer(bootstrap)
    for index, (key, value) in enumerate(messages):
        producer.produce(topic, value, key=key)
        if index % 10_000 == 0:
            producer.poll(0)
    producer.flush()
    assert producer.delivered == len(messages)


# --- what a run is expected to give, computed from the events published ------------------------


def nearest_rank(values: list[float], tenths_of_percent: int) -> float:
    """The value at rank ceil(P/100 * n) of the sorted values, in integer arithmetic."""
    ordered = sorted(values)
    rank = max(1, -(-tenths_of_percent * len(ordered) // 1000))
    return ordered[rank - 1]


def latency_summary(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "mean": math.fsum(values) / len(values),
        "p50": nearest_rank(values, 500),
        "p95": nearest_rank(values, 950),
        "p99": nearest_rank(values, 990),
        "p999": nearest_rank(values, 999),
        "max": max(values),
    }


def close_enough(actual: float, exact: float) -> bool:
    """CONTRACTS §5: within 1 % of the exact value or 0.1 ms, whichever is larger."""
    return abs(actual - exact) <= max(0.01 * abs(exact), 0.1)


@dataclass
class Expected:
    """Per coordinate, the first event of each path; and every count of the report."""

    first: dict[tuple[Coord, str], CompareEvent] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=lambda: {"legacy": 0, "ring": 0})
    invalid: int = 0

    def see(self, event: CompareEvent) -> None:
        slot = ((event.src.t, event.src.p, event.src.o), event.path)
        if slot in self.first:
            self.duplicates[event.path] += 1
        else:
            self.first[slot] = event

    def coords(self) -> list[Coord]:
        return sorted({coord for coord, _ in self.first})

    def classes(self) -> dict[str, list[Coord]]:
        found: dict[str, list[Coord]] = {
            "matched": [],
            "mismatched": [],
            "missing_in_ring": [],
            "missing_in_legacy": [],
        }
        for coord in self.coords():
            legacy = self.first.get((coord, "legacy"))
            ring = self.first.get((coord, "ring"))
            if legacy and ring:
                found["matched" if legacy.sum == ring.sum else "mismatched"].append(coord)
            else:
                found["missing_in_ring" if legacy else "missing_in_legacy"].append(coord)
        return found

    def latencies(self, path: str) -> list[float]:
        return [ev.at - ev.src.ts for (_, name), ev in self.first.items() if name == path]

    def sample(self, coord: Coord, label: str) -> dict[str, Any]:
        legacy = self.first.get((coord, "legacy"))
        ring = self.first.get((coord, "ring"))
        any_event = legacy or ring
        assert any_event is not None
        body: dict[str, Any] = {
            "key": any_event.key,
            "src": {"t": coord[0], "p": coord[1], "o": coord[2]},
        }
        if label in ("mismatched", "missing_in_ring"):
            assert legacy is not None
            body["legacy_sum"] = legacy.sum
        if label in ("mismatched", "missing_in_legacy"):
            assert ring is not None
            body["ring_sum"] = ring.sum
        return body


def check_report(report: dict[str, Any], run_id: str, expected: Expected) -> None:
    """Every count, every percentile and every sample of ``report`` against ``expected``."""
    classes = expected.classes()
    assert report["kind"] == "stream"
    assert report["run_id"] == run_id
    assert report["records"] == {
        "legacy": len(expected.latencies("legacy")),
        "ring": len(expected.latencies("ring")),
    }
    for label in ("matched", "mismatched", "missing_in_ring", "missing_in_legacy"):
        assert report[label] == len(classes[label]), label
    assert report["duplicates"] == expected.duplicates
    assert report["invalid"] == expected.invalid
    latency = report["latency_ms"]
    exact = {path: latency_summary(expected.latencies(path)) for path in ("legacy", "ring")}
    for path in ("legacy", "ring"):
        assert latency[path]["count"] == exact[path]["count"]
        for name in ("mean", "p50", "p95", "p99", "p999", "max"):
            assert close_enough(latency[path][name], exact[path][name]), (
                path,
                name,
                latency[path][name],
                exact[path][name],
            )
    # The gap is a difference of two percentiles, each within 1 % (or 0.1 ms): so is it.
    gap_error = abs(latency["p99_gap"] - (exact["ring"]["p99"] - exact["legacy"]["p99"]))
    allowed = sum(max(0.01 * abs(exact[path]["p99"]), 0.1) for path in ("legacy", "ring"))
    assert gap_error <= allowed
    assert latency["p99_gap"] == pytest.approx(latency["ring"]["p99"] - latency["legacy"]["p99"])
    for label in ("mismatched", "missing_in_ring", "missing_in_legacy"):
        wanted = [expected.sample(coord, label) for coord in classes[label][:SAMPLES]]
        assert report["samples"][label] == wanted, label


# --- the hand-made scenario -----------------------------------------------------------------------


def _event(
    run: str, path: PathName, coord: Coord, key: str, checksum: str, latency: float
) -> CompareEvent:
    ts = BASE_TS + coord[2] * 7 + coord[1]
    return CompareEvent(
        run=run,
        path=path,
        key=key,
        src=SourceCoord(t=coord[0], p=coord[1], o=coord[2], ts=ts),
        sum=checksum,
        at=ts + latency,
    )


def _digest(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


@dataclass
class Scenario:
    run_id: str
    messages: list[tuple[bytes, bytes]]
    expected: Expected


def build_scenario(run_id: str, seed: int) -> Scenario:
    """One run's events, with every case of §5, another run's events and invalid ones.

    2,000 records on legacy (1,880 matched, 60 mismatched, 60 only on legacy) and 1,980
    on ring (40 only on ring). Legacy latencies are exponential with mean 40 ms, ring's
    with mean 8 ms. Redeliveries carry other sums and absurd latencies, so counting one
    would show in the figures.
    """
    rng = random.Random(seed)
    kinds = ["matched"] * 1880 + ["mismatched"] * 60 + ["only_legacy"] * 60 + ["only_ring"] * 40
    # The first ten pairs of records share (partition, offset) on the two source topics
    # and each is on one path only: joined by (p, o) alone they would look matched.
    head = [kind for pair in [("only_legacy", "only_ring")] * 10 for kind in pair]
    for kind in head:
        kinds.remove(kind)
    rng.shuffle(kinds)
    kinds = head + kinds
    sequences: list[list[CompareEvent]] = []
    for index, kind in enumerate(kinds):
        coord = (TOPICS[index % 2], (index // 2) % 6, (index // 2) // 6)
        key = f"order-{index}"
        digest = _digest(rng)
        legacy = _event(run_id, "legacy", coord, key, digest, rng.expovariate(1 / 40))
        ring = _event(
            run_id,
            "ring",
            coord,
            key,
            _digest(rng) if kind == "mismatched" else digest,
            rng.expovariate(1 / 8),
        )
        events = {
            "matched": [legacy, ring],
            "mismatched": [ring, legacy],
            "only_legacy": [legacy],
            "only_ring": [ring],
        }[kind]
        roll = rng.random()
        later = _event(run_id, events[0].path, coord, key, _digest(rng), 9_999.0)
        if kind == "matched" and roll < 0.03:
            events.insert(1, later)  # redelivered before the other path's event
        elif kind == "matched" and roll < 0.06:
            events.append(later)  # redelivered after the match, with another sum
        elif kind == "mismatched" and roll < 0.2:
            # the ring path redelivers the legacy sum after the mismatch: still a mismatch
            events.append(_event(run_id, "ring", coord, key, legacy.sum, 1.0))
        elif kind in ("only_legacy", "only_ring") and roll < 0.2:
            events += [later, later]
        sequences.append(events)

    expected = Expected()
    messages: list[tuple[bytes, bytes]] = []
    # Round by round, so every coordinate's events keep their order (one key, one
    # partition of the compare topic), while coordinates interleave at random.
    for round_ in range(max(map(len, sequences))):
        batch = [events[round_] for events in sequences if len(events) > round_]
        rng.shuffle(batch)
        for event in batch:
            expected.see(event)
            messages.append((event.key.encode(), encode_event(event)))

    # Other runs: same coordinates with other sums, and records no path of ours has.
    for other in (run_id + "0", "x" + run_id, "other"):
        for index in range(0, 300, 3):
            coord = (TOPICS[index % 2], (index // 2) % 6, (index // 2) // 6)
            for path in ("legacy", "ring") if index % 2 else ("legacy",):
                event = _event(other, path, coord, f"order-{index}", _digest(rng), 50_000.0)
                messages.append((event.key.encode(), encode_event(event)))
        stray = _event(other, "ring", ("elsewhere", 0, 1), "stray", _digest(rng), 1.0)
        messages.append((b"stray", encode_event(stray)))

    # Invalid events, anywhere in the topic.
    template = orjson.loads(messages[0][1])
    template["run"] = run_id
    invalid = [
        b"not json at all",
        b'{"v":1,"run":',  # truncated
        orjson.dumps({**template, "v": 2}),
        orjson.dumps({**template, "sum": "Z" * 32}),
        orjson.dumps({**template, "at": "soon"}),
        orjson.dumps([template]),
    ]
    for position, raw in zip(rng.sample(range(len(messages)), len(invalid)), invalid, strict=True):
        messages.insert(position, (b"order-0", raw))
    expected.invalid = len(invalid)
    return Scenario(run_id, messages, expected)


def build_clean(run_id: str, count: int, seed: int) -> Scenario:
    """A run where both paths wrote every record alike (with a few redeliveries)."""
    rng = random.Random(seed)
    expected = Expected()
    messages = []
    for index in range(count):
        coord = ("clean.src", index % 6, index // 6)
        key = f"clean-{index}"
        digest = _digest(rng)
        events = [
            _event(run_id, "legacy", coord, key, digest, rng.expovariate(1 / 30)),
            _event(run_id, "ring", coord, key, digest, rng.expovariate(1 / 30)),
        ]
        rng.shuffle(events)
        if index % 50 == 0:
            events.append(events[0])
        for event in events:
            expected.see(event)
            messages.append((key.encode(), encode_event(event)))
    return Scenario(run_id, messages, expected)


# --- the main scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Diffed:
    topic: str
    scenario: Scenario
    clean: Scenario
    process: subprocess.CompletedProcess[str]
    report: dict[str, Any]


@pytest.fixture(scope="module")
def diffed(services: Services, store: Store, module_topics: Callable[[str], str]) -> Diffed:
    topic = module_topics("compare")
    token = uuid.uuid4().hex[:8]
    scenario = build_scenario(f"it-{token}", SEED)
    clean = build_clean(f"it-clean-{token}", 1_000, SEED + 1)
    publish(services.settings.kafka.bootstrap, topic, scenario.messages + clean.messages)
    process = canary(*diff_args(scenario.run_id), env=store.env(topic))
    assert process.stdout, process.stderr
    return Diffed(topic, scenario, clean, process, orjson.loads(process.stdout))


def test_every_count_percentile_and_sample(diffed: Diffed) -> None:
    check_report(diffed.report, diffed.scenario.run_id, diffed.scenario.expected)


def test_scenario_covers_every_case(diffed: Diffed) -> None:
    """The hand-made data really holds what the other tests rely on."""
    expected = diffed.scenario.expected
    classes = expected.classes()
    assert {label: len(coords) for label, coords in classes.items()} == {
        "matched": 1880,
        "mismatched": 60,
        "missing_in_ring": 60,
        "missing_in_legacy": 40,
    }
    assert len(expected.latencies("legacy")) == 2000  # p99.9 is rank 1,998: not the maximum
    assert all(count > 0 for count in expected.duplicates.values())
    assert ("orders.src", 0, 0) in classes["missing_in_ring"]
    assert ("payments.src", 0, 0) in classes["missing_in_legacy"]


def test_verdict_and_exit_code_of_a_failing_run(diffed: Diffed) -> None:
    report = diffed.report
    assert diffed.process.returncode == 1, diffed.process.stderr
    assert report["verdict"] == "fail"
    reasons = [
        "60 mismatched records (limit 0)",
        "60 records missing in ring (limit 0)",
        "40 records missing in legacy (limit 0)",
    ]
    assert report["reasons"] == reasons
    assert diffed.process.stderr.splitlines()[-1] == "canary: FAIL: " + "; ".join(reasons)
    # The lone events committed months ago: long past the grace period, none pending.
    pending = report["pending"]
    assert (pending["in_ring"], pending["in_legacy"]) == (0, 0)
    assert pending["grace_s"] == 10.0


def test_latency_distributions_are_told_apart(diffed: Diffed) -> None:
    latency = diffed.report["latency_ms"]
    # Exponential means 40 ms and 8 ms: P99 about 184 ms and 37 ms.
    assert latency["legacy"]["mean"] == pytest.approx(40, rel=0.1)
    assert latency["ring"]["mean"] == pytest.approx(8, rel=0.1)
    assert latency["p99_gap"] < -100
    paired = latency["paired"]
    assert paired["count"] == 1880 + 60
    low, high = paired["p99_gap_ci95"]
    assert low <= paired["p99_gap"] <= high < 0


def test_a_clean_run_in_the_same_topic_passes(diffed: Diffed, store: Store) -> None:
    process = canary(*diff_args(diffed.clean.run_id), env=store.env(diffed.topic))
    assert process.returncode == 0, process.stdout + process.stderr
    assert "canary:" not in process.stderr
    report = orjson.loads(process.stdout)
    assert report["verdict"] == "pass"
    assert report["reasons"] == []
    expected = diffed.clean.expected
    # Invalid events count for every run whose diff reads them; only those that cannot
    # be attributed to a run (not JSON, not an object, another version) must count here.
    assert 3 <= report["invalid"] <= diffed.scenario.expected.invalid
    expected.invalid = report["invalid"]
    check_report(report, diffed.clean.run_id, expected)
    assert report["matched"] == 1_000


def test_unknown_run_fails_with_nothing_verified(diffed: Diffed, store: Store) -> None:
    process = canary(*diff_args("no-such-run-" + uuid.uuid4().hex[:6]), env=store.env(diffed.topic))
    assert process.returncode == 1
    report = orjson.loads(process.stdout)
    assert report["verdict"] == "fail"
    assert any("nothing was verified" in reason for reason in report["reasons"])
    assert process.stderr.splitlines()[-1] == (
        "canary: FAIL: no compare events for this run: nothing was verified"
    )
    assert report["records"] == {"legacy": 0, "ring": 0}


# --- a pair whose second half arrives late ----------------------------------------------------


def test_until_idle_0_leaves_a_record_whose_pair_is_late_pending_until_it_arrives(
    services: Services, store: Store, module_topics: Callable[[str], str]
) -> None:
    """Reading to the topic's end does not wait, so the grace period applies to commit
    times: a lone event younger than it is pending, neither missing nor judged."""
    topic = module_topics("compare-late")
    run_id = f"it-late-{uuid.uuid4().hex[:8]}"
    bootstrap = services.settings.kafka.bootstrap
    rng = random.Random(SEED + 3)
    expected = Expected()
    messages = []
    for index in range(5):  # old pairs: something to judge beside the late one
        coord = ("late.src", index % 6, index // 6)
        digest = _digest(rng)
        for path in ("legacy", "ring"):
            event = _event(run_id, path, coord, f"late-{index}", digest, 20.0)
            expected.see(event)
            messages.append((event.key.encode(), encode_event(event)))
    now_ms = time.time() * 1000
    src = SourceCoord(t="late.src", p=5, o=0, ts=int(now_ms) - 300)
    legacy = CompareEvent(run_id, "legacy", "late-5", src, _digest(rng), now_ms - 200)
    ring = CompareEvent(run_id, "ring", "late-5", src, legacy.sum, now_ms + 4000)
    publish(bootstrap, topic, [*messages, (b"late-5", encode_event(legacy))])
    env = store.env(topic)

    early = canary(*diff_args(run_id), "--grace", "60", env=env)
    assert early.returncode == 0, early.stdout + early.stderr
    report = orjson.loads(early.stdout)
    assert report["verdict"] == "pass"
    assert (report["matched"], report["missing_in_ring"], report["missing_in_legacy"]) == (5, 0, 0)
    assert report["records"] == {"legacy": 6, "ring": 5}
    pending = report["pending"]
    assert (pending["in_ring"], pending["in_legacy"], pending["grace_s"]) == (1, 0, 60.0)
    assert pending["samples"] == {
        "in_ring": [
            {"key": "late-5", "src": {"t": "late.src", "p": 5, "o": 0}, "legacy_sum": legacy.sum}
        ],
        "in_legacy": [],
    }

    # No grace period: the same lone event is a missing record.
    strict = canary(*diff_args(run_id), "--grace", "0", env=env)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert orjson.loads(strict.stdout)["missing_in_ring"] == 1
    assert strict.stderr.splitlines()[-1] == "canary: FAIL: 1 records missing in ring (limit 0)"

    publish(bootstrap, topic, [(b"late-5", encode_event(ring))])
    late = canary(*diff_args(run_id), "--grace", "60", env=env)
    assert late.returncode == 0, late.stdout + late.stderr
    report = orjson.loads(late.stdout)
    assert (report["matched"], report["missing_in_ring"]) == (6, 0)
    assert (report["pending"]["in_ring"], report["pending"]["in_legacy"]) == (0, 0)
    for event in (legacy, ring):
        expected.see(event)
    check_report(report, run_id, expected)


# --- the report store -----------------------------------------------------------------------------


def test_report_list_and_show(diffed: Diffed, store: Store, tmp_path: Path) -> None:
    env = store.env(diffed.topic)
    report_id = diffed.report["id"]
    listed = canary("report", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(report_id)]
    assert line.split()[1:4] == ["stream", diffed.scenario.run_id, "FAIL"]

    shown = canary("report", "show", report_id, "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout) == diffed.report

    page = tmp_path / "deeper" / "report.html"
    written = canary("report", "show", report_id, "--format", "html", "--out", str(page), env=env)
    assert written.returncode == 0, written.stderr
    html = page.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert diffed.scenario.run_id in html
    assert "</html>" in html
    assert str(page) in written.stderr

    text = canary("report", "show", report_id, "--format", "text", env=env)
    assert text.returncode == 0, text.stderr
    check_text(text.stdout, diffed.report)


def check_text(body: str, report: dict[str, Any]) -> None:
    lines = body.splitlines()
    assert f"run {report['run_id']}" in lines[0]
    assert "verdict: FAIL" in lines
    for reason in report["reasons"]:
        assert f"  - {reason}" in lines
    # The latency table: a header, a rule, one row per path, every row as wide as the
    # header and every number right-aligned under its heading.
    start = next(i for i, line in enumerate(lines) if line.startswith("path"))
    header, rule, *rows = lines[start : start + 4]
    assert set(rule.replace(" ", "")) == {"-"}
    assert [row.split()[0] for row in rows] == ["legacy", "ring"]
    for row, path in zip(rows, ("legacy", "ring"), strict=True):
        assert len(row) == len(header) == len(rule)
        figures = report["latency_ms"][path]
        assert row.split()[1:] == [f"{figures['count']:,}"] + [
            f"{figures[name]:,.2f}" for name in ("mean", "p50", "p95", "p99", "p999", "max")
        ]
        for heading in ("count", "p99.9", "max"):
            end = header.index(heading) + len(heading)
            assert row[end - 1] != " ", heading
            assert end == len(row) or row[end] == " ", heading
    counts = {
        "matched": report["matched"],
        "mismatched": report["mismatched"],
        "missing in ring": report["missing_in_ring"],
    }
    for label, count in counts.items():
        rows = [line for line in lines if re.fullmatch(rf"{label}\s+[\d,]+", line)]
        assert rows == [f"{label}  {count:>{len(rows[0]) - len(label) - 2},}"], label


# --- a long read: restart after SIGKILL, and speed ------------------------------------------------


BIG_RECORDS = 250_000  # two events each: 500k events in one run


@dataclass(frozen=True)
class Big:
    topic: str
    run_id: str
    events: int
    expected: Expected


@pytest.fixture(scope="module")
def big(services: Services, module_topics: Callable[[str], str]) -> Big:
    """500k compare events of one run, with mismatches, missing records and duplicates."""
    topic = module_topics("compare-big")
    run_id = f"it-big-{uuid.uuid4().hex[:8]}"
    rng = random.Random(SEED + 2)
    expected = Expected()
    messages = []
    for index in range(BIG_RECORDS):
        coord = ("big.src", index % 6, index // 6)
        key = str(index)
        digest = _digest(rng)
        roll = rng.random()
        legacy = _event(run_id, "legacy", coord, key, digest, rng.expovariate(1 / 40))
        ring = _event(
            run_id,
            "ring",
            coord,
            key,
            _digest(rng) if roll < 0.002 else digest,
            rng.expovariate(1 / 8),
        )
        events = [legacy, ring] if index % 2 else [ring, legacy]
        if 0.002 <= roll < 0.003:
            events = events[:1]
        elif 0.003 <= roll < 0.013:
            events.append(events[0])
        for event in events:
            expected.see(event)
            messages.append((key.encode(), encode_event(event)))
    publish(services.settings.kafka.bootstrap, topic, messages)
    return Big(topic, run_id, len(messages), expected)


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in ("id", "created_at")}


def _differences(first: object, second: object, where: str = "") -> list[str]:
    """Where two JSON trees differ, as paths with both values."""
    if isinstance(first, dict) and isinstance(second, dict):
        return [
            found
            for key in sorted(first.keys() | second.keys())
            for found in _differences(first.get(key), second.get(key), f"{where}.{key}")
        ]
    if first != second:
        return [f"{where}: {first!r} != {second!r}"]
    return []


def _reports_of(store: Store, run_id: str) -> int:
    with postgres.connect(store.settings.postgres) as connection:
        row = connection.execute(
            f"SELECT count(*) FROM {store.schema}.reports WHERE run_id = %s",
            (run_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _kill_mid_read(args: list[str], env: dict[str, str], total: int) -> int:
    """Start the diff with stderr on a terminal (so it prints progress), SIGKILL it once
    it has read some but not all events; return how many it had read."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(CANARY), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    seen, output = 0, b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if not ready:
                continue
            try:
                output += os.read(leader, 4096)
            except OSError:
                break
            counts = [
                int(part.split(b":")[1].split()[0].replace(b",", b""))
                for part in output.split(b"\r")
                if part.startswith(b"compare events read:") and part.count(b"/s") == 1
            ]
            seen = max(counts, default=0)
            if 0 < seen < total:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.wait(timeout=30)
        os.close(leader)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == -signal.SIGKILL, (
        f"the diff was not killed mid-read (exit {process.returncode}, read {seen:,} of "
        f"{total:,}): {output[-400:]!r}"
    )
    return seen


def test_restart_after_sigkill_gives_the_same_report(big: Big, store: Store) -> None:
    env = store.env(big.topic)
    whole = canary(*diff_args(big.run_id), env=env)
    assert whole.returncode == 1, whole.stderr[-2000:]
    uninterrupted = orjson.loads(whole.stdout)
    big.expected.invalid = 0
    check_report(uninterrupted, big.run_id, big.expected)
    stored_before = _reports_of(store, big.run_id)

    read = _kill_mid_read(diff_args(big.run_id), env, big.events)
    assert 0 < read < big.events
    assert _reports_of(store, big.run_id) == stored_before  # a killed diff stores nothing

    again = canary(*diff_args(big.run_id), env=env)
    assert again.returncode == 1, again.stderr[-2000:]
    restarted = orjson.loads(again.stdout)
    assert restarted["id"] != uninterrupted["id"]
    assert _differences(_comparable(restarted), _comparable(uninterrupted)) == []
    assert _reports_of(store, big.run_id) == stored_before + 1


def test_diff_speed(big: Big, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """Measures (does not judge) events per second of a whole `canary diff stream`."""
    started = time.monotonic()
    process = canary(*diff_args(big.run_id), env=store.env(big.topic))
    seconds = time.monotonic() - started
    assert process.returncode == 1, process.stderr[-2000:]
    report = orjson.loads(process.stdout)
    assert sum(report["records"].values()) + sum(report["duplicates"].values()) == big.events
    with capsys.disabled():
        print(
            f"\n[speed] canary diff stream --until-idle 0 --no-drill: {big.events:,} events "
            f"in {seconds:.2f} s = {big.events / seconds:,.0f} events/s (whole command, "
            f"including start-up and the report)"
        )
