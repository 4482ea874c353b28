"""Tests for the offset tracker: examples, then properties against a reference model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.offsets import OffsetTracker, PartitionOffsets

# --- a reference model: the definition, written as plainly as possible --------------------


@dataclass
class Model:
    start: int
    registered: list[int] = field(default_factory=list)
    completed: set[int] = field(default_factory=set)

    def register(self, offset: int) -> None:
        self.registered.append(offset)

    def complete(self, offset: int) -> None:
        if offset in self.registered:
            self.completed.add(offset)

    def committable(self) -> int:
        open_ = [o for o in self.registered if o not in self.completed]
        if open_:
            return min(open_)
        if self.registered:
            return max(self.registered) + 1
        return self.start

    def pending(self) -> int:
        return len(set(self.registered) - self.completed)


# --- PartitionOffsets by example ----------------------------------------------------------


def test_nothing_registered_commits_the_start() -> None:
    offsets = PartitionOffsets(10)
    assert offsets.committable() == 10
    assert offsets.pending() == 0
    assert offsets.newest() == 9


def test_out_of_order_completion_waits_for_the_oldest() -> None:
    offsets = PartitionOffsets(0)
    for offset in range(5):
        offsets.register(offset)
    offsets.complete(3)
    offsets.complete(1)
    assert offsets.committable() == 0
    assert offsets.pending() == 3
    offsets.complete(0)
    assert offsets.committable() == 2
    offsets.complete(2)
    assert offsets.committable() == 4
    offsets.complete(4)
    assert offsets.committable() == 5
    assert offsets.pending() == 0


def test_gaps_in_offsets_are_skipped() -> None:
    offsets = PartitionOffsets(3)
    for offset in (5, 9, 20):
        offsets.register(offset)
    assert offsets.committable() == 5
    offsets.complete(5)
    assert offsets.committable() == 9
    offsets.complete(20)
    assert offsets.committable() == 9
    offsets.complete(9)
    assert offsets.committable() == 21
    assert offsets.newest() == 20


def test_unknown_and_duplicate_completions_are_ignored() -> None:
    offsets = PartitionOffsets(0)
    for offset in (0, 1, 2):
        offsets.register(offset)
    offsets.complete(7)
    offsets.complete(-1)
    assert (offsets.committable(), offsets.pending()) == (0, 3)
    offsets.complete(1)
    offsets.complete(1)
    assert (offsets.committable(), offsets.pending()) == (0, 2)
    offsets.complete(0)
    offsets.complete(0)
    assert (offsets.committable(), offsets.pending()) == (2, 1)


@pytest.mark.parametrize("offset", [4, 3, 0])
def test_registering_out_of_order_is_refused(offset: int) -> None:
    offsets = PartitionOffsets(0)
    offsets.register(3)
    offsets.register(4)
    with pytest.raises(ValueError, match=str(offset)):
        offsets.register(offset)


def test_registering_below_the_start_is_refused() -> None:
    with pytest.raises(ValueError, match="9"):
        PartitionOffsets(10).register(9)


# --- PartitionOffsets against the model ---------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[tuple[str, int]]]:
    """A start, then registrations of increasing gappy offsets interleaved with
    completions of registered, unknown and already completed offsets."""
    start = draw(st.integers(min_value=0, max_value=1_000))
    gaps = draw(st.lists(st.integers(min_value=0, max_value=4), max_size=60))
    offsets: list[int] = []
    position = start
    for gap in gaps:
        position += gap
        offsets.append(position)
        position += 1
    operations: list[tuple[str, int]] = []
    registered: list[int] = []
    pending = list(offsets)
    while pending or (bool(registered) and draw(st.booleans())):
        if pending and (not registered or draw(st.booleans())):
            offset = pending.pop(0)
            registered.append(offset)
            operations.append(("register", offset))
        else:
            stray = draw(st.integers(min_value=start - 3, max_value=position + 3))
            offset = draw(st.sampled_from([*registered, stray]))
            operations.append(("complete", offset))
    return start, operations


@given(scenarios())
def test_committable_matches_the_model(scenario: tuple[int, list[tuple[str, int]]]) -> None:
    start, operations = scenario
    offsets, model = PartitionOffsets(start), Model(start)
    previous = offsets.committable()
    assert previous == model.committable()
    for operation, offset in operations:
        getattr(offsets, operation)(offset)
        getattr(model, operation)(offset)
        current = offsets.committable()
        assert current == model.committable()
        assert offsets.pending() == model.pending()
        assert current >= previous, "committable went backwards while registering forward"
        previous = current


@given(scenarios(), st.randoms(use_true_random=False))
def test_completing_everything_commits_one_past_the_newest(
    scenario: tuple[int, list[tuple[str, int]]], rng: object
) -> None:
    start, operations = scenario
    registered = [offset for op, offset in operations if op == "register"]
    offsets = PartitionOffsets(start)
    for offset in registered:
        offsets.register(offset)
    order = list(registered)
    rng.shuffle(order)  # type: ignore[attr-defined]
    for offset in order:
        offsets.complete(offset)
    assert offsets.pending() == 0
    assert offsets.committable() == (registered[-1] + 1 if registered else start)


# --- OffsetTracker ------------------------------------------------------------------------


def test_tracker_keeps_partitions_apart() -> None:
    tracker = OffsetTracker()
    tracker.assign("t", 0, 100)
    tracker.assign("t", 1, 0)
    tracker.assign("u", 0, 7)
    for offset in (100, 101, 102):
        tracker.register("t", 0, offset)
    tracker.register("t", 1, 0)
    tracker.complete("t", 0, 101)
    tracker.complete("t", 1, 0)
    assert tracker.committable() == {("t", 0): 100, ("t", 1): 1, ("u", 0): 7}
    assert tracker.pending() == 2
    assert tracker.pending("t", 0) == 2
    assert tracker.pending("t", 1) == 0
    assert tracker.pending("v", 9) == 0
    tracker.complete_all([("t", 0, 100), ("t", 0, 102)])
    assert tracker.committable()[("t", 0)] == 103


def test_revoked_partition_is_forgotten_and_its_completions_ignored() -> None:
    tracker = OffsetTracker()
    tracker.assign("t", 0, 0)
    tracker.register("t", 0, 0)
    assert tracker.owns("t", 0)
    tracker.revoke("t", 0)
    assert not tracker.owns("t", 0)
    tracker.complete("t", 0, 0)  # a late completion from a worker: no error
    assert tracker.committable() == {}
    assert tracker.pending() == 0
    tracker.revoke("t", 0)  # twice is fine


def test_reassignment_starts_from_the_given_position() -> None:
    tracker = OffsetTracker()
    tracker.assign("t", 0, 0)
    tracker.register("t", 0, 0)
    tracker.assign("t", 0, 50)
    assert tracker.committable() == {("t", 0): 50}
    assert tracker.pending() == 0


def test_rereading_below_the_committable_moves_it_back() -> None:
    tracker = OffsetTracker()
    tracker.assign("t", 0, 0)
    for offset in range(10):
        tracker.register("t", 0, offset)
    for offset in range(10):
        tracker.complete("t", 0, offset)
    assert tracker.committable() == {("t", 0): 10}
    tracker.register("t", 0, 3)
    assert tracker.committable() == {("t", 0): 3}
    assert tracker.pending("t", 0) == 1
    tracker.complete("t", 0, 8)  # from before the restart: no longer tracked
    assert tracker.committable() == {("t", 0): 3}
    tracker.register("t", 0, 4)
    tracker.complete("t", 0, 3)
    assert tracker.committable() == {("t", 0): 4}


def test_rereading_above_the_committable_never_moves_it_forward() -> None:
    tracker = OffsetTracker()
    tracker.assign("t", 0, 0)
    for offset in range(10):
        tracker.register("t", 0, offset)
    for offset in range(5):
        tracker.complete("t", 0, offset)
    assert tracker.committable() == {("t", 0): 5}
    tracker.register("t", 0, 7)  # 5 and 6 are still being worked on
    assert tracker.committable()[("t", 0)] <= 5


@given(scenarios(), st.data())
def test_restart_below_the_committable_moves_back_to_it(
    scenario: tuple[int, list[tuple[str, int]]], data: st.DataObject
) -> None:
    start, operations = scenario
    tracker = OffsetTracker()
    tracker.assign("t", 0, start)
    for operation, offset in operations:
        getattr(tracker, operation)("t", 0, offset)
    before = tracker.committable()[("t", 0)]
    reread = data.draw(st.integers(min_value=0, max_value=before - 1)) if before else None
    if reread is None:
        return
    tracker.register("t", 0, reread)
    assert tracker.committable()[("t", 0)] == reread < before
    assert tracker.pending("t", 0) == 1


@given(st.lists(scenarios(), min_size=1, max_size=3))
def test_tracker_matches_the_model_per_partition(
    scenarios_: list[tuple[int, list[tuple[str, int]]]],
) -> None:
    tracker = OffsetTracker()
    models = {}
    for partition, (start, _) in enumerate(scenarios_):
        tracker.assign("t", partition, start)
        models[("t", partition)] = Model(start)
    # Interleave the partitions' operations round-robin.
    queues = [list(ops) for _, ops in scenarios_]
    while any(queues):
        for partition, queue in enumerate(queues):
            if queue:
                operation, offset = queue.pop(0)
                getattr(tracker, operation)("t", partition, offset)
                getattr(models[("t", partition)], operation)(offset)
        assert tracker.committable() == {tp: m.committable() for tp, m in models.items()}
        assert tracker.pending() == sum(m.pending() for m in models.values())
