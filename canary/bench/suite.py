"""The whole benchmark: limits, throughput, latency under load, rebalance stalls.

Throughput runs are sequential, each path alone on the machine, on the same
pre-produced topic; latency runs (``canary.bench.latency``) put each path alone, then
both side by side, under fixed loads, as in a gray release; rebalance runs
(``canary.bench.rebalance``) let a second member join mid-stream and leave again, and
measure how long the partitions that did not move stood still.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canary import app
from canary.bench import children, latency, limits, rebalance
from canary.bench.figures import limits_ratio
from canary.bench.runs import BenchOptions, Say, checked
from canary.config import Settings

__all__ = ["BenchOptions", "bench_settings", "run_bench"]


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
    tree_rss: dict[str, float] = {}
    buffered: dict[str, int] = {}
    for kind in children.KINDS:
        app.empty_tables(bench, offsets=True)
        say(f"throughput: {kind} alone on {options.messages:,} messages")
        result = checked(
            children.run(
                bench,
                children.ChildRun(
                    kind, f"bench-{stamp}-{kind}", f"bench-{stamp}-{kind}", until_idle=3.0
                ),
            )
        )
        throughput[kind] = result.rate
        rss[kind] = result.peak_rss_mb
        tree_rss[kind] = result.peak_tree_rss_mb
        buffered[kind] = result.peak_bytes
        say(
            f"  {result.rate:,.0f} msg/s, peak RSS {result.peak_rss_mb:,.0f} MB "
            f"(with its child processes {result.peak_tree_rss_mb:,.0f} MB)"
        )

    latency_ms, latency_points = latency.measure(bench, stamp, options, say)
    no_stall = {"join_gap": 0.0, "leave_gap": 0.0, "quiet_gap": 0.0}
    stalls = {
        kind: rebalance.measure(bench, stamp, kind, options, say) if options.stall else no_stall
        for kind in ("legacy", "ring")
    }
    upserts = {"postgres_upsert": pg_limit, "mysql_upsert": my_limit}
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
        "limits_ratio": limits_ratio(throughput, upserts),
        "latency_ms": latency_ms,
        "latency_points": latency_points,
        "peak_rss_mb": {"legacy": rss["legacy"], "ring": rss["ring"]},
        "peak_tree_rss_mb": {kind: tree_rss[kind] for kind in ("legacy", "ring", "ring_processes")},
        "ring_buffered_peak_bytes": {kind: buffered[kind] for kind in ("ring", "ring_processes")},
        "rebalance_stall_ms": {kind: gaps["join_gap"] for kind, gaps in stalls.items()},
        "rebalance_ms": stalls,
    }
