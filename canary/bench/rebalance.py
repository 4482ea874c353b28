"""Rebalance stalls: a second member joins a consuming group, then leaves it cleanly.

Member A consumes under a fixed load split in three equal phases: alone (the quiet
baseline), with member B (which joins as the second phase starts) and alone again (B
is stopped by SIGTERM as the third starts, committing and leaving its group). Only
the partitions B never took count: their standstill is what a rebalance costs the
work that did not move. Each phase lasts at least ``JOIN`` seconds, so that B has
started and joined before it is asked to leave.
"""

from __future__ import annotations

import time

from canary.bench import children
from canary.bench.events import collect
from canary.bench.figures import Phases, rebalance_gaps
from canary.bench.runs import IDLE, JOIN, BenchOptions, Say, finish, on_fresh_topic, start_load
from canary.config import Settings


def measure(
    settings: Settings, stamp: str, kind: str, options: BenchOptions, say: Say
) -> dict[str, float]:
    """``join_gap``, ``leave_gap`` and ``quiet_gap`` of A's unmoved partitions, in ms."""
    say(f"rebalance: a second {kind} member joins mid-stream, then leaves")
    fresh = on_fresh_topic(settings, f"canary.bench-{stamp}.stall-{kind}")
    group = f"bench-{stamp}-stall-{kind}"
    phase = max(options.load_seconds / 3, JOIN)
    first = children.start(fresh, children.ChildRun(kind, f"{group}-a", group, IDLE))
    time.sleep(JOIN)
    load_start = _now_ms()
    load = start_load(fresh, options.load, 3 * phase)
    time.sleep(phase)
    joined = _now_ms()
    second = children.start(fresh, children.ChildRun(kind, f"{group}-b", group, IDLE))
    time.sleep(phase)
    left = _now_ms()
    children.stop(second)
    load.join()
    for handle in (second, first):
        finish(handle, options.load, 3 * phase)
    runs = {f"{group}-a", f"{group}-b"}
    events = collect(fresh.kafka.bootstrap, fresh.kafka.compare_topic, runs)
    taken = events.by_run.get(f"{group}-b", [])
    unmoved = set(range(options.partitions)) - {partition for partition, _, _ in taken}
    gaps = rebalance_gaps(
        events.by_run.get(f"{group}-a", []), unmoved, Phases(load_start, joined, left, phase * 1000)
    )
    if not taken:
        say(f"  the second {kind} member took no partition before it left")
    say(
        f"  partitions kept by the first member: {sorted(unmoved)}; longest gap "
        + ", ".join(f"{name.removesuffix('_gap')} {ms:,.0f} ms" for name, ms in gaps.items())
    )
    return gaps


def _now_ms() -> float:
    return time.time() * 1000.0
