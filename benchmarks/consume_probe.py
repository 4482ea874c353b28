"""librdkafka's fetch and queue sizes for a whole-topic reader: rate against memory.

Reads EVENTS messages of TOPIC from the start with the given sizes, spending WORK_US of
busy CPU per message (what the join costs a watcher), and prints the rate and the
process's peak RSS. Usage, on a topic `benchmarks/watch_bench.py` filled:

    .venv/bin/python benchmarks/consume_probe.py TOPIC --fetch-kb 1024 --max-kb 8192 \\
        --queue-kb 2048 --backoff-ms 5 [--events 4000000] [--work-us 4]
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("topic")
    parser.add_argument("--fetch-kb", type=int, default=1024, help="max.partition.fetch.bytes")
    parser.add_argument("--max-kb", type=int, default=8192, help="fetch.max.bytes")
    parser.add_argument("--queue-kb", type=int, default=2048, help="queued.max.messages.kbytes")
    parser.add_argument("--backoff-ms", type=int, default=1000, help="fetch.queue.backoff.ms")
    parser.add_argument("--events", type=int, default=4_000_000)
    parser.add_argument("--work-us", type=float, default=4.0)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"consume-probe-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": args.fetch_kb << 10,
            "fetch.max.bytes": args.max_kb << 10,
            "queued.max.messages.kbytes": args.queue_kb,
            "fetch.queue.backoff.ms": args.backoff_ms,
        }
    )
    consumer.subscribe([args.topic])
    read, peak, started = 0, 0.0, 0.0
    while read < args.events:
        batch = consumer.consume(10_000, 1.0)
        if not batch:
            continue
        if not started:
            started = time.perf_counter()
        for message in batch:
            message.value()
        read += len(batch)
        busy_until = time.perf_counter() + len(batch) * args.work_us / 1e6
        while time.perf_counter() < busy_until:
            pass
        peak = max(peak, rss_mb())
    rate = read / (time.perf_counter() - started)
    print(
        f"fetch {args.fetch_kb} KiB, max {args.max_kb} KiB, queue {args.queue_kb} KiB, "
        f"backoff {args.backoff_ms} ms: {rate:,.0f} events/s, peak RSS {peak:.0f} MB"
    )
    consumer.close()


if __name__ == "__main__":
    main()
