"""What both paths share at run time: stop signals, the idle timer, the end-of-run summary."""

from __future__ import annotations

import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

Clock = Callable[[], float]


class StopFlag:
    """Set by SIGINT/SIGTERM (or by code); the fetch loop checks it between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        flag.set(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class IdleTimer:
    """True once nothing new has arrived for ``seconds`` (never, when ``seconds`` is None).

    The timer is armed by the first partition assignment: joining a group can take longer
    than a short idle period, and a member that owns nothing yet is not idle but waiting.
    """

    def __init__(self, seconds: float | None, clock: Clock = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._last = clock()
        self._armed = False

    def arm(self) -> None:
        """Start (or restart) counting: each assignment is news, so a member that just
        took over a departed member's partitions is not idle yet."""
        self._armed = True
        self._last = self._clock()

    def touch(self) -> None:
        self._last = self._clock()

    def expired(self) -> bool:
        return (
            self._armed
            and self._seconds is not None
            and self._clock() - self._last >= self._seconds
        )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(slots=True)
class RunSummary:
    """Counters of one run of a path, printed at its end."""

    path: str
    run_id: str
    messages: int = 0
    rows: int = 0
    dead_lettered: int = 0
    errors: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    first_at: float = 0.0  # monotonic time of the first message
    last_at: float = 0.0  # monotonic time the last message was done

    def saw(self, count: int, now: float) -> None:
        """Count fetched messages; the rate is measured from the first one on."""
        if not self.first_at:
            self.first_at = now
        self.messages += count
        self.last_at = now

    @property
    def busy_seconds(self) -> float:
        return max(0.0, self.last_at - self.first_at)

    @property
    def rate(self) -> float:
        """Messages per second of work, from the first message to the last one done
        (time spent joining the group or idling at the end does not count)."""
        return self.messages / self.busy_seconds if self.busy_seconds > 0 else 0.0

    def lines(self) -> list[str]:
        return [
            f"{self.path} run {self.run_id}: stopped ({self.stopped_by})",
            f"  messages       {self.messages:>12,}",
            f"  rows written   {self.rows:>12,}",
            f"  dead-lettered  {self.dead_lettered:>12,}",
            f"  errors         {self.errors:>12,}",
            f"  elapsed        {self.seconds:>12.2f} s ({self.busy_seconds:.2f} s of work)",
            f"  rate           {self.rate:>12,.0f} msg/s",
            f"  peak memory    {peak_rss_mb():>12,.1f} MB (RSS)",
        ]
