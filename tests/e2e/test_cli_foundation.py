"""The `canary` console script end to end: db init, produce, and its exit codes.

Each test runs the installed script as a subprocess against the real services, on its
own uuid-named topics and tables.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from canary.core.orders import default_key_count, generate_orders
from canary.kafka import admin, client
from sinks import mysql, postgres
from tests.services import Services

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).parent / "canary"
Records = dict[int, list[tuple[bytes, bytes]]]


def _canary(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> Records:
    """Every message of ``topic`` by partition, in offset order."""
    spans = admin.watermarks(bootstrap, topic)
    consumer = Consumer(
        {
            **client.base_config(bootstrap),
            "group.id": f"e2e-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, s.partition, OFFSET_BEGINNING) for s in spans])
    records: Records = defaultdict(list)
    received = 0
    deadline = time.monotonic() + timeout
    try:
        while received < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                assert message.error() is None, message.error()
                partition, key, value = message.partition(), message.key(), message.value()
                assert partition is not None
                assert key is not None
                assert value is not None
                records[partition].append((key, value))
                received += 1
    finally:
        consumer.close()
    assert received == expected
    return dict(records)


@pytest.fixture
def tables(services: Services) -> Iterator[dict[str, str]]:
    """Environment that points `canary` at tables and a report schema of this test alone;
    whatever got created is dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    env = {
        "CANARY_MYSQL__TABLE": f"e2e_orders_{suffix}",
        "CANARY_POSTGRES__TABLE": f"e2e_orders_{suffix}",
        "CANARY_POSTGRES__OFFSETS_TABLE": f"e2e_offsets_{suffix}",
        "CANARY_POSTGRES__REPORT_SCHEMA": f"e2e_reports_{suffix}",
    }
    yield env
    settings = services.settings
    connection = mysql.connect(settings.mysql)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{env['CANARY_MYSQL__TABLE']}`")
        connection.commit()
    finally:
        connection.close()
    with postgres.connect(settings.postgres) as pg:
        pg.execute(f"DROP TABLE IF EXISTS {env['CANARY_POSTGRES__TABLE']}")
        pg.execute(f"DROP TABLE IF EXISTS {env['CANARY_POSTGRES__OFFSETS_TABLE']}")
        pg.execute(f"DROP SCHEMA IF EXISTS {env['CANARY_POSTGRES__REPORT_SCHEMA']} CASCADE")
        pg.commit()


@pytest.fixture
def new_topic(services: Services) -> Iterator[str]:
    """A uuid topic name that does not exist yet; deleted afterwards if it was created."""
    name = services.unique("e2e_new")
    yield name
    bootstrap = services.settings.kafka.bootstrap
    if admin.watermarks(bootstrap, name):
        admin_client = client.admin(bootstrap)  # must outlive the futures
        for future in admin_client.delete_topics([name]).values():
            future.result(timeout=30)


def _mysql_table_exists(services: Services, table: str) -> bool:
    connection = mysql.connect(services.settings.mysql)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW TABLES LIKE %s", (table,))
            return cursor.fetchone() is not None
    finally:
        connection.close()


def _pg_relation_exists(services: Services, name: str) -> bool:
    with postgres.connect(services.settings.postgres) as pg:
        row = pg.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])


def test_db_init_is_idempotent(services: Services, tables: dict[str, str]) -> None:
    for _ in range(2):
        result = _canary("db", "init", env=tables)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert tables["CANARY_MYSQL__TABLE"] in result.stdout
    assert _mysql_table_exists(services, tables["CANARY_MYSQL__TABLE"])
    assert _pg_relation_exists(services, tables["CANARY_POSTGRES__TABLE"])
    assert _pg_relation_exists(services, tables["CANARY_POSTGRES__OFFSETS_TABLE"])
    assert _pg_relation_exists(services, f"{tables['CANARY_POSTGRES__REPORT_SCHEMA']}.reports")


def test_produce_creates_the_topic_and_publishes_every_event(
    services: Services, new_topic: str
) -> None:
    result = _canary(
        "produce", "--count", "2000", "--seed", "1", "--topic", new_topic, "--partitions", "4"
    )
    assert result.returncode == 0, result.stderr
    rate = re.search(r"([\d,.]+) msg/s", result.stdout)
    assert rate is not None, result.stdout
    assert float(rate.group(1).replace(",", "")) > 0
    assert new_topic in result.stdout
    spans = admin.watermarks(services.settings.kafka.bootstrap, new_topic)
    assert len(spans) == 4
    assert sum(span.high for span in spans) == 2000
    assert sum(span.messages for span in spans) == 2000


def test_same_seed_publishes_the_same_sequence(
    services: Services, topic_factory: Callable[..., str]
) -> None:
    bootstrap = services.settings.kafka.bootstrap
    count = 600
    first, second = topic_factory("e2e_seed", 3), topic_factory("e2e_seed", 3)
    for topic in (first, second):
        result = _canary("produce", "--count", str(count), "--seed", "42", "--topic", topic)
        assert result.returncode == 0, result.stderr
    one = _read_topic(bootstrap, first, count)
    two = _read_topic(bootstrap, second, count)
    assert one == two
    # And it is what the generator makes: per key, every version in order.
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for records in one.values():
        for key, value in records:
            by_key[key].append(value)
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    for event in generate_orders(count, default_key_count(count), 42):
        expected[event.key].append(event.value)
    assert by_key == expected


def test_unreachable_kafka_exits_3_naming_it() -> None:
    started = time.monotonic()
    result = _canary(
        "produce", "--count", "1", env={"CANARY_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, timeout=30
    )
    assert time.monotonic() - started < 20
    assert result.returncode == 3, result.stderr
    assert "Kafka" in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "dsn", "service"),
    [
        ("CANARY_MYSQL_DSN", "mysql://canary:canary@127.0.0.1:1/canary", "MySQL"),
        ("CANARY_PG_DSN", "postgresql://canary:canary@127.0.0.1:1/canary", "PostgreSQL"),
    ],
)
def test_unreachable_database_exits_3_naming_it(
    tables: dict[str, str], variable: str, dsn: str, service: str
) -> None:
    started = time.monotonic()
    result = _canary("db", "init", env={**tables, variable: dsn}, timeout=30)
    assert time.monotonic() - started < 20
    assert result.returncode == 3, result.stderr
    assert service in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["config", "check"], ["produce", "--count", "1"]])
def test_bad_config_value_exits_2(command: list[str]) -> None:
    result = _canary(*command, env={"CANARY_RING__WORKERS": "x"})
    assert result.returncode == 2, result.stderr
    assert "ring.workers" in result.stderr
    assert "CANARY_RING__WORKERS" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_python_dash_m_canary_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "canary", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "produce" in result.stdout
