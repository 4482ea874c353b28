"""Delivery of verdict-change alerts (CONTRACTS §8) to an HTTP receiver.

``AlertSender.send`` only puts the alert on a queue; one background thread posts it, with
a timeout per attempt and retries with backoff. A receiver that is slow, failing or
gone never stops or slows the watch: the queue is bounded, an alert that finds it full
is dropped, and every failure is logged and counted.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from canary.core.backoff import Backoff

log = logging.getLogger(__name__)
QUEUE_SIZE = 100
ATTEMPTS = 4
TIMEOUT_S = 5.0


class AlertSender:
    """Posts alerts to ``url`` from a thread of its own."""

    def __init__(
        self,
        url: str,
        on_result: Callable[[bool], None] = lambda ok: None,
        *,
        attempts: int = ATTEMPTS,
        timeout_s: float = TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.sent = 0
        self.failed = 0
        self._on_result = on_result
        self._attempts = attempts
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name="canary-alerts", daemon=True)
        self._thread.start()

    def send(self, alert: dict[str, Any]) -> None:
        """Queue ``alert``; never blocks."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            log.warning(
                "alerts: %d alerts already waiting for %s; dropped one", QUEUE_SIZE, self.url
            )
            self._count(ok=False)

    def close(self, wait_s: float = 10.0) -> None:
        """Deliver what is queued, for at most ``wait_s`` seconds."""
        try:
            self._queue.put(None, timeout=wait_s)
        except queue.Full:
            return
        self._thread.join(wait_s)

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            self._count(ok=self._deliver(alert))

    def _count(self, *, ok: bool) -> None:
        if ok:
            self.sent += 1
        else:
            self.failed += 1
        self._on_result(ok)

    def _deliver(self, alert: dict[str, Any]) -> bool:
        body = orjson.dumps(alert)
        backoff = Backoff(base=0.5, cap=8.0)
        for attempt in range(1, self._attempts + 1):
            request = urllib.request.Request(  # noqa: S310 - the user's own receiver
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "canary"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:  # noqa: S310
                    if 200 <= answer.status < 300:
                        return True
                    problem = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problem = str(getattr(exc, "reason", exc))
            log.warning(
                "alerts: posting to %s failed (%s), attempt %d of %d",
                self.url,
                problem,
                attempt,
                self._attempts,
            )
            if attempt < self._attempts:
                self._sleep(backoff.delay(attempt, random.random()))
        return False
