"""``canary diff``: the stream diff of a run, and a MySQL table against a PostgreSQL one."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli.context import progress_lines, progress_printer, settings
from canary.cli.diff_options import cut_options, names, stream_options, table_options
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
@stream_options
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


@diff.command("tables")
@table_options(table_default="", key_required=True)
@click.option(
    "--consistent",
    is_flag=True,
    help="Compare only the rows below the cut: per source partition, the smaller of the "
    "two paths' committed offsets; keys at or past it are counted as in flight.",
)
@cut_options
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
    consistent: bool,
    topic: str | None,
    legacy_group: str | None,
    ring_group: str | None,
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

    During a live release the two paths never stand at the same offset: with
    --consistent only rows both paths must agree on are compared. Per source partition
    the cut is the smaller of the two paths' committed offsets (legacy: its consumer
    group's Kafka commits; ring: its offsets table); a key whose row on either side
    comes from at or past the cut is in flight, counted and sampled, not compared. Both
    tables need the columns src_partition and src_offset.

    Exit code 0 when the tables hold the same rows, 1 when they differ.

    \b
    Examples:
      canary diff tables --table orders --key order_id
      canary diff tables --table orders --key order_id --consistent
      canary diff tables --mysql-table orders --pg-table orders_v2 --key region,id \\
          --columns amount,status --older-than 60 --format json --out diff.json
    """
    report = diff_tables(
        settings(),
        table=table,
        mysql_table=mysql_table,
        pg_table=pg_table,
        key=names(key) or [],
        columns=names(columns),
        max_samples=max_samples,
        older_than=older_than,
        recheck=recheck,
        consistent=consistent,
        topic=topic,
        legacy_group=legacy_group,
        ring_group=ring_group,
        progress=progress_lines(),
    )
    emit(report, fmt, out)
    require_pass(as_json(report))
