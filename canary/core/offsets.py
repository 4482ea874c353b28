"""Per-partition offset tracking: what may be committed is the lowest offset not yet done.

Messages of one partition are registered in fetch order and completed in any order (a
worker pool finishes them out of order). The committable position is the offset of the
oldest registered message that is not complete, or one past the newest when all are:
committing it can never skip a message whose effect is not yet durable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class PartitionOffsets:
    """Offsets of one partition, registered in increasing order, completed in any order."""

    __slots__ = ("_next", "_open", "_order")

    def __init__(self, start: int) -> None:
        self._order: deque[int] = deque()  # registered, oldest first, head not yet complete
        self._open: set[int] = set()  # registered and not yet complete
        self._next = start

    def register(self, offset: int) -> None:
        newest = self.newest()
        if offset <= newest:
            raise ValueError(f"offset {offset} registered after {newest}")
        self._order.append(offset)
        self._open.add(offset)

    def rewind(self, offset: int) -> None:
        """Forget registrations at or after ``offset``: the partition is read again from
        there. Older unfinished offsets stay, so the committable offset only moves back."""
        order, still_open = self._order, self._open
        while order and order[-1] >= offset:
            still_open.discard(order.pop())
        if not order:
            self._next = min(self._next, offset)

    def complete(self, offset: int) -> None:
        """Mark ``offset`` done; unknown or already completed offsets are ignored."""
        if offset not in self._open:
            return
        self._open.discard(offset)
        order, still_open = self._order, self._open
        while order and order[0] not in still_open:
            self._next = order.popleft() + 1

    def newest(self) -> int:
        """The newest registered offset (one before the start when none is)."""
        return self._order[-1] if self._order else self._next - 1

    def committable(self) -> int:
        """The offset to commit: everything before it is complete."""
        return self._order[0] if self._order else self._next

    def pending(self) -> int:
        """Registered but not yet complete."""
        return len(self._open)


class OffsetTracker:
    """Committable offsets across the partitions a member currently owns."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, int], PartitionOffsets] = {}

    def assign(self, topic: str, partition: int, start: int) -> None:
        self._partitions[(topic, partition)] = PartitionOffsets(start)

    def revoke(self, topic: str, partition: int) -> None:
        self._partitions.pop((topic, partition), None)

    def owns(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self._partitions

    def register(self, topic: str, partition: int, offset: int) -> None:
        """Track a fetched message. An offset at or below one already tracked means the
        partition is being re-read from an earlier position: tracking rewinds to it, which
        can only move the committable offset back, never past unfinished work."""
        tracker = self._partitions.get((topic, partition))
        if tracker is None:
            tracker = self._partitions[(topic, partition)] = PartitionOffsets(offset)
        elif offset <= tracker.newest():
            tracker.rewind(offset)
        tracker.register(offset)

    def complete(self, topic: str, partition: int, offset: int) -> None:
        """Mark one message done; a partition no longer owned is ignored."""
        tracker = self._partitions.get((topic, partition))
        if tracker is not None:
            tracker.complete(offset)

    def complete_all(self, coordinates: Iterable[tuple[str, int, int]]) -> None:
        for topic, partition, offset in coordinates:
            self.complete(topic, partition, offset)

    def committable(self) -> dict[tuple[str, int], int]:
        return {tp: tracker.committable() for tp, tracker in self._partitions.items()}

    def pending(self, topic: str | None = None, partition: int | None = None) -> int:
        if topic is not None and partition is not None:
            tracker = self._partitions.get((topic, partition))
            return tracker.pending() if tracker else 0
        return sum(tracker.pending() for tracker in self._partitions.values())
