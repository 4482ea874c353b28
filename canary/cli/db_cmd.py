"""``canary db``: create the sink tables and the report store."""

from __future__ import annotations

import click

from canary import app
from canary.cli.context import settings


@click.group()
def db() -> None:
    """Database set-up for both sinks."""


@db.command("init")
def init() -> None:
    """Create the orders tables in MySQL and PostgreSQL, the offsets table of the ring
    path and the report store. Safe to run again: nothing existing is changed."""
    resolved = settings()
    result = app.init_databases(resolved)
    click.echo(
        f"MySQL      {resolved.mysql.address}/{resolved.mysql.database}: "
        f"table {result.mysql_table} ready"
    )
    click.echo(
        f"PostgreSQL {resolved.postgres.address}/{resolved.postgres.database}: "
        f"tables {result.postgres_table}, {result.offsets_table} and schema "
        f"{result.report_schema} ready"
    )
