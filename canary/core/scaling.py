"""When the ring path's worker pool grows or shrinks: a pure decision on observed load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolLoad:
    """What the pool controller sees at one tick."""

    alive: int
    busy: int
    backlog: int  # records fetched but not yet handed to a worker
    batch_size: int
    idle_seconds: float  # how long at least one worker has had nothing to do
    cpu_load: float  # run-queue length per core (1.0 = every core busy)


def decide(load: PoolLoad, minimum: int, maximum: int) -> int:
    """+1 to add a worker, -1 to retire one, 0 to stay.

    Grow while every worker is busy and more than a batch waits, unless the CPUs are
    already saturated (another thread would only contend). Shrink after a worker has
    been idle for two seconds, so short lulls do not make the pool flap.
    """
    if load.alive < minimum:
        return 1
    if load.alive > maximum:
        return -1
    saturated = load.busy >= load.alive and load.backlog > load.batch_size
    if saturated and load.alive < maximum and load.cpu_load < 1.5:
        return 1
    if load.busy < load.alive and load.idle_seconds >= 2.0 and load.alive > minimum:
        return -1
    return 0
