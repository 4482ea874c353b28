"""The worker pool's scaling decision: a table of observed loads and the step expected."""

from __future__ import annotations

import pytest

from canary.core.scaling import PoolLoad, decide

MIN, MAX, BATCH = 2, 8, 100


def _load(
    *,
    alive: int = 4,
    busy: int = 4,
    backlog: int = 1000,
    idle: float = 0.0,
    cpu: float = 0.5,
    batch: int = BATCH,
) -> PoolLoad:
    return PoolLoad(
        alive=alive,
        busy=busy,
        backlog=backlog,
        batch_size=batch,
        idle_seconds=idle,
        cpu_load=cpu,
    )


CASES = [
    # growing: every worker busy, more than a batch waiting, room below max, CPUs not saturated
    ("saturated below max grows", _load(), 1),
    ("saturated one below max grows", _load(alive=MAX - 1, busy=MAX - 1), 1),
    ("saturated with cpu just under the limit grows", _load(cpu=1.49), 1),
    ("saturated at max stays", _load(alive=MAX, busy=MAX), 0),
    ("saturated but cpus saturated stays", _load(cpu=1.5), 0),
    ("saturated but cpus overloaded stays", _load(cpu=4.0), 0),
    ("backlog of exactly one batch stays", _load(backlog=BATCH), 0),
    ("backlog of one batch and one record grows", _load(backlog=BATCH + 1), 1),
    ("one worker idle stays", _load(busy=3), 0),
    ("empty backlog stays", _load(backlog=0), 0),
    # shrinking: a worker idle for two seconds, above min
    ("idle two seconds above min shrinks", _load(busy=1, backlog=0, idle=2.0), -1),
    ("idle long above min shrinks", _load(busy=0, backlog=0, idle=60.0), -1),
    ("idle just under two seconds stays", _load(busy=1, backlog=0, idle=1.99), 0),
    ("idle at min stays", _load(alive=MIN, busy=0, backlog=0, idle=60.0), 0),
    ("all busy with old idle mark stays", _load(busy=4, backlog=0, idle=10.0), 0),
    # bounds win over load
    ("below min grows even when idle", _load(alive=MIN - 1, busy=0, backlog=0, idle=60.0), 1),
    ("below min grows even with cpus saturated", _load(alive=0, busy=0, cpu=9.0), 1),
    ("above max shrinks even when saturated", _load(alive=MAX + 1, busy=MAX + 1), -1),
    ("far above max shrinks", _load(alive=MAX + 5, busy=0, backlog=0), -1),
]


@pytest.mark.parametrize(("load", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(load: PoolLoad, expected: int) -> None:
    assert decide(load, MIN, MAX) == expected


@pytest.mark.parametrize("alive", range(12))
def test_a_step_never_leaves_the_bounds(alive: int) -> None:
    """Whatever the load, one step moves toward [min, max] and never out of it."""
    for busy in (0, alive):
        for backlog in (0, 10 * BATCH):
            for idle in (0.0, 5.0):
                for cpu in (0.0, 3.0):
                    load = _load(alive=alive, busy=busy, backlog=backlog, idle=idle, cpu=cpu)
                    after = alive + decide(load, MIN, MAX)
                    if alive < MIN:
                        assert after == alive + 1
                    elif alive > MAX:
                        assert after == alive - 1
                    else:
                        assert MIN <= after <= MAX, (load, after)


def test_min_equal_to_max_never_moves_inside_the_bounds() -> None:
    assert decide(_load(alive=3, busy=3, backlog=10_000), 3, 3) == 0
    assert decide(_load(alive=3, busy=0, backlog=0, idle=60.0), 3, 3) == 0
