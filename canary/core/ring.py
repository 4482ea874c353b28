"""A bounded FIFO ring buffer: a fixed array indexed by a power-of-two mask.

The array never grows or shrinks, so a full partition costs exactly its capacity in
slots and nothing is ever copied; ``push`` on a full ring refuses instead of growing,
which is what lets the fetcher pause a partition rather than run out of memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RingBuffer(Generic[T]):
    """FIFO of at most ``capacity`` items; ``capacity`` must be a power of two."""

    __slots__ = ("_head", "_mask", "_size", "_slots")

    def __init__(self, capacity: int) -> None:
        if capacity < 1 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two, got {capacity}")
        self._slots: list[T | None] = [None] * capacity
        self._mask = capacity - 1
        self._head = 0  # index of the oldest item
        self._size = 0

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def __len__(self) -> int:
        return self._size

    def free(self) -> int:
        return self._mask + 1 - self._size

    def full(self) -> bool:
        return self._size > self._mask

    def push(self, item: T) -> bool:
        """Append ``item``; False (and nothing stored) when the ring is full."""
        if self._size > self._mask:
            return False
        self._slots[(self._head + self._size) & self._mask] = item
        self._size += 1
        return True

    def pop(self) -> T:
        """Remove and return the oldest item; IndexError when empty."""
        if not self._size:
            raise IndexError("pop from an empty ring")
        head = self._head
        item = self._slots[head]
        self._slots[head] = None  # drop the reference so the message can be freed
        self._head = (head + 1) & self._mask
        self._size -= 1
        return item  # type: ignore[return-value]

    def peek(self) -> T:
        if not self._size:
            raise IndexError("peek into an empty ring")
        return self._slots[self._head]  # type: ignore[return-value]

    def clear(self) -> list[T]:
        """Remove every item, oldest first, and return them."""
        items = list(self)
        self._slots = [None] * (self._mask + 1)
        self._head = 0
        self._size = 0
        return items

    def __iter__(self) -> Iterator[T]:
        for index in range(self._size):
            yield self._slots[(self._head + index) & self._mask]  # type: ignore[misc]
