"""Reading a whole topic from its beginning, without a group position: the diff's view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from canary.core.message import SourceMessage
from canary.errors import UsageError
from canary.kafka import client
from canary.kafka import consumer as kafka_consumer


class TopicReader:
    """Every partition of ``topic`` (or the ``partitions`` given) from offset 0, or from
    the offset ``starts`` gives it; commits nothing, so a reader started again reads the
    same messages."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        partitions: Sequence[int] | None = None,
        starts: Mapping[int, int] | None = None,
    ) -> None:
        admin = client.probe(bootstrap)
        # All topics, not the one by name: naming it would let the broker auto-create it.
        metadata = admin.list_topics(timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise UsageError(f"compare topic {topic!r} does not exist on {bootstrap}")
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer = kafka_consumer.build(
            bootstrap, group, {"enable.auto.commit": False, **kafka_consumer.BULK_READ}
        )
        chosen = sorted(metadata.partitions)
        if partitions is not None:
            chosen = [p for p in chosen if p in partitions]
        starts = starts or {}
        self._consumer.assign(
            [TopicPartition(topic, p, starts.get(p, OFFSET_BEGINNING)) for p in chosen]
        )
        self.ends = {
            p: end for p, end in self._high_watermarks(chosen).items() if starts.get(p, 0) < end
        }

    def consume(self, count: int, timeout: float) -> list[SourceMessage]:
        return list(kafka_consumer.consume(self._consumer, self._bootstrap, count, timeout))

    def at_end(self) -> bool:
        """Whether every partition's read position has passed its end as it was at the
        start. The position, not the last message seen, so trailing control records
        count too."""
        ends = self.ends
        positions = self._consumer.position([TopicPartition(self._topic, p) for p in ends])
        return all(tp.offset >= ends[tp.partition] for tp in positions)

    def _high_watermarks(self, partitions: list[int]) -> dict[int, int]:
        ends = {}
        for partition in partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), timeout=10
            )
            if high > low:
                ends[partition] = high
        return ends

    def close(self) -> None:
        self._consumer.close()
