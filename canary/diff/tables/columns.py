"""Which columns a table diff compares, and how: pairing both engines' columns by name.

Each compared column gets one rendering *mode* from its two types (see
``sinks.checksums``), the comparator kind that matches it, its tolerance, whether it is
*loose* (its texts may differ for equal values, so it is summed apart and verified row by
row: JSON, a float against a DECIMAL or integer, and any column with a tolerance) and its
rule in words for the report. Floats pair at the coarser precision (``float32`` when
either side is a 4-byte FLOAT/REAL, else ``float``); a DOUBLE paired with a double
precision and no tolerance is mode ``"double"``: its IEEE bits go in the exact sum, which
both engines can print alike. A PostgreSQL uuid pairs with MySQL text, BINARY(16) or
MariaDB's UUID as ``uuid``. Pairs of types that share no meaning (text vs number, date vs
datetime, types canary does not know) are compared as their text forms on both sides,
which is stated in the report by the kind ``"text"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from canary.config import TableRule
from canary.core.cut import Cut
from canary.errors import UsageError
from comparators.values import ColumnKind, Tolerance
from sinks.checksums import (
    Dialect,
    Family,
    Field,
    Mode,
    Plan,
    SourceColumn,
    SourceCut,
    SourceTable,
)

# The columns every sink row carries (canary.core.schema): where its message came from.
SOURCE_COLUMNS = ("src_partition", "src_offset")

_NUMERIC: frozenset[Family] = frozenset({"int", "decimal", "bool", "bit", "float", "float4"})
_FLOATS: frozenset[Family] = frozenset({"float", "float4"})
_INTEGRAL: frozenset[Family] = frozenset({"int", "bool", "bit"})
_SAME_MODE: dict[Family, tuple[Mode, ColumnKind]] = {
    "text": ("text", "text"),
    "bytes": ("bytes", "bytes"),
    "date": ("date", "date"),
    "datetime": ("datetime", "datetime"),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One compared column: its name in the report, each side's field, how to compare."""

    name: str
    mysql: Field
    postgres: Field
    kind: ColumnKind
    tolerance: Tolerance
    loose: bool
    rule: str = ""  # how the pair is compared, in words (``describe``), for the report


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything the diff of one table pair needs to know about its columns."""

    mysql_table: str
    pg_table: str
    key: tuple[Column, ...]
    columns: tuple[Column, ...]  # compared non-key columns, in the MySQL table's order
    ignored: tuple[str, ...]
    only_in_mysql: tuple[str, ...]  # columns one table has and the other lacks (not ignored)
    only_in_postgres: tuple[str, ...]
    age: tuple[str, str] | None  # (MySQL, PostgreSQL) name of the age column
    # Per side (MySQL, PostgreSQL), the names of its source partition and offset columns.
    source: tuple[tuple[str, str], tuple[str, str]] | None = None
    mysql_dialect: Dialect = "mariadb"

    @property
    def integer_key(self) -> bool:
        return len(self.key) == 1 and self.key[0].mysql.mode == "number"

    @property
    def exact(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.loose)

    @property
    def loose(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.loose)

    @property
    def read_order(self) -> tuple[Column, ...]:
        """The compared columns in the order rows are read: exact ones, then loose ones."""
        return (*self.exact, *self.loose)

    def plan(self, side: str, cut: Cut | None = None) -> Plan:
        """The read plan of ``"mysql"`` or ``"postgres"``; with ``cut``, of the rows below
        it (the spec must have been built with ``need_cut``)."""

        def fields(columns: Sequence[Column]) -> tuple[Field, ...]:
            return tuple(getattr(c, side) for c in columns)

        index = 0 if side == "mysql" else 1
        age = None if self.age is None else self.age[index]
        table = self.mysql_table if side == "mysql" else self.pg_table
        below = None
        if cut is not None:
            if self.source is None:
                raise ValueError("a cut needs a spec built with need_cut")
            partition, offset = self.source[index]
            below = SourceCut(partition, offset, cut.settled)
        dialect = self.mysql_dialect if side == "mysql" else "mariadb"
        return Plan(
            table, fields(self.key), fields(self.exact), fields(self.loose), age, below, dialect
        )


def pair_mode(mysql: Family, postgres: Family) -> tuple[Mode, ColumnKind]:
    """The rendering mode and comparator kind of a column of these two families."""
    families = {mysql, postgres}
    if "json" in families:
        return "json", "json"
    if families <= _NUMERIC:
        if postgres == "bool":  # BOOLEAN: TINYINT(1), BIT(1) or any integer as 0/1
            return ("bool", "bool") if mysql in _INTEGRAL else ("astext", "text")
        if families & _FLOATS:
            return _float_mode(families)
        return "number", "int" if families <= _INTEGRAL else "decimal"
    if mysql == postgres and mysql in _SAME_MODE:
        return _SAME_MODE[mysql]
    return "astext", "text"


def _index(table: SourceTable) -> dict[str, SourceColumn]:
    return {column.name.lower(): column for column in table.columns}


def _find(name: str, columns: dict[str, SourceColumn], engine: str, table: str) -> SourceColumn:
    found = columns.get(name.lower())
    if found is None:
        known = ", ".join(sorted(c.name for c in columns.values()))
        raise UsageError(f"unknown column {name!r} in {engine} table {table!r} (it has: {known})")
    return found


def _pair(
    name: str,
    mine: dict[str, SourceColumn],
    theirs: dict[str, SourceColumn],
    mysql: SourceTable,
    postgres: SourceTable,
) -> tuple[SourceColumn, SourceColumn]:
    return _find(name, mine, "MySQL", mysql.name), _find(name, theirs, "PostgreSQL", postgres.name)


def _float_mode(families: set[Family]) -> tuple[Mode, ColumnKind]:
    """Floats compare at the coarser precision: 4 bytes when either side has only those."""
    return ("float32", "float32") if "float4" in families else ("float", "float")


def uuid_mode(mysql: SourceColumn, postgres: SourceColumn) -> tuple[Mode, ColumnKind] | None:
    """Mode and kind ``uuid`` when the pair compares by UUID value (a PostgreSQL uuid
    against MySQL text, a BINARY(16) in RFC 4122 byte order or MariaDB's UUID), else None."""
    if postgres.family != "uuid":
        return None
    if mysql.family in ("text", "uuid") or (
        mysql.family == "bytes" and mysql.type_name.lower() == "binary(16)"
    ):
        return "uuid", "uuid"
    return None


def _float_name(family: Family) -> str:
    return {"float4": "float32", "float": "float64"}.get(family, "exact number")


_RULES: dict[Mode, str] = {
    "number": "by numeric value",
    "bool": "0/1 vs BOOLEAN",
    "text": "text, exactly (case, trailing spaces and NULL vs empty differ)",
    "bytes": "bytes, exactly",
    "date": "the same date",
    "datetime": "the same UTC instant, to the microsecond",
    "json": "JSON by structure (key order and whitespace ignored)",
    "astext": "as text on both sides (the types share no meaning)",
}


def describe(mysql: SourceColumn, postgres: SourceColumn, mode: Mode) -> str:
    """How the pair is compared, in words (the report's ``rules``)."""
    if mode == "uuid":
        stored = {
            "bytes": " (the 16 bytes in RFC 4122 order)",
            "text": " (text: 8-4-4-4-12 or 32 hex digits, any case; other text differs)",
        }.get(mysql.family, "")
        return f"UUID by value: MySQL {mysql.type_name} vs uuid{stored}"
    if mode not in ("float", "float32", "double"):
        return _RULES[mode]
    names = (_float_name(mysql.family), _float_name(postgres.family))
    precision = "4-byte" if mode == "float32" else "8-byte"
    if names[0] == names[1]:
        return f"{names[0]} on both sides: compared at {precision} precision"
    rounded = ", the other side rounded to float32" if mode == "float32" else ""
    return f"{names[0]} vs {names[1]}: compared at {precision} precision{rounded}"


def _column(
    name: str, mysql: SourceColumn, postgres: SourceColumn, rule: TableRule, key: bool
) -> Column:
    mode, kind = uuid_mode(mysql, postgres) or pair_mode(mysql.family, postgres.family)
    setting = rule.tolerances.get(name) or rule.tolerances.get(name.lower())
    tolerance = Tolerance(setting.absolute, setting.relative) if setting else Tolerance()
    if mode == "float" and tolerance.exact and _binary64(mysql) and _binary64(postgres):
        mode = "double"  # equal doubles have equal bits: they go in the exact sum
    if not tolerance.exact and mode not in ("number", "float", "float32"):
        raise UsageError(
            f"column {name!r} has a tolerance but is not numeric "
            f"(MySQL {mysql.type_name}, PostgreSQL {postgres.type_name})"
        )
    if key and mode not in ("number", "text", "uuid"):
        raise UsageError(
            f"key column {name!r} must be an integer, text or a UUID on both sides "
            f"(MySQL {mysql.type_name}, PostgreSQL {postgres.type_name})"
        )
    if key and mode == "number" and not {mysql.family, postgres.family} <= {"int"}:
        raise UsageError(
            f"key column {name!r} must be an integer, text or a UUID on both sides "
            f"(MySQL {mysql.type_name}, PostgreSQL {postgres.type_name})"
        )
    if key and (mysql.nullable or postgres.nullable):
        engine = "MySQL" if mysql.nullable else "PostgreSQL"
        raise UsageError(
            f"key column {name!r} allows NULL in {engine}: a key with NULLs is not unique "
            "there; name the primary key or a unique key of NOT NULL columns"
        )
    trim = _needs_trim(mysql, postgres)
    return Column(
        name=name,
        mysql=Field(
            mysql.name, mysql.family, mode, mysql.byte_order, mysql.nullable, trim, mysql.utf8
        ),
        postgres=Field(
            postgres.name, postgres.family, mode, postgres.byte_order, postgres.nullable, trim
        ),
        kind=kind,
        tolerance=tolerance,
        loose=mode == "json" or not tolerance.exact or _loose_number(mode, mysql, postgres),
        rule=_with_tolerance(describe(mysql, postgres, mode), tolerance),
    )


def _loose_number(mode: Mode, mysql: SourceColumn, postgres: SourceColumn) -> bool:
    """A float pair prints one token per value on both sides (``sinks.checksums.floats``);
    a float against a DECIMAL or integer does not, so it is summed apart."""
    return mode in ("float", "float32") and not {mysql.family, postgres.family} <= _FLOATS


def _with_tolerance(text: str, tolerance: Tolerance) -> str:
    if tolerance.exact:
        return text
    bounds = [
        f"{label} {bound:g}"
        for label, bound in (("absolute", tolerance.absolute), ("relative", tolerance.relative))
        if bound
    ]
    return f"{text}, within {' or '.join(bounds)}"


def _binary64(column: SourceColumn) -> bool:
    """An IEEE double: MySQL DOUBLE (also REAL, FLOAT(p > 24)), PostgreSQL double precision."""
    return column.family == "float"


def _needs_trim(mysql: SourceColumn, postgres: SourceColumn) -> bool:
    """Whether decimals must drop trailing zeros to read alike: not when both sides print
    the same number of places (DECIMAL(12,2) vs NUMERIC(12,2), or an integer vs scale 0)."""
    scales = {c.scale for c in (mysql, postgres) if c.family == "decimal"}
    if not scales or None in scales:
        return True
    if mysql.family == postgres.family == "decimal":
        return len(scales) != 1
    return scales != {0}


def _check_unique(key: Sequence[str], table: SourceTable, engine: str) -> None:
    wanted = frozenset(name.lower() for name in key)
    if not any(unique <= wanted for unique in table.unique):
        raise UsageError(
            f"key ({', '.join(key)}) is not unique in {engine} table {table.name!r}: "
            "name the columns of its primary key or of a unique key"
        )


def build_spec(
    mysql: SourceTable,
    postgres: SourceTable,
    *,
    key: Sequence[str],
    columns: Sequence[str] | None,
    rule: TableRule,
    need_age: bool,
    rule_name: str = "<table>",
    need_cut: bool = False,
) -> Spec:
    """Pair the two tables' columns; every problem is a UsageError naming the column.

    ``need_cut`` (a consistent diff) requires the source columns on both sides."""
    if not key:
        raise UsageError("give the key column(s) with --key")
    mine, theirs = _index(mysql), _index(postgres)
    ignored = tuple(dict.fromkeys(rule.ignore))
    for name in (*ignored, *rule.tolerances):
        if name.lower() not in mine and name.lower() not in theirs:
            raise UsageError(
                f"the table rule names column {name!r}, which neither MySQL table "
                f"{mysql.name!r} nor PostgreSQL table {postgres.name!r} has"
            )
    lowered_ignored = {name.lower() for name in ignored}
    key_columns = []
    for name in dict.fromkeys(key):
        if name.lower() in lowered_ignored:
            raise UsageError(f"key column {name!r} cannot be ignored")
        pair = (
            _find(name, mine, "MySQL", mysql.name),
            _find(name, theirs, "PostgreSQL", postgres.name),
        )
        key_columns.append(_column(name, *pair, rule, key=True))
    _check_unique(key, mysql, "MySQL")
    _check_unique(key, postgres, "PostgreSQL")
    keyed = {name.lower() for name in key}
    only_mine: tuple[str, ...] = ()
    only_theirs: tuple[str, ...] = ()
    if columns is None:
        names = [c.name for c in mysql.columns if c.name.lower() in theirs]
        only_mine = tuple(
            c.name
            for c in mysql.columns
            if c.name.lower() not in theirs and c.name.lower() not in lowered_ignored
        )
        only_theirs = tuple(
            c.name
            for c in postgres.columns
            if c.name.lower() not in mine and c.name.lower() not in lowered_ignored
        )
    else:
        names = list(dict.fromkeys(columns))
    compared = []
    for name in names:
        if name.lower() in keyed or name.lower() in lowered_ignored:
            continue
        pair = (
            _find(name, mine, "MySQL", mysql.name),
            _find(name, theirs, "PostgreSQL", postgres.name),
        )
        compared.append(_column(name, *pair, rule, key=False))
    age = None
    if need_age:
        if rule.age_column is None:
            raise UsageError(
                "--older-than needs the table's age column: set age_column in "
                f"[tables.rules.{rule_name}] of the configuration"
            )
        young = (
            _find(rule.age_column, mine, "MySQL", mysql.name),
            _find(rule.age_column, theirs, "PostgreSQL", postgres.name),
        )
        if any(column.family != "datetime" for column in young):
            raise UsageError(
                f"age column {rule.age_column!r} must be a DATETIME/TIMESTAMP on both sides "
                f"(MySQL {young[0].type_name}, PostgreSQL {young[1].type_name})"
            )
        age = (young[0].name, young[1].name)
    return Spec(
        mysql_table=mysql.name,
        pg_table=postgres.name,
        key=tuple(key_columns),
        columns=tuple(compared),
        ignored=ignored,
        only_in_mysql=only_mine,
        only_in_postgres=only_theirs,
        age=age,
        source=_source(mine, theirs, mysql, postgres) if need_cut else None,
        mysql_dialect=mysql.dialect,
    )


def _source(
    mine: dict[str, SourceColumn],
    theirs: dict[str, SourceColumn],
    mysql: SourceTable,
    postgres: SourceTable,
) -> tuple[tuple[str, str], tuple[str, str]]:
    """Each side's source columns, integers on both; a UsageError saying what lacks."""
    sides = []
    for columns, engine, table in ((mine, "MySQL", mysql), (theirs, "PostgreSQL", postgres)):
        missing = [name for name in SOURCE_COLUMNS if name not in columns]
        if missing:
            raise UsageError(
                f"--consistent needs the source columns {' and '.join(SOURCE_COLUMNS)} "
                f"(where each row's message came from), and {engine} table {table.name!r} "
                f"has no {' and no '.join(missing)}"
            )
        partition, offset = (columns[name] for name in SOURCE_COLUMNS)
        for column in (partition, offset):
            if column.family != "int":
                raise UsageError(
                    f"--consistent needs an integer {column.name} in {engine} table "
                    f"{table.name!r}, not {column.type_name}"
                )
        sides.append((partition.name, offset.name))
    return sides[0], sides[1]
