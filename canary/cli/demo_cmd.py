"""``canary demo``: a gray release end to end on the local services."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli.context import settings
from canary.cli.output import emit, report_options, write
from canary.demo.run import DemoOptions, run_demo

_DEFAULTS = DemoOptions(count=30_000)


@click.command()
@click.option(
    "--count",
    "-n",
    type=click.IntRange(min=1),
    default=_DEFAULTS.count,
    show_default=True,
    help="Order events to produce.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=_DEFAULTS.rate,
    show_default=True,
    help="Steady production rate in messages per second, one both paths sustain "
    "(0 = as fast as possible: a backlog, no burst).",
)
@click.option(
    "--burst",
    "burst_seconds",
    type=click.FloatRange(min=0),
    default=_DEFAULTS.burst_seconds,
    show_default=True,
    metavar="SECONDS",
    help="Length of the one burst, sent once 30 % of the events are out (0 = none).",
)
@click.option(
    "--burst-factor",
    type=click.FloatRange(min=1),
    default=_DEFAULTS.burst_factor,
    show_default=True,
    help="How many times the steady rate the burst sends.",
)
@click.option(
    "--inject-divergence",
    "divergence",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="RATE",
    help="Share of order ids on which the ring path's handler diverges on purpose "
    "(rounding, a time-zone slip, dropped records), e.g. 0.01.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Most ring workers [default: ring.workers].",
)
@click.option(
    "--table",
    default=_DEFAULTS.table,
    show_default=True,
    help="The demo's tables, in MySQL and PostgreSQL (created if missing, emptied first).",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also write the report as a self-contained HTML page to FILE.",
)
@report_options
def demo(
    count: int,
    rate: float,
    burst_seconds: float,
    burst_factor: float,
    divergence: float,
    workers: int | None,
    table: str,
    html_out: Path | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Run a whole gray release on the local services in about two minutes.

    Creates the tables and a fresh topic, starts the legacy and the ring path as
    processes, and produces order events at a steady rate both paths sustain, with one
    burst: every few seconds a line shows how far behind each path is. While they
    consume it runs the consistent table diff (it must pass mid-run, with keys in
    flight). Once both paths are idle, the verify gate runs the stream diff and the
    consistent table diff; the report (stored, see `canary report`) holds both and what
    the demo saw. With --inject-divergence the demo also says how many records were
    injected and how many each diff found: exactly those.

    Exit code as `canary verify`: 0 pass, 1 a check failed, 2 usage or configuration,
    3 a service could not be reached.

    \b
    Examples:
      canary demo                              # expect PASS
      canary demo --inject-divergence 0.01     # expect FAIL, with every injected record
      canary demo --html demo.html             # the report as a page, both verdicts
    """
    options = DemoOptions(
        count=count,
        rate=rate,
        burst_seconds=burst_seconds,
        burst_factor=burst_factor,
        divergence=divergence,
        workers=workers,
        table=table,
    )
    report = run_demo(settings(), options, lambda line: click.echo(line, err=True))
    emit(report, fmt, out)
    if html_out is not None:
        write(report, "html", html_out)
    error = report.failure()
    if error is not None:
        raise error
