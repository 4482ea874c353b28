"""Where a ring-path record's microseconds go: py-spy samples, summed by stage.

Produces MESSAGES order events to a fresh topic (not profiled), then runs the ring path
alone on them under ``py-spy record`` and prints, per stage of the record's way (fetch,
routing, handler, checksum, COPY, publishing, acknowledgements...), the sampled CPU
time divided by the records written: microseconds per record. Usage:

    .venv/bin/pip install py-spy            # once; a prebuilt wheel from PyPI
    .venv/bin/python benchmarks/ring_profile.py --messages 200000 [--mode processes] \\
        [--gil] [--keep profile.txt]

``--gil`` samples only the thread holding the GIL: in thread mode that is the figure
that bounds the rate (one interpreter runs one thread at a time). Without it every
running thread counts, so the sum is CPU time. ``--keep`` saves the collapsed stacks
(``py-spy``'s raw format) for a flame graph (``flamegraph.pl`` or speedscope.app).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from canary import app
from canary.bench import children
from canary.bench.suite import bench_settings
from canary.config import load_settings
from canary.paths.runtime import StopFlag

RATE_HZ = 250
# The stage of a sample is decided by the innermost frame that matches, in this order of
# precedence from the leaf up: the first (file fragment, function) hit names it.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("canary/handlers/", "", "handler"),
    ("canary/core/checksum.py", "", "checksum"),
    ("canary/core/events.py", "", "compare event encoding"),
    ("canary/kafka/publisher.py", "on_delivery", "acknowledgements"),
    ("canary/core/offsets.py", "", "offset tracking"),
    ("canary/kafka/publisher.py", "", "publishing"),
    ("canary/kafka/producer.py", "", "publishing"),
    ("sinks/postgres.py", "_postgres_values", "COPY rows"),
    ("psycopg/", "", "COPY rows"),
    ("sinks/postgres.py", "", "PostgreSQL round trips"),
    ("canary/core/dispatch.py", "", "dispatch"),
    ("canary/core/ring.py", "", "dispatch"),
    ("canary/paths/pool.py", "", "pool"),
    ("canary/kafka/consumer.py", "", "fetch"),
    ("canary/paths/ring.py", "_route", "routing"),
    ("canary/paths/ring.py", "_absorb_acks", "acknowledgements"),
    ("canary/paths/ring.py", "_backpressure", "backpressure"),
    ("canary/paths/remote.py", "", "worker pipe"),
    ("multiprocessing/", "", "worker pipe"),
    ("canary/paths/apply.py", "", "apply (own code)"),
    ("canary/paths/ring.py", "", "fetcher (own code)"),
)


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for fragment, function, stage in STAGES:
            if fragment in frame and (not function or frame.startswith(function + " ")):
                return stage
    return "other"


def summarise(raw: Path, records: int) -> dict[str, float]:
    """Microseconds per record by stage, from py-spy's collapsed stacks."""
    samples: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples[stage_of(stack.split(";"))] += int(count)
    per_sample_us = 1e6 / RATE_HZ
    return {
        stage: count * per_sample_us / max(records, 1) for stage, count in samples.most_common()
    }


def child(stamp: str, mode: str, out: Path) -> None:
    settings = bench_settings(load_settings(), stamp, 6)
    kind = "ring_processes" if mode == "processes" else "ring"
    result, _ = children.run_path(  # the bench child's body, without a second spawn
        settings,
        children.ChildRun(kind, f"profile-{stamp}", f"profile-{stamp}", 2.0),
        StopFlag(),
    )
    out.write_text(json.dumps({"messages": result.messages, "seconds": result.busy_seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--mode", choices=("threads", "processes"), default="threads")
    parser.add_argument("--gil", action="store_true", help="sample only the GIL holder")
    parser.add_argument("--keep", type=Path, help="save the collapsed stacks here")
    parser.add_argument("--child", nargs=2, metavar=("STAMP", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.mode, Path(args.child[1]))
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    stamp = "p" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    settings = bench_settings(load_settings(), stamp, 6)
    app.init_databases(settings)
    app.ensure_output_topics(settings)
    app.empty_tables(settings, offsets=True)
    print(f"producing {args.messages:,} events to {settings.kafka.source_topic}")
    app.produce(settings, count=args.messages, rate=0, seed=1, topic=None, partitions=6, keys=None)
    with tempfile.TemporaryDirectory() as scratch:
        raw, summary = Path(scratch, "raw.txt"), Path(scratch, "summary.json")
        command = [spy, "record", "--format", "raw", "--rate", str(RATE_HZ), "--subprocesses"]
        command += ["--gil"] if args.gil else []
        command += ["-o", str(raw), "--", sys.executable, __file__, "--mode", args.mode]
        command += ["--child", stamp, str(summary)]
        started = time.monotonic()
        done = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603 - our own command
        wall = time.monotonic() - started
        if not summary.exists():
            sys.exit(f"the profiled ring run failed:\n{done.stderr[-4000:]}")
        figures = json.loads(summary.read_text())
        if args.keep:
            shutil.copy(raw, args.keep)
        stages = summarise(raw, figures["messages"])
    rate = figures["messages"] / max(figures["seconds"], 1e-9)
    print(
        f"ring ({args.mode}{', GIL holder only' if args.gil else ''}): "
        f"{figures['messages']:,} records, {rate:,.0f} msg/s while busy, {wall:.0f} s in all"
    )
    print(f"{'stage':<26} {'µs/record':>10}")
    for stage, micros in stages.items():
        print(f"{stage:<26} {micros:>10.2f}")
    print(f"{'total sampled':<26} {sum(stages.values()):>10.2f}")
    print(f"{'wall time per record':<26} {1e6 / max(rate, 1e-9):>10.2f}")


if __name__ == "__main__":
    main()
