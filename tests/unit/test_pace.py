"""The paced production schedule: a steady rate with one burst, and the producer keeping it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.pace import Pace
from canary.produce import produce_orders


def test_a_steady_pace_spaces_messages_evenly() -> None:
    pace = Pace(1000, rate=200)
    assert pace.burst_size == 0
    assert pace.burst_window is None
    assert pace.due(1) == pytest.approx(0.005)
    assert pace.due(400) == pytest.approx(2.0)
    assert pace.seconds == pytest.approx(5.0)


def test_the_burst_sends_faster_after_its_share_then_the_rate_returns() -> None:
    pace = Pace(10_000, rate=400, burst_seconds=5, burst_factor=4, burst_after=0.3)
    assert pace.burst_start == 3000
    assert pace.burst_size == 8000 - 1000  # 5 s at 1,600/s wanted; 7,000 are left after 3,000
    assert pace.burst_window == (pytest.approx(7.5), pytest.approx(7.5 + 7000 / 1600))
    # Before the burst: 400/s; in it: 1,600/s; the count ends inside it here.
    assert pace.due(3000) - pace.due(2600) == pytest.approx(1.0)
    assert pace.due(4600) - pace.due(3000) == pytest.approx(1.0)


def test_the_rate_comes_back_after_the_burst() -> None:
    pace = Pace(30_000, rate=400, burst_seconds=5, burst_factor=4)
    start, end = pace.burst_window or (0.0, 0.0)
    assert end - start == pytest.approx(5.0)
    after = pace.burst_start + pace.burst_size
    assert pace.due(after + 400) - pace.due(after) == pytest.approx(1.0)
    assert pace.seconds == pytest.approx((30_000 - 8000) / 400 + 5)


def test_unpaced_means_every_message_is_due_at_once() -> None:
    pace = Pace(100, rate=0, burst_seconds=5, burst_factor=4)
    assert pace.burst_size == 0
    assert pace.due(100) == 0.0


@pytest.mark.parametrize(
    "values",
    [
        {"count": -1},
        {"count": 1, "rate": -1.0},
        {"count": 1, "burst_factor": 0.5},
        {"count": 1, "burst_after": 1.5},
    ],
)
def test_impossible_paces_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"pace|burst"):
        Pace(**values)


@given(
    count=st.integers(1, 5000),
    rate=st.floats(1, 5000),
    seconds=st.floats(0, 20),
    factor=st.floats(1, 10),
    after=st.floats(0, 1),
)
def test_due_times_never_go_back_and_end_at_the_length(
    count: int, rate: float, seconds: float, factor: float, after: float
) -> None:
    pace = Pace(count, rate, seconds, factor, after)
    times = [pace.due(n) for n in range(count + 1)]
    assert times == sorted(times)
    assert times[-1] == pytest.approx(pace.seconds)
    assert pace.burst_start + pace.burst_size <= count


class _Producer:
    """Stands in for the Kafka producer: remembers when (on the fake clock) each message went."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[float] = []

    def connect(self, topic: str) -> None:
        pass

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append(self.clock[0])

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_the_producer_keeps_the_schedule() -> None:
    now = [0.0]
    producer = _Producer(now)
    pace = Pace(200, rate=100, burst_seconds=0.5, burst_factor=4, burst_after=0.25)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    result = produce_orders(
        producer,  # type: ignore[arg-type]  # the four methods produce_orders calls
        "t",
        count=200,
        keys=20,
        seed=1,
        pace=pace,
        clock=lambda: now[0],
        sleep=sleep,
    )
    # Message n goes out once message n-1 is due: the schedule, shifted by one.
    assert producer.sent == pytest.approx([0.0, *(pace.due(n) for n in range(1, 200))])
    assert result.seconds == pytest.approx(pace.seconds)


def test_a_pace_for_another_count_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot time"):
        produce_orders(
            _Producer([0.0]),  # type: ignore[arg-type]
            "t",
            count=10,
            keys=1,
            seed=1,
            pace=Pace(20, rate=10),
        )
