"""The cut of a consistent table diff: where both paths have committed, per source partition.

Each path commits a source offset only once the rows of every message below it are
durable in its database (legacy: its consumer group's Kafka commit, after the MySQL
write; ring: its offsets table, in the same PostgreSQL transaction as the rows). So
below the smaller of the two commits of a partition both tables hold the result of
the same messages, and must agree; at or past it one path may simply not be there yet.

A row *below the cut* comes from ``(partition, offset)`` with ``offset <
cut[partition]``; a partition one path has not committed on has a cut of 0 (nothing of
it is below). Offsets of a row only ever grow (a newer version of a key comes from a
later offset of the same partition, a replay is a no-op), so a row at or past the cut
stays there: whatever the diff once saw in flight is in flight at the end too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from canary.errors import UsageError


@dataclass(frozen=True, slots=True)
class Commits:
    """Where one path has committed on the source topic."""

    path: str  # "legacy" or "ring"
    group: str
    where: str  # where the commits were read, for messages: "Kafka", "PostgreSQL table x"
    offsets: Mapping[int, int]  # partition -> next offset to read


@dataclass(frozen=True, slots=True)
class Cut:
    """Per partition of ``topic``, the first offset not yet committed by both paths."""

    topic: str
    offsets: tuple[tuple[int, int], ...]  # (partition, offset), by partition
    legacy: Commits
    ring: Commits

    def below(self, partition: int, offset: int) -> bool:
        """Whether a row from this source coordinate is settled on both paths."""
        return offset < dict(self.offsets).get(partition, 0)

    @property
    def settled(self) -> tuple[tuple[int, int], ...]:
        """The partitions with anything below the cut (a cut above 0)."""
        return tuple((p, o) for p, o in self.offsets if o > 0)

    def as_json(self) -> dict[str, int]:
        """``{"<partition>": offset}``, the report's ``cut`` (CONTRACTS §7)."""
        return {str(partition): offset for partition, offset in self.offsets}


def compute_cut(topic: str, partitions: Iterable[int], legacy: Commits, ring: Commits) -> Cut:
    """The cut over ``partitions`` of ``topic`` (and any partition a path committed on).

    Raises UsageError naming the path, its group and where it was read when a path has
    never committed on the topic: there is no cut then, only a path that has not run.
    """
    for commits in (legacy, ring):
        if not commits.offsets:
            flag = f"--{commits.path}-group"
            raise UsageError(
                f"the {commits.path} path has never committed on topic {topic!r}: consumer "
                f"group {commits.group!r} has no offsets in {commits.where}; start "
                f"`canary run {commits.path}` first, or name its group with {flag}"
            )
    every = sorted({*partitions, *legacy.offsets, *ring.offsets})
    offsets = tuple(
        (partition, min(legacy.offsets.get(partition, 0), ring.offsets.get(partition, 0)))
        for partition in every
    )
    return Cut(topic, offsets, legacy, ring)
