"""Composition root of ``canary watch``: the real ports of a ``Watcher``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from canary.config import Settings
from canary.diff.alerts import AlertSender
from canary.diff.run import thresholds
from canary.diff.watch import Watcher, WatchOptions, WatchOutcome, WatchPorts
from canary.diff.watch_metrics import WatchMetrics
from canary.kafka import client
from canary.kafka.commits import GroupCommits
from canary.kafka.consumer import BULK_READ, GroupConsumer, classic_settings
from canary.metrics import serve
from sinks import postgres, reports
from sinks.checkpoints import CheckpointStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveOptions:
    watch: WatchOptions
    legacy_group: str
    ring_group: str
    alert_url: str | None = None
    metrics_address: tuple[str, int] | None = None
    from_start: bool = False  # forget the run's checkpoints first


class _Reports:
    """The report store, on a connection of its own that comes back after an outage."""

    def __init__(self, settings: Settings) -> None:
        connector = postgres.Connector(settings.postgres)
        self._link = postgres.Link(connector, connector.address)
        self._schema = settings.postgres.report_schema

    def save(self, report: dict[str, Any]) -> None:
        with self._link.translated() as connection:
            reports.save(connection, self._schema, report)

    def close(self) -> None:
        self._link.drop()


def watch_group(run_id: str) -> str:
    """The consumer group the watchers of ``run_id`` form on the compare topic."""
    return f"canary-watch-{run_id}"


def watch(
    settings: Settings,
    options: LiveOptions,
    stop: Callable[[], bool],
    status: Callable[[str], None] | None = None,
    on_metrics: Callable[[int], None] | None = None,
) -> WatchOutcome:
    """Watch ``options.watch.run_id`` until ``stop`` or idle; the services must answer
    at the start (ServiceUnavailable otherwise) and are waited out afterwards."""
    bootstrap = settings.kafka.bootstrap
    client.probe(bootstrap)
    store = CheckpointStore(postgres.Connector(settings.postgres), settings.postgres.report_schema)
    with postgres.connect(settings.postgres) as connection, postgres.translated(settings.postgres):
        postgres.init_schema(connection, settings.postgres)
    store.ensure()
    run_id, topic = options.watch.run_id, options.watch.topic
    if options.from_start:
        store.forget(run_id, topic)
    metrics = WatchMetrics(run_id)
    server = None
    if options.metrics_address is not None:
        server = serve(metrics, *options.metrics_address)
        if on_metrics is not None:
            on_metrics(server.port)
    sender = AlertSender(options.alert_url, metrics.alert) if options.alert_url else None
    report_store = _Reports(settings)
    consumer = GroupConsumer(
        bootstrap,
        watch_group(run_id),
        {**classic_settings("cooperative-sticky", 10_000), **BULK_READ},
    )
    ports = WatchPorts(
        consumer=consumer,
        commits=GroupCommits(
            bootstrap, {"legacy": options.legacy_group, "ring": options.ring_group}
        ),
        checkpoints=store,
        reports=report_store,
        alerts=sender,
        figures=metrics,
        status=status,
    )
    try:
        return Watcher(options.watch, thresholds(settings), ports, stop).run()
    finally:
        if sender is not None:
            sender.close()
        if server is not None:
            server.close()
        report_store.close()
        store.close()
