"""The composition root: wires configuration to concrete adapters for each command."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from canary.config import Settings
from canary.core.events import PathName
from canary.core.orders import default_key_count
from canary.errors import ProtocolUnsupported
from canary.handlers.loader import load_handler
from canary.kafka import admin, client
from canary.kafka.producer import CheckedProducer
from canary.paths.legacy import LegacyOptions, LegacyPath
from canary.paths.outbox import Outbox
from canary.paths.ring import RingOptions, RingPath
from canary.paths.runtime import RunSummary, StopFlag
from canary.produce import ProduceResult, Progress, produce_orders
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
) -> ProduceResult:
    """Create the topic when missing, then publish synthetic order events."""
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
        progress=progress,
    )


def empty_tables(settings: Settings, *, offsets: bool = False) -> None:
    """Remove every row of the configured orders tables (and the ring path's stored
    offsets when ``offsets``): a fresh start for a demo or a benchmark run."""
    connection = mysql.connect(settings.mysql)
    try:
        with mysql.translated(settings.mysql), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE TABLE `{settings.mysql.table}`")
        connection.commit()
    finally:
        connection.close()
    with postgres.connect(settings.postgres) as pg, postgres.translated(settings.postgres):
        pg.execute(f"TRUNCATE TABLE {settings.postgres.table}")
        if offsets:
            pg.execute(f"TRUNCATE TABLE {settings.postgres.offsets_table}")


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


def run_legacy(
    settings: Settings,
    *,
    run_id: str,
    topic: str | None,
    group: str | None,
    until_idle: float | None,
    stop: StopFlag,
) -> RunSummary:
    """Run the legacy path until stopped or idle."""
    ensure_output_topics(settings)
    handler = load_handler(settings.handler.path)
    options = LegacyOptions(
        run_id=run_id,
        topic=topic or settings.kafka.source_topic,
        group=group or settings.legacy.group,
        until_idle=until_idle,
        batch_size=settings.legacy.batch_size,
        assignment_strategy=settings.legacy.assignment_strategy,
    )
    connection = mysql.connect(settings.mysql)
    try:
        writer = mysql.OrdersWriter(connection, settings.mysql.table)
        publisher = outbox(settings, run_id, "legacy")
        with mysql.translated(settings.mysql):
            return LegacyPath(settings, options, handler, writer, publisher, stop).run()
    finally:
        connection.close()


def outbox(settings: Settings, run_id: str, path: PathName) -> Outbox:
    producer = CheckedProducer(settings.kafka.bootstrap, linger_ms=2)
    return Outbox(
        producer,
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
        protocol="consumer" if ring.protocol == "auto" else ring.protocol,
        static_member_id=ring.static_member_id,
        worker_processes=ring.worker_mode == "processes",
        checkpoint_path=_checkpoint_path(ring.checkpoint_path, group, ring.static_member_id),
    )


def _checkpoint_path(pattern: str, group: str, member: str) -> Path:
    """One snapshot per group, and per static member when there is one (members of one
    group on one host would otherwise overwrite each other's)."""
    path = Path(pattern.format(group=group))
    return path.with_name(f"{path.stem}.{member}{path.suffix}") if member else path


def run_ring(settings: Settings, options: RingOptions, stop: StopFlag) -> RingPath:
    """Run the ring path until stopped or idle; returns it for its summary and gauges."""
    ensure_output_topics(settings)
    handler = load_handler(settings.handler.path)
    path = RingPath(settings, options, handler, outbox(settings, options.run_id, "ring"), stop)
    try:
        path.run()
    except ProtocolUnsupported:
        # "auto" asks for KIP-848 first; a broker without it refuses before any partition
        # is assigned, so nothing was processed and the run starts over the classic way.
        if settings.ring.protocol != "auto" or path.summary.messages:
            raise
        log.warning("ring: the broker does not support KIP-848; using cooperative-sticky")
        options = replace(options, protocol="cooperative-sticky")
        path = RingPath(settings, options, handler, outbox(settings, options.run_id, "ring"), stop)
        path.run()
    return path
