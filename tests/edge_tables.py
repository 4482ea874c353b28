"""A MySQL/PostgreSQL table pair whose every row means the same but reads differently.

Shared by ``tests/integration/test_edge_tables.py`` (small, proves the diff exact) and
``benchmarks/edge_tables_bench.py`` (a million rows, measures it). Nine columns, each
holding values equal in meaning but not in text on the two engines:

| column | MySQL                      | PostgreSQL       | written differently as            |
|--------|----------------------------|------------------|-----------------------------------|
| id     | BIGINT key                 | BIGINT key       |                                   |
| amount | DECIMAL(12,2)              | NUMERIC(12,3)    | ``1.50`` vs ``1.500``             |
| score  | DOUBLE                     | DOUBLE PRECISION | ``1e20`` vs ``1e+20``             |
| flag   | TINYINT(1)                 | BOOLEAN          | ``1`` vs ``t``                    |
| at     | DATETIME(6), UTC           | TIMESTAMPTZ      | UTC vs ``+05:30``                 |
| name   | VARCHAR(64), emoji, spaces | TEXT             | (the same text)                   |
| note   | TEXT, NULL or ''           | TEXT             | (the same text)                   |
| qty    | INT                        | INTEGER          |                                   |
| doc    | JSON (MariaDB: LONGTEXT)   | JSONB            | key order, spaces, escapes, 2.50  |

Every row is generated from its key (so a table pair can be re-checked without loading it
again); the planted differences come from ``seed`` alone: rows only in MySQL, rows only
in PostgreSQL and, per column type, rows that differ in one column (a JSON value, a
double's last bit, a boolean, a datetime by 1 µs, text case, a trailing space, an emoji,
NULL vs empty string, a cent). Both tables are loaded in bulk: ``LOAD DATA LOCAL
INFILE`` and ``COPY``.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pymysql

from canary.config import Settings
from sinks import postgres

MYSQL_DDL = """CREATE TABLE `{table}` (
  id BIGINT NOT NULL PRIMARY KEY, amount DECIMAL(12,2) NULL, score DOUBLE NULL,
  flag TINYINT(1) NULL, at DATETIME(6) NULL, name VARCHAR(64) NULL, note TEXT NULL,
  qty INT NOT NULL, doc JSON NULL
) CHARSET utf8mb4 COLLATE utf8mb4_unicode_ci"""
PG_DDL = """CREATE TABLE {table} (
  id BIGINT PRIMARY KEY, amount NUMERIC(12,3), score DOUBLE PRECISION, flag BOOLEAN,
  at TIMESTAMPTZ, name TEXT, note TEXT, qty INTEGER NOT NULL, doc JSONB
)"""
COLUMNS = ("id", "amount", "score", "flag", "at", "name", "note", "qty", "doc")

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_ELSEWHERE = timezone(timedelta(hours=5, minutes=30))
_EMOJI = ("🚀", "🔥", "✨", "🌍", "é", "e\u0301")
_WORDS = ("alpha", "Beta", "gamma", "DELTA", "epsilon", "zeta")

# One planted difference per entry: (class, column, what it does). "only_*" rows have no
# column; every other entry changes one column of the PostgreSQL row.
KINDS: tuple[tuple[str, str | None, str], ...] = (
    ("only_in_mysql", None, "row missing in PostgreSQL"),
    ("only_in_postgres", None, "row missing in MySQL"),
    ("different", "doc", "a JSON value changed"),
    ("different", "doc", "a JSON key renamed"),
    ("different", "score", "a double changed in its last bit"),
    ("different", "flag", "a boolean flipped"),
    ("different", "at", "a datetime off by 1 µs"),
    ("different", "name", "text case changed"),
    ("different", "name", "a trailing space added"),
    ("different", "name", "an emoji changed"),
    ("different", "note", "NULL in MySQL, empty string in PostgreSQL"),
    ("different", "note", "empty string in MySQL, NULL in PostgreSQL"),
    ("different", "amount", "a cent more"),
)


@dataclass(frozen=True)
class Row:
    """One row's values as Python holds them (``doc`` as a tree, ``at`` aware UTC)."""

    id: int
    amount: Decimal | None
    score: float | None
    flag: bool | None
    at: datetime | None
    name: str | None
    note: str | None
    qty: int
    doc: dict[str, Any] | None


def row(key: int) -> Row:
    """The row of ``key`` as both tables hold it, before any planted difference."""
    pick = random.Random(key * 2_654_435_761)
    exponent = pick.randint(-12, 22)
    score = None if key % 19 == 0 else pick.choice((-1, 1)) * pick.random() * 10.0**exponent
    if key % 23 == 0:
        score = float(pick.randint(-1000, 1000))  # integral doubles print without a point
    note: str | None = f"note {key} {_WORDS[key % 6]}"
    if key % 7 == 0:
        note = None
    elif key % 13 == 0:
        note = ""
    name = f"{_WORDS[key % 6]}-{key} {_EMOJI[key % 6]}" + " " * (key % 3)
    doc: dict[str, Any] | None = {
        "sku": f"SKU-{key % 99_991:05d}",
        "qty": 1 + key % 5,
        "price": Decimal(key % 50_000) / 100,
        "tags": [_WORDS[key % 6], key % 7, pick.random() < 0.5],
        "meta": {"src": ("web", "app", "pos")[key % 3], "v": key % 3, "ok": None},
        "label": f"{_EMOJI[key % 6]} {_WORDS[(key + 1) % 6]}",
    }
    if key % 17 == 0:
        doc = None
    return Row(
        id=key,
        amount=Decimal(key * 7919 % 100_000_000) / 100,
        score=score,
        flag=None if key % 11 == 0 else bool(key % 2),
        at=None if key % 29 == 0 else _EPOCH + timedelta(microseconds=key * 1_000_003),
        name=name,
        note=note,
        qty=key % 1000,
        doc=doc,
    )


@dataclass
class Planted:
    """What a correct diff must report: keys per class, and each differing key's column."""

    rows: int
    only_in_mysql: set[int] = field(default_factory=set)
    only_in_postgres: set[int] = field(default_factory=set)
    different: dict[int, tuple[str, str]] = field(default_factory=dict)  # key: (column, what)

    @property
    def total(self) -> int:
        return len(self.only_in_mysql) + len(self.only_in_postgres) + len(self.different)


def plant(rows: int, per_kind: int, seed: int = 1) -> Planted:
    """``per_kind`` keys for every entry of KINDS, spread over ``1..rows`` (distinct)."""
    pick = random.Random(seed)
    keys = pick.sample(range(1, rows + 1), per_kind * len(KINDS))
    planted = Planted(rows)
    for index, key in enumerate(keys):
        kind, column, what = KINDS[index % len(KINDS)]
        if kind == "only_in_mysql":
            planted.only_in_mysql.add(key)
        elif kind == "only_in_postgres":
            planted.only_in_postgres.add(key)
        else:
            assert column is not None
            planted.different[key] = (column, what)
    return planted


def _changed(original: Row, what: str) -> Row:  # noqa: PLR0911 - one return per kind
    """The PostgreSQL row of a planted difference ``what``."""
    values = dict(original.__dict__)
    if what == "a JSON value changed":
        doc = dict(original.doc or {"qty": 0})
        doc["qty"] = doc["qty"] + 1
        return Row(**{**values, "doc": doc})
    if what == "a JSON key renamed":
        doc = dict(original.doc or {"sku": ""})
        doc["SKU"] = doc.pop("sku")
        return Row(**{**values, "doc": doc})
    if what == "a double changed in its last bit":
        score = 1.0 if original.score is None else math.nextafter(original.score, math.inf)
        return Row(**{**values, "score": score})
    if what == "a boolean flipped":
        return Row(**{**values, "flag": not original.flag})
    if what == "a datetime off by 1 µs":
        at = original.at or _EPOCH
        return Row(**{**values, "at": at + timedelta(microseconds=1)})
    if what == "text case changed":
        return Row(**{**values, "name": (original.name or "x").swapcase()})
    if what == "a trailing space added":
        return Row(**{**values, "name": (original.name or "") + " "})
    if what == "an emoji changed":
        return Row(**{**values, "name": (original.name or "") + "🚁"})
    if what == "NULL in MySQL, empty string in PostgreSQL":
        return Row(**{**values, "note": ""})
    if what == "empty string in MySQL, NULL in PostgreSQL":
        return Row(**{**values, "note": None})
    assert what == "a cent more"
    return Row(**{**values, "amount": (original.amount or Decimal(0)) + Decimal("0.01")})


def _mysql_side(original: Row, what: str) -> Row:
    """The MySQL row of a planted difference (the two NULL-vs-empty kinds set it up)."""
    if what == "NULL in MySQL, empty string in PostgreSQL":
        return Row(**{**original.__dict__, "note": None})
    if what == "empty string in MySQL, NULL in PostgreSQL":
        return Row(**{**original.__dict__, "note": ""})
    return original


# --- text forms ---------------------------------------------------------------------------


def _escape(text: str) -> str:
    """A field for LOAD DATA / COPY text format (both take backslash escapes)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_number(value: Decimal) -> str:
    return format(value, "f")


def _compact(value: Any) -> str:
    """JSON as a client writes it: compact, keys in insertion order, UTF-8 as is."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_compact(k)}:{_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return _json_number(value.normalize() if value == value.to_integral() else value)
    return json.dumps(value, ensure_ascii=False)


def _scrambled(value: Any, pick: random.Random) -> str:
    """The same JSON as another client writes it: keys shuffled, spaces, ASCII escapes,
    numbers at two decimal places."""
    space = pick.choice(("", " ", "  "))
    if isinstance(value, dict):
        items = list(value.items())
        pick.shuffle(items)
        body = f"{space},{space}".join(
            f"{_scrambled(k, pick)}{space}:{space}{_scrambled(v, pick)}" for k, v in items
        )
        return "{" + space + body + space + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_scrambled(v, pick) for v in value) + "]"
    if isinstance(value, Decimal):
        return _json_number(value.quantize(Decimal("0.01")))
    return json.dumps(value, ensure_ascii=pick.random() < 0.5)


def _field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return _escape(value)
    return str(value)


def mysql_line(values: Row) -> str:
    at = None if values.at is None else values.at.strftime("%Y-%m-%d %H:%M:%S.%f")
    doc = None if values.doc is None else _scrambled(values.doc, random.Random(values.id))
    fields: list[object] = [
        values.id,
        None if values.amount is None else format(values.amount, "f"),
        None if values.score is None else repr(values.score),
        None if values.flag is None else int(values.flag),
        at,
        values.name,
        values.note,
        values.qty,
        doc,
    ]
    return "\t".join(_field(f) for f in fields) + "\n"


def pg_line(values: Row) -> str:
    at = None if values.at is None else values.at.astimezone(_ELSEWHERE).isoformat()
    fields: list[object] = [
        values.id,
        None if values.amount is None else format(values.amount, ".3f"),
        None if values.score is None else repr(values.score),
        None if values.flag is None else ("t" if values.flag else "f"),
        at,
        values.name,
        values.note,
        values.qty,
        None if values.doc is None else _compact(values.doc),
    ]
    return "\t".join(_field(f) for f in fields) + "\n"


def lines(planted: Planted) -> Iterator[tuple[str | None, str | None]]:
    """(MySQL line, PostgreSQL line) for every key; None where the side has no row."""
    for key in range(1, planted.rows + 1):
        original = row(key)
        if key in planted.only_in_mysql:
            yield mysql_line(original), None
        elif key in planted.only_in_postgres:
            yield None, pg_line(original)
        elif key in planted.different:
            what = planted.different[key][1]
            yield mysql_line(_mysql_side(original, what)), pg_line(_changed(original, what))
        else:
            yield mysql_line(original), pg_line(original)


# --- loading ------------------------------------------------------------------------------


def _mysql_connect(settings: Settings) -> pymysql.Connection[Any]:
    my = settings.mysql
    return pymysql.connect(
        host=my.host,
        port=my.port,
        user=my.user,
        password=my.password(),
        database=my.database,
        charset="utf8mb4",
        local_infile=True,
    )


def mysql_execute(settings: Settings, *statements: str) -> list[Any]:
    connection = _mysql_connect(settings)
    try:
        found: list[Any] = []
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                found.extend(cursor.fetchall())
        connection.commit()
        return found
    finally:
        connection.close()


def pg_execute(settings: Settings, *statements: str) -> list[Any]:
    found: list[Any] = []
    with postgres.connect(settings.postgres) as connection:
        connection.autocommit = True  # VACUUM runs outside a transaction
        for statement in statements:
            cursor = connection.execute(statement.encode())
            if cursor.description is not None:
                found.extend(cursor.fetchall())
    return found


def load(
    settings: Settings, table: str, planted: Planted, say: Callable[[str], None] = print
) -> None:
    """Create ``table`` in both databases (dropping any old one) and fill it."""
    with tempfile.TemporaryDirectory(prefix="canary-edge-") as folder:
        mine_path = os.path.join(folder, "mysql.tsv")
        theirs_path = os.path.join(folder, "postgres.tsv")
        with (
            open(mine_path, "w", encoding="utf-8") as mine,
            open(theirs_path, "w", encoding="utf-8") as theirs,
        ):
            for left, right in lines(planted):
                if left is not None:
                    mine.write(left)
                if right is not None:
                    theirs.write(right)
        say(f"generated {planted.rows:,} rows per side")
        mysql_execute(
            settings,
            f"DROP TABLE IF EXISTS `{table}`",
            MYSQL_DDL.format(table=table),
            f"LOAD DATA LOCAL INFILE '{mine_path}' INTO TABLE `{table}` CHARACTER SET utf8mb4 "
            f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({', '.join(COLUMNS)})",
            f"ANALYZE TABLE `{table}`",
        )
        with postgres.connect(settings.postgres) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {table}".encode())
            connection.execute(PG_DDL.format(table=table).encode())
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN".encode()) as copy,
                open(theirs_path, "rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            connection.commit()
        pg_execute(settings, f"VACUUM ANALYZE {table}")


def drop(settings: Settings, table: str) -> None:
    mysql_execute(settings, f"DROP TABLE IF EXISTS `{table}`")
    pg_execute(settings, f"DROP TABLE IF EXISTS {table}")


def counts(settings: Settings, table: str) -> tuple[int, int]:
    """Rows in each side's ``table`` (-1 where it does not exist)."""
    try:
        mine = int(mysql_execute(settings, f"SELECT COUNT(*) FROM `{table}`")[0][0])
    except pymysql.err.MySQLError:
        mine = -1
    try:
        theirs = int(pg_execute(settings, f"SELECT count(*) FROM {table}")[0][0])
    except Exception:  # noqa: BLE001 - psycopg's UndefinedTable: the table is not there
        theirs = -1
    return mine, theirs


# --- checking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """How a tables report compares with what was planted."""

    found: int  # planted differences the report names, in the right class and column
    planted: int
    missed: list[str]
    false_positives: list[str]

    @property
    def exact(self) -> bool:
        return not self.missed and not self.false_positives and self.found == self.planted


def check(report: dict[str, Any], planted: Planted) -> Check:
    """Compare the report's counts and samples (ask for at least ``planted.total`` samples)
    with the planted set: every planted difference found in its class and column, nothing
    else reported."""
    missed: list[str] = []
    extra: list[str] = []
    samples = report["samples"]
    for name, keys in (
        ("only_in_mysql", planted.only_in_mysql),
        ("only_in_postgres", planted.only_in_postgres),
    ):
        shown = set(samples[name])
        missed += [f"{name} {key}" for key in sorted(keys - shown)]
        extra += [f"{name} {key}" for key in sorted(shown - keys)]
        if report[name] != len(shown):
            extra.append(f"{name}: {report[name]} counted, {len(shown)} shown")
    differing = {entry["key"]: set(entry["columns"]) for entry in samples["different"]}
    for key, (column, what) in sorted(planted.different.items()):
        columns = differing.get(key)
        if columns is None:
            missed.append(f"different {key} ({what})")
        elif columns != {column}:
            extra.append(f"different {key}: columns {sorted(columns)}, planted {column}")
    extra += [f"different {key}" for key in sorted(set(differing) - set(planted.different))]
    if report["different"] != len(differing):
        extra.append(f"different: {report['different']} counted, {len(differing)} shown")
    found = planted.total - len(missed)
    return Check(found=found, planted=planted.total, missed=missed, false_positives=extra)
