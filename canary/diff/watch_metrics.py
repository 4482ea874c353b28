"""Prometheus figures of a watcher (``canary watch --metrics-port``).

Run-level figures are those of the run so far, as the watcher last judged it (every
checkpoint): the partitions it owns, merged with the others' saved checkpoints.

    canary_watch_records_total          counter  distinct records a path wrote, by ``path``
    canary_watch_matched_total          counter  records both paths wrote alike
    canary_watch_mismatched_total       counter  records whose sums differ
    canary_watch_missing_total          counter  records missing in ``path`` (settled)
    canary_watch_duplicates_total       counter  redelivered events, by ``path``
    canary_watch_invalid_total          counter  events that are not version 1 events
    canary_watch_pending                gauge    records only one path wrote yet, by the
                                                 ``path`` still to write them
    canary_watch_latency_ms             gauge    latency quantile by ``path``, ``quantile``
                                                 (0.5, 0.95, 0.99, 0.999)
    canary_watch_p99_gap_ms             gauge    ring P99 minus legacy P99
    canary_watch_verdict                gauge    1 while the run so far passes, 0 failing
    canary_watch_window_failures_total  counter  windows that failed
    canary_watch_windows_total          counter  windows judged
    canary_watch_compare_lag            gauge    compare events not read yet, over the
                                                 partitions this watcher owns
    canary_watch_partitions             gauge    compare partitions this watcher owns
    canary_watch_events_read_total      counter  compare-topic messages read
    canary_watch_checkpoints_total      counter  checkpoints saved
    canary_watch_alerts_total           counter  alerts delivered, by ``outcome``
                                                 ("sent" or "failed")

Every series carries ``run_id``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

_QUANTILES = (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"), ("0.999", "p999"))


class WatchMetrics:
    """The figures of one watcher; safe to update from any thread."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._report: dict[str, Any] | None = None
        self._counts = {
            "events_read": 0,
            "checkpoints": 0,
            "windows": 0,
            "window_failures": 0,
            "alerts_sent": 0,
            "alerts_failed": 0,
        }
        self._lag = 0
        self._partitions = 0
        self.registry.register(_Collector(self))

    def judged(self, report: dict[str, Any]) -> None:
        """The run-so-far report (its JSON) the figures come from now."""
        with self._lock:
            self._report = report

    def window(self, *, failed: bool) -> None:
        with self._lock:
            self._counts["windows"] += 1
            self._counts["window_failures"] += int(failed)

    def read(self, messages: int) -> None:
        with self._lock:
            self._counts["events_read"] += messages

    def checkpointed(self) -> None:
        with self._lock:
            self._counts["checkpoints"] += 1

    def alert(self, ok: bool) -> None:
        with self._lock:
            self._counts["alerts_sent" if ok else "alerts_failed"] += 1

    def owned(self, partitions: int, lag: int) -> None:
        with self._lock:
            self._partitions, self._lag = partitions, lag

    def families(self) -> list[Metric]:
        with self._lock:
            report, counts = self._report, dict(self._counts)
            lag, partitions = self._lag, self._partitions
        run = self.run_id
        families: list[Metric] = []

        def counter(name: str, doc: str, value: float) -> None:
            family = CounterMetricFamily(name, doc, labels=["run_id"])
            family.add_metric([run], value)
            families.append(family)

        def gauge(name: str, doc: str, value: float) -> None:
            family = GaugeMetricFamily(name, doc, labels=["run_id"])
            family.add_metric([run], value)
            families.append(family)

        counter("canary_watch_events_read", "Compare-topic messages read.", counts["events_read"])
        counter("canary_watch_checkpoints", "Checkpoints saved.", counts["checkpoints"])
        counter("canary_watch_windows", "Windows judged.", counts["windows"])
        counter("canary_watch_window_failures", "Windows that failed.", counts["window_failures"])
        alerts = CounterMetricFamily(
            "canary_watch_alerts", "Alerts delivered, by outcome.", labels=["run_id", "outcome"]
        )
        alerts.add_metric([run, "sent"], counts["alerts_sent"])
        alerts.add_metric([run, "failed"], counts["alerts_failed"])
        families.append(alerts)
        gauge("canary_watch_compare_lag", "Compare events not read yet.", lag)
        gauge("canary_watch_partitions", "Compare partitions owned.", partitions)
        if report is not None:
            families.extend(_run_families(run, report))
        return families


def _run_families(run: str, report: dict[str, Any]) -> Iterable[Metric]:
    def per_path(
        family: CounterMetricFamily | GaugeMetricFamily, values: dict[str, float]
    ) -> Metric:
        for path in ("legacy", "ring"):
            family.add_metric([run, path], values[path])
        return family

    labels = ["run_id", "path"]
    yield per_path(
        CounterMetricFamily(
            "canary_watch_records", "Distinct records a path wrote.", labels=labels
        ),
        report["records"],
    )
    yield per_path(
        CounterMetricFamily("canary_watch_duplicates", "Redelivered events.", labels=labels),
        report["duplicates"],
    )
    yield per_path(
        CounterMetricFamily(
            "canary_watch_missing", "Records missing in the path (settled).", labels=labels
        ),
        {"legacy": report["missing_in_legacy"], "ring": report["missing_in_ring"]},
    )
    pending = report["pending"]
    yield per_path(
        GaugeMetricFamily(
            "canary_watch_pending", "Records the path has yet to write.", labels=labels
        ),
        {"legacy": pending["in_legacy"], "ring": pending["in_ring"]},
    )
    for name, doc, key in (
        ("canary_watch_matched", "Records both paths wrote alike.", "matched"),
        ("canary_watch_mismatched", "Records whose sums differ.", "mismatched"),
        ("canary_watch_invalid", "Events that are not version 1 events.", "invalid"),
    ):
        family = CounterMetricFamily(name, doc, labels=["run_id"])
        family.add_metric([run], report[key])
        yield family
    latency = report["latency_ms"]
    quantiles = GaugeMetricFamily(
        "canary_watch_latency_ms",
        "Latency quantile of a path, milliseconds.",
        labels=["run_id", "path", "quantile"],
    )
    for path in ("legacy", "ring"):
        for label, key in _QUANTILES:
            quantiles.add_metric([run, path, label], latency[path][key])
    yield quantiles
    gap = GaugeMetricFamily(
        "canary_watch_p99_gap_ms", "Ring P99 minus legacy P99.", labels=["run_id"]
    )
    gap.add_metric([run], latency["p99_gap"])
    yield gap
    verdict = GaugeMetricFamily(
        "canary_watch_verdict",
        "1 while the run so far passes, 0 while it fails.",
        labels=["run_id"],
    )
    verdict.add_metric([run], 1.0 if report["verdict"] == "pass" else 0.0)
    yield verdict


class _Collector:
    def __init__(self, metrics: WatchMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics.families()
