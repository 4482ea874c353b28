"""Consumer construction for both paths, and translation of consumer errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from canary.errors import ProtocolUnsupported, ServiceUnavailable
from canary.kafka.client import SERVICE, base_config, describe

Rebalance = Callable[[Consumer, list[TopicPartition]], None]


class FatalErrors:
    """librdkafka's error callback: remembers the first fatal error (a fenced static
    member, say), which otherwise never reaches ``consume``."""

    def __init__(self) -> None:
        self.first: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.fatal() and self.first is None:
            self.first = error

    def check(self, bootstrap: str) -> None:
        if self.first is None:
            return
        if self.first.code() in _UNSUPPORTED:
            raise ProtocolUnsupported(SERVICE, bootstrap, f"fatal: {self.first.str()}")
        raise ServiceUnavailable(SERVICE, bootstrap, f"fatal: {self.first.str()}")


_UNSUPPORTED = (KafkaError.UNSUPPORTED_VERSION, KafkaError._UNSUPPORTED_FEATURE)


def build(
    bootstrap: str,
    group: str,
    extra: dict[str, Any] | None = None,
    fatal: FatalErrors | None = None,
) -> Consumer:
    """A consumer that stores offsets only when told: nothing is committed before it is
    durable. A group with no committed position starts from the earliest offset."""
    callbacks = {"error_cb": fatal} if fatal is not None else {}
    return Consumer(
        {
            **base_config(bootstrap),
            **callbacks,
            "group.id": group,
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            **(extra or {}),
        }
    )


def classic_settings(strategy: str, session_timeout_ms: int = 10_000) -> dict[str, Any]:
    return {
        "group.protocol": "classic",
        "partition.assignment.strategy": strategy,
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": max(500, session_timeout_ms // 5),
    }


def consume(consumer: Consumer, bootstrap: str, count: int, timeout: float) -> list[Message]:
    """Up to ``count`` good messages, as soon as there is at least one.

    librdkafka's batch call waits until it has ``count`` messages or the timeout passes,
    which under a light load adds the whole timeout to every record's latency. So: take
    what is already fetched; if nothing is, wait for one message, then take the rest
    that is ready. Fatal errors raise; transient ones are skipped.
    """
    try:
        batch: list[Message] = consumer.consume(num_messages=count, timeout=0)
        if not batch:
            batch = consumer.consume(num_messages=1, timeout=timeout)
            if batch and count > 1:
                batch += consumer.consume(num_messages=count - 1, timeout=0)
    except KafkaException as exc:
        raise ServiceUnavailable(SERVICE, bootstrap, describe(exc)) from exc
    if any(message.error() is not None for message in batch):
        return [message for message in batch if _usable(message, bootstrap)]
    return batch


def _usable(message: Message, bootstrap: str) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise ServiceUnavailable(SERVICE, bootstrap, error.str())
    # Transient (a topic not created yet, a partition moving): librdkafka retries itself.
    return False


def store(consumer: Consumer, committable: dict[tuple[str, int], int]) -> None:
    """Store the committable offsets; the next (auto or explicit) commit sends them."""
    if committable:
        offsets = [TopicPartition(t, p, o) for (t, p), o in committable.items()]
        try:
            consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # A partition revoked a moment ago cannot be stored; its new owner resumes
            # from the last commit, which is never ahead of durable work.
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or error.code() != KafkaError._STATE:
                raise


def commit(consumer: Consumer, offsets: Sequence[TopicPartition] | None = None) -> None:
    """Commit ``offsets`` (or the stored ones) synchronously; nothing to commit is fine."""
    try:
        if offsets is None:
            consumer.commit(asynchronous=False)
        elif offsets:
            consumer.commit(offsets=list(offsets), asynchronous=False)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() in (
            KafkaError._NO_OFFSET,
            KafkaError.UNKNOWN_MEMBER_ID,
            KafkaError.ILLEGAL_GENERATION,
            KafkaError.REBALANCE_IN_PROGRESS,
            KafkaError._STATE,
        ):
            return  # nothing to commit, or the partitions moved on: their owner commits
        # Not committing loses no data (the work is durable; it is re-read), but the run
        # must say the group is unusable rather than end in a traceback.
        raise ServiceUnavailable(SERVICE, "the group coordinator", describe(exc)) from exc
