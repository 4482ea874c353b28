"""``canary diff``: the stream diff of a run, and a MySQL table against a PostgreSQL one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from canary.cli.context import progress_printer, settings
from canary.cli.output import emit, report_options
from canary.core.report import as_json
from canary.core.verdict import require_pass
from canary.diff.run import diff_stream
from canary.diff.tables.run import diff_tables


@click.group()
def diff() -> None:
    """Compare what the two paths did: their compare events, or their tables."""


@diff.command("stream")
@click.option("--run-id", required=True, help="The gray-release run to judge.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="Allow the other path's event S seconds before a record counts as missing: "
    "the read waits for it, or with --until-idle 0 a record younger than S is "
    "reported pending, not judged [default: diff.grace].",
)
@click.option(
    "--until-idle",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="Stop once no event has arrived for S seconds; 0 = read to the end of the "
    "topic as it is now [default: diff.until_idle].",
)
@click.option(
    "--no-drill", is_flag=True, help="Do not fetch rows from the databases to explain mismatches."
)
@click.option(
    "--ignore-checkpoints",
    is_flag=True,
    help="Read the whole compare topic even where `canary watch` saved its state.",
)
@report_options
def stream(
    run_id: str,
    grace: float | None,
    until_idle: float | None,
    no_drill: bool,
    ignore_checkpoints: bool,
    fmt: str,
    out: Path | None,
) -> None:
    """Join both paths' compare events of a run and judge them.

    Every source record is matched, mismatched (different checksums), missing on one
    path, or duplicated (a redelivery). Latency percentiles per path and the P99 gap
    come with a paired confidence interval. Mismatches are explained column by column
    from the rows in MySQL and PostgreSQL. The report is stored (see `canary report`).

    A run that `canary watch` has checkpointed is joined from the watchers' saved
    states: only the events after them are read.

    With --until-idle 0 a record that only one path has written yet, less than the
    grace period ago, is pending: counted under "pending" in the JSON report, neither
    missing nor judged.

    Exit code 0 when every threshold of [diff] holds, 1 when one is broken.

    \b
    Example:
      canary diff stream --run-id r1 --until-idle 10 --format json --out r1.json
    """
    show = progress_printer("compare events read")
    report = diff_stream(
        settings(),
        run_id=run_id,
        grace=grace,
        until_idle=until_idle,
        drill_down=not no_drill,
        checkpoints=not ignore_checkpoints,
        progress=(lambda seen, _ours: show(seen)) if show else None,
    )
    emit(report, fmt, out)
    require_pass(as_json(report))


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _progress_lines() -> Callable[[str], None] | None:
    """Progress lines on stderr, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    return lambda line: click.echo(f"canary: {line}", err=True)


@diff.command("tables")
@click.option(
    "--table",
    default=None,
    metavar="T",
    help="The table on both sides; also picks its rule in [tables.rules.T].",
)
@click.option("--mysql-table", default=None, metavar="A", help="The MySQL table [default: T].")
@click.option("--pg-table", default=None, metavar="B", help="The PostgreSQL table [default: T].")
@click.option(
    "--key",
    required=True,
    metavar="K[,K2]",
    help="The primary key (or a unique key): one column or several, comma-separated.",
)
@click.option(
    "--columns",
    default=None,
    metavar="C,...",
    help="Compare only these columns [default: every column both tables have].",
)
@click.option(
    "--max-samples",
    type=click.IntRange(min=0, max=10_000),
    default=None,
    metavar="N",
    help="Keys listed per kind of difference [default: tables.max_samples].",
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="Compare only rows whose age column (tables.rules.T.age_column) is older than "
    "S seconds: rows still being written are left out.",
)
@click.option(
    "--recheck/--no-recheck",
    default=None,
    help="Read differing rows again after tables.recheck_delay seconds and count only "
    "those that still differ [default: tables.recheck].",
)
@report_options
def tables(
    table: str | None,
    mysql_table: str | None,
    pg_table: str | None,
    key: str,
    columns: str | None,
    max_samples: int | None,
    older_than: float | None,
    recheck: bool | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Compare a MySQL table with a PostgreSQL table, row by row, by key.

    Both databases checksum key ranges themselves (count and a sum of row hashes over
    a normalized text of each row), so only ranges that differ are narrowed down and
    downloaded. Values that mean the same are equal: DECIMAL 1.50 and NUMERIC 1.5,
    DATETIME holding UTC and TIMESTAMPTZ at the same instant, JSON and JSONB with any
    key order, TINYINT(1) and BOOLEAN, a UUID as CHAR(36)/VARCHAR text (any case) or
    BINARY(16) and PostgreSQL uuid. Floats compare at the coarser precision: FLOAT vs
    REAL as 4-byte floats (a DOUBLE against either is rounded to float32), DOUBLE vs
    DOUBLE PRECISION as 8-byte ones. Text is exact: case, trailing spaces and NULL vs
    empty string are differences. Numbers are equal within the tolerances of
    [tables.rules.T]; columns listed in its `ignore` are not compared. The report says
    how each column was compared (`rules`).

    Rows are only in MySQL, only in PostgreSQL, or different (with each differing
    column's two values and a likely cause). The report is stored (see `canary report`).

    Exit code 0 when the tables hold the same rows, 1 when they differ.

    \b
    Examples:
      canary diff tables --table orders --key order_id
      canary diff tables --mysql-table orders --pg-table orders_v2 --key region,id \\
          --columns amount,status --older-than 60 --format json --out diff.json
    """
    report = diff_tables(
        settings(),
        table=table,
        mysql_table=mysql_table,
        pg_table=pg_table,
        key=_names(key) or [],
        columns=_names(columns),
        max_samples=max_samples,
        older_than=older_than,
        recheck=recheck,
        progress=_progress_lines(),
    )
    emit(report, fmt, out)
    require_pass(report)
