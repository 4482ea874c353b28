"""Fixtures over the real services: every test gets its own topics and tables.

A test that needs a service fails when the service is missing; it never skips.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from canary.config import Settings, load_settings
from canary.errors import ServiceUnavailable
from canary.kafka import admin, client
from sinks import mysql, postgres


@dataclass
class Services:
    settings: Settings

    def unique(self, prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _check(settings: Settings) -> None:
    problems = []
    for name, probe in (
        ("Kafka", lambda: client.probe(settings.kafka.bootstrap, timeout=10)),
        ("MySQL", lambda: mysql.connect(settings.mysql).close()),
        ("PostgreSQL", lambda: postgres.connect(settings.postgres).close()),
    ):
        try:
            probe()
        except ServiceUnavailable as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        pytest.fail(
            "services missing (start them with `scripts/services up`):\n" + "\n".join(problems),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def services() -> Services:
    settings = load_settings()
    _check(settings)
    return Services(settings)


@pytest.fixture
def topic_factory(services: Services) -> Iterator[Callable[..., str]]:
    """Creates uuid-named topics and deletes them afterwards."""
    created: list[str] = []
    bootstrap = services.settings.kafka.bootstrap
    admin_client = client.admin(bootstrap)

    def make(prefix: str = "t", partitions: int = 3) -> str:
        name = services.unique(prefix)
        admin.ensure_topic(admin_client, bootstrap, name, partitions)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin_client.delete_topics(created).values():
            future.result(timeout=30)


@pytest.fixture
def isolated(services: Services, topic_factory: Callable[..., str]) -> Iterator[Settings]:
    """Settings whose topics and tables belong to this test alone."""
    suffix = uuid.uuid4().hex[:10]
    base = services.settings
    settings = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(
                update={
                    "source_topic": topic_factory("src", 6),
                    "compare_topic": topic_factory("cmp", 6),
                    "dlq_topic": topic_factory("dlq", 1),
                }
            ),
            "mysql": base.mysql.model_copy(update={"table": f"orders_{suffix}"}),
            "postgres": base.postgres.model_copy(
                update={
                    "table": f"orders_{suffix}",
                    "offsets_table": f"offsets_{suffix}",
                }
            ),
            "legacy": base.legacy.model_copy(update={"group": f"legacy_{suffix}"}),
            "ring": base.ring.model_copy(update={"group": f"ring_{suffix}"}),
        }
    )
    yield settings
    drop_tables(settings, settings.mysql.table, pg_tables=(settings.postgres.offsets_table,))


def drop_tables(settings: Settings, *tables: str, pg_tables: tuple[str, ...] = ()) -> None:
    """Drop ``tables`` in MySQL and PostgreSQL (and ``pg_tables`` in PostgreSQL only)."""
    my = mysql.connect(settings.mysql)
    try:
        with my.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
        my.commit()
    finally:
        my.close()
    with postgres.connect(settings.postgres) as pg:
        for table in (*tables, *pg_tables):
            pg.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]
        pg.commit()
