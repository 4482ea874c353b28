"""Reads where both paths have committed on the source topic, and makes the cut of it.

The I/O half of a consistent diff (the rules are ``canary.core.cut``): the legacy
path's commits are its consumer group's Kafka offsets, the ring path's the rows of its
offsets table in PostgreSQL, written in the same transaction as its rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from canary.config import Settings
from canary.core.cut import Commits, Cut, compute_cut
from canary.errors import UsageError
from canary.kafka.admin import watermarks
from canary.kafka.commits import GroupCommits
from sinks import postgres


@dataclass(frozen=True, slots=True)
class Positions:
    """Where the source topic ends and where each path has committed on it."""

    topic: str
    ends: Mapping[int, int]  # partition -> high watermark
    legacy: Commits
    ring: Commits

    def behind(self, commits: Commits) -> int:
        """Messages of the topic that path has not committed yet."""
        return sum(max(end - commits.offsets.get(p, 0), 0) for p, end in self.ends.items())


def read_positions(
    settings: Settings,
    *,
    topic: str | None = None,
    legacy_group: str | None = None,
    ring_group: str | None = None,
) -> Positions:
    """The ends of ``topic`` (default: the source topic) and the commits of the two groups
    (default: ``legacy.group`` and ``ring.group``) on it.

    Raises UsageError for a topic that does not exist, ServiceUnavailable when Kafka or
    PostgreSQL does not answer."""
    topic = topic or settings.kafka.source_topic
    legacy_group = legacy_group or settings.legacy.group
    ring_group = ring_group or settings.ring.group
    bootstrap = settings.kafka.bootstrap
    ends = {span.partition: span.high for span in watermarks(bootstrap, topic)}
    if not ends:
        raise UsageError(
            f"source topic {topic!r} does not exist at Kafka {bootstrap}: name it with --topic"
        )
    kafka = GroupCommits(bootstrap, {"legacy": legacy_group}).read()["legacy"]
    legacy = {p: offset for (t, p), offset in kafka.items() if t == topic}
    table = settings.postgres.offsets_table
    stored = postgres.committed_offsets(settings.postgres, ring_group, topic)
    where = f"PostgreSQL table {table!r}" + (" (which does not exist)" if stored is None else "")
    return Positions(
        topic,
        ends,
        Commits("legacy", legacy_group, f"Kafka at {bootstrap}", legacy),
        Commits("ring", ring_group, where, stored or {}),
    )


def read_cut(
    settings: Settings,
    *,
    topic: str | None = None,
    legacy_group: str | None = None,
    ring_group: str | None = None,
) -> Cut:
    """The cut of ``topic`` (default: the source topic) between the two groups (default:
    ``legacy.group`` and ``ring.group``).

    Raises UsageError for a topic that does not exist or a path that never committed on
    it, ServiceUnavailable when Kafka or PostgreSQL does not answer."""
    found = read_positions(settings, topic=topic, legacy_group=legacy_group, ring_group=ring_group)
    return compute_cut(found.topic, found.ends, found.legacy, found.ring)
