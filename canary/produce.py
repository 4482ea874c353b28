"""Publish synthetic order events to the source topic, throttled and with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from canary.core.orders import generate_orders
from canary.core.pace import Pace
from canary.kafka.producer import CheckedProducer

FLUSH_TIMEOUT_S = 330.0

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ProduceResult:
    topic: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def produce_orders(
    producer: CheckedProducer,
    topic: str,
    *,
    count: int,
    keys: int,
    seed: int,
    rate: float = 0.0,
    pace: Pace | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProduceResult:
    """Send ``count`` events; with ``rate`` > 0, never faster than ``rate`` per second.

    ``pace`` (for ``count`` messages) replaces ``rate`` by a schedule with a burst."""
    schedule = Pace(count, rate) if pace is None else pace
    if schedule.count != count:
        raise ValueError(f"a pace for {schedule.count} messages cannot time {count}")
    paced = schedule.rate > 0
    producer.connect(topic)
    started = clock()
    step = max(1, min(10_000, count // 100))
    for index, event in enumerate(generate_orders(count, keys, seed), start=1):
        producer.produce(topic, event.value, key=event.key)
        if paced:
            ahead = schedule.due(index) - (clock() - started)
            if ahead > 0:
                producer.poll(0)
                sleep(ahead)
        if index % step == 0:
            producer.poll(0)
            if progress is not None:
                progress(index)
    # A broker restarting near the end of a run delays the last deliveries; they are
    # waited for (librdkafka's own message timeout still bounds each message).
    producer.flush(FLUSH_TIMEOUT_S)
    if progress is not None:
        progress(count)
    return ProduceResult(topic=topic, count=count, seconds=clock() - started)
