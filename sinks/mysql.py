"""MySQL/MariaDB through PyMySQL: schema, version-guarded upserts, reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import orjson
import pymysql
import pymysql.cursors

from canary.config import MySQLSettings
from canary.errors import ServiceUnavailable
from sinks import schema

SERVICE = "MySQL"


def connect(settings: MySQLSettings, *, connect_timeout: float = 5.0) -> pymysql.Connection[Any]:
    """Open a connection; an unreachable server or refused login is ServiceUnavailable."""
    try:
        return pymysql.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password(),
            database=settings.database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=int(max(1, connect_timeout)),
        )
    except pymysql.err.OperationalError as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _reason(exc)) from exc


def _reason(exc: pymysql.err.MySQLError) -> str:
    args = exc.args
    return str(args[1]) if len(args) > 1 else str(exc)


@contextmanager
def translated(settings: MySQLSettings) -> Iterator[None]:
    """Turn a lost connection mid-work into ServiceUnavailable."""
    try:
        yield
    except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _reason(exc)) from exc


def init_schema(connection: pymysql.Connection[Any], table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(schema.mysql_ddl(table))
    connection.commit()


def _upsert_statement(table: str) -> str:
    names = ", ".join(f"`{name}`" for name in schema.NAMES)
    placeholders = ", ".join(["%s"] * len(schema.NAMES))
    # MariaDB has no `AS new` alias; assignments run left to right, so every column is
    # guarded by the version before the version itself is raised.
    newer = f"VALUES(`{schema.VERSION}`) > `{schema.VERSION}`"
    guarded = ", ".join(
        f"`{name}` = IF({newer}, VALUES(`{name}`), `{name}`)" for name in schema.UPDATABLE
    )
    version = f"`{schema.VERSION}` = GREATEST(`{schema.VERSION}`, VALUES(`{schema.VERSION}`))"
    return (
        f"INSERT INTO `{table}` ({names}) VALUES ({placeholders}) "
        f"ON DUPLICATE KEY UPDATE {guarded}, {version}"
    )


class OrdersWriter:
    """Writes rows with an idempotent, version-guarded upsert; one call = one transaction."""

    def __init__(self, connection: pymysql.Connection[Any], table: str) -> None:
        self._connection = connection
        self._statement = _upsert_statement(table)

    def write(self, rows: Sequence[schema.SinkRow]) -> None:
        """Upsert ``rows`` and commit; on any error the transaction is rolled back."""
        params = [_mysql_params(row) for row in rows]
        try:
            with self._connection.cursor() as cursor:
                cursor.executemany(self._statement, params)
            self._connection.commit()
        except BaseException:
            # A rollback on a dead connection fails too; the original error matters more.
            with suppress(pymysql.err.MySQLError):
                self._connection.rollback()
            raise


def _mysql_params(row: schema.SinkRow) -> list[Any]:
    values = row.ordered()
    for index, value in enumerate(values):
        if isinstance(value, datetime):
            # DATETIME(6) holds UTC wall-clock time; it never converts time zones itself.
            values[index] = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        elif isinstance(value, dict | list):
            values[index] = orjson.dumps(value).decode()
    return values


def fetch_rows(
    connection: pymysql.Connection[Any], table: str, keys: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Rows by key, decoded to Python values (JSON parsed, DATETIME as aware UTC)."""
    sql = f"SELECT {', '.join(f'`{n}`' for n in schema.NAMES)} FROM `{table}`"
    params: list[Any] = []
    if keys is not None:
        if not keys:
            return {}
        sql += f" WHERE `{schema.KEY}` IN ({', '.join(['%s'] * len(keys))})"
        params = list(keys)
    with connection.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute(sql, params)
        result = {}
        for record in cursor.fetchall():
            record["items"] = orjson.loads(record["items"])
            record["event_time"] = record["event_time"].replace(tzinfo=UTC)
            result[record[schema.KEY]] = record
    connection.commit()
    return result
