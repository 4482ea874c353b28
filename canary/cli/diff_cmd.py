"""``canary diff``: the stream diff of a run (and, later, the tables)."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli.context import progress_printer, settings
from canary.cli.output import emit, report_options
from canary.diff.run import diff_stream
from canary.errors import EXIT_FAILED


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
    help="Wait up to S seconds for the other path's event before a record counts "
    "as missing [default: diff.grace].",
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
@report_options
def stream(
    run_id: str,
    grace: float | None,
    until_idle: float | None,
    no_drill: bool,
    fmt: str,
    out: Path | None,
) -> None:
    """Join both paths' compare events of a run and judge them.

    Every source record is matched, mismatched (different checksums), missing on one
    path, or duplicated (a redelivery). Latency percentiles per path and the P99 gap
    come with a paired confidence interval. Mismatches are explained column by column
    from the rows in MySQL and PostgreSQL. The report is stored (see `canary report`).

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
        progress=(lambda seen, _ours: show(seen)) if show else None,
    )
    emit(report, fmt, out)
    if report["verdict"] != "pass":
        raise SystemExit(EXIT_FAILED)
