"""The pieces the paths lean on to survive faults and load: backoff and outages,
backpressure, static-member slots and the worker pool's clean-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.backoff import Backoff, Change, Outage
from canary.core.backpressure import Limits, decide
from canary.core.dispatch import Item, KeyedDispatcher
from canary.paths import membership
from canary.paths.pool import WorkerPool

# ------------------------------------------------------------------ backoff


def test_backoff_doubles_from_its_base_up_to_its_cap() -> None:
    backoff = Backoff(base=0.1, cap=5.0, jitter=0.5)
    delays = [backoff.delay(attempt, 0.0) for attempt in range(1, 10)]
    assert delays[:6] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
    assert delays[6:] == [5.0, 5.0, 5.0]
    # An outage of days must not overflow the exponent.
    assert backoff.delay(10_000, 0.0) == 5.0


@given(
    attempt=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=-1.0, max_value=2.0, allow_nan=False),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_jitter_only_shortens_and_stays_within_its_bound(
    attempt: int, draw: float, jitter: float
) -> None:
    backoff = Backoff(base=0.05, cap=2.0, jitter=jitter)
    ceiling = min(2.0, 0.05 * 2 ** min(attempt - 1, 30))
    delay = backoff.delay(attempt, draw)
    assert ceiling * (1 - jitter) - 1e-12 <= delay <= ceiling + 1e-12


def test_backoff_draws_span_the_jitter_range() -> None:
    backoff = Backoff(base=1.0, cap=1.0, jitter=0.5)
    assert backoff.delay(1, 0.0) == 1.0
    assert backoff.delay(1, 0.5) == 0.75
    assert backoff.delay(1, 1.0) == 0.5


# ------------------------------------------------------------------ outage


def test_an_outage_reports_down_once_and_recovered_once_with_its_length() -> None:
    outage = Outage()
    assert not outage.down
    assert outage.succeeded(1.0) is None

    assert outage.failed(10.0, "refused") == Change(down=True, reason="refused")
    assert outage.failed(12.0, "timed out") is None
    assert outage.failed(13.0, "timed out") is None
    assert outage.down
    assert outage.retries == 3
    assert outage.lasted(14.5) == 4.5

    assert outage.succeeded(17.0) == Change(down=False, reason="timed out", lasted=7.0)
    assert outage.succeeded(18.0) is None
    assert not outage.down
    assert outage.lasted(20.0) == 0.0

    # A second outage is timed from its own start.
    assert outage.failed(30.0, "reset") == Change(down=True, reason="reset")
    change = outage.succeeded(31.5)
    assert change is not None
    assert change.lasted == 1.5


# ------------------------------------------------------------------ backpressure

LIMITS = Limits(capacity=8, max_bytes=1000, low_water=0.5)
A, B, C = ("t", 0), ("t", 1), ("t", 2)


def test_a_full_ring_is_paused_and_the_others_keep_flowing() -> None:
    decision = decide({A: 8, B: 7, C: 0}, 100, set(), LIMITS)
    assert decision.pause == [A]
    assert decision.resume == []


def test_over_the_byte_bound_every_non_empty_ring_is_paused() -> None:
    decision = decide({A: 1, B: 3, C: 0}, 1000, set(), LIMITS)
    assert decision.pause == [A, B]
    assert decide({A: 1, B: 3, C: 0}, 999, set(), LIMITS).pause == []


def test_a_paused_partition_is_not_paused_again() -> None:
    decision = decide({A: 8, B: 8}, 2000, {A}, LIMITS)
    assert decision.pause == [B]
    assert decision.resume == []


def test_a_paused_partition_resumes_only_once_ring_and_bytes_are_both_low() -> None:
    # Between the two marks: still paused, so the partition does not flap.
    assert decide({A: 6}, 100, {A}, LIMITS).resume == []
    assert decide({A: 2}, 700, {A}, LIMITS).resume == []
    assert decide({A: 6}, 700, {A}, LIMITS).resume == []
    assert decide({A: 2}, 400, {A}, LIMITS).resume == [A]
    assert decide({A: 2, B: 1}, 400, {A, B}, LIMITS).resume == [A, B]


# ------------------------------------------------------------------ membership


@pytest.fixture
def slots() -> Iterator[list[membership.MemberSlot]]:
    held: list[membership.MemberSlot] = []
    yield held
    for slot in held:
        slot.release()


def test_two_claims_in_one_process_get_different_ids(
    tmp_path: Path, slots: list[membership.MemberSlot]
) -> None:
    slots.append(membership.claim("group-a", "auto", tmp_path))
    slots.append(membership.claim("group-a", "auto", tmp_path))
    first, second = (slot.member_id for slot in slots)
    assert first
    assert second
    assert first != second
    assert first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]


def test_a_released_slot_is_claimed_again_with_the_same_id(
    tmp_path: Path, slots: list[membership.MemberSlot]
) -> None:
    first = membership.claim("group-a", "auto", tmp_path)
    slots.append(membership.claim("group-a", "auto", tmp_path))
    first.release()
    again = membership.claim("group-a", "auto", tmp_path)
    slots.append(again)
    assert again.member_id == first.member_id
    assert again.member_id != slots[0].member_id


def test_groups_claim_their_slots_independently(
    tmp_path: Path, slots: list[membership.MemberSlot]
) -> None:
    slots.append(membership.claim("group-a", "auto", tmp_path))
    slots.append(membership.claim("group-b", "auto", tmp_path))
    assert slots[0].member_id == slots[1].member_id


def test_empty_means_dynamic_and_an_explicit_id_is_kept(tmp_path: Path) -> None:
    assert membership.claim("group-a", "", tmp_path).member_id == ""
    assert membership.claim("group-a", "billing-7", tmp_path).member_id == "billing-7"
    # Neither takes a slot: the first automatic claim still gets the lowest one.
    slot = membership.claim("group-a", "auto", tmp_path)
    try:
        assert slot.member_id.endswith("-0")
    finally:
        slot.release()


# ------------------------------------------------------------------ worker pool


class FakeWorker:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.closed = 0

    def process(self, batch: list[Item[Any]]) -> None:
        self.batches.append([item.offset for item in batch])

    def close(self) -> None:
        self.closed += 1


def _pool(
    minimum: int, maximum: int
) -> tuple[WorkerPool, KeyedDispatcher[None], threading.Condition, list[FakeWorker]]:
    dispatcher: KeyedDispatcher[None] = KeyedDispatcher(64)
    condition = threading.Condition()
    made: list[FakeWorker] = []
    errors: list[BaseException] = []

    def make() -> FakeWorker:
        worker = FakeWorker()
        made.append(worker)
        return worker

    pool = WorkerPool(
        dispatcher,
        condition,
        make,
        batch_size=4,
        minimum=minimum,
        maximum=maximum,
        on_error=errors.append,
    )
    return pool, dispatcher, condition, made


def _until(condition: Callable[[], bool], seconds: float, tick: Callable[[], None]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        tick()
        time.sleep(0.02)
    return condition()


def test_a_stopped_pool_closes_every_worker_it_made() -> None:
    pool, dispatcher, condition, made = _pool(3, 3)
    pool.start()
    try:
        with condition:
            dispatcher.add(("t", 0))
            for offset in range(20):
                dispatcher.offer(Item(("t", 0), offset, str(offset).encode(), 1, None))
            condition.notify_all()
        assert _until(lambda: pool.stats.records == 20, 5.0, lambda: None)
    finally:
        pool.stop(timeout=5.0)
    assert len(made) == 3
    assert [worker.closed for worker in made] == [1, 1, 1]
    assert pool.stats.closed == 3
    assert pool.alive == 0
    assert sorted(o for worker in made for batch in worker.batches for o in batch) == list(
        range(20)
    )


def test_a_shrinking_pool_closes_the_worker_it_retires() -> None:
    pool, _, _, made = _pool(1, 3)
    pool.start(3)
    try:
        # Idle above the minimum: after about two seconds one adjust() retires a worker.
        assert _until(lambda: pool.stats.shrunk >= 1, 4.0, pool.adjust)
        assert _until(lambda: pool.alive == 2, 1.0, lambda: None)
        assert sum(worker.closed for worker in made) == 1
        assert pool.stats.closed == 1
        assert pool.size == 2
    finally:
        pool.stop(timeout=5.0)
    assert len(made) == 3
    assert [worker.closed for worker in made] == [1, 1, 1]
