"""`canary watch` at scale: join rate of one and two watchers, and memory over the run.

Publishes the compare events of RECORDS records of one run to a private topic (both
paths, every record matched, the ring path's event of record i published beside the
legacy event of record i + LAG: ring lags legacy by LAG records all along), then:

1. one watcher (`canary watch --until-idle 1`) reads it all; its RSS and its
   events-read counter are sampled every half second: the rate between 10 % and 90 %
   of the events, and the RSS at every tenth of the run;
2. two watchers of the same run (a consumer group on the topic) read it again from the
   start, one core each: the combined rate, as a ratio to one watcher's.

Both end with the report of the whole run, checked against the known counts. Usage:

    .venv/bin/python benchmarks/watch_bench.py [--records 10000000] [--lag 100000]
        [--topic T  (reuse a topic this script filled before)] [--skip-two]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from canary.config import load_settings
from canary.core.events import SourceCoord, encode_trusted
from canary.kafka import admin, client
from sinks import postgres
from sinks.checkpoints import CheckpointStore

RUN = "watch-bench"
PARTITIONS = 6


class PathCommits:
    """Commits, for one consumer group per path, where that path stands on the source
    topic, the way the paths do: only for events already acknowledged."""

    def __init__(self, bootstrap: str, source: str, group_prefix: str) -> None:
        self.source = source
        self.groups = {path: f"{group_prefix}-{path}" for path in ("legacy", "ring")}
        self._consumers = {
            path: Consumer({"bootstrap.servers": bootstrap, "group.id": group})
            for path, group in self.groups.items()
        }

    def commit(self, path: str, next_index: int) -> None:
        """Records below ``next_index`` are acknowledged on ``path``."""
        offsets = [
            TopicPartition(self.source, p, max(0, (next_index - p + PARTITIONS - 1) // PARTITIONS))
            for p in range(PARTITIONS)
        ]
        self._consumers[path].commit(offsets=offsets, asynchronous=False)

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()


def produce(
    bootstrap: str,
    topic: str,
    records: int,
    lag: int,
    commits: PathCommits | None = None,
    source: str = "orders",
) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
            "acks": 1,
        }
    )
    base = int(time.time() * 1000) - records
    started = time.perf_counter()

    def emit(path: str, index: int, latency: float) -> None:
        key = str(index)
        src = SourceCoord(source, index % PARTITIONS, index // PARTITIONS, base + index)
        value = encode_trusted(RUN, path, key, src, f"{index:032x}", src.ts + latency)  # type: ignore[arg-type]
        while True:
            try:
                producer.produce(topic, value, key.encode())
                return
            except BufferError:
                producer.poll(0.05)

    for index in range(records + lag):
        if index < records:
            emit("legacy", index, 40.0 + (index % 97))
        if index >= lag:
            emit("ring", index - lag, 9.0 + (index % 89) / 10)
        if index % 100_000 == 0:
            producer.poll(0)
            if commits is not None and index:
                producer.flush()
                commits.commit("legacy", min(index + 1, records))
                commits.commit("ring", max(0, index + 1 - lag))
            if index % 1_000_000 == 0 and index:
                print(f"  produced {index:,} records", flush=True)
    producer.flush()
    seconds = time.perf_counter() - started
    print(f"produced {2 * records:,} events in {seconds:.0f} s", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("canary_watch_events_read_total"):
            return float(line.rsplit(" ", 1)[1])
    return None


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def watchers(
    topic: str, count: int, total_events: int, groups: dict[str, str] | None = None
) -> dict[str, object]:
    """Run ``count`` watchers of RUN from the start; sample their progress and RSS."""
    ports = [free_port() for _ in range(count)]
    env = {**os.environ, "CANARY_KAFKA__COMPARE_TOPIC": topic}
    canary = Path(sys.executable).with_name("canary")
    outs = [Path(tempfile.mkstemp(suffix=".json")[1]) for _ in range(count)]
    # Each pass starts from the beginning: the checkpoints of an earlier one go first.
    settings = load_settings()
    store = CheckpointStore(postgres.Connector(settings.postgres), settings.postgres.report_schema)
    store.ensure()
    store.forget(RUN, topic)
    store.close()
    started = time.perf_counter()
    processes = [
        subprocess.Popen(  # noqa: S603 - our own command
            [
                str(canary),
                "watch",
                "--run-id",
                RUN,
                "--until-idle",
                "2",
                "--window",
                "30",
                "--metrics-port",
                str(port),
                *(
                    ["--legacy-group", groups["legacy"], "--ring-group", groups["ring"]]
                    if groups
                    else []
                ),
                "--format",
                "json",
                "--out",
                str(out),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port, out in zip(ports, outs, strict=True)
    ]
    samples: list[tuple[float, float, int]] = []  # (seconds, events read, RSS KB of all)
    while any(p.poll() is None for p in processes):
        time.sleep(0.5)
        read = [scrape(port) for port in ports]
        samples.append(
            (
                time.perf_counter() - started,
                sum(r or 0 for r in read),
                sum(rss_kb(p.pid) for p in processes if p.poll() is None),
            )
        )
    for process in processes:
        if process.returncode not in (0, 1):
            raise SystemExit(f"watcher failed ({process.returncode}): {process.stderr.read()}")  # type: ignore[union-attr]
    report = json.loads(outs[0].read_text())

    def at(share: float) -> tuple[float, float]:
        for seconds, read, _ in samples:
            if read >= share * total_events:
                return seconds, read
        return samples[-1][0], samples[-1][1]

    (t10, r10), (t90, r90) = at(0.1), at(0.9)
    rate = (r90 - r10) / max(t90 - t10, 1e-9)
    tenths = []
    for tenth in range(1, 11):
        reached = [rss for _, read, rss in samples if read >= tenth / 10 * total_events * 0.999]
        tenths.append(round((reached[0] if reached else samples[-1][2]) / 1024, 1))
    return {
        "watchers": count,
        "rate_events_s": round(rate),
        "peak_rss_mb": round(max(rss for _, _, rss in samples) / 1024, 1),
        "rss_mb_by_tenth": tenths,
        "matched": report["matched"],
        "verdict": report["verdict"],
    }


def live(bootstrap: str, records: int, lag: int) -> None:
    topic = f"bench.watch-live-{uuid.uuid4().hex[:8]}"
    source = f"{topic}.src"
    probe = client.probe(bootstrap)
    admin.ensure_topic(probe, bootstrap, topic, PARTITIONS)
    admin.ensure_topic(probe, bootstrap, source, PARTITIONS)
    commits = PathCommits(bootstrap, source, topic)
    producer = threading.Thread(
        target=produce, args=(bootstrap, topic, records, lag, commits, source), daemon=True
    )
    producer.start()
    figures = watchers(topic, 1, 2 * records, commits.groups)
    producer.join()
    commits.close()
    print(json.dumps({"mode": "live", **figures}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--lag", type=int, default=100_000)
    parser.add_argument("--topic", default=None)
    parser.add_argument("--skip-two", action="store_true")
    parser.add_argument(
        "--live",
        action="store_true",
        help="produce while one watcher runs, committing both paths' positions as it "
        "goes (memory of a live release; the rate is then the producer's)",
    )
    args = parser.parse_args()
    bootstrap = load_settings().kafka.bootstrap
    if args.live:
        live(bootstrap, args.records, args.lag)
        return
    topic = args.topic or f"bench.watch-{uuid.uuid4().hex[:8]}"
    if args.topic is None:
        admin.ensure_topic(client.probe(bootstrap), bootstrap, topic, PARTITIONS)
        produce(bootstrap, topic, args.records, args.lag)
    total = 2 * args.records
    one = watchers(topic, 1, total)
    print(json.dumps(one), flush=True)
    if one["matched"] != args.records:
        raise SystemExit(f"one watcher matched {one['matched']:,} of {args.records:,}")
    if not args.skip_two:
        two = watchers(topic, 2, total)
        print(json.dumps(two), flush=True)
        ratio = two["rate_events_s"] / max(one["rate_events_s"], 1)  # type: ignore[operator]
        print(f"two watchers / one: {ratio:.2f}x", flush=True)
    print(f"topic {topic} (pass --topic to reuse it)")


if __name__ == "__main__":
    main()
