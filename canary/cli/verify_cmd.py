"""``canary verify``: one gate over the stream diff and the consistent table diff of a run."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli.context import progress_lines, settings
from canary.cli.diff_options import cut_options, names, stream_options, table_options
from canary.cli.output import emit, report_options
from canary.diff.verify import verify_run


@click.command("verify")
@click.option("--run-id", required=True, help="The gray-release run to judge.")
@stream_options
@table_options(table_default=" [default: mysql.table and postgres.table]", key_required=False)
@cut_options
@report_options
def verify(
    run_id: str,
    grace: float | None,
    until_idle: float | None,
    no_drill: bool,
    ignore_checkpoints: bool,
    table: str | None,
    mysql_table: str | None,
    pg_table: str | None,
    key: str | None,
    columns: str | None,
    max_samples: int | None,
    older_than: float | None,
    recheck: bool | None,
    topic: str | None,
    legacy_group: str | None,
    ring_group: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Gate a release on both checks of a run: one verdict, one exit code.

    Runs the stream diff of the run (as `canary diff stream`) and the consistent diff
    of its tables (as `canary diff tables --consistent`; by default the configured
    orders tables by order_id), then judges them together. The stream diff compares
    what each path's handler computed for every record; the table diff what the
    databases hold at the cut. When they disagree the report says what that means:
    stream PASS with tables FAIL points at the database side (a trigger, a tie-break,
    a truncation, a collation), not at the handlers. One report holds both checks'
    reports; it is stored (see `canary report`).

    Exit code: the worst of the two checks: 0 both pass, 1 a check failed, 2 a usage or
    configuration error, 3 a service could not be reached.

    \b
    Examples:
      canary verify --run-id r1 --until-idle 10
      canary verify --run-id r1 --table orders --key order_id --format html --out r1.html
    """
    report = verify_run(
        settings(),
        run_id=run_id,
        grace=grace,
        until_idle=until_idle,
        drill_down=not no_drill,
        checkpoints=not ignore_checkpoints,
        table=table,
        mysql_table=mysql_table,
        pg_table=pg_table,
        key=names(key),
        columns=names(columns),
        max_samples=max_samples,
        older_than=older_than,
        recheck=recheck,
        topic=topic,
        legacy_group=legacy_group,
        ring_group=ring_group,
        progress=progress_lines(),
    )
    emit(report, fmt, out)
    error = report.failure()
    if error is not None:
        raise error
