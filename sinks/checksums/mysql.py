"""The MySQL/MariaDB side of the table diff: column types, session, checksums, row reads.

Builds the normalized text of :mod:`sinks.checksums.text` in MySQL SQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pymysql
import pymysql.cursors

from canary.config import MySQLSettings
from canary.core.segments import Key, Range, Summary
from sinks import ddl, mysql
from sinks.checksums.floats import is_float, mysql_float_read, mysql_float_token
from sinks.checksums.model import (
    KEYS_PER_QUERY,
    STREAM_BATCH,
    Dialect,
    Family,
    Field,
    Plan,
    Row,
    SourceColumn,
    SourceTable,
)
from sinks.checksums.text import below_cut, by_piece, int_bounds, read_pieces, read_summary
from sinks.checksums.uuids import canonical, mysql_uuid_key, mysql_uuid_text

# --- types -------------------------------------------------------------------------------

_MYSQL_FAMILIES: dict[str, Family] = {
    **dict.fromkeys(
        ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"), "int"
    ),
    **dict.fromkeys(("decimal", "numeric", "dec", "fixed"), "decimal"),
    "float": "float4",
    **dict.fromkeys(("double", "real", "double precision"), "float"),
    **dict.fromkeys(
        ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"), "text"
    ),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "bytes"),
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
    "json": "json",
    "uuid": "uuid",  # MariaDB 10.7+
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
        dialect = ddl.server_dialect(mysql.server_version(connection))
        if dialect == "mariadb":
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
    return SourceTable(table, columns, tuple(frozenset(c) for c in indexes.values()), dialect)


# --- session -----------------------------------------------------------------------------


def connect_mysql(settings: MySQLSettings) -> pymysql.Connection[Any]:
    """A reading session: autocommit (each query sees the latest rows), UTC time zone,
    GROUP_CONCAT as long as a packet allows (``loose_copy`` checks what it got)."""
    connection = mysql.connect(settings)
    with mysql.translated(settings):
        connection.autocommit(True)
        with connection.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute("SET SESSION group_concat_max_len = 1073741824")
    return connection


# --- checksums and reads ------------------------------------------------------------------

_MYSQL_TEXT = "CONVERT({} USING utf8mb4) COLLATE utf8mb4_bin"
_MYSQL_DECIMAL = (
    "IF(LOCATE('.', {0}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {0})), {0})"
)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# A DOUBLE's IEEE bits as 16 lowercase hex digits, the text PostgreSQL's float8send gives
# (``+ 0e0`` makes -0 into 0: one value, one token). MariaDB stores a dynamic column's
# DOUBLE as its 8 bytes, little-endian, after a 6-byte header.
_MARIADB_DOUBLE = "LOWER(HEX(REVERSE(RIGHT(COLUMN_CREATE(1, {0} + 0e0 AS DOUBLE), 8))))"


def _mysql8_double(column: str) -> str:
    """MySQL 8 has no dynamic columns: the bits by arithmetic, each step exact. Exponent
    ``e`` from LOG2 (corrected by one either way; kept in range so that POW never
    overflows), significand ``a / 2^(e-52)``; below 2^-1021 (subnormals, the first binade)
    the bits are ``a * 2^1074``."""
    a = f"ABS({column} + 0e0)"
    e0 = f"LEAST(GREATEST(FLOOR(LOG2({a})), -1021), 1023)"
    e = f"({e0} + ({a} / 2 >= POW(2, {e0})) - ({a} < POW(2, {e0})))"
    normal = f"((({e} + 1022) << 52) + CAST({a} / POW(2, {e} - 52) AS UNSIGNED))"
    tiny = f"CAST({a} * POW(2, 537) * POW(2, 537) AS UNSIGNED)"
    bits = f"((({column} + 0e0 < 0) << 63) | IF({a} < POW(2, -1021), {tiny}, {normal}))"
    return f"LOWER(LPAD(HEX({bits}), 16, '0'))"


def _mysql_utf8(field: Field) -> str:
    """A text column as utf8mb4 compared as bytes."""
    column = _q(field.name)
    return f"{column} COLLATE utf8mb4_bin" if field.utf8 else _MYSQL_TEXT.format(column)


def _mysql_render(  # noqa: PLR0911 - one return per mode
    field: Field, dialect: Dialect = "mariadb"
) -> tuple[str, bool]:
    """The SQL text of a non-NULL value, and whether it needs a length prefix."""
    column = _q(field.name)
    mode, family = field.mode, field.family
    if mode == "double":
        bits = _MARIADB_DOUBLE.format(column) if dialect == "mariadb" else _mysql8_double(column)
        return bits, False
    if is_float(field):
        return mysql_float_token(field, column), False
    if mode == "uuid":
        return mysql_uuid_text(field, column, _mysql_utf8(field)), True
    if mode in ("number", "bool", "float", "float32"):
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
    return _mysql_utf8(field), True  # text, json


def _mysql_token(field: Field, dialect: Dialect = "mariadb") -> str:
    # "?" marks a value that has no text form (a zero date, say), so it never reads as NULL.
    text, prefixed = _mysql_render(field, dialect)
    body = f"CONCAT(CHAR_LENGTH({text}), ':', {text})" if prefixed else f"CONCAT({text}, ',')"
    if not field.nullable:
        return body
    return f"IF({_q(field.name)} IS NULL, '~', COALESCE({body}, '?'))"


def _mysql_read(field: Field) -> str:
    column = _q(field.name)
    if is_float(field):
        return mysql_float_read(field, column)
    if field.mode in ("float", "float32", "uuid"):
        return _mysql_render(field)[0]
    if field.mode == "number" and field.family == "bit":
        return f"{column} + 0"
    if field.mode == "astext":
        return f"CAST({column} AS CHAR)"
    return column


# PostgreSQL COPY text escapes: backslash first (CHAR(92): whether a backslash escapes in a
# literal depends on sql_mode), then the characters that end a field or a line.
_BACKSLASH = "CHAR(92 USING utf8mb4)"
_COPY_ESCAPES = (
    (_BACKSLASH, f"CONCAT({_BACKSLASH}, {_BACKSLASH})"),
    ("CHAR(9 USING utf8mb4)", f"CONCAT({_BACKSLASH}, 't')"),
    ("CHAR(10 USING utf8mb4)", f"CONCAT({_BACKSLASH}, 'n')"),
    ("CHAR(13 USING utf8mb4)", f"CONCAT({_BACKSLASH}, 'r')"),
)


def _copy_field(field: Field) -> str:
    """The value as read, as one field of PostgreSQL's COPY text format (NULL is \\N)."""
    text = f"CONVERT({_mysql_read(field)} USING utf8mb4)"
    if field.mode != "number":  # digits need no escapes
        for char, escaped in _COPY_ESCAPES:
            text = f"REPLACE({text}, {char}, {escaped})"
    return f"IFNULL({text}, CONCAT({_BACKSLASH}, 'N'))" if field.nullable else text


def _mysql_hash_sum(fields: Sequence[Field], dialect: Dialect = "mariadb") -> str:
    text = "CONCAT(" + ", ".join(_mysql_token(f, dialect) for f in fields) + ")"
    return f"COALESCE(SUM(CAST(CONV(SUBSTRING(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)), 0)"


class MySQLQueries:
    """The reads of the MySQL side of one table pair."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._keys = [self._key_expression(f) for f in plan.key]
        self._binary = [f.mode == "text" and not f.byte_order for f in plan.key]
        self._uuid_bytes = [f.mode == "uuid" and f.family == "bytes" for f in plan.key]
        self._uuid_text = [f.mode == "uuid" and f.family != "bytes" for f in plan.key]
        key_names = [_q(f.name) for f in plan.key]
        table = _q(plan.table)
        exact = _mysql_hash_sum((*plan.key, *plan.exact), plan.dialect)
        loose = _mysql_hash_sum((*plan.key, *plan.loose), plan.dialect) if plan.loose else "0"
        bounds = (
            f", MIN({key_names[0]}), MAX({key_names[0]})"
            if len(plan.key) == 1 and plan.key[0].mode == "number"
            else ""
        )
        self._summary = f"SELECT COUNT(*), {exact}, {loose}{bounds} FROM {table}"
        self._summary_exact = f"SELECT COUNT(*), {exact}, NULL{bounds} FROM {table}"
        order = ", ".join(self._keys)
        self._order = order
        # The keys as read (a UUID as its canonical text), so cuts bound both sides alike.
        key_reads = [f"{_mysql_read(f)} AS canary_k{i}" for i, f in enumerate(plan.key)]
        key_aliases = [f"canary_k{i}" for i in range(len(plan.key))]
        self._cuts = (
            f"SELECT {', '.join(key_aliases)} FROM (SELECT {', '.join(key_reads)}, "
            f"ROW_NUMBER() OVER (ORDER BY {order}) AS canary_rn FROM {table} {{where}}) AS s "
            "WHERE MOD(canary_rn, %s) = 0 ORDER BY canary_rn"
        )
        everything = [_mysql_read(f) for f in (*plan.key, *plan.exact, *plan.loose)]
        loose_reads = [_mysql_read(f) for f in (*plan.key, *plan.loose)]
        exact_reads = [_mysql_read(f) for f in (*plan.key, *plan.exact)]
        self._select_all = f"SELECT {', '.join(everything)} FROM {table}"
        self._select_exact = f"SELECT {', '.join(exact_reads)} FROM {table}"
        self._select_loose = f"SELECT {', '.join(loose_reads)} FROM {table}"
        self._select_keys = f"SELECT {', '.join(everything[: len(plan.key)])} FROM {table}"
        line = ", ".join(_copy_field(f) for f in (*plan.key, *plan.loose))
        self._copy = (
            # As bytes (BINARY): they go to PostgreSQL as they are, never decoded here.
            "SELECT COUNT(*), CAST(GROUP_CONCAT(line SEPARATOR '\n') AS BINARY) FROM "
            f"(SELECT CONCAT_WS('\t', {line}) AS line FROM {table} {{where}} LIMIT %s) AS s"
        )

    @staticmethod
    def _key_expression(field: Field) -> str:
        column = _q(field.name)
        if field.mode == "uuid":
            return mysql_uuid_key(field, column, _mysql_utf8(field))
        if field.mode == "text" and not field.byte_order:
            return f"CAST(CONVERT({column} USING utf8mb4) AS BINARY)"
        return column

    def _param(self, index: int, value: object) -> object:
        if self._uuid_bytes[index] and canonical(value):
            return uuid.UUID(str(value)).bytes  # a BINARY(16) key is bounded by its bytes
        if (self._binary[index] or self._uuid_text[index]) and isinstance(value, str):
            return value.encode()
        return value

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
        if self.plan.cut is not None:
            clause, values = below_cut(self.plan.cut, _q)
            clauses.append(clause)
            params += values
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def key_bounds(self, connection: pymysql.Connection[Any]) -> tuple[int | None, int | None]:
        column = _q(self.plan.key[0].name)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN({column}), MAX({column}) FROM {_q(self.plan.table)}")
            found = cursor.fetchone()
        assert found is not None
        return int_bounds(found)

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
            return read_summary(cursor.fetchone())

    def summarize_pieces(
        self,
        connection: pymysql.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        cuts: Sequence[int],
        *,
        loose: bool = True,
    ) -> list[Summary]:
        where, params = self._where(rng, cutoff)
        loose = loose or not self.plan.loose
        statement = by_piece(self._summary if loose else self._summary_exact, self._keys[0], cuts)
        with connection.cursor() as cursor:
            cursor.execute(statement.replace("{where}", where), params)
            return read_pieces(cursor.fetchall(), len(cuts) + 1, loose=loose)

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
        exact_only: bool = False,
    ) -> Iterator[Row]:
        where, params = self._where(rng, cutoff)
        select = self._select_loose if loose_only else self._select_all
        select = self._select_exact if exact_only else select
        return _stream(connection, f"{select} {where} ORDER BY {self._order}", params)

    def _matching(self, chunk: Sequence[Key]) -> tuple[str, list[object]]:
        """A condition that holds for the rows of exactly these keys."""
        names = [_q(f.name) for f in self.plan.key]
        params: list[object] = []
        # The bare columns find candidate rows through the index (a collation may match
        # more than the exact key); the byte-exact test then keeps the right ones.
        alternatives = []
        for key in chunk:
            parts = []
            for i, value in enumerate(key):
                if self._uuid_text[i] or self._uuid_bytes[i]:
                    # Stored in another case or layout, or (BINARY) as bytes.
                    parts.append(f"{self._keys[i]} = %s")
                    params.append(self._param(i, value))
                    continue
                parts.append(f"{names[i]} = %s")
                params.append(value)
                if self._binary[i]:
                    parts.append(f"{self._keys[i]} = %s")
                    params.append(self._param(i, value))
            alternatives.append("(" + " AND ".join(parts) + ")")
        return "(" + " OR ".join(alternatives) + ")", params

    def loose_copy(
        self,
        connection: pymysql.Connection[Any],
        rng: Range,
        cutoff: datetime | None,
        *,
        limit: int,
    ) -> tuple[int, bytes | None]:
        """The number of rows in ``rng`` (at most ``limit``) and their key and loose values
        as lines of PostgreSQL COPY text in UTF-8 (in no order), for
        ``PostgresQueries.judge_loose``.
        The text is None, or holds fewer lines than rows, when the server cut it short
        (longer than a packet)."""
        where, params = self._where(rng, cutoff)
        with connection.cursor() as cursor:
            cursor.execute(self._copy.replace("{where}", where), [*params, limit])
            found = cursor.fetchone()
        assert found is not None
        count, text = int(found[0]), found[1]
        if isinstance(text, str):
            text = text.encode()
        return count, None if text is None else bytes(text)

    def rows_for(
        self, connection: pymysql.Connection[Any], keys: Sequence[Key], cutoff: datetime | None
    ) -> list[Row]:
        found: list[Row] = []
        for start in range(0, len(keys), KEYS_PER_QUERY):
            where, params = self._matching(keys[start : start + KEYS_PER_QUERY])
            if cutoff is not None and self.plan.age is not None:
                where += f" AND {_q(self.plan.age)} < %s"
                params.append(cutoff.replace(tzinfo=None))
            if self.plan.cut is not None:
                clause, values = below_cut(self.plan.cut, _q)
                where += f" AND {clause}"
                params += values
            with connection.cursor() as cursor:
                cursor.execute(f"{self._select_all} WHERE {where}", params)
                found.extend(cursor.fetchall())
        return found

    def _past_cut(self) -> tuple[str, list[object]]:
        if self.plan.cut is None:
            raise ValueError("in-flight reads need a plan with a cut")
        clause, params = below_cut(self.plan.cut, _q)
        return f"NOT {clause}", params

    def in_flight(self, connection: pymysql.Connection[Any], keys: Sequence[Key]) -> list[Key]:
        past, past_params = self._past_cut()
        width = len(self.plan.key)
        found: list[Key] = []
        for start in range(0, len(keys), KEYS_PER_QUERY):
            where, params = self._matching(keys[start : start + KEYS_PER_QUERY])
            with connection.cursor() as cursor:
                cursor.execute(
                    f"{self._select_keys} WHERE {where} AND {past}", [*params, *past_params]
                )
                found.extend(tuple(row[:width]) for row in cursor.fetchall())
        return found

    def in_flight_keys(self, connection: pymysql.Connection[Any]) -> Iterator[Key]:
        past, params = self._past_cut()
        query = f"{self._select_keys} WHERE {past} ORDER BY {self._order}"
        return (tuple(row) for row in _stream(connection, query, params))


def _stream(connection: pymysql.Connection[Any], query: str, params: list[object]) -> Iterator[Row]:
    """The rows of ``query`` read in batches, without holding them all."""
    cursor = connection.cursor(pymysql.cursors.SSCursor)
    try:
        cursor.execute(query, params)
        while batch := cursor.fetchmany(STREAM_BATCH):
            yield from batch
    finally:
        cursor.close()  # reads what is left, so the connection can take the next query
