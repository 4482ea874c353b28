"""Prometheus figures of one consumer path, and the HTTP server that exposes them.

Every series carries ``path`` ("legacy" or "ring"):

    canary_messages_consumed_total       counter    messages taken from the source topic
    canary_rows_written_total            counter    rows committed to the path's database
    canary_dead_lettered_total           counter    messages sent to the dead-letter topic
    canary_retries_total                 counter    retried operations, by ``service``
    canary_outage                        gauge      1 while ``service`` is down, else 0
    canary_outage_start_time_seconds     gauge      Unix time the current outage of
                                                    ``service`` began; absent when up
    canary_consumer_lag                  gauge      messages behind the partition's high
                                                    watermark, by ``topic``, ``partition``
    canary_batch_write_seconds           histogram  duration of one batch write
    canary_worker_pool_size              gauge      workers writing batches
    canary_paused_partitions             gauge      partitions paused for backpressure

``service`` is one of "Kafka", "MySQL", "PostgreSQL". Each ``PathMetrics`` registers on a
registry of its own (a fresh one unless given), never the process-wide default, and
``serve`` exposes only that registry: two paths in one process do not collide.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from canary.errors import UsageError

SERVICES = ("Kafka", "MySQL", "PostgreSQL")
_DATABASE = {"legacy": "MySQL", "ring": "PostgreSQL"}
# From a one-row MySQL commit on loopback (about a millisecond) to a ring batch stalled
# behind a slow disk; the default buckets start at 5 ms and would lump the former.
_BATCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

LagSource = Callable[[], Mapping[tuple[str, int], int]]
"""Returns the lag of every partition the path owns now, keyed by (topic, partition)."""


class PathMetrics:
    """The figures of one path; every method is safe to call from any thread.

    A ``PathMetrics`` that is never passed to ``serve`` costs a lock and an addition per
    call and is never read: that is the default for a run without ``--metrics-port``.
    """

    def __init__(
        self,
        path: str,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if path not in _DATABASE:
            raise ValueError(f"unknown path {path!r}; expected one of {sorted(_DATABASE)}")
        self.path = path
        self.registry = registry if registry is not None else CollectorRegistry()
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: dict[str, float] = {}
        self._lag = _LagCollector(path)

        registry = self.registry
        # Binding ``path`` once also creates each series at zero, so a scrape before the
        # first message reads "none so far" rather than "unknown".
        self._consumed = Counter(
            "canary_messages_consumed",
            "Messages taken from the topic.",
            ["path"],
            registry=registry,
        ).labels(path)
        self._written = Counter(
            "canary_rows_written", "Rows committed to the database.", ["path"], registry=registry
        ).labels(path)
        self._dead = Counter(
            "canary_dead_lettered",
            "Messages sent to the dead-letter topic.",
            ["path"],
            registry=registry,
        ).labels(path)
        self._retries = Counter(
            "canary_retries",
            "Calls retried after a transient fault.",
            ["path", "service"],
            registry=registry,
        )
        self._outage = Gauge(
            "canary_outage", "1 while the service is down.", ["path", "service"], registry=registry
        )
        self._outage_start = Gauge(
            "canary_outage_start_time_seconds",
            "Unix time the current outage of the service began.",
            ["path", "service"],
            registry=registry,
        )
        self._batch = Histogram(
            "canary_batch_write_seconds",
            "Duration of one batch write.",
            ["path"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        ).labels(path)
        self._pool = Gauge(
            "canary_worker_pool_size", "Workers writing batches.", ["path"], registry=registry
        ).labels(path)
        self._paused = Gauge(
            "canary_paused_partitions",
            "Partitions paused for backpressure.",
            ["path"],
            registry=registry,
        ).labels(path)
        registry.register(self._lag)
        for service in ("Kafka", _DATABASE[path]):
            self._retries.labels(path, service)
            self._outage.labels(path, service).set(0)

    def consumed(self, n: int = 1) -> None:
        self._consumed.inc(n)

    def written(self, n: int = 1) -> None:
        self._written.inc(n)

    def dead_lettered(self, n: int = 1) -> None:
        self._dead.inc(n)

    def retried(self, service: str) -> None:
        self._retries.labels(self.path, _checked(service)).inc()

    def outage(self, service: str, down: bool) -> None:
        """Record that ``service`` is down or up; repeating ``down=True`` keeps the start."""
        service = _checked(service)
        with self._lock:
            if down and service not in self._down_since:
                self._down_since[service] = self._clock()
                self._outage_start.labels(self.path, service).set(self._down_since[service])
            elif not down and service in self._down_since:
                del self._down_since[service]
                self._outage_start.remove(self.path, service)
            self._outage.labels(self.path, service).set(1 if down else 0)

    def observe_batch(self, seconds: float) -> None:
        self._batch.observe(seconds)

    def pool_size(self, n: int) -> None:
        self._pool.set(n)

    def paused(self, n: int) -> None:
        self._paused.set(n)

    def set_lag_source(self, source: LagSource | None) -> None:
        """Read consumer lag from ``source`` at each scrape (None: report no lag).

        ``source`` runs on the HTTP server's thread, concurrently with the path, so it
        must be thread-safe and must not raise; it should return quickly from state the
        path already holds rather than ask the broker. A partition missing from its
        answer has no series in that scrape, so a revoked partition disappears.
        """
        self._lag.source = source


class _LagCollector:
    """Builds ``canary_consumer_lag`` from the lag source at scrape time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.source: LagSource | None = None

    def describe(self) -> Iterable[Metric]:
        # Without it the registry would not know this name and would accept a second
        # family of the same name, which would break every scrape.
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        source = self.source
        if source is not None:
            for (topic, partition), lag in sorted(source().items()):
                family.add_metric([self.path, topic, str(partition)], lag)
        return [family]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "canary_consumer_lag",
            "Messages behind the partition's high watermark.",
            labels=["path", "topic", "partition"],
        )


class MetricsServer:
    """A running /metrics endpoint on its own daemon thread; ``close()`` stops it."""

    def __init__(self, host: str, httpd: WSGIServer, thread: threading.Thread) -> None:
        self.host = host
        self.port: int = httpd.server_port
        self._httpd = httpd
        self._thread = thread

    def close(self) -> None:
        """Stop serving and free the port; closing twice is harmless."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Registered(Protocol):
    """Figures kept on a registry of their own (``PathMetrics``, the watcher's)."""

    registry: CollectorRegistry


def serve(metrics: Registered, host: str = "127.0.0.1", port: int = 0) -> MetricsServer:
    """Serve ``metrics`` (and nothing else) at http://host:port/metrics; port 0 picks one.

    :raises UsageError: the port is out of range or in use, or the host does not resolve
        to a local address.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if not 0 <= port <= 65535:
        raise UsageError(f"cannot serve metrics on {where}: port must be 0-65535")
    try:
        httpd, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:  # socket.gaierror too: the host does not resolve
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot serve metrics on {where}: {reason}") from exc
    return MetricsServer(host, httpd, thread)


def _checked(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    return service
