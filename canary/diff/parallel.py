"""Joins a large run on several cores: one process per share of the compare partitions.

Both paths' events of one record carry the same key, so they share a compare partition
(CONTRACTS §4); the partitions can therefore be joined independently and the results
merged. Small runs are read in this process: starting interpreters costs more than it
saves below a few hundred thousand events.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from canary.core.join import Horizon, JoinResult, Snapshot, StreamJoin, merge
from canary.diff.stream import Progress, ReadOptions, read_run
from canary.kafka.admin import watermarks

PARALLEL_ABOVE = 300_000  # events in the topic


def join_run(
    bootstrap: str,
    options: ReadOptions,
    max_samples: int,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    resumed: StreamJoin | None = None,
) -> JoinResult:
    """The join of ``options.run_id`` over the whole compare topic.

    A read to the topic's end (``until_idle`` 0) does not wait for late events, so the
    grace period is applied to the events' commit times instead: ``clock`` (epoch
    seconds) is read before the topic's end is, and a record whose only event is younger
    than ``grace`` then is pending rather than missing.

    ``resumed`` holds the partitions' joins as a watcher saved them, and
    ``options.starts`` the positions they were saved at.
    """
    horizon = horizon_of(options, clock)
    if resumed is not None:
        # From a watcher's checkpoints (``options.starts``): only the rest is read.
        read_run(bootstrap, options, resumed, progress)
        return resumed.result(horizon)
    spans = watermarks(bootstrap, options.topic)
    workers = min(os.cpu_count() or 1, len(spans))
    if workers < 2 or sum(span.messages for span in spans) < PARALLEL_ABOVE:
        join = StreamJoin(options.run_id, max_samples=max_samples)
        read_run(bootstrap, options, join, progress)
        return join.result(horizon)
    # Deal the partitions out by size, largest first, so the shares take similar time.
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for span in sorted(spans, key=lambda s: -s.messages):
        lightest = loads.index(min(loads))
        shares[lightest].append(span.partition)
        loads[lightest] += span.messages
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    children = [
        context.Process(
            target=_child,
            daemon=True,
            args=(
                bootstrap,
                replace(options, partitions=tuple(share)),
                max_samples,
                horizon,
                queue,
                os.getpid(),
            ),
        )
        for share in shares[1:]
    ]
    for child in children:
        child.start()
    mine = StreamJoin(options.run_id, max_samples=max_samples)
    read_run(bootstrap, replace(options, partitions=tuple(shares[0])), mine, progress)
    parts = [mine.snapshot(horizon)]
    for _ in children:
        outcome: Snapshot | BaseException = queue.get()
        if isinstance(outcome, BaseException):
            raise outcome
        parts.append(outcome)
    for child in children:
        child.join(10)
    merged = merge(parts, max_samples)
    merged.horizon = horizon
    return merged.result()


def horizon_of(options: ReadOptions, clock: Callable[[], float]) -> Horizon | None:
    """The horizon a read with ``options`` is judged at: now, for a read to the topic's
    end with a grace period; None when the read itself waits out the grace period."""
    if options.until_idle > 0 or options.grace <= 0:
        return None
    # Taken before the end offsets are: whatever was committed earlier than the grace
    # period before this moment has had its whole grace period to reach the topic.
    return Horizon(as_of_ms=clock() * 1000, grace_ms=options.grace * 1000)


def _child(
    bootstrap: str,
    options: ReadOptions,
    max_samples: int,
    horizon: Horizon | None,
    queue: Any,
    parent: int,
) -> None:
    join = StreamJoin(options.run_id, max_samples=max_samples)
    try:
        # A parent killed outright cannot stop its children: they notice it is gone.
        read_run(bootstrap, options, join, stop=lambda: os.getppid() != parent)
        queue.put(join.snapshot(horizon))
    except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
        queue.put(exc)
