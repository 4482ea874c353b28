"""A producer whose every delivery is checked: a lost message is an error, never silence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from canary.errors import DeliveryError
from canary.kafka.client import base_config

Headers = Sequence[tuple[str, bytes]]
DeliveryCallback = Callable[[KafkaError | None, Message], None]


class CheckedProducer:
    """Counts deliveries and remembers the first failure; ``flush`` raises it."""

    def __init__(
        self,
        bootstrap: str,
        *,
        linger_ms: float = 5,
        idempotent: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        config = {
            **base_config(bootstrap),
            "linger.ms": linger_ms,
            "enable.idempotence": idempotent,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            **(extra or {}),
        }
        self._producer = Producer(config)
        self.delivered = 0
        self.failed = 0
        self.first_error: str | None = None

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
            return
        self.failed += 1
        if self.first_error is None:
            self.first_error = f"{message.topic()}: {error.str()}"

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one message, waiting for room when the local queue is full."""
        callback = on_delivery or self._on_delivery
        kwargs: dict[str, Any] = {"key": key, "on_delivery": callback}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)

    def connect(self, topic: str, timeout: float = 10.0) -> None:
        """Fetch ``topic``'s metadata now, so the first messages do not wait for it (their
        timestamps are taken when they are queued, and latency is measured from them)."""
        self._producer.list_topics(topic, timeout=timeout)

    def poll(self, timeout: float = 0) -> int:
        return int(self._producer.poll(timeout))

    def pending(self) -> int:
        return len(self._producer)

    def flush_quietly(self, timeout: float) -> int:
        """Wait up to ``timeout`` for every queued message; returns how many are still
        queued (their callbacks have not run, so nothing counts them as delivered)."""
        return int(self._producer.flush(timeout))

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for every queued message; raise DeliveryError if any was not delivered."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryError(f"{remaining} messages still undelivered after {timeout:.0f} s")
        if self.first_error is not None:
            raise DeliveryError(
                f"{self.failed} messages were not delivered; first: {self.first_error}"
            )
