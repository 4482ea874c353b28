"""Edges of the two sinks that the writer contract does not reach: table names that
need quoting, PostgreSQL's staging table after a rolled-back first batch, a note
longer than MySQL's TEXT, and values the drivers refuse before the server sees them.

PostgreSQL tests work inside a schema of their own; the canary user may create tables
but not databases in MariaDB, so the MySQL test of fixed names holds a named lock for
as long as it owns those tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from canary.config import MySQLSettings, PostgresSettings
from canary.core.schema import SinkRow
from canary.errors import RowRejected
from sinks import ddl, mysql, postgres
from tests.services import Services

pytestmark = pytest.mark.integration

LARGE = postgres.SMALL_BATCH * 3
# Mixed case (PostgreSQL folds it unless quoted; MariaDB keeps a distinct "orders"), a
# reserved word of PostgreSQL and keyword of MySQL, and a name holding each engine's
# quote character, which the quoting must double.
NAMES = ["Orders", "user", 'Or"de`rs q']


def _row(key: int, version: int = 1, **changes: Any) -> SinkRow:
    values: dict[str, Any] = {
        "order_id": key,
        "user_id": 7,
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "status": "paid",
        "items": [{"sku": "SKU-1", "qty": 2}],
        "note": "Cafe\u0301 🚀",
        "event_time": datetime(2026, 3, 1, 12, 0, 0, 123456, UTC),
        "version": version,
    }
    values.update(changes)
    return SinkRow(values, partition=2, offset=key * 10 + version)


@pytest.fixture
def pg_schema(services: Services) -> Iterator[tuple[PostgresSettings, Callable[[], Any]]]:
    """Settings and a connection factory whose unqualified names resolve in a fresh schema."""
    schema = services.unique("edges")
    settings = services.settings.postgres

    def connect() -> Any:
        connection = postgres.connect(settings)
        connection.execute(f"SET search_path TO {ddl.postgres_name(schema)}")
        connection.commit()
        return connection

    with postgres.connect(settings) as admin:
        admin.execute(f"CREATE SCHEMA {ddl.postgres_name(schema)}")
        admin.commit()
    try:
        yield settings, connect
    finally:
        with postgres.connect(settings) as admin:
            admin.execute(f"DROP SCHEMA {ddl.postgres_name(schema)} CASCADE")
            admin.commit()


@pytest.fixture
def mysql_names(services: Services) -> Iterator[MySQLSettings]:
    """MySQL settings, with the fixed table names of NAMES owned by this test alone."""
    settings = services.settings.mysql
    admin = mysql.connect(settings)
    lock = "canary-tests.sink-edges"
    with admin.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, 120)", (lock,))
        assert cursor.fetchone() == (1,), "another run holds the fixed table names"

    def drop() -> None:
        with admin.cursor() as cursor:
            for name in NAMES:
                cursor.execute(f"DROP TABLE IF EXISTS {ddl.mysql_name(name)}")
        admin.commit()

    drop()
    try:
        yield settings
    finally:
        drop()
        with admin.cursor() as cursor:
            cursor.execute("SELECT RELEASE_LOCK(%s)", (lock,))
        admin.close()


# ------------------------------------------------------------------ quoting


@pytest.mark.parametrize("table", NAMES)
def test_postgres_table_names_that_need_quoting(
    pg_schema: tuple[PostgresSettings, Callable[[], Any]], table: str
) -> None:
    base, connect = pg_schema
    settings = base.model_copy(update={"table": table, "offsets_table": f"{table} Offsets"})
    connection = connect()
    writer = postgres.OrdersWriter(connect, table, settings.offsets_table, "edges")
    try:
        postgres.init_schema(connection, settings)
        postgres.init_schema(connection, settings)
        writer.write([_row(1)], {("t", 0): 2})
        writer.write([_row(key, 2) for key in range(1, LARGE + 1)], {("t", 0): 9})
        rows = postgres.fetch_rows(connection, table)
        assert sorted(rows) == list(range(1, LARGE + 1))
        assert rows[1]["version"] == 2
        assert rows[1]["note"] == "Cafe\u0301 🚀"
        assert writer.stored_offsets("t") == {0: 9}
        # Folding or another table of a similar name would hide a missing quote.
        found = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s",
            (table,),
        ).fetchone()
        assert found == (1,)

        postgres.truncate(connection, table)
        assert postgres.fetch_rows(connection, table) == {}
    finally:
        writer.close()
        connection.close()


@pytest.mark.parametrize("table", NAMES)
def test_mysql_table_names_that_need_quoting(mysql_names: MySQLSettings, table: str) -> None:
    connection = mysql.connect(mysql_names)
    writer = mysql.OrdersWriter(mysql.Connector(mysql_names), table)
    try:
        mysql.init_schema(connection, table)
        mysql.init_schema(connection, table)
        writer.write([_row(1)])
        writer.write([_row(1, 2, status="shipped"), _row(2)])
        rows = mysql.fetch_rows(connection, table)
        assert sorted(rows) == [1, 2]
        assert rows[1]["status"] == "shipped"
        assert rows[1]["note"] == "Cafe\u0301 🚀"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                (table,),
            )
            assert cursor.fetchone() == (1,)

        mysql.truncate(connection, table)
        assert mysql.fetch_rows(connection, table) == {}
    finally:
        writer.close()
        connection.close()


# ------------------------------------------------------------------ staging table


def test_postgres_rejected_first_large_batch_leaves_the_next_large_batch_working(
    pg_schema: tuple[PostgresSettings, Callable[[], Any]],
) -> None:
    base, connect = pg_schema
    settings = base.model_copy(update={"table": "orders", "offsets_table": "offsets"})
    connection = connect()
    postgres.init_schema(connection, settings)
    writer = postgres.OrdersWriter(connect, "orders", "offsets", "edges")
    try:
        # The very first write of this writer, so the staging table is made inside it.
        rejected = [_row(key) for key in range(1, LARGE)] + [_row(LARGE, amount=Decimal("1e12"))]
        with pytest.raises(RowRejected):
            writer.write(rejected, {("t", 0): LARGE})
        assert postgres.fetch_rows(connection, "orders") == {}
        assert writer.stored_offsets("t") == {}

        writer.write(rejected[:-1], {("t", 0): LARGE})
        # A third batch shows the staging table was emptied at commit, not merged twice.
        writer.write([_row(key, 2) for key in range(LARGE, 2 * LARGE)], {("t", 0): 2 * LARGE})
        rows = postgres.fetch_rows(connection, "orders")
        assert sorted(rows) == list(range(1, 2 * LARGE))
        assert {rows[key]["version"] for key in range(1, LARGE)} == {1}
        assert {rows[key]["version"] for key in range(LARGE, 2 * LARGE)} == {2}
        assert writer.stored_offsets("t") == {0: 2 * LARGE}
    finally:
        writer.close()
        connection.close()


# ------------------------------------------------------------------ long text


@pytest.fixture
def mysql_table(services: Services) -> Iterator[tuple[MySQLSettings, str]]:
    settings = services.settings.mysql
    table = services.unique("edges")
    admin = mysql.connect(settings)
    mysql.init_schema(admin, table)
    try:
        yield settings, table
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {ddl.mysql_name(table)}")
        admin.commit()
        admin.close()


def test_mysql_note_longer_than_text_is_a_rejected_row(
    mysql_table: tuple[MySQLSettings, str],
) -> None:
    settings, table = mysql_table
    writer = mysql.OrdersWriter(mysql.Connector(settings), table)
    connection = mysql.connect(settings)
    try:
        with pytest.raises(RowRejected) as refused:
            writer.write([_row(1), _row(2, note="x" * 70_000)])
        assert "too long" in refused.value.reason.lower()
        assert mysql.fetch_rows(connection, table) == {}

        # TEXT's own limit still fits, on the same writer after the refusal.
        writer.write([_row(1), _row(2, note="x" * 65_535)])
        rows = mysql.fetch_rows(connection, table)
        assert sorted(rows) == [1, 2]
        assert rows[2]["note"] == "x" * 65_535
    finally:
        writer.close()
        connection.close()


# ------------------------------------------------------------------ values never sendable

# Values the driver refuses before anything reaches the server. They can never be
# written, so the port promises RowRejected: a TransientFault would be retried until
# --max-outage and end the run as an outage, a foreign error would end it untranslated.
UNSENDABLE: dict[str, dict[str, Any]] = {
    "amount NaN": {"amount": Decimal("NaN")},
    "lone surrogate": {"note": "broken \ud800 text"},
}


@pytest.mark.parametrize("changes", list(UNSENDABLE.values()), ids=list(UNSENDABLE))
def test_mysql_value_the_driver_cannot_send_is_a_rejected_row(
    mysql_table: tuple[MySQLSettings, str], changes: dict[str, Any]
) -> None:
    settings, table = mysql_table
    writer = mysql.OrdersWriter(mysql.Connector(settings), table)
    connection = mysql.connect(settings)
    try:
        with pytest.raises(RowRejected):
            writer.write([_row(1), _row(2, **changes)])
        assert mysql.fetch_rows(connection, table) == {}
        writer.write([_row(1)])
        assert sorted(mysql.fetch_rows(connection, table)) == [1]
    finally:
        writer.close()
        connection.close()


@pytest.mark.parametrize("size", [2, LARGE], ids=["small", "large"])
def test_postgres_text_the_driver_cannot_encode_is_a_rejected_row(
    pg_schema: tuple[PostgresSettings, Callable[[], Any]], size: int
) -> None:
    base, connect = pg_schema
    settings = base.model_copy(update={"table": "orders", "offsets_table": "offsets"})
    connection = connect()
    postgres.init_schema(connection, settings)
    writer = postgres.OrdersWriter(connect, "orders", "offsets", "edges")
    try:
        batch = [_row(key) for key in range(1, size)] + [_row(size, **UNSENDABLE["lone surrogate"])]
        with pytest.raises(RowRejected):
            writer.write(batch, {("t", 0): size})
        assert postgres.fetch_rows(connection, "orders") == {}
        writer.write(batch[:-1], {("t", 0): size})
        assert sorted(postgres.fetch_rows(connection, "orders")) == list(range(1, size))
    finally:
        writer.close()
        connection.close()
