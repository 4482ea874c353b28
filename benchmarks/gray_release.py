"""A simulated gray release: both paths and one watcher, for MINUTES at RATE msg/s.

Starts `canary run legacy` and `canary run ring` on a fresh source topic and compare
topic (tables of their own), `canary watch --window 60` on the run, and `canary produce`
at a paced RATE. Every 10 s it samples each process's RSS. The paths end on their own
once caught up and idle (`--until-idle 20`); then the watcher gets SIGTERM, and the
script prints:

- per process, RSS at minute 2 and the highest RSS from minute 2 to the end (the goal:
  within 10 %);
- each window's p99 per path (from the stored window reports);
- the watcher's final verdict and counts next to a batch diff of the same run.

Usage:

    .venv/bin/python benchmarks/gray_release.py [--minutes 15] [--rate 1500] [--legacy-batch 1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from canary.config import load_settings
from sinks import postgres

SAMPLE_S = 10.0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=1500.0)
    parser.add_argument(
        "--legacy-batch",
        type=int,
        default=1,
        help="rows per MySQL transaction on the legacy path (legacy.batch_size); one row "
        "at a time does not sustain 1,500 msg/s on a 2-core machine shared with the rest",
    )
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    run = f"gray-{tag}"
    env = {
        **os.environ,
        "CANARY_KAFKA__SOURCE_TOPIC": f"gray.src-{tag}",
        "CANARY_KAFKA__COMPARE_TOPIC": f"gray.cmp-{tag}",
        "CANARY_MYSQL__TABLE": f"gray_{tag}",
        "CANARY_POSTGRES__TABLE": f"gray_{tag}",
        "CANARY_POSTGRES__OFFSETS_TABLE": f"gray_offsets_{tag}",
        "CANARY_LEGACY__GROUP": f"gray-legacy-{tag}",
        "CANARY_RING__GROUP": f"gray-ring-{tag}",
        "CANARY_LEGACY__BATCH_SIZE": str(args.legacy_batch),
    }
    canary = [sys.executable, "-m", "canary"]
    count = int(args.minutes * 60 * args.rate)
    # The tables and topics first, so that every member finds what it needs.
    subprocess.run([*canary, "db", "init"], env=env, check=True)  # noqa: S603
    subprocess.run([*canary, "produce", "--count", "1", "--rate", "0"], env=env, check=True)  # noqa: S603
    logs = Path(f".state/gray-{tag}")
    logs.mkdir(parents=True, exist_ok=True)
    commands = {
        "legacy": [*canary, "run", "legacy", "--run-id", run, "--until-idle", "20"],
        "ring": [*canary, "run", "ring", "--run-id", run, "--until-idle", "20"],
        "watch": [*canary, "watch", "--run-id", run, "--window", "60", "--format", "json"],
    }
    processes = {
        name: subprocess.Popen(  # noqa: S603 - our own command
            command,
            env=env,
            stdout=subprocess.PIPE if name == "watch" else subprocess.DEVNULL,
            stderr=(logs / f"{name}.log").open("w"),
            text=True,
        )
        for name, command in commands.items()
    }
    time.sleep(5)
    started = time.monotonic()
    producer = subprocess.Popen(  # noqa: S603
        [*canary, "produce", "--count", str(count), "--rate", str(args.rate)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in processes}
    # Until both paths have caught up with everything produced and gone idle.
    while any(processes[name].poll() is None for name in ("legacy", "ring")):
        time.sleep(SAMPLE_S)
        minute = (time.monotonic() - started) / 60
        for name, process in processes.items():
            samples[name].append((minute, rss_mb(process.pid)))
    producer.wait()
    time.sleep(10)  # the watcher reads the last events
    processes["watch"].send_signal(signal.SIGTERM)
    out, _ = processes["watch"].communicate(timeout=120)
    report = json.loads(out)
    diff = subprocess.run(  # noqa: S603
        [
            *canary,
            "diff",
            "stream",
            "--run-id",
            run,
            "--until-idle",
            "0",
            "--grace",
            "0",
            "--no-drill",
            "--ignore-checkpoints",
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    batch = json.loads(diff.stdout)
    print(
        f"{count:,} messages at {args.rate:,.0f} msg/s over {args.minutes:g} min, run {run}, "
        f"legacy batch {args.legacy_batch}"
    )
    for name, points in samples.items():
        after = [rss for minute, rss in points if minute >= 2]
        at_two = after[0] if after else 0.0
        peak = max(after) if after else 0.0
        print(
            f"  {name:6} RSS at minute 2: {at_two:6.1f} MB, highest after: {peak:6.1f} MB "
            f"({100 * (peak / at_two - 1) if at_two else 0:+.1f} %)"
        )
    settings = load_settings()
    schema = settings.postgres.report_schema
    with postgres.connect(settings.postgres) as connection:
        rows = connection.execute(
            f"SELECT body FROM {schema}.reports WHERE run_id = %s AND id LIKE %s "
            "ORDER BY created_at",
            (run, "%-window"),
        ).fetchall()
    for (body,) in rows:
        latency = body["latency_ms"]
        print(
            f"  window {body['from'][11:19]}-{body['to'][11:19]} {body['verdict']:4} "
            f"matched {body['matched']:7,}  p99 legacy {latency['legacy']['p99']:8.1f} ms  "
            f"ring {latency['ring']['p99']:7.1f} ms"
        )
    keys = ("matched", "mismatched", "missing_in_ring", "missing_in_legacy", "duplicates")
    print("  watch:", report["verdict"], {k: report[k] for k in keys})
    print("  batch:", batch["verdict"], {k: batch[k] for k in keys})


if __name__ == "__main__":
    main()
