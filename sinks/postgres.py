"""PostgreSQL through psycopg 3: schema, exactly-once batches with offsets, reads.

Foreign errors are translated here and nowhere else (canary.errors): a lost connection,
a server shutting down, a deadlock, a serialization failure or a statement timeout is a
``TransientFault``; a row the table can never hold (data class 22, integrity class 23)
is ``RowRejected``; anything else the server refuses is ``ServiceUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from canary.config import PostgresSettings
from canary.core import schema
from canary.errors import RowRejected, ServiceUnavailable, TransientFault
from sinks import ddl
from sinks.connector import Reconnecting

SERVICE = "PostgreSQL"
_STAGE = "canary_stage"
SMALL_BATCH = 8
Connection = psycopg.Connection[Any]
# A half-open connection (a server that vanished without a FIN) is noticed within
# about 20 s by keepalives and the TCP user timeout, not after the kernel's 15 minutes.
_KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}


def connect(
    settings: PostgresSettings,
    *,
    connect_timeout: float = 5.0,
    statement_timeout_s: float = 0.0,
) -> Connection:
    """Open a connection; an unreachable server or refused login is ServiceUnavailable.

    ``statement_timeout_s`` > 0 bounds every statement on the server side, so a stuck
    lock or a dying server turns into an error a caller can retry.
    """
    options = (
        f"-c statement_timeout={int(statement_timeout_s * 1000)}" if statement_timeout_s else ""
    )
    try:
        return psycopg.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password(),
            dbname=settings.database,
            connect_timeout=int(max(1, connect_timeout)),
            application_name="canary",
            options=options,
            **_KEEPALIVE,
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _first_line(exc)) from exc


class Connector(Reconnecting[Connection]):
    """PostgreSQL connections for a long-running writer, with a statement timeout."""

    def __init__(self, settings: PostgresSettings, *, statement_timeout_s: float = 30.0) -> None:
        super().__init__(
            SERVICE,
            settings.address,
            partial(connect, settings, statement_timeout_s=statement_timeout_s),
        )


def _first_line(exc: BaseException) -> str:
    # The first line says what failed ("... failed: Connection refused"); later ones are
    # libpq's hints.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def translated(settings: PostgresSettings) -> Iterator[None]:
    """Turn a lost connection mid-work into ServiceUnavailable (one-off admin work)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _first_line(exc)) from exc


def _translate(exc: psycopg.Error, address: str) -> Exception:
    """The canary error for a failed write: transient, rejected row, or fatal."""
    reason = _first_line(exc)
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return RowRejected(SERVICE, reason)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        # Connection lost, admin shutdown, deadlock, serialization failure, timeout.
        return TransientFault(SERVICE, address, reason)
    return ServiceUnavailable(SERVICE, address, reason)


def _name(name: str) -> str:
    return ddl.postgres_name(name)


def offsets_ddl(table: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {_name(table)} (\n"
        "  consumer_group TEXT NOT NULL,\n  topic TEXT NOT NULL,\n  partition INTEGER NOT NULL,\n"
        "  next_offset BIGINT NOT NULL,\n  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
        "  PRIMARY KEY (consumer_group, topic, partition)\n)"
    )


def init_schema(
    connection: Connection, settings: PostgresSettings, table: str | None = None
) -> None:
    """Create the orders table, the offsets table and the report store, idempotently."""
    with connection.transaction():
        # Concurrent first runs race on CREATE ... IF NOT EXISTS; one lock serialises them.
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('canary.init_schema'))")
        connection.execute(ddl.postgres_ddl(table or settings.table))
        connection.execute(offsets_ddl(settings.offsets_table))
        store = _name(settings.report_schema)
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {store}")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {store}.reports (\n"
            "  id TEXT PRIMARY KEY,\n  kind TEXT NOT NULL,\n  run_id TEXT,\n"
            "  verdict TEXT NOT NULL,\n  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
            "  body JSONB NOT NULL\n)"
        )


def truncate(connection: Connection, *tables: str) -> None:
    """Empty ``tables`` in one transaction."""
    with connection.transaction():
        for table in tables:
            connection.execute(f"TRUNCATE TABLE {_name(table)}")


class Link:
    """One connection, opened on first use and again after it broke."""

    def __init__(self, connect: Callable[[], Connection], address: str) -> None:
        self._connect = connect
        self.address = address
        self.connection: Connection | None = None

    def get(self) -> Connection:
        if self.connection is None or self.connection.closed:
            self.connection = self._connect()
        return self.connection

    def drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with suppress(psycopg.Error):
                connection.close()

    @contextmanager
    def translated(self) -> Iterator[Connection]:
        """The connection; a failure is translated, and a broken connection dropped so
        that the next call opens a new one."""
        try:
            yield self.get()
        except UnicodeEncodeError as exc:
            raise RowRejected(SERVICE, f"a value cannot be encoded: {exc}") from exc
        except psycopg.Error as exc:
            error = _translate(exc, self.address)
            if not isinstance(error, RowRejected):
                self.drop()
            raise error from exc


class OrdersWriter:
    """The ring path's batch writer (canary.paths.ports.BatchWriter).

    One call = one transaction: rows through COPY and a version-guarded upsert, plus
    the next offset of each partition, so the table and the offsets move together.
    Among rows of one key with the same version the first one applied wins, as in MySQL.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        table: str,
        offsets_table: str,
        group: str,
        *,
        address: str = SERVICE,
    ) -> None:
        self._link = Link(connect, getattr(connect, "address", address))
        self._group = group
        self._offsets_table = offsets_table
        self._staged: Connection | None = None
        names = sql.SQL(", ").join(sql.Identifier(n) for n in schema.NAMES)
        target = sql.Identifier(table)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
            for n in (*schema.UPDATABLE, schema.VERSION)
        )
        key = sql.Identifier(schema.KEY)
        version = sql.Identifier(schema.VERSION)
        offset = sql.Identifier("src_offset")
        stage = sql.Identifier(_STAGE)
        self._create_stage = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {target}) ON COMMIT DELETE ROWS"
        ).format(stage=stage, target=target)
        self._copy = sql.SQL("COPY {stage} ({names}) FROM STDIN").format(stage=stage, names=names)
        # DISTINCT ON keeps one row per key, so one statement never touches a row twice:
        # the newest version, and of equal versions the earliest offset (the first one
        # applied, which is what MySQL's guard keeps). The WHERE makes replays no-ops.
        self._merge = sql.SQL(
            "INSERT INTO {target} ({names}) SELECT DISTINCT ON ({key}) {names} FROM {stage} "
            "ORDER BY {key}, {version} DESC, {offset} ASC "
            "ON CONFLICT ({key}) DO UPDATE SET {updates} "
            "WHERE {target}.{version} < EXCLUDED.{version}"
        ).format(
            target=target,
            names=names,
            key=key,
            version=version,
            offset=offset,
            stage=stage,
            updates=updates,
        )
        # A handful of rows (a legacy-style consumer writing one row per transaction)
        # costs less as plain upserts, applied in order, than as a staging round trip.
        self._upsert = sql.SQL(
            "INSERT INTO {target} ({names}) VALUES ({values}) "
            "ON CONFLICT ({key}) DO UPDATE SET {updates} "
            "WHERE {target}.{version} < EXCLUDED.{version}"
        ).format(
            target=target,
            names=names,
            key=key,
            version=version,
            updates=updates,
            values=sql.SQL(", ").join(sql.Placeholder() * len(schema.NAMES)),
        )
        self._offsets = sql.SQL(
            "INSERT INTO {offsets} (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
            "SET next_offset = GREATEST({offsets}.next_offset, EXCLUDED.next_offset), "
            "updated_at = now()"
        ).format(offsets=sql.Identifier(offsets_table))
        self._reset = sql.SQL(
            "INSERT INTO {offsets} (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
            "SET next_offset = EXCLUDED.next_offset, updated_at = now()"
        ).format(offsets=sql.Identifier(offsets_table))

    def write(
        self, rows: Sequence[schema.SinkRow], next_offsets: Mapping[tuple[str, int], int]
    ) -> None:
        """Apply ``rows`` and raise the stored offsets to ``next_offsets`` atomically."""
        with self._link.translated() as connection:
            if len(rows) > SMALL_BATCH and self._staged is not connection:
                # Its own transaction: created inside a batch that rolls back, the table
                # would be gone while the writer believed it there.
                with connection.transaction():
                    connection.execute(self._create_stage)
                self._staged = connection
            with connection.transaction(), connection.cursor() as cursor:
                if 0 < len(rows) <= SMALL_BATCH:
                    cursor.executemany(self._upsert, [_postgres_values(row) for row in rows])
                elif rows:
                    with cursor.copy(self._copy) as copy:
                        for row in rows:
                            copy.write_row(_postgres_values(row))
                    cursor.execute(self._merge)
                if next_offsets:
                    cursor.executemany(
                        self._offsets,
                        [(self._group, t, p, o) for (t, p), o in sorted(next_offsets.items())],
                    )

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to read per partition of ``topic``, as committed with the rows."""
        with self._link.translated() as connection:
            return stored_offsets(connection, self._offsets_table, self._group, topic)

    def reset_offset(self, topic: str, partition: int, offset: int) -> None:
        """Set a partition's stored offset, lower than before if need be (a topic that was
        deleted and created again starts from its beginning)."""
        with self._link.translated() as connection, connection.transaction():
            connection.execute(self._reset, (self._group, topic, partition, offset))

    def close(self) -> None:
        self._link.drop()


def _postgres_values(row: schema.SinkRow) -> list[Any]:
    values = row.ordered()
    for index, value in enumerate(values):
        if isinstance(value, dict | list):
            # COPY's text format takes JSON as its text; orjson writes it many times
            # faster than the Jsonb adapter's json.dumps.
            values[index] = orjson.dumps(value).decode()
    return values


def stored_offsets(
    connection: Connection, offsets_table: str, group: str, topic: str
) -> dict[int, int]:
    """The next offset to read per partition, as last committed with the rows."""
    query = sql.SQL(
        "SELECT partition, next_offset FROM {} WHERE consumer_group = %s AND topic = %s"
    ).format(sql.Identifier(offsets_table))
    with connection.transaction():
        found = connection.execute(query, (group, topic)).fetchall()
    return {int(p): int(o) for p, o in found}


def committed_offsets(settings: PostgresSettings, group: str, topic: str) -> dict[int, int] | None:
    """Like ``stored_offsets`` in ``settings.offsets_table``, on a connection of its own;
    None when that table does not exist (no ring path has ever written here)."""
    with connect(settings) as connection, translated(settings):
        try:
            return stored_offsets(connection, settings.offsets_table, group, topic)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            return None


def fetch_rows(
    connection: Connection, table: str, keys: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Rows by key as Python values (JSONB parsed, TIMESTAMPTZ aware)."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in schema.NAMES), sql.Identifier(table)
    )
    params: list[Any] = []
    if keys is not None:
        if not keys:
            return {}
        query = sql.SQL("{} WHERE {} = ANY(%s)").format(query, sql.Identifier(schema.KEY))
        params = [list(keys)]
    with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query, params)
        return {record[schema.KEY]: record for record in cursor.fetchall()}
