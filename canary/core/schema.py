"""The ``orders`` table: its columns in both engines' natural types, and the rows written to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    mysql: str
    postgres: str
    kind: str  # how comparators.values compares it across the engines


KEY = "order_id"
VERSION = "version"
# The handler's columns, then where the row came from. A handler returns a mapping
# with every name of HANDLER_COLUMNS; the sink adds the source columns.
COLUMNS: tuple[Column, ...] = (
    Column("order_id", "BIGINT NOT NULL", "BIGINT NOT NULL", "int"),
    Column("user_id", "BIGINT NOT NULL", "BIGINT NOT NULL", "int"),
    Column("amount", "DECIMAL(12,2) NOT NULL", "NUMERIC(12,2) NOT NULL", "decimal"),
    Column("currency", "VARCHAR(8) NOT NULL", "TEXT NOT NULL", "text"),
    Column("status", "VARCHAR(32) NOT NULL", "TEXT NOT NULL", "text"),
    Column("items", "JSON NOT NULL", "JSONB NOT NULL", "json"),
    Column("note", "TEXT NULL", "TEXT NULL", "text"),
    Column("event_time", "DATETIME(6) NOT NULL", "TIMESTAMPTZ NOT NULL", "datetime"),
    Column("version", "BIGINT NOT NULL", "BIGINT NOT NULL", "int"),
    Column("src_partition", "INT NOT NULL", "INTEGER NOT NULL", "int"),
    Column("src_offset", "BIGINT NOT NULL", "BIGINT NOT NULL", "int"),
)
NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
HANDLER_COLUMNS: tuple[str, ...] = NAMES[:-2]
KINDS: dict[str, str] = {column.name: column.kind for column in COLUMNS}
UPDATABLE: tuple[str, ...] = tuple(name for name in NAMES if name not in (KEY, VERSION))


@dataclass(frozen=True, slots=True)
class SinkRow:
    """A handler row plus the source coordinate of the message it came from."""

    values: Mapping[str, Any]
    partition: int
    offset: int

    def ordered(self) -> list[Any]:
        """Values in COLUMNS order; a missing handler column is a KeyError naming it."""
        return [*(self.values[name] for name in HANDLER_COLUMNS), self.partition, self.offset]
