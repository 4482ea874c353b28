"""``canary demo``: a gray release end to end on the local services."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli.context import settings
from canary.cli.output import emit, report_options
from canary.core.verdict import require_pass
from canary.demo import DemoOptions, run_demo


@click.command()
@click.option(
    "--count",
    "-n",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Order events to produce.",
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
@report_options
def demo(count: int, divergence: float, workers: int | None, fmt: str, out: Path | None) -> None:
    """Run a whole gray release on the local services in a few minutes.

    Creates the tables, produces order events to a fresh topic, runs the legacy and
    the ring path side by side until both are idle, then diffs them and stores the
    report. Exit code 0 when the ring path matches, 1 when it diverges.

    \b
    Examples:
      canary demo                          # expect PASS
      canary demo --inject-divergence 0.01 # expect FAIL, with every injected record
    """
    options = DemoOptions(count=count, divergence=divergence, workers=workers)
    report = run_demo(settings(), options, lambda line: click.echo(line, err=True))
    emit(report, fmt, out)
    require_pass(report)
