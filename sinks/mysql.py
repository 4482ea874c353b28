"""MySQL/MariaDB through PyMySQL: schema, version-guarded upserts, reads.

Foreign errors are translated here and nowhere else (canary.errors): a lost or refused
connection, a server going away, a deadlock or a lock wait timeout is a
``TransientFault``; a row the table can never hold (too long, out of range, a bad
value, a violated constraint) is ``RowRejected``; anything else is ``ServiceUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeAlias

import orjson
import pymysql
import pymysql.cursors

from canary.config import MySQLSettings
from canary.core import schema
from canary.errors import RowRejected, ServiceUnavailable, TransientFault
from sinks import ddl
from sinks.connector import Reconnecting

SERVICE = "MySQL"
Connection: TypeAlias = "pymysql.Connection[Any]"
# Per-row refusals in strict mode: data too long, out of range, truncated, bad string
# or date value, NULL into NOT NULL, duplicate or foreign key, CHECK, invalid JSON.
_REJECTED = frozenset(
    {1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1411, 1451, 1452, 3140, 3819, 4025}
)
# Lost or refused connections, a server shutting down, too many connections, a lock
# wait timeout, a deadlock, a statement killed by a timeout, an idle connection closed
# by the server (4031), a primary demoted to read-only during a failover (1290, 1792,
# 1836).
_TRANSIENT = frozenset(
    {1040, 1053, 1205, 1213, 1290, 1317, 1792, 1836, 1927, 1969, 2002, 2003, 2006, 2013}
    | {2055, 3024, 4031}
)


def connect(
    settings: MySQLSettings, *, connect_timeout: float = 5.0, io_timeout_s: float | None = None
) -> Connection:
    """Open a connection; an unreachable server or refused login is ServiceUnavailable.

    ``io_timeout_s`` bounds each read and write on the socket, so a half-open
    connection is noticed in seconds rather than after the kernel gives up.
    """
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
            read_timeout=io_timeout_s,
            write_timeout=io_timeout_s,
        )
    except pymysql.err.OperationalError as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _reason(exc)) from exc


class Connector(Reconnecting[Connection]):
    """MySQL connections for a long-running writer, with socket timeouts."""

    def __init__(self, settings: MySQLSettings, *, io_timeout_s: float = 30.0) -> None:
        super().__init__(
            SERVICE, settings.address, partial(connect, settings, io_timeout_s=io_timeout_s)
        )


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


def _translate(exc: pymysql.err.MySQLError, address: str) -> Exception:
    """The canary error for a failed write: transient, rejected row, or fatal."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    reason = _reason(exc)
    if code in _REJECTED or isinstance(exc, pymysql.err.DataError | pymysql.err.IntegrityError):
        return RowRejected(SERVICE, f"({code}) {reason}")
    if code in _TRANSIENT or isinstance(exc, pymysql.err.InterfaceError):
        # InterfaceError (0, ''): the connection was already closed under us.
        return TransientFault(SERVICE, address, reason or "connection lost")
    if code == 0:
        # Refused by the driver before sending ("nan can not be used with MySQL").
        return RowRejected(SERVICE, reason)
    return ServiceUnavailable(SERVICE, address, f"({code}) {reason}")


def truncate(connection: Connection, *tables: str) -> None:
    """Empty ``tables``."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"TRUNCATE TABLE {ddl.mysql_name(table)}")
    connection.commit()


def init_schema(connection: Connection, table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(ddl.mysql_ddl(table))
    connection.commit()


def server_version(connection: Connection) -> str:
    """``VERSION()`` of the server: ``10.11.6-MariaDB-…`` or ``8.0.36``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        found = cursor.fetchone()
    return str(found[0]) if found else ""


def _upsert_statement(table: str, *, row_alias: bool = False) -> str:
    """The version-guarded upsert: ``VALUES(c)`` for MariaDB (which has no row alias),
    ``AS new`` … ``new.c`` for MySQL 8.0.19+ (where ``VALUES(c)`` is deprecated).
    Assignments run left to right, so every column is guarded by the version before the
    version itself is raised."""
    names = ", ".join(ddl.mysql_name(name) for name in schema.NAMES)
    placeholders = ", ".join(["%s"] * len(schema.NAMES))

    def incoming(name: str) -> str:
        return f"new.`{name}`" if row_alias else f"VALUES(`{name}`)"

    newer = f"{incoming(schema.VERSION)} > `{schema.VERSION}`"
    guarded = ", ".join(
        f"`{name}` = IF({newer}, {incoming(name)}, `{name}`)" for name in schema.UPDATABLE
    )
    version = f"`{schema.VERSION}` = GREATEST(`{schema.VERSION}`, {incoming(schema.VERSION)})"
    alias = " AS new" if row_alias else ""
    return (
        f"INSERT INTO {ddl.mysql_name(table)} ({names}) VALUES ({placeholders}){alias} "
        f"ON DUPLICATE KEY UPDATE {guarded}, {version}"
    )


class OrdersWriter:
    """The legacy path's batch writer (canary.paths.ports.BatchWriter): an idempotent,
    version-guarded upsert; one call = one transaction. Offsets live in Kafka, so a
    write carries none. Of two rows of one key with the same version, the first wins."""

    def __init__(
        self, connect: Callable[[], Connection], table: str, *, address: str = SERVICE
    ) -> None:
        self._connect = connect
        self._address = getattr(connect, "address", address)
        self._connection: Connection | None = None
        self._table = table
        self._statement = ""  # written for the server found at the first connection

    def write(
        self,
        rows: Sequence[schema.SinkRow],
        next_offsets: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        """Upsert ``rows`` and commit; on any error the transaction is rolled back."""
        if next_offsets:
            raise ValueError("the MySQL writer keeps no offsets; Kafka holds the legacy path's")
        params = [_mysql_params(row) for row in rows]
        if not params:
            return
        connection = self._connection
        try:
            if connection is None:
                connection = self._connection = self._connect()
                alias = ddl.row_alias_upserts(server_version(connection))
                self._statement = _upsert_statement(self._table, row_alias=alias)
            with connection.cursor() as cursor:
                cursor.executemany(self._statement, params)
            connection.commit()
        except UnicodeEncodeError as exc:
            if connection is not None:
                with suppress(pymysql.err.MySQLError):
                    connection.rollback()
            raise RowRejected(SERVICE, f"a value cannot be encoded: {exc}") from exc
        except pymysql.err.MySQLError as exc:
            error = _translate(exc, self._address)
            if isinstance(error, RowRejected) and connection is not None:
                with suppress(pymysql.err.MySQLError):
                    connection.rollback()
            else:
                self.close()
            raise error from exc
        except BaseException:
            # A rollback on a dead connection fails too; the original error matters more.
            if connection is not None:
                with suppress(pymysql.err.MySQLError):
                    connection.rollback()
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(pymysql.err.MySQLError, OSError):
                connection.close()


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
    connection: Connection, table: str, keys: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Rows by key, decoded to Python values (JSON parsed, DATETIME as aware UTC)."""
    columns = ", ".join(ddl.mysql_name(n) for n in schema.NAMES)
    sql = f"SELECT {columns} FROM {ddl.mysql_name(table)}"
    params: list[Any] = []
    if keys is not None:
        if not keys:
            return {}
        sql += f" WHERE {ddl.mysql_name(schema.KEY)} IN ({', '.join(['%s'] * len(keys))})"
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
