"""What consumer groups have committed: where each path stands on its source topic.

The watcher settles its join with these (canary.core.join): a path commits a source
offset only once the compare events below it are acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AdminClient

from canary.errors import TransientFault
from canary.kafka.client import SERVICE, base_config, describe

QUERY_TIMEOUT_S = 10.0


class GroupCommits:
    """Reads the committed offsets of one consumer group per path."""

    def __init__(self, bootstrap: str, groups: Mapping[str, str]) -> None:
        self._bootstrap = bootstrap
        self._groups = dict(groups)
        self._admin = AdminClient(base_config(bootstrap))

    def read(self) -> dict[str, dict[tuple[str, int], int]]:
        """Per path, the committed next offset of every (topic, partition) its group has
        committed on. Raises TransientFault while the broker cannot answer."""
        found: dict[str, dict[tuple[str, int], int]] = {}
        for path, group in self._groups.items():
            try:
                futures = self._admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group)], request_timeout=QUERY_TIMEOUT_S
                )
                answer = futures[group].result()
            except KafkaException as exc:
                raise TransientFault(SERVICE, self._bootstrap, describe(exc)) from exc
            found[path] = {
                (tp.topic, tp.partition): int(tp.offset)
                for tp in answer.topic_partitions or []
                if tp.offset >= 0 and tp.error is None
            }
        return found
