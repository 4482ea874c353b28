"""Each service is real, reached through canary's own adapters."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from canary.config import Settings
from canary.core.schema import SinkRow
from canary.kafka import consumer as kafka_consumer
from canary.kafka.producer import CheckedProducer
from sinks import mysql, postgres
from tests.services import Services

pytestmark = pytest.mark.integration


def _row(order_id: int, version: int, **changes: object) -> SinkRow:
    values: dict[str, object] = {
        "order_id": order_id,
        "user_id": 7,
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "status": "paid",
        "items": [{"sku": "SKU-1", "qty": 2, "price": "6.25"}],
        "note": "Cafe\u0301 🚀 日本",
        "event_time": datetime(2026, 3, 1, 12, 0, 0, 123456, UTC),
        "version": version,
    }
    values.update(changes)
    return SinkRow(values, partition=1, offset=order_id * 10 + version)


def test_kafka_round_trip_through_a_consumer_group(
    services: Services, topic_factory: Callable[..., str]
) -> None:
    bootstrap = services.settings.kafka.bootstrap
    topic = topic_factory("roundtrip", 3)
    producer = CheckedProducer(bootstrap)
    sent = {f"k{i}".encode(): f"value {i} ✓".encode() for i in range(50)}
    for key, value in sent.items():
        producer.produce(topic, value, key=key)
    producer.flush()
    assert producer.delivered == 50

    group = services.unique("group")
    consumer = kafka_consumer.build(bootstrap, group, kafka_consumer.classic_settings("range"))
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < 50 and time.monotonic() < deadline:
            for message in kafka_consumer.consume(consumer, bootstrap, 100, 0.5):
                received[message.key()] = message.value()
                consumer.store_offsets(message=message)
        kafka_consumer.commit(consumer)
        committed = consumer.committed(consumer.assignment(), timeout=10)
    finally:
        consumer.close()
    assert received == sent
    assert sum(tp.offset for tp in committed) == 50


def test_mysql_upsert_keeps_the_newest_version_and_reads_back(isolated: Settings) -> None:
    connection = mysql.connect(isolated.mysql)
    try:
        mysql.init_schema(connection, isolated.mysql.table)
        mysql.init_schema(connection, isolated.mysql.table)
        writer = mysql.OrdersWriter(lambda: connection, isolated.mysql.table)
        writer.write([_row(1, 1), _row(2, 3, note=None)])
        writer.write([_row(1, 3, amount=Decimal("99.99")), _row(1, 2, amount=Decimal("1.00"))])
        writer.write([_row(2, 2, note="older")])
        rows = mysql.fetch_rows(connection, isolated.mysql.table)
    finally:
        connection.close()
    assert rows[1]["version"] == 3
    assert rows[1]["amount"] == Decimal("99.99")
    assert rows[1]["note"] == "Cafe\u0301 🚀 日本"
    assert rows[1]["event_time"] == datetime(2026, 3, 1, 12, 0, 0, 123456, UTC)
    assert rows[1]["items"] == [{"sku": "SKU-1", "qty": 2, "price": "6.25"}]
    assert rows[2]["version"] == 3
    assert rows[2]["note"] is None


def test_postgres_batch_moves_rows_and_offsets_together(isolated: Settings) -> None:
    settings = isolated.postgres
    with postgres.connect(settings) as connection:
        postgres.init_schema(connection, settings)
        postgres.init_schema(connection, settings)
        writer = postgres.OrdersWriter(
            lambda: connection, settings.table, settings.offsets_table, "g"
        )
        writer.write([_row(1, 1), _row(1, 2, status="shipped"), _row(2, 1)], {("t", 0): 3})
        writer.write([_row(1, 1, status="stale")], {("t", 0): 2})
        rows = postgres.fetch_rows(connection, settings.table)
        offsets = postgres.stored_offsets(connection, settings.offsets_table, "g", "t")
    assert rows[1]["version"] == 2
    assert rows[1]["status"] == "shipped"
    assert rows[1]["event_time"] == datetime(2026, 3, 1, 12, 0, 0, 123456, UTC)
    assert rows[1]["note"] == "Cafe\u0301 🚀 日本"
    assert rows[1]["items"] == [{"sku": "SKU-1", "qty": 2, "price": "6.25"}]
    assert set(rows) == {1, 2}
    assert offsets == {0: 3}


def test_postgres_large_batch_goes_through_copy_and_keeps_the_newest(isolated: Settings) -> None:
    settings = isolated.postgres
    assert postgres.SMALL_BATCH < 40
    batch = [
        _row(key, version, status=f"v{version}") for version in (2, 1, 3) for key in range(1, 15)
    ]
    with postgres.connect(settings) as connection:
        postgres.init_schema(connection, settings)
        writer = postgres.OrdersWriter(
            lambda: connection, settings.table, settings.offsets_table, "g"
        )
        writer.write(batch, {("t", 1): 40})
        writer.write(batch[:20], {("t", 1): 20})  # a replay: no effect, offsets never go back
        rows = postgres.fetch_rows(connection, settings.table)
        offsets = postgres.stored_offsets(connection, settings.offsets_table, "g", "t")
    assert sorted(rows) == list(range(1, 15))
    assert {row["version"] for row in rows.values()} == {3}
    assert {row["status"] for row in rows.values()} == {"v3"}
    assert offsets == {1: 40}
