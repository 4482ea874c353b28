"""Calls into a service retried until it answers: transient faults are waited out.

Every path shares one ``Retrier`` per service, so an outage is one outage however
many workers run into it: one log line when the service goes down, one per minute
while it stays down, one when it recovers (with how long it was away). The wait ends
early when the run is stopped, and after ``max_outage`` seconds it ends the run.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from canary.core.backoff import Backoff, Outage
from canary.errors import OutageTooLong, TransientFault
from canary.paths.runtime import Clock, StopFlag

log = logging.getLogger(__name__)
T = TypeVar("T")
REMIND_S = 60.0
DEFAULT_BACKOFF = Backoff()
Listener = Callable[[str, bool], None]


class Stopped(TransientFault):
    """The run was stopped while a service was away; the call did not happen."""


class Retrier:
    """Runs calls to one service, retrying ``TransientFault`` with backoff."""

    def __init__(
        self,
        service: str,
        stop: StopFlag,
        *,
        max_outage: float | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        clock: Clock = time.monotonic,
        on_change: Listener | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service
        self._stop = stop
        self._max_outage = max_outage
        self._backoff = backoff
        self._clock = clock
        self._on_change = on_change
        self._on_retry = on_retry
        self._outage = Outage()
        self._lock = threading.Lock()
        self._reminded = 0.0
        self._random = random.Random()

    @property
    def down(self) -> bool:
        return self._outage.down

    @property
    def retries(self) -> int:
        return self._outage.retries

    def call(self, work: Callable[[], T]) -> T:
        """``work()``, again and again while it raises TransientFault.

        :raises OutageTooLong: the service stayed away longer than ``max_outage``.
        :raises Stopped: the run was stopped while waiting.
        """
        attempt = 0
        while True:
            try:
                result = work()
            except TransientFault as exc:
                attempt += 1
                self._failed(exc)
                self._wait(attempt, exc)
                continue
            if self._outage.down:
                self._recovered()
            return result

    def attempt(self, work: Callable[[], object]) -> bool:
        """``work()`` once: True if it went through, False after a TransientFault (counted
        and logged like any retry). For work that is simply tried again later."""
        try:
            work()
        except TransientFault as exc:
            self._failed(exc)
            self._check_outage(exc)
            return False
        if self._outage.down:
            self._recovered()
        return True

    def _failed(self, exc: TransientFault) -> None:
        now = self._clock()
        with self._lock:
            change = self._outage.failed(now, exc.detail or str(exc))
            remind = not change and now - self._reminded >= REMIND_S
            if change or remind:
                self._reminded = now
        if self._on_retry is not None:
            self._on_retry(self.service)
        if change:
            log.warning(
                "%s is down (%s); retrying with backoff until it is back%s",
                self.service,
                exc.detail or exc,
                f" (at most {self._max_outage:g} s)" if self._max_outage is not None else "",
            )
            if self._on_change is not None:
                self._on_change(self.service, True)
        elif remind:
            log.warning(
                "%s still down after %.0f s (%d retries): %s",
                self.service,
                self._outage.lasted(now),
                self._outage.retries,
                exc.detail or exc,
            )

    def _recovered(self) -> None:
        with self._lock:
            change = self._outage.succeeded(self._clock())
        if change:
            log.warning("%s recovered after %.1f s", self.service, change.lasted)
            if self._on_change is not None:
                self._on_change(self.service, False)

    def _wait(self, attempt: int, exc: TransientFault) -> None:
        self._check_outage(exc)
        if self._stop.wait(self._backoff.delay(attempt, self._random.random())):
            raise Stopped(exc.service, exc.address, f"stopped while waiting ({exc.detail})")

    def _check_outage(self, exc: TransientFault) -> None:
        lasted = self._outage.lasted(self._clock())
        if self._max_outage is not None and lasted > self._max_outage:
            raise OutageTooLong(
                exc.service,
                exc.address,
                f"down for {lasted:.0f} s, longer than --max-outage {self._max_outage:g} s "
                f"({exc.detail})",
            ) from exc
