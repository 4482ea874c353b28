"""``canary report``: the report store."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli.context import settings
from canary.cli.output import emit, report_options
from canary.errors import UsageError
from canary.render.text import table
from sinks import postgres, reports


@click.group()
def report() -> None:
    """Reports stored by `canary diff`, `canary verify`, `canary watch` and scheduled jobs."""


@report.command("list")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many of the newest reports to list.",
)
@click.option(
    "--kind",
    type=click.Choice(["stream", "tables", "verify"]),
    default=None,
    help="Only reports of this kind.",
)
def list_reports(limit: int, kind: str | None) -> None:
    """The newest reports first: id, kind, run, verdict, time."""
    resolved = settings().postgres
    with postgres.connect(resolved) as connection, postgres.translated(resolved):
        found = reports.recent(connection, resolved.report_schema, limit, kind)
    if not found:
        click.echo("no reports yet: run `canary diff stream --run-id ID` first")
        return
    rows = [
        (r.id, r.kind, r.run_id or "", r.verdict.upper(), f"{r.created_at:%Y-%m-%d %H:%M:%S}")
        for r in found
    ]
    click.echo("\n".join(table(rows, header=("id", "kind", "run", "verdict", "created"))))


@report.command("show")
@click.argument("report_id")
@report_options
def show(report_id: str, fmt: str, out: Path | None) -> None:
    """Print one stored report as text, JSON (CONTRACTS §7) or one self-contained HTML
    file with a latency chart.

    \b
    Example:
      canary report show stream-r1-20261126T120000000000 --format html --out r1.html
    """
    resolved = settings().postgres
    with postgres.connect(resolved) as connection, postgres.translated(resolved):
        found = reports.load(connection, resolved.report_schema, report_id)
    if found is None:
        raise UsageError(f"no report {report_id!r}: `canary report list` shows the stored ones")
    emit(found.body, fmt, out)
