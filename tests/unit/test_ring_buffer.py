"""The ring buffer against a model: a ``collections.deque`` with the same capacity rule."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.ring import RingBuffer

POWERS_OF_TWO = [1 << n for n in range(7)]  # 1 .. 64: small, so sequences wrap often

# An operation: ("push", value), ("pop", None) or ("clear", None).
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers()),
        st.tuples(st.just("pop"), st.none()),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=300,
)


def _assert_same(ring: RingBuffer[int], model: deque[int], capacity: int) -> None:
    assert len(ring) == len(model)
    assert list(ring) == list(model)
    assert ring.free() == capacity - len(model)
    assert ring.full() == (len(model) == capacity)
    assert bool(ring) == bool(model)
    if model:
        assert ring.peek() == model[0]


@given(
    capacity=st.sampled_from(POWERS_OF_TWO),
    operations=_OPERATIONS,
    pushes_first=st.integers(min_value=0, max_value=70),
)
def test_behaves_like_a_bounded_deque(
    capacity: int, operations: list[tuple[str, int | None]], pushes_first: int
) -> None:
    ring: RingBuffer[int] = RingBuffer(capacity)
    model: deque[int] = deque()
    # Fill past capacity first so that full rings are common, then run the random ops.
    script = [("push", -1 - n) for n in range(pushes_first)] + operations
    for operation, value in script:
        if operation == "push":
            assert value is not None
            accepted = ring.push(value)
            assert accepted == (len(model) < capacity), "push refused with room, or accepted full"
            if accepted:
                model.append(value)
        elif operation == "pop":
            if model:
                assert ring.pop() == model.popleft()
            else:
                with pytest.raises(IndexError):
                    ring.pop()
        else:
            assert ring.clear() == list(model)
            model.clear()
        assert ring.capacity == capacity
        _assert_same(ring, model, capacity)


@given(capacity=st.sampled_from(POWERS_OF_TWO), shift=st.integers(min_value=0, max_value=200))
def test_a_full_ring_after_wrapping_keeps_fifo_order(capacity: int, shift: int) -> None:
    ring: RingBuffer[int] = RingBuffer(capacity)
    # Move the head to an arbitrary slot, so the stored items straddle the array's end.
    for n in range(shift):
        assert ring.push(n)
        assert ring.pop() == n
    for n in range(capacity):
        assert ring.push(1000 + n)
    assert ring.full()
    assert not ring.push(-1)
    assert list(ring) == [1000 + n for n in range(capacity)]
    assert [ring.pop() for _ in range(capacity)] == [1000 + n for n in range(capacity)]
    assert len(ring) == 0
    assert ring.free() == capacity


def test_refused_push_stores_nothing() -> None:
    ring: RingBuffer[str] = RingBuffer(2)
    assert ring.push("a")
    assert ring.push("b")
    assert not ring.push("c")
    assert list(ring) == ["a", "b"]
    assert ring.pop() == "a"
    assert ring.push("d")
    assert list(ring) == ["b", "d"]


def test_empty_ring_refuses_pop_and_peek() -> None:
    ring: RingBuffer[int] = RingBuffer(4)
    with pytest.raises(IndexError):
        ring.pop()
    with pytest.raises(IndexError):
        ring.peek()
    assert ring.clear() == []


def test_pop_and_clear_drop_their_references() -> None:
    """A popped message must not stay reachable from the ring's slots."""
    ring: RingBuffer[object] = RingBuffer(4)
    first, second = object(), object()
    ring.push(first)
    ring.push(second)
    ring.pop()
    assert first not in ring._slots
    ring.clear()
    assert second not in ring._slots


@pytest.mark.parametrize("capacity", [0, -1, -4, 3, 5, 6, 12, 100, 65535, (1 << 20) + 1])
def test_capacity_must_be_a_power_of_two(capacity: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        RingBuffer(capacity)


@pytest.mark.parametrize("capacity", [1, 2, 1024, 1 << 16])
def test_powers_of_two_are_accepted(capacity: int) -> None:
    ring: RingBuffer[int] = RingBuffer(capacity)
    assert ring.capacity == capacity
    assert ring.free() == capacity
    assert not ring.full()
