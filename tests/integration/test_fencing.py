"""A static member fenced by another holder of its group.instance.id.

Fenced by an earlier session of itself (after a broker restart) a member joins again
with a new client and goes on; fenced again and again, the id is really someone
else's, and the member ends with an error that names the id.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from canary.errors import ServiceUnavailable
from canary.kafka.consumer import MAX_REJOINS, GroupConsumer, classic_settings
from tests.services import Services

Partition = tuple[str, int]


class _Listener:
    def __init__(self) -> None:
        self.assigned = 0
        self.lost: list[list[Partition]] = []

    def on_assign(self, partitions: list[Partition]) -> dict[Partition, int]:
        self.assigned += len(partitions)
        return {}

    def on_revoke(self, partitions: list[Partition]) -> None:
        return None

    def on_lost(self, partitions: list[Partition]) -> None:
        self.lost.append(partitions)


def _consume_both(a: GroupConsumer, b: GroupConsumer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        a.consume(10, 0.1)
        b.consume(10, 0.1)


def test_two_members_with_one_static_id_rejoin_then_end_naming_it(
    services: Services, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("fence", 2)
    group = services.unique("fence")
    bootstrap = services.settings.kafka.bootstrap
    extra = {**classic_settings("cooperative-sticky"), "group.instance.id": "one-id"}
    first, second = _Listener(), _Listener()
    a = GroupConsumer(bootstrap, group, dict(extra))
    a.subscribe(topic, first)
    deadline = time.monotonic() + 30
    while not first.assigned and time.monotonic() < deadline:
        a.consume(10, 0.1)
    assert first.assigned, "the first member was never assigned"
    b = GroupConsumer(bootstrap, group, dict(extra))
    b.subscribe(topic, second)
    with pytest.raises(ServiceUnavailable, match=r"uses group.instance.id one-id") as ended:
        _consume_both(a, b, 90)
    assert f"fenced {MAX_REJOINS + 1} times" in str(ended.value)
    # Before giving up, each fenced member handed its partitions to on_lost and joined
    # again (the members fence each other in turn).
    assert first.lost
    assert second.lost or len(first.lost) > MAX_REJOINS
    for consumer in (a, b):
        consumer.close()
