"""The PostgreSQL side of the table diff: column types, session, checksums, row reads.

Builds the normalized text of :mod:`sinks.checksums.text` in PostgreSQL SQL.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql as pgsql

from canary.config import PostgresSettings
from canary.core.segments import Key, Range, Summary
from canary.errors import UnreadableValue, UsageError
from sinks import postgres, reports
from sinks.checksums.floats import is_float, postgres_float_read, postgres_float_token
from sinks.checksums.model import (
    KEYS_PER_QUERY,
    STREAM_BATCH,
    Family,
    Field,
    Plan,
    Row,
    SourceColumn,
    SourceTable,
)
from sinks.checksums.text import below_cut, by_piece, int_bounds, read_pieces, read_summary
from sinks.checksums.uuids import canonical

# --- types -------------------------------------------------------------------------------

_PG_FAMILIES: dict[str, Family] = {
    **dict.fromkeys(("int2", "int4", "int8"), "int"),
    "numeric": "decimal",
    "float4": "float4",
    "float8": "float",
    "bool": "bool",
    **dict.fromkeys(("text", "varchar", "bpchar", "name", "citext"), "text"),
    "bytea": "bytes",
    "date": "date",
    **dict.fromkeys(("timestamp", "timestamptz"), "datetime"),
    **dict.fromkeys(("json", "jsonb"), "json"),
    "uuid": "uuid",
}


def postgres_family(type_name: str, type_type: str) -> Family:
    """The family of a PostgreSQL column from its pg_type name and typtype."""
    if type_type == "e":
        return "text"  # enum labels
    return _PG_FAMILIES.get(type_name, "other")


def describe_postgres(connection: psycopg.Connection[Any], table: str) -> SourceTable | None:
    """The columns and unique keys of ``table`` (found through the search path), or None."""
    name = pgsql.Identifier(table).as_string(connection)
    with connection.transaction():
        found = connection.execute(
            "SELECT a.attname, t.typname, t.typtype, format_type(a.atttypid, a.atttypmod), "
            "coalesce(c.collname, ''), a.attnotnull, CASE WHEN t.typname = 'numeric' AND "
            "a.atttypmod >= 4 THEN (a.atttypmod - 4) & 65535 END "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "LEFT JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (name,),
        ).fetchall()
        if not found:
            return None
        database = connection.execute(
            "SELECT to_jsonb(d) ->> 'datcollate', coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') "
            "FROM pg_database d WHERE d.datname = current_database()"
        ).fetchone()
        keys = connection.execute(
            "SELECT array_agg(a.attname::text) FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey::int2[]) AS k(attnum) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indpred IS NULL "
            "AND i.indexprs IS NULL GROUP BY i.indexrelid",
            (name,),
        ).fetchall()
    default_is_c = database is not None and database[0] in ("C", "POSIX") and database[1] == "c"
    columns = tuple(
        SourceColumn(
            name=str(attname),
            family=postgres_family(str(typname), str(typtype)),
            type_name=str(shown),
            byte_order=collation in ("C", "POSIX") or (collation == "default" and default_is_c),
            nullable=not notnull,
            scale=None if scale is None else int(scale),
        )
        for attname, typname, typtype, shown, collation, notnull, scale in found
    )
    unique = tuple(frozenset(str(c).lower() for c in row[0]) for row in keys)
    return SourceTable(table, columns, unique)


# --- session and report store -------------------------------------------------------------


def connect_postgres(settings: PostgresSettings) -> psycopg.Connection[Any]:
    """A reading session: autocommit, TimeZone UTC, shortest exact float output."""
    connection = postgres.connect(settings)
    with postgres.translated(settings):
        connection.autocommit = True
        connection.execute("SET TimeZone TO 'UTC'")
        connection.execute("SET extra_float_digits TO 1")
    return connection


def save_report(settings: PostgresSettings, report: dict[str, Any]) -> None:
    """Store ``report`` in the report store; a store that does not exist is a usage error."""
    with postgres.connect(settings) as connection, postgres.translated(settings):
        try:
            reports.save(connection, settings.report_schema, report)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
            raise UsageError(
                f"the report store {settings.report_schema}.reports does not exist in "
                f"PostgreSQL at {settings.address}: run `canary db init` first"
            ) from exc


@contextmanager
def _readable(table: str) -> Iterator[None]:
    """A value Python cannot hold (a date BC or at infinity) as a CanaryError naming it."""
    try:
        yield
    except psycopg.DataError as exc:
        raise UnreadableValue(
            f"PostgreSQL table {table!r} holds a value that cannot be read for comparison "
            f"({exc}); no MySQL value can equal it: fix the row or leave the column out"
        ) from exc


# --- checksums and reads ------------------------------------------------------------------

_PG_DECIMAL = "CASE WHEN position('.' in {0}) > 0 THEN rtrim(rtrim({0}, '0'), '.') ELSE {0} END"


def _i(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_render(field: Field) -> tuple[str, bool]:  # noqa: PLR0911 - one return per mode
    column = _i(field.name)
    mode, family = field.mode, field.family
    if mode == "double":  # the IEEE bits, as the MySQL side prints them; -0 as 0
        return f"encode(float8send({column} + 0::float8), 'hex')", False
    if is_float(field):
        return postgres_float_token(field, column), False
    if mode in ("number", "bool", "float", "float32"):
        if family == "bool":
            return f"CASE WHEN {column} THEN '1' ELSE '0' END", False
        if family == "decimal" and (field.trim or mode != "number"):
            return _PG_DECIMAL.format(f"{column}::text"), False
        return f"{column}::text", False
    if mode == "bytes":
        return f"encode({column}, 'hex')", False
    if mode in ("date", "datetime"):
        pattern, first = (
            ("YYYY-MM-DD", "0001-01-01")
            if mode == "date"
            else ("YYYY-MM-DD HH24:MI:SS.US", "0001-01-01 00:00:00")
        )
        # to_char prints neither infinity nor the era (44 BC would read as AD 44): those
        # keep their own text, which no MySQL value renders to.
        return (
            f"CASE WHEN {column} >= '{first}' AND {column} < 'infinity' "
            f"THEN to_char({column}, '{pattern}') ELSE {column}::text END",
            False,
        )
    return f"{column}::text", True  # text, json, uuid, astext


def _pg_token(field: Field) -> str:
    text, prefixed = _pg_render(field)
    body = f"char_length({text}) || ':' || {text}" if prefixed else f"{text} || ','"
    if not field.nullable:
        return body
    return f"CASE WHEN {_i(field.name)} IS NULL THEN '~' ELSE coalesce({body}, '?') END"


def _pg_read(field: Field) -> str:
    column = _i(field.name)
    if is_float(field):
        return postgres_float_read(field, column)
    if field.mode in ("float", "float32"):
        return _pg_render(field)[0]
    if field.mode in ("text", "json", "astext", "uuid"):
        return f"{column}::text"
    return column


def _pg_hash_sum(fields: Sequence[Field]) -> str:
    text = " || ".join(_pg_token(f) for f in fields)
    return f"coalesce(sum(('x' || substr(md5({text}), 1, 15))::bit(60)::bigint), 0)"


class PostgresQueries:
    """The reads of the PostgreSQL side of one table pair."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._keys = [
            f'{_i(f.name)} COLLATE "C"' if f.mode == "text" and not f.byte_order else _i(f.name)
            for f in plan.key
        ]
        key_names = [_i(f.name) for f in plan.key]
        table = _i(plan.table)
        exact = _pg_hash_sum((*plan.key, *plan.exact))
        loose = _pg_hash_sum((*plan.key, *plan.loose)) if plan.loose else "0"
        bounds = (
            f", min({key_names[0]}), max({key_names[0]})"
            if len(plan.key) == 1 and plan.key[0].mode == "number"
            else ""
        )
        self._summary = f"SELECT count(*), {exact}, {loose}{bounds} FROM {table}"
        self._summary_exact = f"SELECT count(*), {exact}, NULL{bounds} FROM {table}"
        self._order = ", ".join(self._keys)
        self._row = f"({', '.join(self._keys)})" if len(self._keys) > 1 else self._keys[0]
        # The keys as read (a uuid as its text), so cuts bound both sides alike.
        key_reads = [f"{_pg_read(f)} AS canary_k{i}" for i, f in enumerate(plan.key)]
        key_aliases = [f"canary_k{i}" for i in range(len(plan.key))]
        self._cuts = (
            f"SELECT {', '.join(key_aliases)} FROM (SELECT {', '.join(key_reads)}, "
            f"row_number() OVER (ORDER BY {self._order}) AS canary_rn FROM {table} {{where}}) s "
            "WHERE canary_rn %% %s = 0 ORDER BY canary_rn"
        )
        everything = [_pg_read(f) for f in (*plan.key, *plan.exact, *plan.loose)]
        loose_reads = [_pg_read(f) for f in (*plan.key, *plan.loose)]
        exact_reads = [_pg_read(f) for f in (*plan.key, *plan.exact)]
        self._select_all = f"SELECT {', '.join(everything)} FROM {table}"
        self._select_exact = f"SELECT {', '.join(exact_reads)} FROM {table}"
        self._select_loose = f"SELECT {', '.join(loose_reads)} FROM {table}"
        self._select_keys = f"SELECT {', '.join(everything[: len(plan.key)])} FROM {table}"
        self._judge = _Judge(plan)

    def _where(self, rng: Range, cutoff: datetime | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        width = len(self._keys)
        marks = "(" + ", ".join(["%s"] * width) + ")" if width > 1 else "%s"
        if rng.lo is not None:
            clauses.append(f"{self._bounded(rng.lo)} >= {marks}")
            params += list(rng.lo)
        if rng.hi is not None:
            clauses.append(f"{self._bounded(rng.hi)} < {marks}")
            params += list(rng.hi)
        if cutoff is not None and self.plan.age is not None:
            clauses.append(f"{_i(self.plan.age)} < %s")
            params.append(cutoff)
        if self.plan.cut is not None:
            clause, values = below_cut(self.plan.cut, _i)
            clauses.append(clause)
            params += values
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _bounded(self, bound: Key) -> str:
        """The key row compared with ``bound``: a uuid column as its text (same order) where
        the bound is MySQL text that is no UUID, since it cannot be cast to one."""
        if all(f.mode != "uuid" or canonical(v) for f, v in zip(self.plan.key, bound, strict=True)):
            return self._row
        keys = [
            f'{_i(f.name)}::text COLLATE "C"' if f.mode == "uuid" and not canonical(v) else key
            for f, v, key in zip(self.plan.key, bound, self._keys, strict=True)
        ]
        return f"({', '.join(keys)})" if len(keys) > 1 else keys[0]

    def key_bounds(self, connection: psycopg.Connection[Any]) -> tuple[int | None, int | None]:
        column = _i(self.plan.key[0].name)
        query = f"SELECT min({column}), max({column}) FROM {_i(self.plan.table)}"
        found = connection.execute(query.encode()).fetchone()
        assert found is not None
        return int_bounds(found)

    def summarize(
        self,
        connection: psycopg.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        *,
        loose: bool = True,
    ) -> Summary:
        where, params = self._where(rng, cutoff)
        chosen = self._summary if loose or not self.plan.loose else self._summary_exact
        query = f"{chosen} {where}".encode()
        return read_summary(connection.execute(query, params).fetchone())

    def summarize_pieces(
        self,
        connection: psycopg.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        cuts: Sequence[int],
        *,
        loose: bool = True,
    ) -> list[Summary]:
        where, params = self._where(rng, cutoff)
        loose = loose or not self.plan.loose
        summary = self._summary if loose else self._summary_exact
        statement = by_piece(summary, _i(self.plan.key[0].name), cuts)
        found = connection.execute(statement.replace("{where}", where).encode(), params)
        return read_pieces(found.fetchall(), len(cuts) + 1, loose=loose)

    def cuts(
        self, connection: psycopg.Connection[Any], rng: Range, cutoff: datetime | None, step: int
    ) -> list[Key]:
        where, params = self._where(rng, cutoff)
        query = self._cuts.replace("{where}", where)
        found = connection.execute(query.encode(), [*params, step]).fetchall()
        return [tuple(row) for row in found]

    def rows(
        self,
        connection: psycopg.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        *,
        loose_only: bool,
        exact_only: bool = False,
    ) -> Iterator[Row]:
        where, params = self._where(rng, cutoff)
        select = self._select_loose if loose_only else self._select_all
        select = self._select_exact if exact_only else select
        return self._stream(connection, f"{select} {where} ORDER BY {self._order}", params)

    def _stream(
        self, connection: psycopg.Connection[Any], query: str, params: list[object]
    ) -> Iterator[Row]:
        """The rows of ``query`` through a server-side cursor, without holding them all."""
        with (
            _readable(self.plan.table),
            connection.transaction(),
            connection.cursor(name="canary_rows") as cursor,
        ):
            cursor.itersize = STREAM_BATCH
            cursor.execute(query.encode(), params)
            while batch := cursor.fetchmany(STREAM_BATCH):
                yield from batch

    def _comparable(self, keys: Sequence[Key]) -> list[Key]:
        """``keys`` without those that name no row here: MySQL text that is no UUID
        (which cannot be cast to one either)."""
        uuids = [i for i, f in enumerate(self.plan.key) if f.mode == "uuid"]
        return [key for key in keys if all(canonical(key[i]) for i in uuids)]

    def _matching(self, chunk: Sequence[Key]) -> tuple[str, list[object]]:
        """A condition that holds for the rows of exactly these keys."""
        width = len(self.plan.key)
        row = "(" + ", ".join(_i(f.name) for f in self.plan.key) + ")"
        marks = ", ".join("(" + ", ".join(["%s"] * width) + ")" for _ in chunk)
        return f"{row} IN ({marks})", [value for key in chunk for value in key]

    def judge_loose(
        self,
        connection: psycopg.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        mysql_copy: bytes,
    ) -> list[tuple[Key, str]] | None:
        """The keys of ``rng`` whose JSON columns (every loose column must be JSON) are not
        equal as ``jsonb`` to the MySQL side's, or that one side lacks, each with ``"both"``,
        ``"mysql"`` or ``"postgres"`` (the side that has it). ``mysql_copy`` holds the MySQL
        rows as ``MySQLQueries.loose_copy`` gives them. None when PostgreSQL cannot read a
        MySQL value as jsonb (then nothing is known about the range)."""
        where, params = self._where(rng, cutoff)
        return self._judge.run(connection, where, params, mysql_copy)

    def rows_for(
        self, connection: psycopg.Connection[Any], keys: Sequence[Key], cutoff: datetime | None
    ) -> list[Row]:
        found: list[Row] = []
        keys = self._comparable(keys)
        for start in range(0, len(keys), KEYS_PER_QUERY):
            where, params = self._matching(keys[start : start + KEYS_PER_QUERY])
            if cutoff is not None and self.plan.age is not None:
                where += f" AND {_i(self.plan.age)} < %s"
                params.append(cutoff)
            if self.plan.cut is not None:
                clause, values = below_cut(self.plan.cut, _i)
                where += f" AND {clause}"
                params += values
            query = f"{self._select_all} WHERE {where}".encode()
            with _readable(self.plan.table):
                found.extend(connection.execute(query, params).fetchall())
        return found

    def _past_cut(self) -> tuple[str, list[object]]:
        if self.plan.cut is None:
            raise ValueError("in-flight reads need a plan with a cut")
        clause, params = below_cut(self.plan.cut, _i)
        return f"NOT {clause}", params

    def in_flight(self, connection: psycopg.Connection[Any], keys: Sequence[Key]) -> list[Key]:
        past, past_params = self._past_cut()
        width = len(self.plan.key)
        found: list[Key] = []
        keys = self._comparable(keys)
        for start in range(0, len(keys), KEYS_PER_QUERY):
            where, params = self._matching(keys[start : start + KEYS_PER_QUERY])
            query = f"{self._select_keys} WHERE {where} AND {past}".encode()
            rows = connection.execute(query, [*params, *past_params]).fetchall()
            found.extend(tuple(row[:width]) for row in rows)
        return found

    def in_flight_keys(self, connection: psycopg.Connection[Any]) -> Iterator[Key]:
        past, params = self._past_cut()
        query = f"{self._select_keys} WHERE {past} ORDER BY {self._order}"
        return (tuple(row) for row in self._stream(connection, query, params))


class _Judge:
    """jsonb equality of the MySQL side's JSON texts (copied into a temporary table of the
    session) with the table's own values, in PostgreSQL.

    jsonb equality ignores key order and whitespace and compares numbers by value, strings
    exactly: values it calls equal, ``comparators.values`` calls equal too, so a range it
    clears needs no row in Python; what it flags is judged there.
    """

    def __init__(self, plan: Plan) -> None:
        table = _i(plan.table)
        self._temp = f"canary_loose_{uuid.uuid4().hex[:12]}"
        keys = [f"{_i(f.name)} AS k{i}" for i, f in enumerate(plan.key)]
        values = [f"NULL::text AS j{i}" for i in range(len(plan.loose))]
        self._create = (
            f"CREATE TEMP TABLE IF NOT EXISTS {self._temp} ON COMMIT DELETE ROWS AS "
            f"SELECT {', '.join((*keys, *values))} FROM {table} WITH NO DATA"
        )
        self._copy = f"COPY {self._temp} FROM STDIN"
        theirs = [f"{_i(f.name)}::jsonb AS j{i}" for i, f in enumerate(plan.loose)]
        on = " AND ".join(
            f'm.k{i}::text COLLATE "C" = p.k{i}::text COLLATE "C"'
            if f.mode == "text"
            else f"m.k{i} = p.k{i}"
            for i, f in enumerate(plan.key)
        )
        differ = " OR ".join(
            f"m.j{i}::jsonb IS DISTINCT FROM p.j{i}" for i in range(len(plan.loose))
        )
        key_out = ", ".join(f"coalesce(m.k{i}, p.k{i})" for i in range(len(plan.key)))
        self._query = (
            f"WITH p AS (SELECT {', '.join((*keys, *theirs))} FROM {table} {{where}}) "
            f"SELECT {key_out}, CASE WHEN p.k0 IS NULL THEN 'mysql' WHEN m.k0 IS NULL "
            f"THEN 'postgres' ELSE 'both' END FROM {self._temp} m FULL JOIN p ON {on} "
            f"WHERE m.k0 IS NULL OR p.k0 IS NULL OR {differ}"
        )
        self._ready: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._width = len(plan.key)

    def run(
        self,
        connection: psycopg.Connection[Any],
        where: str,
        params: Sequence[object],
        mysql_copy: bytes,
    ) -> list[tuple[Key, str]] | None:
        with self._lock:
            fresh = connection not in self._ready
            self._ready.add(connection)
        if fresh:
            connection.execute(self._create.encode())
        try:
            with connection.transaction():
                with connection.cursor() as cursor, cursor.copy(self._copy.encode()) as copy:
                    if mysql_copy:
                        copy.write(mysql_copy)
                        copy.write(b"\n")
                found = connection.execute(
                    self._query.replace("{where}", where).encode(), params
                ).fetchall()
        except psycopg.DataError:
            return None  # a MySQL value that is not JSON to PostgreSQL (or a NUL escape)
        width = self._width
        return [(tuple(row[:width]), str(row[width])) for row in found]
