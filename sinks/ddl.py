"""The ``orders`` table's DDL for each engine, and identifiers quoted for each."""

from __future__ import annotations

from canary.core.schema import COLUMNS, KEY


def mysql_name(name: str) -> str:
    """``name`` as a MySQL identifier: any case or reserved word survives."""
    return "`" + name.replace("`", "``") + "`"


def postgres_name(name: str) -> str:
    """``name`` as a PostgreSQL identifier: case is kept and reserved words are fine."""
    return '"' + name.replace('"', '""') + '"'


def mysql_ddl(table: str) -> str:
    columns = ",\n  ".join(f"{mysql_name(c.name)} {c.mysql}" for c in COLUMNS)
    # utf8mb4_bin: text compares exactly, as the comparison rules demand (case and
    # trailing spaces are differences), and emoji survive.
    return (
        f"CREATE TABLE IF NOT EXISTS {mysql_name(table)} (\n  {columns},\n"
        f"  PRIMARY KEY ({mysql_name(KEY)})\n)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )


def postgres_ddl(table: str) -> str:
    columns = ",\n  ".join(f"{postgres_name(c.name)} {c.postgres}" for c in COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {postgres_name(table)} (\n  {columns},\n"
        f"  PRIMARY KEY ({postgres_name(KEY)})\n)"
    )
