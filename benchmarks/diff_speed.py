"""How many compare events per second `canary diff stream` joins, in one process.

Publishes N events of one run (both paths, every record matched) to a private compare
topic, times the real command with `--until-idle 0 --no-drill`, prints the figures and
deletes the topic. Usage:

    .venv/bin/python benchmarks/diff_speed.py [--records 250000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from canary.config import load_settings
from canary.core.events import CompareEvent, SourceCoord, encode_event
from canary.kafka import admin, client
from canary.kafka.producer import CheckedProducer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=250_000)
    args = parser.parse_args()
    settings = load_settings()
    bootstrap = settings.kafka.bootstrap
    topic = f"bench.diff-{uuid.uuid4().hex[:8]}"
    run_id = "speed"
    admin_client = client.probe(bootstrap)
    admin.ensure_topic(admin_client, bootstrap, topic, 6)
    producer = CheckedProducer(bootstrap, linger_ms=20)
    try:
        for offset in range(args.records):
            src = SourceCoord("orders", offset % 6, offset // 6, 1_700_000_000_000 + offset)
            for path, latency in (("legacy", 40.0), ("ring", 9.0)):
                event = CompareEvent(
                    run=run_id,
                    path=path,
                    key=str(offset),
                    src=src,
                    sum=f"{offset:032x}",
                    at=src.ts + latency,
                )
                producer.produce(topic, encode_event(event), key=str(offset).encode())
        producer.flush()
        events = 2 * args.records
        canary = Path(sys.executable).with_name("canary")
        env = {**os.environ, "CANARY_KAFKA__COMPARE_TOPIC": topic}
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own command
            [
                str(canary),
                "diff",
                "stream",
                "--run-id",
                run_id,
                "--until-idle",
                "0",
                "--no-drill",
                "--format",
                "json",
                "--out",
                os.devnull,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"diff failed ({done.returncode}): {done.stderr}")
        print(
            f"events: {events:,}  wall: {seconds:.2f} s  rate: {events / seconds:,.0f} events/s "
            "(whole command: start-up, read, join, statistics, report)"
        )
    finally:
        for future in admin_client.delete_topics([topic]).values():
            future.result(timeout=30)


if __name__ == "__main__":
    main()
