"""The ports of the two paths: what they write to, publish through and consume from.

A path knows the world only through these interfaces and their typed errors
(canary.errors); the adapters (``sinks.mysql``, ``sinks.postgres``, ``canary.kafka``)
translate foreign exceptions once, and ``canary.testing`` ships in-memory doubles.
What an error means, for every method of every port:

* ``TransientFault``: nothing took effect; the same call succeeds once the service is
  back. The caller waits (capped exponential backoff with jitter) and calls again; the
  adapter reconnects by itself.
* ``RowRejected`` (writers only): nothing took effect, and one of the rows can never be
  written. The caller isolates it by writing smaller batches, then dead-letters it.
* any other ``CanaryError``: fatal; the run ends with that error's exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from canary.core.events import SourceCoord
from canary.core.message import SourceMessage
from canary.core.schema import SinkRow

Partition = tuple[str, int]
Done = Callable[[], None]


class BatchWriter(Protocol):
    """Writes rows durably, in one transaction per call."""

    def write(self, rows: Sequence[SinkRow], next_offsets: Mapping[Partition, int]) -> None:
        """Apply ``rows`` (version-guarded: a row older than the stored one, or a replay,
        is a no-op; of equal versions the first applied wins) and, in the same
        transaction, raise the stored next offset of each partition in ``next_offsets``
        (never lowering one). Returns once committed.

        :raises TransientFault: nothing was written; call again later.
        :raises RowRejected: nothing was written; some row can never be.
        """

    def close(self) -> None:
        """Release the connection; a later ``write`` opens a new one."""


class OffsetStore(Protocol):
    """The next offsets kept beside the rows (the ring path's exactly-once position)."""

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition of ``topic``; absent partitions have none.

        :raises TransientFault: the store cannot be read now.
        """

    def reset_offset(self, topic: str, partition: int, offset: int) -> None:
        """Set one partition's next offset, even lower than before (a recreated topic).

        :raises TransientFault: nothing changed.
        """


class Publisher(Protocol):
    """Compare events and dead letters, each acknowledged through its ``done``.

    ``done`` runs (from ``serve`` or ``drain``) once Kafka holds the message, and never
    for a message that was lost: then ``failure`` names the problem and the path stops
    rather than commit past it. A broker that is away is waited for, not a failure.
    """

    failure: str | None
    dead_lettered: int

    def compare(self, key: str, src: SourceCoord, checksum: str, at_ms: float, done: Done) -> None:
        """Queue the compare event of a row committed at ``at_ms``."""

    def dead_letter(
        self, message: SourceMessage, reason: str, error: BaseException, done: Done
    ) -> None:
        """Queue ``message`` for the dead-letter topic with ``reason``; one too large for
        that topic goes as a marker (its coordinate, reason, size and headers)."""

    def serve(self, timeout: float = 0) -> None:
        """Run the acknowledgements that are due."""

    def drain(self, timeout: float = 60.0) -> int:
        """Wait until everything queued is acknowledged or failed; returns how many
        messages still wait for the broker (they are not complete)."""


class RebalanceListener(Protocol):
    """What a path does when the group moves partitions (called inside ``consume``)."""

    def on_assign(self, partitions: list[Partition]) -> Mapping[Partition, int]:
        """Partitions now owned; returns the offset to start each from (absent: the
        group's committed offset, else the earliest)."""

    def on_revoke(self, partitions: list[Partition]) -> None:
        """Partitions about to go to another member: finish or drop their work, commit."""

    def on_lost(self, partitions: list[Partition]) -> None:
        """Partitions already owned by another member: drop their work, commit nothing."""


class ConsumerControl(Protocol):
    """A group member on one topic."""

    def subscribe(self, topic: str, listener: RebalanceListener) -> None: ...

    def consume(self, count: int, timeout: float) -> list[SourceMessage]:
        """Up to ``count`` messages as soon as one is there (none after ``timeout``). A
        broker that is away yields nothing; it never raises for that.

        :raises ServiceUnavailable: the member cannot go on (fenced, fatal client error).
        """

    def pause(self, partitions: Sequence[Partition]) -> None: ...

    def resume(self, partitions: Sequence[Partition]) -> None: ...

    def store(self, committable: Mapping[Partition, int]) -> None:
        """Remember offsets for the next commit (a partition not owned is ignored)."""

    def commit(self, offsets: Mapping[Partition, int] | None = None) -> None:
        """Commit ``offsets`` (or the stored ones) synchronously; nothing to commit, or
        partitions that moved on, are fine.

        :raises TransientFault: the coordinator cannot be reached now.
        """

    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, tuple[int, int]]:
        """Each partition's (earliest, end) offsets, in one round trip.

        :raises TransientFault: the broker cannot be asked now.
        """

    def lag(self, topic: str) -> dict[Partition, int]:
        """Per partition of ``topic``: end offset minus the group's committed offset
        (a partition with nothing committed counts from its earliest offset).

        :raises TransientFault: the broker cannot be asked now.
        """

    def cached_lag(self, positions: Mapping[Partition, int]) -> dict[Partition, int]:
        """End offset (as last seen by the fetcher, no broker call) minus ``positions``,
        for the partitions whose end is known."""

    def close(self) -> None: ...
