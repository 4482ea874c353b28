"""The report store: every verdict canary reaches, kept in a PostgreSQL schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: str
    kind: str
    run_id: str | None
    verdict: str
    created_at: datetime
    body: dict[str, Any]


def _table(schema: str) -> sql.Composed:
    return sql.SQL("{}.reports").format(sql.Identifier(schema))


def save(connection: psycopg.Connection[Any], schema: str, report: dict[str, Any]) -> None:
    """Insert ``report`` (which carries its own ``id``), or replace one with that id."""
    query = sql.SQL(
        "INSERT INTO {} (id, kind, run_id, verdict, body) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET verdict = EXCLUDED.verdict, body = EXCLUDED.body, "
        "created_at = now()"
    ).format(_table(schema))
    with connection.transaction():
        connection.execute(
            query,
            (report["id"], report["kind"], report.get("run_id"), report["verdict"], Jsonb(report)),
        )


def recent(
    connection: psycopg.Connection[Any], schema: str, limit: int = 50, kind: str | None = None
) -> list[StoredReport]:
    """The newest reports first."""
    where = sql.SQL("WHERE kind = %s") if kind else sql.SQL("")
    query = sql.SQL(
        "SELECT id, kind, run_id, verdict, created_at, body FROM {} {} "
        "ORDER BY created_at DESC, id LIMIT %s"
    ).format(_table(schema), where)
    params: tuple[Any, ...] = (kind, limit) if kind else (limit,)
    with connection.transaction():
        rows = connection.execute(query, params).fetchall()
    return [StoredReport(*row) for row in rows]


def load(connection: psycopg.Connection[Any], schema: str, report_id: str) -> StoredReport | None:
    query = sql.SQL(
        "SELECT id, kind, run_id, verdict, created_at, body FROM {} WHERE id = %s"
    ).format(_table(schema))
    with connection.transaction():
        row = connection.execute(query, (report_id,)).fetchone()
    return StoredReport(*row) if row else None
