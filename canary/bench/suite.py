"""The whole benchmark: limits, throughput, latency under load, rebalance stalls.

Throughput runs are sequential, each path alone on the machine, on the same
pre-produced topic; latency runs both paths side by side under a fixed load, as in a
gray release; a stall run lets a second member join mid-stream and measures how long
the partitions that did not move stood still.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from canary import app
from canary.bench import children, limits
from canary.bench.events import collect, longest_gap_ms
from canary.config import Settings
from canary.core.join import StreamJoin
from canary.diff.stream import ReadOptions, read_run
from canary.errors import CanaryError

Say = Callable[[str], None]
_JOIN = 6.0  # seconds for a new process to start and join its group
_IDLE = _JOIN + 6.0  # a member outlasts the wait before the load starts


@dataclass(frozen=True, slots=True)
class BenchOptions:
    messages: int = 50_000
    partitions: int = 6
    load: float = 1_000.0  # msg/s for the latency and stall runs
    load_seconds: float = 15.0
    stall: bool = True


def bench_settings(settings: Settings, stamp: str, partitions: int) -> Settings:
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(
                update={
                    "source_topic": f"canary.bench-{stamp}",
                    "compare_topic": f"canary.bench-{stamp}.compare",
                    "dlq_topic": f"canary.bench-{stamp}.dlq",
                    "partitions": partitions,
                }
            ),
            "mysql": settings.mysql.model_copy(update={"table": "bench_orders"}),
            "postgres": settings.postgres.model_copy(
                update={"table": "bench_orders", "offsets_table": "bench_offsets"}
            ),
        }
    )


def run_bench(settings: Settings, options: BenchOptions, say: Say) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    bench = bench_settings(settings, stamp, options.partitions)
    app.init_databases(bench)
    app.ensure_output_topics(bench)
    say(f"bench {stamp}: producing {options.messages:,} events to {bench.kafka.source_topic}")
    app.produce(
        bench,
        count=options.messages,
        rate=0,
        seed=1,
        topic=None,
        partitions=options.partitions,
        keys=None,
    )

    say("limits: consume only, PostgreSQL and MySQL upserts in batches of 1,000")
    consume = limits.consume_only(
        bench, bench.kafka.source_topic, options.messages, f"bench-consume-{stamp}"
    )
    rows = limits.sample_rows(min(options.messages, 20_000))
    app.empty_tables(bench, offsets=True)
    pg_limit = limits.postgres_upsert(bench, rows)
    my_limit = limits.mysql_upsert(bench, rows)

    throughput: dict[str, float] = {}
    rss: dict[str, float] = {}
    for kind in children.KINDS:
        app.empty_tables(bench, offsets=True)
        say(f"throughput: {kind} alone on {options.messages:,} messages")
        result = _checked(
            children.run(
                bench,
                children.ChildRun(
                    kind, f"bench-{stamp}-{kind}", f"bench-{stamp}-{kind}", until_idle=3.0
                ),
            )
        )
        throughput[kind] = result.rate
        rss[kind] = result.peak_rss_mb
        say(f"  {result.rate:,.0f} msg/s, peak RSS {result.peak_rss_mb:,.0f} MB")

    latency = _latency(bench, stamp, options, say)
    stalls = {
        kind: _stall(bench, stamp, kind, options, say) if options.stall else 0.0
        for kind in ("legacy", "ring")
    }
    return {
        "kind": "bench",
        "id": f"bench-{stamp}",
        "verdict": "pass",
        "messages": options.messages,
        "partitions": options.partitions,
        "throughput_msg_s": {
            "legacy": throughput["legacy"],
            "ring": throughput["ring"],
            "classic_to_postgres": throughput["classic_to_postgres"],
            "ring_processes": throughput["ring_processes"],
            "ratio_ring_legacy": throughput["ring"] / max(throughput["legacy"], 1e-9),
        },
        "limits_msg_s": {
            "consume_only": consume,
            "postgres_upsert": pg_limit,
            "mysql_upsert": my_limit,
        },
        "latency_ms": latency,
        "peak_rss_mb": {"legacy": rss["legacy"], "ring": rss["ring"]},
        "rebalance_stall_ms": stalls,
    }


def _checked(result: children.ChildResult) -> children.ChildResult:
    if result.error:
        raise CanaryError(f"bench: the {result.kind} run failed: {result.error}")
    return result


def _on_fresh_topic(settings: Settings, name: str) -> Settings:
    fresh = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"source_topic": name})}
    )
    app.ensure_source_topic(fresh)
    app.empty_tables(fresh, offsets=True)
    return fresh


def _load(settings: Settings, options: BenchOptions) -> threading.Thread:
    count = int(options.load * options.load_seconds)
    thread = threading.Thread(
        target=app.produce,
        kwargs={
            "settings": settings,
            "count": count,
            "rate": options.load,
            "seed": 2,
            "topic": None,
            "partitions": None,
            "keys": None,
        },
        daemon=True,
    )
    thread.start()
    return thread


def _latency(settings: Settings, stamp: str, options: BenchOptions, say: Say) -> dict[str, Any]:
    """Both paths side by side on one topic under a fixed load, as in a gray release."""
    say(
        f"latency: both paths side by side at {options.load:,.0f} msg/s "
        f"for {options.load_seconds:g} s"
    )
    fresh = _on_fresh_topic(settings, f"canary.bench-{stamp}.latency")
    run_id = f"bench-{stamp}-latency"
    handles = [
        children.start(fresh, children.ChildRun(kind, run_id, f"{run_id}-{kind}", _IDLE))
        for kind in ("legacy", "ring")
    ]
    time.sleep(_JOIN)  # both members join their groups before the load starts
    _load(fresh, options).join()
    for handle in handles:
        _checked(children.finish(handle))
    join = StreamJoin(run_id)
    read_run(fresh.kafka.bootstrap, ReadOptions(fresh.kafka.compare_topic, run_id, 0, 0), join)
    result = join.result()
    legacy, ring = result.sketches[0].summary(), result.sketches[1].summary()
    say(f"  p99 legacy {legacy.p99:,.1f} ms, ring {ring.p99:,.1f} ms")
    return {
        "legacy": {"p50": legacy.p50, "p99": legacy.p99},
        "ring": {"p50": ring.p50, "p99": ring.p99},
        "load_msg_s": options.load,
    }


def _stall(settings: Settings, stamp: str, kind: str, options: BenchOptions, say: Say) -> float:
    """Member A consumes under load; B joins; how long did A's unmoved partitions stop?"""
    say(f"rebalance: a second {kind} member joins mid-stream")
    fresh = _on_fresh_topic(settings, f"canary.bench-{stamp}.stall-{kind}")
    group = f"bench-{stamp}-stall-{kind}"
    first = children.start(fresh, children.ChildRun(kind, f"{group}-a", group, _IDLE))
    time.sleep(_JOIN)
    load = _load(fresh, options)
    time.sleep(options.load_seconds / 3)
    joined_at = time.time() * 1000.0
    second = children.start(fresh, children.ChildRun(kind, f"{group}-b", group, _IDLE))
    load.join()
    for handle in (first, second):
        _checked(children.finish(handle))
    events = collect(fresh.kafka.bootstrap, fresh.kafka.compare_topic, {f"{group}-a", f"{group}-b"})
    moved = {partition for partition, _, _ in events.by_run.get(f"{group}-b", [])}
    stayed = set(range(options.partitions)) - moved
    gap = longest_gap_ms(
        events.by_run.get(f"{group}-a", []),
        stayed,
        (joined_at, joined_at + options.load_seconds * 1000.0),
    )
    say(f"  partitions kept by the first member: {sorted(stayed)}; longest gap {gap:,.0f} ms")
    return gap
