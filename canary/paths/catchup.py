"""Whether a path has caught up: the group's committed offsets at the end of every
partition of its topic. ``--until-idle`` ends a run only then, so a path never exits 0
while partitions sit unassigned (a dead member still holds them) or lag behind."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from canary.paths.ports import ConsumerControl, Partition
from canary.paths.retry import Retrier
from canary.paths.runtime import Clock

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0
REPORT_EVERY_S = 10.0
FINAL_COMMIT_S = 30.0


class CatchUp:
    """Asks the broker, at most once a second, how far the group is behind."""

    def __init__(
        self, topic: str, consumer: ConsumerControl, kafka: Retrier, clock: Clock = time.monotonic
    ) -> None:
        self._topic = topic
        self._consumer = consumer
        self._kafka = kafka
        self._clock = clock
        self._next_check = 0.0
        self._next_report = 0.0
        self._owned: dict[Partition, int] = {}

    def due(self) -> bool:
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_EVERY_S
        return True

    def check(self, *, commit: bool) -> bool:
        """Commit what is stored (when ``commit``), then True if no partition lags."""
        if commit and not self._kafka.attempt(self._consumer.commit):
            return False
        found: dict[Partition, int] = {}

        def ask() -> None:
            found.update(self._consumer.lag(self._topic))

        if not self._kafka.attempt(ask) or not found:
            return False
        behind = {p: n for p, n in found.items() if n > 0}
        if not behind:
            return True
        now = self._clock()
        if now >= self._next_report:
            self._next_report = now + REPORT_EVERY_S
            listed = ", ".join(f"p{p}: {n:,}" for (_, p), n in sorted(behind.items())[:20])
            log.warning(
                "idle, but not caught up: %s behind (%s); waiting for their owners",
                f"{len(behind)} partition(s)",
                listed,
            )
        return False

    def commit_final(self) -> bool:
        """The last commit of a run, tried for a while if the coordinator is away."""
        deadline = self._clock() + FINAL_COMMIT_S
        while True:
            if self._kafka.attempt(self._consumer.commit):
                return True
            if self._clock() >= deadline:
                log.warning(
                    "the final commit did not go through in %.0f s; the next run re-reads "
                    "from the last commit (nothing is lost: the rows are durable)",
                    FINAL_COMMIT_S,
                )
                return False
            time.sleep(1.0)

    def note_owned(self, lag: Mapping[Partition, int]) -> None:
        """The lag of the partitions owned now, as the path last measured it."""
        self._owned = dict(lag)

    def last_lag(self) -> dict[Partition, int]:
        """For the metrics endpoint's thread: a copy, never a broker call."""
        return dict(self._owned)
