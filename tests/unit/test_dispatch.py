"""The keyed dispatcher under random interleavings of offer, take, complete and revoke.

A state machine plays the fetcher and several workers at once: workers hold any number
of batches and finish them in any order, partitions are revoked (and handed back) at any
moment. A model of what was offered checks after every step that a key is never in two
unfinished batches of one partition, that each key's records are taken oldest first
without gaps, that keyless records never wait, and that every counter the ring path
reads (backlog, occupancy, in-flight, bytes) matches the model.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import count

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from canary.core.dispatch import Item, KeyedDispatcher, Partition

PARTITIONS: list[Partition] = [("t", 0), ("t", 1), ("u", 0)]
KEYS: list[bytes | None] = [b"a", b"b", b"c", b"d", b"e", None]
_SERIAL = count()


def _item(partition: Partition, offset: int, key: bytes | None, size: int = 10) -> Item[int]:
    return Item(partition, offset, key, size, next(_SERIAL))


class DispatcherMachine(RuleBasedStateMachine):
    """The dispatcher beside a model: what is unclaimed, held and dropped, per partition."""

    def __init__(self) -> None:
        super().__init__()
        self.dispatcher: KeyedDispatcher[int] = KeyedDispatcher(2)
        self.assigned: set[Partition] = set()
        self.next_offset: dict[Partition, int] = dict.fromkeys(PARTITIONS, 0)
        self.unclaimed: dict[Partition, list[Item[int]]] = defaultdict(list)
        self.held: list[list[Item[int]]] = []
        self.offered: list[int] = []  # payload serials
        self.taken: list[int] = []
        self.dropped: list[int] = []
        # Offsets of each (partition, key) in the order workers received them.
        self.taken_order: dict[tuple[Partition, bytes], list[int]] = defaultdict(list)

    @initialize(capacity=st.sampled_from([1, 2, 4, 8, 64]))
    def start(self, capacity: int) -> None:
        self.dispatcher = KeyedDispatcher(capacity)
        for partition in PARTITIONS:
            self.dispatcher.add(partition)
            self.assigned.add(partition)

    # ------------------------------------------------------------------- rules

    @precondition(lambda self: self.assigned)
    @rule(
        data=st.data(),
        records=st.lists(
            st.tuples(st.sampled_from(KEYS), st.integers(min_value=1, max_value=100)),
            min_size=1,
            max_size=12,
        ),
    )
    def offer(self, data: st.DataObject, records: list[tuple[bytes | None, int]]) -> None:
        """The fetcher routes one fetched batch of a partition (offsets ascending, with gaps
        where a compacted or transactional topic would have them)."""
        partition = data.draw(st.sampled_from(sorted(self.assigned)))
        for key, size in records:
            offset = self.next_offset[partition] + data.draw(st.integers(0, 2))
            self.next_offset[partition] = offset + 1
            item = _item(partition, offset, key, size)
            self.dispatcher.offer(item)
            self.unclaimed[partition].append(item)
            self.offered.append(item.payload)

    @rule(limit=st.integers(min_value=1, max_value=9))
    def take(self, limit: int) -> None:
        """A worker takes a batch and holds it while other workers take theirs."""
        batch = self.dispatcher.take(limit)
        assert len(batch) <= limit
        held_keys = {(i.partition, i.key) for b in self.held for i in b if i.key is not None}
        per_key: dict[tuple[Partition, bytes | None], list[Item[int]]] = defaultdict(list)
        for item in batch:
            assert item.partition in self.assigned, f"handed out revoked {item.partition}"
            assert (item.partition, item.key) not in held_keys or item.key is None, (
                f"key {item.key!r} of {item.partition} is already in an unfinished batch"
            )
            per_key[(item.partition, item.key)].append(item)
        for (partition, key), items in per_key.items():
            queue = self.unclaimed[partition]
            if key is None:
                for item in items:
                    assert item in queue, "a keyless record was handed out twice or dropped"
                    queue.remove(item)
                continue
            # The key's records in the batch are exactly its oldest unclaimed ones, in order.
            oldest = [i for i in queue if i.key == key][: len(items)]
            assert items == oldest, f"key {key!r}: took {items}, oldest unclaimed {oldest}"
            for item in items:
                queue.remove(item)
            order = self.taken_order[(partition, key)]
            order.extend(item.offset for item in items)
            assert order == sorted(set(order)), f"key {key!r} of {partition}: {order}"
        self.taken.extend(item.payload for item in batch)
        if batch:
            self.held.append(batch)
        if len(batch) < limit:
            # Nothing takeable was left behind: what stays unclaimed waits for a key that
            # an unfinished batch holds; a keyless record never waits.
            now_held = {(i.partition, i.key) for b in self.held for i in b}
            for partition in self.assigned:
                for item in self.unclaimed[partition]:
                    assert item.key is not None, f"keyless record {item} left behind"
                    assert (partition, item.key) in now_held, f"{item} left behind, key free"

    @precondition(lambda self: self.held)
    @rule(index=st.integers(min_value=0))
    def complete(self, index: int) -> None:
        """Any worker finishes, in any order."""
        batch = self.held.pop(index % len(self.held))
        self.dispatcher.complete(batch)

    @precondition(lambda self: self.assigned)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        partition = data.draw(st.sampled_from(sorted(self.assigned)))
        dropped = self.dispatcher.revoke(partition)
        expected = sorted(self.unclaimed[partition], key=lambda item: item.offset)
        assert dropped == expected, "revoke must return exactly the unclaimed records"
        assert [i.offset for i in dropped] == sorted(i.offset for i in dropped)
        self.dropped.extend(item.payload for item in dropped)
        self.unclaimed[partition] = []
        self.assigned.discard(partition)

    @precondition(lambda self: len(self.assigned) < len(PARTITIONS))
    @rule(data=st.data())
    def reassign(self, data: st.DataObject) -> None:
        """The partition comes back, possibly while batches from before are still held
        (a lost assignment is not waited for)."""
        partition = data.draw(st.sampled_from(sorted(set(PARTITIONS) - self.assigned)))
        self.dispatcher.add(partition)
        self.assigned.add(partition)

    # -------------------------------------------------------------- invariants

    @invariant()
    def counters_match_the_model(self) -> None:
        dispatcher = self.dispatcher
        held_items = [item for batch in self.held for item in batch]
        assert dispatcher.backlog() == sum(len(self.unclaimed[p]) for p in self.assigned)
        assert set(dispatcher.partitions()) == self.assigned
        for partition in PARTITIONS:
            inflight = sum(1 for item in held_items if item.partition == partition)
            assert dispatcher.inflight(partition) == inflight, partition
            unclaimed = len(self.unclaimed[partition]) if partition in self.assigned else 0
            assert dispatcher.occupancy(partition) == unclaimed + inflight, partition
        unclaimed_bytes = sum(i.size for p in self.assigned for i in self.unclaimed[p])
        assert dispatcher.bytes == unclaimed_bytes + sum(item.size for item in held_items)

    @invariant()
    def no_key_in_two_unfinished_batches(self) -> None:
        owners: dict[tuple[Partition, bytes], int] = {}
        for number, batch in enumerate(self.held):
            for item in batch:
                if item.key is None:
                    continue
                owner = owners.setdefault((item.partition, item.key), number)
                assert owner == number, f"{item.key!r} of {item.partition} in two batches"

    def teardown(self) -> None:
        """Finish everything: all that was offered is taken or dropped exactly once, and
        every counter returns to zero."""
        dispatcher = self.dispatcher
        for _ in range(10_000):
            while self.held:
                self.complete(0)
            self.take(7)
            if not self.held:
                break
        assert not self.held
        assert sorted(self.taken + self.dropped) == sorted(self.offered)
        assert len(set(self.taken)) == len(self.taken), "a record was handed out twice"
        assert not set(self.taken) & set(self.dropped)
        assert dispatcher.backlog() == 0
        assert dispatcher.bytes == 0
        for partition in PARTITIONS:
            assert dispatcher.occupancy(partition) == 0
            assert dispatcher.inflight(partition) == 0


DispatcherMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestDispatcher = DispatcherMachine.TestCase


# ---------------------------------------------------------------- worked examples


def test_a_busy_key_waits_and_other_keys_and_keyless_records_pass_it() -> None:
    dispatcher: KeyedDispatcher[int] = KeyedDispatcher(8)
    partition = ("t", 0)
    dispatcher.add(partition)
    first = _item(partition, 0, b"a")
    dispatcher.offer(first)
    assert dispatcher.take(1) == [first]
    behind = [
        _item(partition, 1, b"a"),
        _item(partition, 2, None),
        _item(partition, 3, b"b"),
        _item(partition, 4, b"a"),
        _item(partition, 5, None),
    ]
    for item in behind:
        dispatcher.offer(item)

    second = dispatcher.take(10)

    assert second == [behind[1], behind[2], behind[4]]
    assert dispatcher.backlog() == 2
    assert dispatcher.take(10) == [], "key a is still held by the first batch"
    dispatcher.complete([first])
    assert dispatcher.take(10) == [behind[0], behind[3]]


def test_a_ready_key_continues_with_newer_records_in_the_same_batch() -> None:
    dispatcher: KeyedDispatcher[int] = KeyedDispatcher(4)
    partition = ("t", 0)
    dispatcher.add(partition)
    items = [_item(partition, offset, b"k") for offset in range(7)]  # 7 > capacity 4
    for item in items:
        dispatcher.offer(item)
    batch = dispatcher.take(2)
    assert batch == items[:2]
    assert dispatcher.take(3) == []
    dispatcher.complete(batch)
    rest = dispatcher.take(100)
    assert rest == items[2:]
    dispatcher.complete(rest)
    assert dispatcher.bytes == 0
    assert dispatcher.occupancy(partition) == 0


def test_revoke_returns_unclaimed_records_in_offset_order_and_hands_out_nothing_more() -> None:
    dispatcher: KeyedDispatcher[int] = KeyedDispatcher(2)
    partition, other = ("t", 0), ("t", 1)
    dispatcher.add(partition)
    dispatcher.add(other)
    held = _item(partition, 10, b"a")
    dispatcher.offer(held)
    assert dispatcher.take(1) == [held]
    waiting = _item(partition, 11, b"a")
    taken = _item(partition, 12, b"b")
    queued = [_item(partition, 13, None), _item(partition, 14, b"c")]
    for item in (waiting, taken, *queued):
        dispatcher.offer(item)
    # Offset 11 now waits behind busy key a; 13 and 14 sit in the ring.
    assert dispatcher.take(1) == [taken]
    spilled = _item(partition, 15, b"d")  # the ring (capacity 2) is full: overflow
    dispatcher.offer(spilled)
    other_item = _item(other, 0, b"z")
    dispatcher.offer(other_item)

    dropped = dispatcher.revoke(partition)

    assert dropped == [waiting, *queued, spilled]
    assert dispatcher.inflight(partition) == 2
    assert dispatcher.occupancy(partition) == 2
    assert dispatcher.partitions() == [other]
    assert dispatcher.take(100) == [other_item]
    dispatcher.complete([held])
    dispatcher.complete([taken])
    dispatcher.complete([other_item])
    assert dispatcher.inflight(partition) == 0
    assert dispatcher.bytes == 0
    assert dispatcher.backlog() == 0


def test_a_partition_handed_back_while_its_old_batch_runs_keeps_that_key_claimed() -> None:
    """After a lost assignment the partition can come back before a worker finishes the
    batch it took earlier; the re-read records of that key must wait for that batch."""
    dispatcher: KeyedDispatcher[int] = KeyedDispatcher(4)
    partition = ("t", 0)
    dispatcher.add(partition)
    old = _item(partition, 5, b"a")
    dispatcher.offer(old)
    assert dispatcher.take(10) == [old]
    assert dispatcher.revoke(partition) == []

    dispatcher.add(partition)
    again = [_item(partition, 5, b"a"), _item(partition, 6, b"b")]
    for item in again:
        dispatcher.offer(item)

    assert dispatcher.take(10) == [again[1]], "key a is still being processed"
    assert dispatcher.inflight(partition) == 2
    dispatcher.complete([old])
    assert dispatcher.inflight(partition) == 1
    assert dispatcher.take(10) == [again[0]]
    dispatcher.complete(again)
    assert dispatcher.inflight(partition) == 0
    assert dispatcher.occupancy(partition) == 0
    assert dispatcher.bytes == 0
