"""Reads the compare topic for one run and feeds the stream join.

The reader assigns every partition of the compare topic from the beginning and commits
nothing, so the diff holds no state outside the topic: stopped and started again, it
reads the same events and reaches the same report (but for records that were pending,
within the grace period, and have come of age since).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from canary.diff.fold import EventSink, fold, run_marker
from canary.kafka.reader import TopicReader

BATCH = 10_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReadOptions:
    topic: str
    run_id: str
    until_idle: float
    grace: float
    partitions: tuple[int, ...] | None = None  # a subset to read; None = all
    # where to start reading, by compare partition (a watcher's checkpoints); the
    # others are read from their beginning
    starts: tuple[tuple[int, int], ...] = ()


def read_run(
    bootstrap: str,
    options: ReadOptions,
    join: EventSink,
    progress: Progress | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Fold every event of ``options.run_id`` into ``join``; returns events read in all.

    Stops once nothing new has arrived for ``until_idle`` seconds, waiting up to
    ``grace`` seconds longer while records still lack the other path's event.
    ``until_idle`` 0 reads up to the end of the topic as it is now and waits for
    nothing: the grace period is then the caller's to apply, to the events' commit
    times (a ``Horizon`` for ``StreamJoin.result``).
    """
    reader = TopicReader(
        bootstrap,
        options.topic,
        f"canary-diff-{options.run_id}",
        options.partitions,
        dict(options.starts),
    )
    marker = run_marker(options.run_id)
    seen = 0
    last_arrival = time.monotonic()
    run_id = options.run_id
    try:
        while not stop():
            batch = reader.consume(BATCH, 0.2)
            now = time.monotonic()
            if batch:
                last_arrival = now
                seen += len(batch)
                fold(batch, marker, run_id, join)
                if progress is not None:
                    progress(seen, join.events)
            if options.until_idle == 0:
                if reader.at_end():
                    break
                continue
            idle = now - last_arrival
            waiting = join.unpaired() > 0 and idle < max(options.until_idle, options.grace)
            if idle >= options.until_idle and not waiting:
                break
    finally:
        reader.close()
    return seen
