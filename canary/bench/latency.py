"""Latency under a fixed load: each path alone, then both side by side as in a gray release.

Every run is on a fresh topic with its own run id, so a run's compare events are its
own. A path's latency is ``at - src.ts`` of its compare events (the first of each
coordinate), read from the stream join's per-path sketch; a path that cannot keep up
with the load queues, and that wait is part of its latency.
"""

from __future__ import annotations

import time
from typing import Any

from canary.bench import children
from canary.bench.figures import latency_point, percentiles
from canary.bench.runs import IDLE, JOIN, BenchOptions, Say, finish, on_fresh_topic, start_load
from canary.config import Settings
from canary.core.join import LEGACY, RING, StreamJoin
from canary.core.stats import Summary
from canary.diff.stream import ReadOptions, read_run

_SKETCH = {"legacy": LEGACY, "ring": RING}


def measure(
    settings: Settings, stamp: str, options: BenchOptions, say: Say
) -> tuple[dict[str, Any], list[dict[str, object]]]:
    """``latency_ms`` (side by side at ``options.load``) and ``latency_points``."""
    points = []
    at_load: dict[str, Summary] | None = None
    for load in options.loads:
        alone = {
            kind: _run(settings, stamp, options, load, (kind,), say)[kind]
            for kind in ("ring", "legacy")
        }
        both = _run(settings, stamp, options, load, ("legacy", "ring"), say)
        points.append(latency_point(load, alone, both))
        if load == options.load:
            at_load = both
    if at_load is None:  # ``--load`` is not one of ``--loads``: a run of its own
        at_load = _run(settings, stamp, options, options.load, ("legacy", "ring"), say)
    latency: dict[str, Any] = {path: percentiles(at_load[path]) for path in ("legacy", "ring")}
    latency["load_msg_s"] = options.load
    return latency, points


def _run(
    settings: Settings,
    stamp: str,
    options: BenchOptions,
    load: float,
    kinds: tuple[str, ...],
    say: Say,
) -> dict[str, Summary]:
    """Members of ``kinds`` on one fresh topic under ``load``; their latency summaries."""
    label = "-".join(kinds) if len(kinds) == 1 else "both"
    say(
        f"latency: {' and '.join(kinds)} {'alone' if len(kinds) == 1 else 'side by side'} "
        f"at {load:,.0f} msg/s for {options.load_seconds:g} s"
    )
    name = f"latency-{load:.0f}-{label}"
    fresh = on_fresh_topic(settings, f"canary.bench-{stamp}.{name}")
    run_id = f"bench-{stamp}-{name}"
    handles = [
        children.start(fresh, children.ChildRun(kind, run_id, f"{run_id}-{kind}", IDLE))
        for kind in kinds
    ]
    time.sleep(JOIN)  # every member joins its group before the load starts
    start_load(fresh, load, options.load_seconds).join()
    for handle in handles:
        finish(handle, load, options.load_seconds)
    join = StreamJoin(run_id)
    read_run(fresh.kafka.bootstrap, ReadOptions(fresh.kafka.compare_topic, run_id, 0, 0), join)
    sketches = join.result().sketches
    found = {kind: sketches[_SKETCH[kind]].summary() for kind in kinds}
    say(
        "  "
        + ", ".join(f"{kind} p50 {s.p50:,.1f} ms p99 {s.p99:,.1f} ms" for kind, s in found.items())
    )
    return found
