"""Hands fetched records to workers in batches while keeping per-key order (KEY mode).

Each partition has a lane: a ring of records not yet looked at, and per-key queues of
records that must wait because an earlier record of the same key is still being
processed. A key is claimed by at most one batch at a time; within a batch its records
keep offset order, and the next batch may take the key only after ``complete``. Records
of different keys flow to different workers concurrently. Records without a key carry no
order constraint.

Not thread-safe: the ring path calls it under one lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from canary.core.ring import RingBuffer

T = TypeVar("T")
Partition = tuple[str, int]


@dataclass(slots=True)
class Item(Generic[T]):
    """One fetched record and what the dispatcher needs to know about it."""

    partition: Partition
    offset: int
    key: bytes | None
    size: int
    payload: T


@dataclass(eq=False, slots=True)
class _Lane(Generic[T]):
    ring: RingBuffer[Item[T]]
    overflow: deque[Item[T]] = field(default_factory=deque)
    waiting: dict[Hashable, deque[Item[T]]] = field(default_factory=dict)
    ready: deque[Hashable] = field(default_factory=deque)
    busy: set[Hashable] = field(default_factory=set)
    waiting_count: int = 0
    inflight: int = 0
    bytes: int = 0
    revoked: bool = False

    def unclaimed(self) -> int:
        return len(self.ring) + len(self.overflow) + self.waiting_count

    def next_item(self) -> Item[T] | None:
        if not self.ring:
            return self.overflow.popleft() if self.overflow else None
        item = self.ring.pop()
        if self.overflow:
            # Overflow holds records fetched after the ring filled; they are newer than
            # anything in the ring, so they enter at its tail as room appears.
            self.ring.push(self.overflow.popleft())
        return item


def _order_key(item: Item[Any]) -> Hashable:
    # A record without a key gets a key of its own: no other record waits for it.
    return item.key if item.key is not None else ("offset", item.offset)


class KeyedDispatcher(Generic[T]):
    """Per-partition lanes of bounded rings, drained in key-ordered batches."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lanes: dict[Partition, _Lane[T]] = {}
        self._rotation = 0
        self.bytes = 0

    def add(self, partition: Partition) -> None:
        lane = self._lanes.get(partition)
        if lane is not None and lane.revoked:
            # Handed back before the batches taken earlier finished (a lost assignment is
            # not waited for): keep the lane, so their keys stay claimed and their
            # completions are counted where they were taken.
            lane.revoked = False
            return
        self._lanes[partition] = _Lane(ring=RingBuffer(self._capacity))

    def revoke(self, partition: Partition) -> list[Item[T]]:
        """Stop handing out ``partition``; return its unclaimed records (dropped).

        Batches already claimed stay in flight until ``complete``; ``inflight`` says
        how many records they still hold.
        """
        lane = self._lanes.get(partition)
        if lane is None:
            return []
        lane.revoked = True
        dropped = [*lane.ring.clear(), *lane.overflow]
        for queue in lane.waiting.values():
            dropped.extend(queue)
        lane.overflow.clear()
        lane.waiting.clear()
        lane.ready.clear()
        lane.waiting_count = 0
        released = sum(item.size for item in dropped)
        lane.bytes -= released
        self.bytes -= released
        dropped.sort(key=lambda item: item.offset)
        if lane.inflight == 0:
            del self._lanes[partition]
        return dropped

    def offer(self, item: Item[T]) -> None:
        """Queue a fetched record; a full ring spills into an overflow queue, which the
        caller prevents from growing by pausing the partition (see ``occupancy``)."""
        lane = self._lanes[item.partition]
        if lane.overflow or not lane.ring.push(item):
            lane.overflow.append(item)
        lane.bytes += item.size
        self.bytes += item.size

    def take(self, limit: int) -> list[Item[T]]:
        """Up to ``limit`` records that are safe to process now."""
        out: list[Item[T]] = []
        lanes = [lane for lane in self._lanes.values() if not lane.revoked]
        if not lanes:
            return out
        self._rotation = (self._rotation + 1) % len(lanes)
        for lane in lanes[self._rotation :] + lanes[: self._rotation]:
            if len(out) >= limit:
                break
            self._take_from(lane, limit, out)
        return out

    def _take_from(self, lane: _Lane[T], limit: int, out: list[Item[T]]) -> None:
        claimed_now: set[Hashable] = set()
        start = len(out)
        while lane.ready and len(out) < limit:
            key = lane.ready.popleft()
            queue = lane.waiting[key]
            while queue and len(out) < limit:
                out.append(queue.popleft())
                lane.waiting_count -= 1
            if not queue:
                del lane.waiting[key]
            lane.busy.add(key)
            claimed_now.add(key)
        while len(out) < limit:
            item = lane.next_item()
            if item is None:
                break
            key = _order_key(item)
            if key in lane.waiting:
                lane.waiting[key].append(item)
                lane.waiting_count += 1
            elif key in claimed_now:
                out.append(item)
            elif key in lane.busy:
                lane.waiting[key] = deque([item])
                lane.waiting_count += 1
            else:
                lane.busy.add(key)
                claimed_now.add(key)
                out.append(item)
        lane.inflight += len(out) - start

    def complete(self, items: Iterable[Item[T]]) -> None:
        """Release the keys of a finished batch so their waiting records become ready."""
        released: set[tuple[Partition, Hashable]] = set()
        for item in items:
            lane = self._lanes.get(item.partition)
            if lane is None:
                continue
            lane.inflight -= 1
            lane.bytes -= item.size
            self.bytes -= item.size
            if lane.revoked and lane.inflight == 0:
                del self._lanes[item.partition]
            key = _order_key(item)
            if (item.partition, key) in released:
                continue
            released.add((item.partition, key))
            lane.busy.discard(key)
            if key in lane.waiting:
                lane.ready.append(key)

    def occupancy(self, partition: Partition) -> int:
        """Records held for ``partition``: queued, waiting for their key, or in flight."""
        lane = self._lanes.get(partition)
        return lane.unclaimed() + lane.inflight if lane else 0

    def inflight(self, partition: Partition) -> int:
        lane = self._lanes.get(partition)
        return lane.inflight if lane else 0

    def backlog(self) -> int:
        """Records not yet handed to a worker, over all partitions."""
        return sum(lane.unclaimed() for lane in self._lanes.values())

    def partitions(self) -> list[Partition]:
        return [p for p, lane in self._lanes.items() if not lane.revoked]
