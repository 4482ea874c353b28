"""The composition root: wires configuration to concrete adapters for each command."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from canary.config import Settings
from canary.core.events import PathName
from canary.core.orders import default_key_count
from canary.core.pace import Pace
from canary.handlers.loader import Handler, load_handler
from canary.kafka import admin, client
from canary.kafka import consumer as kafka_consumer
from canary.kafka import publisher as kafka_publisher
from canary.kafka.producer import CheckedProducer
from canary.kafka.publisher import KafkaPublisher
from canary.metrics import MetricsServer, PathMetrics
from canary.metrics import serve as serve_metrics
from canary.paths import membership
from canary.paths.legacy import LegacyOptions, LegacyPath, LegacyPorts
from canary.paths.ports import BatchWriter
from canary.paths.remote import RemoteWorker
from canary.paths.retry import Retrier
from canary.paths.ring import RingOptions, RingPath, RingPorts
from canary.paths.runtime import RunSummary, StopFlag
from canary.produce import ProduceResult, Progress, produce_orders
from canary.workers import WorkerSpec, serve_child
from sinks import mysql, postgres

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InitResult:
    mysql_table: str
    postgres_table: str
    offsets_table: str
    report_schema: str


def init_databases(settings: Settings) -> InitResult:
    """Create the sink tables in both engines and the report store, idempotently."""
    with postgres.connect(settings.postgres) as pg, postgres.translated(settings.postgres):
        postgres.init_schema(pg, settings.postgres)
    my = mysql.connect(settings.mysql)
    try:
        with mysql.translated(settings.mysql):
            mysql.init_schema(my, settings.mysql.table)
    finally:
        my.close()
    return InitResult(
        settings.mysql.table,
        settings.postgres.table,
        settings.postgres.offsets_table,
        settings.postgres.report_schema,
    )


def produce(
    settings: Settings,
    *,
    count: int,
    rate: float | None,
    seed: int | None,
    topic: str | None,
    partitions: int | None,
    keys: int | None,
    progress: Progress | None = None,
    pace: Pace | None = None,
) -> ProduceResult:
    """Create the topic when missing, then publish synthetic order events (at ``pace``,
    when given, instead of ``rate``)."""
    bootstrap = settings.kafka.bootstrap
    target = topic or settings.kafka.source_topic
    admin_client = client.probe(bootstrap)
    admin.ensure_topic(admin_client, bootstrap, target, partitions or settings.kafka.partitions)
    producer = CheckedProducer(bootstrap)
    key_count = keys or settings.produce.keys or default_key_count(count)
    return produce_orders(
        producer,
        target,
        count=count,
        keys=key_count,
        seed=settings.produce.seed if seed is None else seed,
        rate=settings.produce.rate if rate is None else rate,
        pace=pace,
        progress=progress,
    )


def empty_tables(settings: Settings, *, offsets: bool = False) -> None:
    """Remove every row of the configured orders tables (and the ring path's stored
    offsets when ``offsets``): a fresh start for a demo or a benchmark run."""
    connection = mysql.connect(settings.mysql)
    try:
        with mysql.translated(settings.mysql):
            mysql.truncate(connection, settings.mysql.table)
    finally:
        connection.close()
    pg = settings.postgres
    with postgres.connect(pg) as pg_connection, postgres.translated(pg):
        postgres.truncate(pg_connection, pg.table, *([pg.offsets_table] if offsets else []))


def ensure_source_topic(settings: Settings) -> None:
    bootstrap = settings.kafka.bootstrap
    admin.ensure_topic(
        client.probe(bootstrap), bootstrap, settings.kafka.source_topic, settings.kafka.partitions
    )


def ensure_output_topics(settings: Settings) -> None:
    """The compare and dead-letter topics exist before any path publishes to them."""
    bootstrap = settings.kafka.bootstrap
    admin_client = client.probe(bootstrap)
    for topic in (settings.kafka.compare_topic, settings.kafka.dlq_topic):
        admin.ensure_topic(admin_client, bootstrap, topic, settings.kafka.partitions)


def _retriers(
    service: str, stop: StopFlag, max_outage: float | None, metrics: PathMetrics
) -> tuple[Retrier, Retrier]:
    """One retrier for the path's database and one for Kafka, reporting to ``metrics``."""

    def retrier(name: str) -> Retrier:
        return Retrier(
            name, stop, max_outage=max_outage, on_change=metrics.outage, on_retry=metrics.retried
        )

    return retrier(service), retrier("Kafka")


@contextmanager
def metrics_endpoint(
    metrics: PathMetrics, address: tuple[str, int] | None
) -> Iterator[MetricsServer | None]:
    """Serve ``metrics`` at ``address`` (host, port) for the duration of the block."""
    if address is None:
        yield None
        return
    server = serve_metrics(metrics, *address)
    log.info("metrics on http://%s:%d/metrics", server.host, server.port)
    try:
        yield server
    finally:
        server.close()


LEGACY_PREFETCH_KB = 1 << 10  # per partition: librdkafka counts each one's queue


def run_legacy(
    settings: Settings,
    *,
    run_id: str,
    topic: str | None,
    group: str | None,
    until_idle: float | None,
    stop: StopFlag,
    max_outage: float | None = None,
    metrics_address: tuple[str, int] | None = None,
    sink: Literal["mysql", "postgres"] = "mysql",
) -> RunSummary:
    """Run the legacy path until stopped, or caught up and idle. ``sink = "postgres"``
    runs the same loop into PostgreSQL (the benchmark's classic-to-PostgreSQL figure)."""
    ensure_output_topics(settings)
    handler = load_handler(settings.handler.path)
    options = LegacyOptions(
        run_id=run_id,
        topic=topic or settings.kafka.source_topic,
        group=group or settings.legacy.group,
        until_idle=until_idle,
        batch_size=settings.legacy.batch_size,
        assignment_strategy=settings.legacy.assignment_strategy,
        max_outage=max_outage,
    )
    # Fail fast when the database is not there at the start; later outages are waited out.
    writer: BatchWriter
    if sink == "mysql":
        mysql.connect(settings.mysql).close()
        writer = mysql.OrdersWriter(mysql.Connector(settings.mysql), settings.mysql.table)
    else:
        pg = settings.postgres
        postgres.connect(pg).close()
        writer = postgres.OrdersWriter(
            postgres.Connector(pg), pg.table, pg.offsets_table, options.group
        )
    metrics = PathMetrics("legacy")
    database, kafka = _retriers(
        "MySQL" if sink == "mysql" else "PostgreSQL", stop, max_outage, metrics
    )
    slot = membership.claim(options.group, settings.legacy.static_member_id)
    try:
        log.info("legacy: member %s of group %s", slot.member_id or "(dynamic)", options.group)
        extra = {
            **kafka_consumer.classic_settings(options.assignment_strategy),
            # librdkafka prefetches up to 64 MiB a partition by default: a backlog would
            # grow the process by that much times the partitions, while a writer of one
            # row at a time needs a few batches. A full queue holds seconds of its work,
            # so the fetcher's 1 s backoff then costs nothing.
            "queued.max.messages.kbytes": LEGACY_PREFETCH_KB,
        }
        if slot.member_id:
            extra["group.instance.id"] = slot.member_id
        ports = LegacyPorts(
            consumer=kafka_consumer.GroupConsumer(settings.kafka.bootstrap, options.group, extra),
            writer=writer,
            publisher=publisher(settings, run_id, "legacy"),
            database=database,
            kafka=kafka,
            metrics=metrics,
        )
        with metrics_endpoint(metrics, metrics_address):
            return LegacyPath(options, handler, ports, stop).run()
    finally:
        slot.release()


def publisher(settings: Settings, run_id: str, path: PathName) -> KafkaPublisher:
    return KafkaPublisher(
        kafka_publisher.producer(settings.kafka.bootstrap),
        run_id=run_id,
        path=path,
        compare_topic=settings.kafka.compare_topic,
        dlq_topic=settings.kafka.dlq_topic,
    )


def ring_options(
    settings: Settings,
    *,
    run_id: str,
    topic: str | None,
    group: str | None,
    until_idle: float | None,
    workers: int | None,
    ring_capacity: int | None,
    max_outage: float | None = None,
) -> RingOptions:
    """Resolve the ring path's options from flags over configuration."""
    ring = settings.ring
    if ring_capacity is not None:
        ring = ring.model_copy(update={"ring_capacity": ring_capacity})
    maximum = workers or ring.worker_count()
    group = group or ring.group
    return RingOptions(
        run_id=run_id,
        topic=topic or settings.kafka.source_topic,
        group=group,
        until_idle=until_idle,
        workers=maximum,
        min_workers=min(ring.min_workers, maximum),
        ring_capacity=ring.ring_capacity,
        max_inflight_bytes=ring.max_inflight_bytes,
        low_water=ring.low_water,
        batch_size=ring.batch_size,
        # KIP-848 keeps a killed member's partitions until the broker's session timeout
        # (45 s and more); a static cooperative-sticky member gets them back at once.
        protocol="cooperative-sticky" if ring.protocol == "auto" else ring.protocol,
        static_member_id=ring.static_member_id,
        worker_processes=ring.worker_mode == "processes",
        checkpoint_path=Path(ring.checkpoint_path.format(group=group)),
        max_outage=max_outage,
    )


def _checkpoint_path(path: Path, member: str) -> Path:
    """One snapshot per group, and per static member when there is one (members of one
    group on one host would otherwise overwrite each other's)."""
    return path.with_name(f"{path.stem}.{member}{path.suffix}") if member else path


def _ring_consumer_settings(options: RingOptions, member: str) -> dict[str, Any]:
    extra: dict[str, Any] = {
        # librdkafka's own prefetch is bounded too, so pausing a partition bounds
        # the whole process, not only the rings.
        "queued.max.messages.kbytes": max(1024, options.max_inflight_bytes // 4096),
        "enable.auto.commit": True,
    }
    if options.protocol == "consumer":
        extra["group.protocol"] = "consumer"
    else:
        extra.update(kafka_consumer.classic_settings(options.protocol))
    if member:
        extra["group.instance.id"] = member
    return extra


def _ring(
    settings: Settings,
    options: RingOptions,
    handler: Handler,
    slot: membership.MemberSlot,
    stop: StopFlag,
) -> RingPath:
    """The ring path wired to its adapters, for the member ``slot`` holds."""
    pg = settings.postgres
    options = replace(
        options,
        static_member_id=slot.member_id,
        checkpoint_path=_checkpoint_path(options.checkpoint_path, slot.local_name),
    )
    log.info("ring: member %s of group %s", slot.member_id or "(dynamic)", options.group)
    metrics = PathMetrics("ring")
    database, kafka = _retriers("PostgreSQL", stop, options.max_outage, metrics)
    spec = WorkerSpec(settings, options.group, options.run_id, options.max_outage)
    ports = RingPorts(
        consumer=kafka_consumer.GroupConsumer(
            settings.kafka.bootstrap,
            options.group,
            _ring_consumer_settings(options, slot.member_id),
        ),
        publisher=publisher(settings, options.run_id, "ring"),
        store=postgres.OrdersWriter(
            postgres.Connector(pg), pg.table, pg.offsets_table, options.group
        ),
        writers=lambda: postgres.OrdersWriter(
            postgres.Connector(pg), pg.table, pg.offsets_table, options.group
        ),
        remote_workers=(
            (lambda: RemoteWorker(serve_child, spec)) if options.worker_processes else None
        ),
        database=database,
        kafka=kafka,
        metrics=metrics,
    )
    return RingPath(options, handler, ports, stop)


def run_ring(
    settings: Settings,
    options: RingOptions,
    stop: StopFlag,
    *,
    metrics_address: tuple[str, int] | None = None,
) -> RingPath:
    """Run the ring path until stopped, or caught up and idle; returns it for its
    summary and gauges."""
    ensure_output_topics(settings)
    handler = load_handler(settings.handler.path)
    pg = settings.postgres
    # Fail fast when PostgreSQL is not there at the start; later outages are waited out.
    postgres.connect(pg).close()
    slot = membership.claim(options.group, options.static_member_id)
    try:
        path = _ring(settings, options, handler, slot, stop)
        with metrics_endpoint(path.metrics, metrics_address):
            path.run()
    finally:
        slot.release()
    return path
