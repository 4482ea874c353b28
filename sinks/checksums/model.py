"""The types of the table diff's reads: columns as described, fields, plans, the port."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

from canary.core.segments import Key, Range, Summary
from sinks import ddl

# "float" is an 8-byte float (DOUBLE, DOUBLE PRECISION), "float4" a 4-byte one (FLOAT, REAL).
Family: TypeAlias = Literal[
    "int",
    "bool",
    "bit",
    "decimal",
    "float",
    "float4",
    "text",
    "bytes",
    "date",
    "datetime",
    "json",
    "uuid",
    "other",
]
# "float"/"float32": numbers compared as 8-byte/4-byte floats; "double": two 8-byte floats
# without a tolerance, summed by their IEEE bits; "uuid": by UUID value.
Mode: TypeAlias = Literal[
    "number",
    "bool",
    "text",
    "bytes",
    "date",
    "datetime",
    "json",
    "float",
    "float32",
    "double",
    "uuid",
    "astext",
]
# The MySQL-compatible server a plan's SQL is written for (``describe_mysql`` finds it).
Dialect: TypeAlias = ddl.Dialect
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
    dialect: Dialect = "mariadb"  # of a MySQL-compatible table; PostgreSQL ignores it


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
class SourceCut:
    """Only rows below a cut count: ``offset < cut`` of the row's ``partition``.

    ``settled`` lists the partitions with a cut above 0; a row of any other partition,
    or with a NULL source column, is at or past the cut (``canary.core.cut``)."""

    partition: str  # the column naming the row's source partition
    offset: str  # the column naming the row's source offset
    settled: tuple[tuple[int, int], ...]  # (partition, cut), cut > 0


@dataclass(frozen=True, slots=True)
class Plan:
    """What to read from one side's table."""

    table: str
    key: tuple[Field, ...]
    exact: tuple[Field, ...]
    loose: tuple[Field, ...]
    age: str | None = None  # column compared with the cutoff: only older rows count
    cut: SourceCut | None = None  # with one, every read but the in-flight ones stays below it
    dialect: Dialect = "mariadb"  # the MySQL side's server; PostgreSQL ignores it


class Queries(Protocol):
    """The reads of one side; every method takes that side's connection.

    With a cut in the plan, summaries, cut points and row reads see only the rows below
    it; ``in_flight`` and ``in_flight_keys`` see only the others (and need a cut)."""

    def summarize(
        self, connection: Any, rng: Range, cutoff: datetime | None, *, loose: bool = True
    ) -> Summary:
        """Count and sums of ``rng``; without ``loose`` the loose sum is not computed
        (``None``) when the plan has loose columns."""
        ...

    def summarize_pieces(
        self,
        connection: Any,
        rng: Range,
        cutoff: datetime | None,
        cuts: Sequence[int],
        *,
        loose: bool = True,
    ) -> list[Summary]:
        """For a single integer key: the summaries of the pieces of ``rng`` cut at the
        sorted ``cuts`` (all inside it), in one pass: each as ``summarize`` gives it."""
        ...

    def key_bounds(self, connection: Any) -> tuple[int | None, int | None]:
        """The smallest and largest value of a single integer key (None: no rows)."""
        ...

    def cuts(self, connection: Any, rng: Range, cutoff: datetime | None, step: int) -> list[Key]:
        """The key of every ``step``-th row of ``rng`` in key order."""
        ...

    def rows(
        self,
        connection: Any,
        rng: Range,
        cutoff: datetime | None,
        *,
        loose_only: bool,
        exact_only: bool = False,
    ) -> Iterator[Row]:
        """Key values then column values (exact then loose, loose only, or exact only), in
        key order."""
        ...

    def rows_for(self, connection: Any, keys: Sequence[Key], cutoff: datetime | None) -> list[Row]:
        """Like ``rows`` with every column, for the given keys, in no particular order."""
        ...

    def in_flight(self, connection: Any, keys: Sequence[Key]) -> list[Key]:
        """Those of ``keys`` whose row here is at or past the plan's cut (whatever its age)."""
        ...

    def in_flight_keys(self, connection: Any) -> Iterator[Key]:
        """Every key whose row here is at or past the plan's cut, in key order."""
        ...
