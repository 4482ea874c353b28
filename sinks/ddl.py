"""The ``orders`` table's DDL for each engine, and identifiers quoted for each."""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

from canary.core.schema import COLUMNS, KEY

# The MySQL-compatible server some SQL is written for: the two differ in JSON storage,
# dynamic columns and upsert syntax.
Dialect: TypeAlias = Literal["mariadb", "mysql"]


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


def server_dialect(version: str) -> Dialect:
    """The dialect of a server from its ``VERSION()`` text (``10.11.6-MariaDB-…``, ``8.0.36``)."""
    return "mariadb" if "mariadb" in version.lower() else "mysql"


def row_alias_upserts(version: str) -> bool:
    """Whether the server takes ``INSERT … AS new ON DUPLICATE KEY UPDATE c = new.c``:
    MySQL from 8.0.19 on, where ``VALUES(c)`` is deprecated; never MariaDB."""
    if server_dialect(version) == "mariadb":
        return False
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return found is not None and tuple(int(part) for part in found.groups()) >= (8, 0, 19)
