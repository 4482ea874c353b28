"""PostgreSQL through psycopg 3: schema, exactly-once batches with offsets, reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from canary.config import PostgresSettings
from canary.errors import ServiceUnavailable
from sinks import schema

SERVICE = "PostgreSQL"
_STAGE = "canary_stage"
SMALL_BATCH = 8


def connect(settings: PostgresSettings, *, connect_timeout: float = 5.0) -> psycopg.Connection[Any]:
    """Open a connection; an unreachable server or refused login is ServiceUnavailable."""
    try:
        return psycopg.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password(),
            dbname=settings.database,
            connect_timeout=int(max(1, connect_timeout)),
            application_name="canary",
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


@contextmanager
def translated(settings: PostgresSettings) -> Iterator[None]:
    """Turn a lost connection mid-work into ServiceUnavailable."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(SERVICE, settings.address, _first_line(exc)) from exc


def offsets_ddl(table: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n"
        "  consumer_group TEXT NOT NULL,\n  topic TEXT NOT NULL,\n  partition INTEGER NOT NULL,\n"
        "  next_offset BIGINT NOT NULL,\n  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
        "  PRIMARY KEY (consumer_group, topic, partition)\n)"
    )


def init_schema(
    connection: psycopg.Connection[Any], settings: PostgresSettings, table: str | None = None
) -> None:
    """Create the orders table, the offsets table and the report store, idempotently."""
    with connection.transaction():
        # Concurrent first runs race on CREATE ... IF NOT EXISTS; one lock serialises them.
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('canary.init_schema'))")
        connection.execute(schema.postgres_ddl(table or settings.table))
        connection.execute(offsets_ddl(settings.offsets_table))
        store = settings.report_schema
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {store}")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {store}.reports (\n"
            "  id TEXT PRIMARY KEY,\n  kind TEXT NOT NULL,\n  run_id TEXT,\n"
            "  verdict TEXT NOT NULL,\n  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n"
            "  body JSONB NOT NULL\n)"
        )


class OrdersWriter:
    """One call = one transaction: rows through COPY and a version-guarded upsert, plus
    the next offset of each partition, so the table and the offsets move together."""

    def __init__(
        self, connection: psycopg.Connection[Any], table: str, offsets_table: str, group: str
    ) -> None:
        self._connection = connection
        self._group = group
        names = sql.SQL(", ").join(sql.Identifier(n) for n in schema.NAMES)
        target = sql.Identifier(table)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
            for n in (*schema.UPDATABLE, schema.VERSION)
        )
        key = sql.Identifier(schema.KEY)
        version = sql.Identifier(schema.VERSION)
        stage = sql.Identifier(_STAGE)
        self._create_stage = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {target}) ON COMMIT DELETE ROWS"
        ).format(stage=stage, target=target)
        self._copy = sql.SQL("COPY {stage} ({names}) FROM STDIN").format(stage=stage, names=names)
        # DISTINCT ON keeps the newest version per key of the batch, so one statement never
        # touches a row twice; the WHERE makes replays and older versions no-ops.
        self._merge = sql.SQL(
            "INSERT INTO {target} ({names}) SELECT DISTINCT ON ({key}) {names} FROM {stage} "
            "ORDER BY {key}, {version} DESC "
            "ON CONFLICT ({key}) DO UPDATE SET {updates} "
            "WHERE {target}.{version} < EXCLUDED.{version}"
        ).format(target=target, names=names, key=key, version=version, stage=stage, updates=updates)
        # A handful of rows (a legacy-style consumer writing one row per transaction)
        # costs less as plain upserts than as a staging round trip.
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
        self._staged = False

    def write(
        self, rows: Sequence[schema.SinkRow], next_offsets: Mapping[tuple[str, int], int]
    ) -> None:
        """Apply ``rows`` and raise the stored offsets to ``next_offsets`` atomically."""
        connection = self._connection
        with connection.transaction(), connection.cursor() as cursor:
            if 0 < len(rows) <= SMALL_BATCH:
                cursor.executemany(self._upsert, [_postgres_values(row) for row in rows])
            elif rows:
                if not self._staged:
                    cursor.execute(self._create_stage)
                    self._staged = True
                with cursor.copy(self._copy) as copy:
                    for row in rows:
                        copy.write_row(_postgres_values(row))
                cursor.execute(self._merge)
            if next_offsets:
                cursor.executemany(
                    self._offsets,
                    [(self._group, t, p, o) for (t, p), o in sorted(next_offsets.items())],
                )


def _postgres_values(row: schema.SinkRow) -> list[Any]:
    values = row.ordered()
    for index, value in enumerate(values):
        if isinstance(value, dict | list):
            # COPY's text format takes JSON as its text; orjson writes it many times
            # faster than the Jsonb adapter's json.dumps.
            values[index] = orjson.dumps(value).decode()
    return values


def stored_offsets(
    connection: psycopg.Connection[Any], offsets_table: str, group: str, topic: str
) -> dict[int, int]:
    """The next offset to read per partition, as last committed with the rows."""
    query = sql.SQL(
        "SELECT partition, next_offset FROM {} WHERE consumer_group = %s AND topic = %s"
    ).format(sql.Identifier(offsets_table))
    with connection.transaction():
        found = connection.execute(query, (group, topic)).fetchall()
    return {int(p): int(o) for p, o in found}


def fetch_rows(
    connection: psycopg.Connection[Any], table: str, keys: Sequence[int] | None = None
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
