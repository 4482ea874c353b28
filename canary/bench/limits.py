"""What the machine allows at all: consuming alone, and each database's best upsert rate."""

from __future__ import annotations

import time
from collections.abc import Sequence

from canary.config import Settings
from canary.core.orders import generate_orders
from canary.core.schema import SinkRow
from canary.handlers.orders import to_row
from canary.kafka import consumer as kafka_consumer
from sinks import mysql, postgres

BATCH = 1000


def consume_only(settings: Settings, topic: str, expected: int, group: str) -> float:
    """Messages per second of a consumer that does nothing with them."""
    bootstrap = settings.kafka.bootstrap
    consumer = kafka_consumer.build(bootstrap, group, {"enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, started = 0, 0.0
    deadline = time.monotonic() + 120
    try:
        while seen < expected and time.monotonic() < deadline:
            batch = kafka_consumer.consume(consumer, bootstrap, BATCH, 0.5)
            if batch and not started:
                started = time.monotonic()
            seen += len(batch)
        return seen / max(time.monotonic() - started, 1e-9) if started else 0.0
    finally:
        consumer.close()


def sample_rows(count: int) -> list[SinkRow]:
    """``count`` distinct order rows, as the handler would produce them."""
    events = generate_orders(count, count, seed=7)
    return [SinkRow(to_row(e.key, e.value), 0, i) for i, e in enumerate(events)]


def postgres_upsert(settings: Settings, rows: Sequence[SinkRow]) -> float:
    """Rows per second through the ring path's writer, in batches of BATCH."""
    pg = settings.postgres
    with postgres.connect(pg) as connection:
        writer = postgres.OrdersWriter(
            lambda: connection, pg.table, pg.offsets_table, "bench-limit"
        )
        started = time.monotonic()
        for start in range(0, len(rows), BATCH):
            writer.write(rows[start : start + BATCH], {})
        return len(rows) / (time.monotonic() - started)


def mysql_upsert(settings: Settings, rows: Sequence[SinkRow]) -> float:
    """Rows per second through the legacy path's writer, in batches of BATCH."""
    connection = mysql.connect(settings.mysql)
    try:
        writer = mysql.OrdersWriter(lambda: connection, settings.mysql.table)
        started = time.monotonic()
        for start in range(0, len(rows), BATCH):
            writer.write(rows[start : start + BATCH])
        return len(rows) / (time.monotonic() - started)
    finally:
        connection.close()
