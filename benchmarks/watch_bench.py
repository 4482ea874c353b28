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
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Producer

from canary.config import load_settings
from canary.core.events import SourceCoord, encode_trusted
from canary.kafka import admin, client
from sinks import postgres
from sinks.checkpoints import CheckpointStore

RUN = "watch-bench"
PARTITIONS = 6


def produce(bootstrap: str, topic: str, records: int, lag: int) -> None:
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
        src = SourceCoord("orders", index % PARTITIONS, index // PARTITIONS, base + index)
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


def watchers(topic: str, count: int, total_events: int) -> dict[str, object]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--lag", type=int, default=100_000)
    parser.add_argument("--topic", default=None)
    parser.add_argument("--skip-two", action="store_true")
    args = parser.parse_args()
    bootstrap = load_settings().kafka.bootstrap
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
