"""Waiting out a fault: capped exponential backoff with jitter, and the outage it spans.

Pure: the caller passes the time and the random draw, so tests replay an outage
exactly. ``Outage`` is the state of one service as the paths see it: up, or down
since a moment; each change of state is reported once, for one log line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number ``attempt`` (1, 2, ...): ``base`` doubling up to ``cap``,
    scaled by a draw in [1 - jitter, 1] so that many waiters do not retry in step."""

    base: float = 0.1
    cap: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int, draw: float) -> float:
        exponent = min(max(attempt - 1, 0), 30)
        ceiling = min(self.cap, self.base * float(2**exponent))
        return ceiling * (1.0 - self.jitter * min(max(draw, 0.0), 1.0))


@dataclass(frozen=True, slots=True)
class Change:
    """A change of a service's state: it went down, or came back after ``lasted`` s."""

    down: bool
    reason: str
    lasted: float = 0.0


class Outage:
    """Whether one service is down, since when, and how many retries it cost."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.reason = ""
        self.retries = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, now: float, reason: str) -> Change | None:
        """A call failed transiently at ``now``; a Change when the service just went down."""
        self.retries += 1
        self.reason = reason
        if self.since is None:
            self.since = now
            return Change(down=True, reason=reason)
        return None

    def succeeded(self, now: float) -> Change | None:
        """A call went through; a Change when this ends an outage."""
        if self.since is None:
            return None
        lasted, self.since = now - self.since, None
        return Change(down=False, reason=self.reason, lasted=lasted)

    def lasted(self, now: float) -> float:
        return now - self.since if self.since is not None else 0.0
