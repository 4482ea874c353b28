"""What the latency and rebalance runs share: options, fresh topics, a paced load."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from canary import app
from canary.bench import children
from canary.bench.figures import drain_timeout
from canary.config import Settings
from canary.errors import CanaryError

Say = Callable[[str], None]
JOIN = 6.0  # seconds for a new process to start and join its group
IDLE = JOIN + 6.0  # a member outlasts the wait before the load starts
# The slowest drain a member is granted: the legacy path commits one row per
# transaction and falls behind a fast load (about 1,600 msg/s on 2 cores).
SLOWEST_MSG_S = 200.0


@dataclass(frozen=True, slots=True)
class BenchOptions:
    messages: int = 50_000
    partitions: int = 6
    load: float = 1_000.0  # msg/s for the rebalance runs and the ``latency_ms`` figure
    load_seconds: float = 15.0
    stall: bool = True
    loads: tuple[float, ...] = (1_000.0, 5_000.0)  # msg/s of the ``latency_points``


def checked(result: children.ChildResult) -> children.ChildResult:
    if result.error:
        raise CanaryError(f"bench: the {result.kind} run failed: {result.error}")
    return result


def finish(handle: children.Handle, load: float, seconds: float) -> children.ChildResult:
    """The member's result, once it has drained a load it may not have kept up with."""
    spare = JOIN + IDLE + 60.0
    timeout = max(900.0, drain_timeout(load, seconds, SLOWEST_MSG_S, spare))
    return checked(children.finish(handle, timeout))


def on_fresh_topic(settings: Settings, name: str) -> Settings:
    fresh = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"source_topic": name})}
    )
    app.ensure_source_topic(fresh)
    app.empty_tables(fresh, offsets=True)
    return fresh


def start_load(settings: Settings, rate: float, seconds: float) -> threading.Thread:
    """Produce at ``rate`` msg/s for ``seconds`` in a background thread."""
    thread = threading.Thread(
        target=app.produce,
        kwargs={
            "settings": settings,
            "count": int(rate * seconds),
            "rate": rate,
            "seed": 2,
            "topic": None,
            "partitions": None,
            "keys": None,
        },
        daemon=True,
    )
    thread.start()
    return thread
