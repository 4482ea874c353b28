"""Topic administration: create when missing, read partition watermarks."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from canary.errors import ServiceUnavailable, UsageError
from canary.kafka.client import SERVICE, base_config, describe


def ensure_topic(client: AdminClient, bootstrap: str, topic: str, partitions: int) -> bool:
    """Create ``topic`` if it does not exist; True when it was created now."""
    if topic in client.list_topics(timeout=10).topics:
        return False
    futures = client.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    try:
        futures[topic].result(timeout=30)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_EXCEPTION:
            raise UsageError(f"invalid topic name {topic!r}: {error.str()}") from exc
        raise ServiceUnavailable(SERVICE, bootstrap, describe(exc)) from exc
    return True


@dataclass(frozen=True, slots=True)
class PartitionSpan:
    partition: int
    low: int
    high: int

    @property
    def messages(self) -> int:
        return self.high - self.low


def watermarks(bootstrap: str, topic: str, timeout: float = 10.0) -> list[PartitionSpan]:
    """Low and high watermark of every partition of ``topic`` (empty if it does not exist)."""
    consumer = Consumer(
        {**base_config(bootstrap), "group.id": "canary-watermarks", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        spans = []
        for partition in sorted(metadata.partitions):
            low, high = _watermark(consumer, TopicPartition(topic, partition), timeout)
            spans.append(PartitionSpan(partition, low, high))
        return spans
    except KafkaException as exc:
        raise ServiceUnavailable(SERVICE, bootstrap, describe(exc)) from exc
    finally:
        consumer.close()


# A topic created a moment ago may not have its leaders elected yet.
_NOT_READY = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
)


def _watermark(consumer: Consumer, partition: TopicPartition, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=timeout)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code not in _NOT_READY or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
