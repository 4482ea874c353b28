"""Reading topics back in tests: every message up to the watermarks a read began with."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from canary.config import Settings
from canary.kafka import admin


def published(settings: Settings, topic: str) -> int:
    """Messages in ``topic`` (sum of the partitions' high minus low watermarks)."""
    return sum(span.messages for span in admin.watermarks(settings.kafka.bootstrap, topic))


def read_topic(settings: Settings, topic: str, timeout: float = 60.0) -> list[Message]:
    """Every message of ``topic``: a fresh consumer (uuid group, earliest) reads each
    partition up to the high watermark it had when the read began."""
    bootstrap = settings.kafka.bootstrap
    ends = {s.partition: s.high for s in admin.watermarks(bootstrap, topic) if s.messages}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-read-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    messages: list[Message] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        remaining = dict(ends)
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                pytest.fail(f"could not read {topic} up to its watermarks {ends}")
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                error = message.error()
                assert error is None, f"reading {topic}: {error}"
                messages.append(message)
                partition, offset = message.partition(), message.offset()
                assert partition is not None
                assert offset is not None
                if partition in remaining and offset + 1 >= remaining[partition]:
                    del remaining[partition]
    finally:
        consumer.close()
    return messages
