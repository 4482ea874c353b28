"""Per-engine SQL of the table diff: column types, range checksums and ordered row reads.

Every row is hashed inside its database from a *normalized text* built in SQL, so that
both engines produce the same bytes when the values mean the same (CONTRACTS §7):

    row text = token(key 1) ... token(key n) token(column 1) ... token(column m)
    token    = "~"                           NULL
             | <text> ","                    numbers, booleans, dates, datetimes, hex bytes
             | <char length> ":" <text>      text, JSON and text fallbacks (may hold "," or "~")

Numbers by value with trailing fractional zeros stripped (``1.50`` -> ``1.5``, ``2.00``
-> ``2``); booleans and TINYINT(1)/BIT(1) as ``0``/``1``; datetimes as UTC
``YYYY-MM-DD HH:MM:SS.ffffff`` (the MySQL session runs at ``+00:00``, DATETIME holds UTC;
the PostgreSQL session's TimeZone is UTC); bytes as lowercase hex; text exactly as
stored, in UTF-8. The token grammar is prefix-free per column, so different rows never
concatenate to the same text, and NULL never looks like the empty string (``0:``).

A row's hash is the first 60 bits of the MD5 of its text (``CONV(SUBSTRING(MD5(t), 1, 15),
16, 10)`` in MySQL, ``('x' || substr(md5(t), 1, 15))::bit(60)::bigint`` in PostgreSQL);
a range's checksum is ``count(*)`` and the exact (arbitrary-precision) sum of those.

Two sums per range: ``exact`` over the key and the columns above, ``loose`` over the key
and the columns whose texts can differ for equal meanings (JSON: MariaDB keeps the text
as written, JSONB reorders keys; floats: each engine prints its own shortest form;
columns with a tolerance). A loose text is still injective on each side, so equal loose
sums prove equal values; unequal ones only tell the caller to compare those columns row
by row (``canary.tables``).

Keys are compared and ordered as bytes of their UTF-8 text (code point order, like
Python ``str``): ``CAST(CONVERT(k USING utf8mb4) AS BINARY)`` in MySQL unless the
column's collation is already a NO PAD binary one, ``k COLLATE "C"`` in PostgreSQL
unless the column's collation already is "C". So neither case folding nor PAD SPACE
merges keys. The bare column keeps the index usable; the cast forces a scan.

Values are read for comparison from exactly the expressions the tokens are built from
(text as ``::text``, floats as their text), so a checksum match and a row comparison can
never disagree about two values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

import psycopg
import pymysql
import pymysql.cursors
from psycopg import sql as pgsql

from canary.config import MySQLSettings, PostgresSettings
from canary.core.segments import Key, Range, Summary
from canary.errors import CanaryError, UsageError
from sinks import mysql, postgres, reports

Family: TypeAlias = Literal[
    "int", "bool", "bit", "decimal", "float", "text", "bytes", "date", "datetime", "json", "other"
]
Mode: TypeAlias = Literal[
    "number", "bool", "text", "bytes", "date", "datetime", "json", "float", "astext"
]
Row: TypeAlias = tuple[Any, ...]

# Rows fetched per round trip when streaming a range.
STREAM_BATCH = 5000
# Keys per statement when re-reading rows by key.
KEYS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class SourceColumn:
    """One column as a database describes it."""

    name: str
    family: Family
    type_name: str
    byte_order: bool = False  # plain comparisons on it already follow UTF-8 byte order
    nullable: bool = True
    scale: int | None = None  # digits after the point of a DECIMAL/NUMERIC(p, s)
    utf8: bool = False  # MySQL text already in utf8mb4 (no CONVERT needed)


@dataclass(frozen=True, slots=True)
class SourceTable:
    name: str
    columns: tuple[SourceColumn, ...]
    unique: tuple[frozenset[str], ...]  # column sets (lower case) of primary/unique keys


@dataclass(frozen=True, slots=True)
class Field:
    """One column of one side as the diff reads it: ``mode`` says how it is rendered."""

    name: str
    family: Family
    mode: Mode
    byte_order: bool = True
    nullable: bool = True  # False: no NULL marker needed (a NULL text drops the row's hash,
    # which can only make the sums differ, never hide a difference)
    trim: bool = True  # strip trailing fractional zeros (off when both scales are equal)
    utf8: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What to read from one side's table."""

    table: str
    key: tuple[Field, ...]
    exact: tuple[Field, ...]
    loose: tuple[Field, ...]
    age: str | None = None  # column compared with the cutoff: only older rows count


class Queries(Protocol):
    """The reads of one side; every method takes that side's connection."""

    def summarize(
        self, connection: Any, rng: Range, cutoff: datetime | None, *, loose: bool = True
    ) -> Summary:
        """Count and sums of ``rng``; without ``loose`` the loose sum is not computed
        (``None``) when the plan has loose columns."""
        ...

    def key_bounds(self, connection: Any) -> tuple[int | None, int | None]:
        """The smallest and largest value of a single integer key (None: no rows)."""
        ...

    def cuts(self, connection: Any, rng: Range, cutoff: datetime | None, step: int) -> list[Key]:
        """The key of every ``step``-th row of ``rng`` in key order."""
        ...

    def rows(
        self, connection: Any, rng: Range, cutoff: datetime | None, *, loose_only: bool
    ) -> Iterator[Row]:
        """Key values then column values (exact then loose, or loose only), in key order."""
        ...

    def rows_for(self, connection: Any, keys: Sequence[Key], cutoff: datetime | None) -> list[Row]:
        """Like ``rows`` with every column, for the given keys, in no particular order."""
        ...


# --- types -------------------------------------------------------------------------------

_MYSQL_FAMILIES: dict[str, Family] = {
    **dict.fromkeys(
        ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"), "int"
    ),
    **dict.fromkeys(("decimal", "numeric", "dec", "fixed"), "decimal"),
    **dict.fromkeys(("float", "double", "real", "double precision"), "float"),
    **dict.fromkeys(
        ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"), "text"
    ),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "bytes"),
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
    "json": "json",
}
_PG_FAMILIES: dict[str, Family] = {
    **dict.fromkeys(("int2", "int4", "int8"), "int"),
    "numeric": "decimal",
    **dict.fromkeys(("float4", "float8"), "float"),
    "bool": "bool",
    **dict.fromkeys(("text", "varchar", "bpchar", "name", "citext"), "text"),
    "bytea": "bytes",
    "date": "date",
    **dict.fromkeys(("timestamp", "timestamptz"), "datetime"),
    **dict.fromkeys(("json", "jsonb"), "json"),
}
# Collations whose plain comparisons are UTF-8 byte order (no case folding, no PAD SPACE).
_MYSQL_BYTE_ORDER = re.compile(r"^(utf8mb4|utf8mb3|utf8)_(nopad_bin|0900_bin)$|^binary$")
_JSON_CHECK = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)


def mysql_family(data_type: str, column_type: str, is_json: bool = False) -> Family:
    """The family of a MySQL/MariaDB column from information_schema.COLUMNS."""
    data_type, column_type = data_type.lower(), column_type.lower()
    if is_json:
        return "json"
    if column_type.startswith("tinyint(1)"):
        return "bool"  # MySQL's BOOLEAN
    if data_type == "bit":
        return "bit" if column_type == "bit(1)" else "other"
    return _MYSQL_FAMILIES.get(data_type, "other")


def postgres_family(type_name: str, type_type: str) -> Family:
    """The family of a PostgreSQL column from its pg_type name and typtype."""
    if type_type == "e":
        return "text"  # enum labels
    return _PG_FAMILIES.get(type_name, "other")


def describe_mysql(connection: pymysql.Connection[Any], table: str) -> SourceTable | None:
    """The columns and unique keys of ``table`` in the connection's database, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(COLLATION_NAME, ''), "
            "IS_NULLABLE, NUMERIC_SCALE, COALESCE(CHARACTER_SET_NAME, '') "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
            "TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        found = cursor.fetchall()
        if not found:
            return None
        json_columns: set[str] = set()
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()
        if version and "mariadb" in str(version[0]).lower():
            # MariaDB's JSON is LONGTEXT plus a json_valid() check (MySQL 8 says "json").
            cursor.execute(
                "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s",
                (table,),
            )
            for (clause,) in cursor.fetchall():
                for match in _JSON_CHECK.finditer(str(clause)):
                    json_columns.add(match.group(1).replace("``", "`").lower())
        cursor.execute(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0 "
            "ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (table,),
        )
        indexes: dict[str, set[str]] = {}
        for index, column in cursor.fetchall():
            indexes.setdefault(str(index), set()).add(str(column).lower())
    connection.commit()
    columns = tuple(
        SourceColumn(
            name=str(name),
            family=mysql_family(
                str(data_type), str(column_type), str(name).lower() in json_columns
            ),
            type_name=str(column_type),
            byte_order=bool(_MYSQL_BYTE_ORDER.match(str(collation).lower()))
            or str(data_type).lower() in ("binary", "varbinary"),
            nullable=str(nullable).upper() == "YES",
            scale=None if scale is None else int(scale),
            utf8=str(charset).lower() == "utf8mb4",
        )
        for name, data_type, column_type, collation, nullable, scale, charset in found
    )
    return SourceTable(table, columns, tuple(frozenset(c) for c in indexes.values()))


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


# --- sessions ------------------------------------------------------------------------------


def connect_mysql(settings: MySQLSettings) -> pymysql.Connection[Any]:
    """A reading session: autocommit (each query sees the latest rows), UTC time zone."""
    connection = mysql.connect(settings)
    with mysql.translated(settings):
        connection.autocommit(True)
        with connection.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
    return connection


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


def _ints(found: Sequence[Any]) -> tuple[int | None, int | None]:
    low, high = found[0], found[1]
    return (None if low is None else int(low)), (None if high is None else int(high))


def _summary(found: Sequence[Any] | None) -> Summary:
    assert found is not None
    low, high = _ints(found[3:]) if len(found) > 3 else (None, None)
    loose = None if found[2] is None else int(found[2])
    return Summary(int(found[0]), int(found[1]), loose, low, high)


# --- MySQL ---------------------------------------------------------------------------------

_MYSQL_TEXT = "CONVERT({} USING utf8mb4) COLLATE utf8mb4_bin"
_MYSQL_DECIMAL = (
    "IF(LOCATE('.', {0}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {0})), {0})"
)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mysql_render(field: Field) -> tuple[str, bool]:  # noqa: PLR0911 - one return per mode
    """The SQL text of a non-NULL value, and whether it needs a length prefix."""
    column = _q(field.name)
    mode, family = field.mode, field.family
    if mode in ("number", "bool", "float"):
        if family == "bit":
            return f"CAST({column} + 0 AS CHAR)", False
        if family == "decimal" and (field.trim or mode != "number"):
            return _MYSQL_DECIMAL.format(f"CAST({column} AS CHAR)"), False
        return f"CAST({column} AS CHAR)", False
    if mode == "bytes":
        return f"LOWER(HEX({column}))", False
    if mode == "date":
        return f"DATE_FORMAT({column}, '%%Y-%%m-%%d')", False
    if mode == "datetime":
        return f"DATE_FORMAT({column}, '%%Y-%%m-%%d %%H:%%i:%%s.%%f')", False
    if mode == "astext":
        return _MYSQL_TEXT.format(f"CAST({column} AS CHAR)"), True
    if field.utf8:
        return f"{column} COLLATE utf8mb4_bin", True  # text, json
    return _MYSQL_TEXT.format(column), True


def _mysql_token(field: Field) -> str:
    # "?" marks a value that has no text form (a zero date, say), so it never reads as NULL.
    text, prefixed = _mysql_render(field)
    body = f"CONCAT(CHAR_LENGTH({text}), ':', {text})" if prefixed else f"CONCAT({text}, ',')"
    if not field.nullable:
        return body
    return f"IF({_q(field.name)} IS NULL, '~', COALESCE({body}, '?'))"


def _mysql_read(field: Field) -> str:
    column = _q(field.name)
    if field.mode == "float":
        return _mysql_render(field)[0]
    if field.mode == "number" and field.family == "bit":
        return f"{column} + 0"
    if field.mode == "astext":
        return f"CAST({column} AS CHAR)"
    return column


def _mysql_hash_sum(fields: Sequence[Field]) -> str:
    text = "CONCAT(" + ", ".join(_mysql_token(f) for f in fields) + ")"
    return f"COALESCE(SUM(CAST(CONV(SUBSTRING(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)), 0)"


class MySQLQueries:
    """The reads of the MySQL side of one table pair."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._keys = [self._key_expression(f) for f in plan.key]
        self._binary = [f.mode == "text" and not f.byte_order for f in plan.key]
        key_names = [_q(f.name) for f in plan.key]
        table = _q(plan.table)
        exact = _mysql_hash_sum((*plan.key, *plan.exact))
        loose = _mysql_hash_sum((*plan.key, *plan.loose)) if plan.loose else "0"
        bounds = (
            f", MIN({key_names[0]}), MAX({key_names[0]})"
            if len(plan.key) == 1 and plan.key[0].mode == "number"
            else ""
        )
        self._summary = f"SELECT COUNT(*), {exact}, {loose}{bounds} FROM {table}"
        self._summary_exact = f"SELECT COUNT(*), {exact}, NULL{bounds} FROM {table}"
        order = ", ".join(self._keys)
        self._order = order
        self._cuts = (
            f"SELECT {', '.join(key_names)} FROM (SELECT {', '.join(key_names)}, "
            f"ROW_NUMBER() OVER (ORDER BY {order}) AS canary_rn FROM {table} {{where}}) AS s "
            "WHERE MOD(canary_rn, %s) = 0 ORDER BY canary_rn"
        )
        everything = [_mysql_read(f) for f in (*plan.key, *plan.exact, *plan.loose)]
        loose_reads = [_mysql_read(f) for f in (*plan.key, *plan.loose)]
        self._select_all = f"SELECT {', '.join(everything)} FROM {table}"
        self._select_loose = f"SELECT {', '.join(loose_reads)} FROM {table}"

    @staticmethod
    def _key_expression(field: Field) -> str:
        column = _q(field.name)
        if field.mode == "text" and not field.byte_order:
            return f"CAST(CONVERT({column} USING utf8mb4) AS BINARY)"
        return column

    def _param(self, index: int, value: object) -> object:
        return value.encode() if self._binary[index] and isinstance(value, str) else value

    def _bound(self, key: Key, below: bool) -> tuple[str, list[object]]:
        """``keys >= key`` (or ``< key`` when ``below``), lexicographically."""
        params: list[object] = []
        last_op = "<" if below else ">="
        strict = "<" if below else ">"
        sql_text = ""
        for i in reversed(range(len(key))):
            expression, value = self._keys[i], self._param(i, key[i])
            if i == len(key) - 1:
                sql_text = f"{expression} {last_op} %s"
                params = [value]
            else:
                sql_text = f"({expression} {strict} %s OR ({expression} = %s AND {sql_text}))"
                params = [value, value, *params]
        if len(key) > 1:  # a plain bound on the first column lets the index narrow the scan
            first = "<=" if below else ">="
            sql_text = f"{self._keys[0]} {first} %s AND {sql_text}"
            params = [self._param(0, key[0]), *params]
        return sql_text, params

    def _where(self, rng: Range, cutoff: datetime | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        for bound, below in ((rng.lo, False), (rng.hi, True)):
            if bound is not None:
                clause, values = self._bound(bound, below)
                clauses.append(clause)
                params += values
        if cutoff is not None and self.plan.age is not None:
            clauses.append(f"{_q(self.plan.age)} < %s")
            params.append(cutoff.replace(tzinfo=None))  # DATETIME holds UTC; session is UTC
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def key_bounds(self, connection: pymysql.Connection[Any]) -> tuple[int | None, int | None]:
        column = _q(self.plan.key[0].name)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN({column}), MAX({column}) FROM {_q(self.plan.table)}")
            found = cursor.fetchone()
        assert found is not None
        return _ints(found)

    def summarize(
        self,
        connection: pymysql.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        *,
        loose: bool = True,
    ) -> Summary:
        where, params = self._where(rng, cutoff)
        query = self._summary if loose or not self.plan.loose else self._summary_exact
        with connection.cursor() as cursor:
            cursor.execute(f"{query} {where}", params)
            return _summary(cursor.fetchone())

    def cuts(
        self, connection: pymysql.Connection[Any], rng: Range, cutoff: datetime | None, step: int
    ) -> list[Key]:
        where, params = self._where(rng, cutoff)
        with connection.cursor() as cursor:
            cursor.execute(self._cuts.replace("{where}", where), [*params, step])
            return [tuple(row) for row in cursor.fetchall()]

    def rows(
        self,
        connection: pymysql.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        *,
        loose_only: bool,
    ) -> Iterator[Row]:
        where, params = self._where(rng, cutoff)
        select = self._select_loose if loose_only else self._select_all
        cursor = connection.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(f"{select} {where} ORDER BY {self._order}", params)
            while batch := cursor.fetchmany(STREAM_BATCH):
                yield from batch
        finally:
            cursor.close()  # reads what is left, so the connection can take the next query

    def rows_for(
        self, connection: pymysql.Connection[Any], keys: Sequence[Key], cutoff: datetime | None
    ) -> list[Row]:
        found: list[Row] = []
        names = [_q(f.name) for f in self.plan.key]
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            params: list[object] = []
            # The bare columns find candidate rows through the index (a collation may match
            # more than the exact key); the byte-exact test then keeps the right ones.
            alternatives = []
            for key in chunk:
                parts = []
                for i, value in enumerate(key):
                    parts.append(f"{names[i]} = %s")
                    params.append(value)
                    if self._binary[i]:
                        parts.append(f"{self._keys[i]} = %s")
                        params.append(self._param(i, value))
                alternatives.append("(" + " AND ".join(parts) + ")")
            where = " OR ".join(alternatives)
            if cutoff is not None and self.plan.age is not None:
                where = f"({where}) AND {_q(self.plan.age)} < %s"
                params.append(cutoff.replace(tzinfo=None))
            with connection.cursor() as cursor:
                cursor.execute(f"{self._select_all} WHERE {where}", params)
                found.extend(cursor.fetchall())
        return found


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


class UnreadableValue(CanaryError):
    """A row value the driver cannot turn into a Python value."""


# --- PostgreSQL ----------------------------------------------------------------------------

_PG_DECIMAL = "CASE WHEN position('.' in {0}) > 0 THEN rtrim(rtrim({0}, '0'), '.') ELSE {0} END"


def _i(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_render(field: Field) -> tuple[str, bool]:
    column = _i(field.name)
    mode, family = field.mode, field.family
    if mode in ("number", "bool", "float"):
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
    return f"{column}::text", True  # text, json, astext


def _pg_token(field: Field) -> str:
    text, prefixed = _pg_render(field)
    body = f"char_length({text}) || ':' || {text}" if prefixed else f"{text} || ','"
    if not field.nullable:
        return body
    return f"CASE WHEN {_i(field.name)} IS NULL THEN '~' ELSE coalesce({body}, '?') END"


def _pg_read(field: Field) -> str:
    column = _i(field.name)
    if field.mode == "float":
        return _pg_render(field)[0]
    if field.mode in ("text", "json", "astext"):
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
        self._cuts = (
            f"SELECT {', '.join(key_names)} FROM (SELECT {', '.join(key_names)}, "
            f"row_number() OVER (ORDER BY {self._order}) AS canary_rn FROM {table} {{where}}) s "
            "WHERE canary_rn %% %s = 0 ORDER BY canary_rn"
        )
        everything = [_pg_read(f) for f in (*plan.key, *plan.exact, *plan.loose)]
        loose_reads = [_pg_read(f) for f in (*plan.key, *plan.loose)]
        self._select_all = f"SELECT {', '.join(everything)} FROM {table}"
        self._select_loose = f"SELECT {', '.join(loose_reads)} FROM {table}"

    def _where(self, rng: Range, cutoff: datetime | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        width = len(self._keys)
        marks = "(" + ", ".join(["%s"] * width) + ")" if width > 1 else "%s"
        if rng.lo is not None:
            clauses.append(f"{self._row} >= {marks}")
            params += list(rng.lo)
        if rng.hi is not None:
            clauses.append(f"{self._row} < {marks}")
            params += list(rng.hi)
        if cutoff is not None and self.plan.age is not None:
            clauses.append(f"{_i(self.plan.age)} < %s")
            params.append(cutoff)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def key_bounds(self, connection: psycopg.Connection[Any]) -> tuple[int | None, int | None]:
        column = _i(self.plan.key[0].name)
        query = f"SELECT min({column}), max({column}) FROM {_i(self.plan.table)}"
        found = connection.execute(query.encode()).fetchone()
        assert found is not None
        return _ints(found)

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
        return _summary(connection.execute(query, params).fetchone())

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
    ) -> Iterator[Row]:
        where, params = self._where(rng, cutoff)
        select = self._select_loose if loose_only else self._select_all
        query = f"{select} {where} ORDER BY {self._order}".encode()
        with (
            _readable(self.plan.table),
            connection.transaction(),
            connection.cursor(name="canary_rows") as cursor,
        ):
            cursor.itersize = STREAM_BATCH
            cursor.execute(query, params)
            while batch := cursor.fetchmany(STREAM_BATCH):
                yield from batch

    def rows_for(
        self, connection: psycopg.Connection[Any], keys: Sequence[Key], cutoff: datetime | None
    ) -> list[Row]:
        found: list[Row] = []
        width = len(self.plan.key)
        row = "(" + ", ".join(_i(f.name) for f in self.plan.key) + ")"
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            marks = ", ".join("(" + ", ".join(["%s"] * width) + ")" for _ in chunk)
            params: list[object] = [value for key in chunk for value in key]
            where = f"{row} IN ({marks})"
            if cutoff is not None and self.plan.age is not None:
                where += f" AND {_i(self.plan.age)} < %s"
                params.append(cutoff)
            query = f"{self._select_all} WHERE {where}".encode()
            with _readable(self.plan.table):
                found.extend(connection.execute(query, params).fetchall())
        return found
