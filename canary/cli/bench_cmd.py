"""``canary bench``: the side-by-side benchmark of the two paths."""

from __future__ import annotations

from pathlib import Path

import click

from canary.bench.suite import BenchOptions, run_bench
from canary.cli.context import settings
from canary.cli.output import emit, report_options


@click.command()
@click.option(
    "--messages",
    "-n",
    type=click.IntRange(min=1000),
    default=50_000,
    show_default=True,
    help="Events for the throughput runs.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Partitions of the benchmark topics.",
)
@click.option(
    "--load",
    type=click.FloatRange(min=10),
    default=1_000.0,
    show_default=True,
    help="Messages per second during the latency and rebalance runs.",
)
@click.option(
    "--load-seconds",
    type=click.FloatRange(min=3),
    default=15.0,
    show_default=True,
    help="How long the fixed load lasts.",
)
@click.option("--no-stall", is_flag=True, help="Skip the rebalance-stall runs.")
@report_options
def bench(
    messages: int,
    partitions: int,
    load: float,
    load_seconds: float,
    no_stall: bool,
    fmt: str,
    out: Path | None,
) -> None:
    """Measure both paths on this machine, in one run, and print the figures.

    Throughput of legacy, ring and a classic consumer writing to PostgreSQL (each
    alone, on the same topic); the limits (consuming alone, each database's batched
    upsert rate); p50/p99 latency of both paths side by side under a fixed load; peak
    memory; and how long unmoved partitions stall when a second member joins. Compare
    figures as ratios within one run: the machine is shared and noisy.

    \b
    Example:
      canary bench --messages 100000 --format json --out bench.json
    """
    options = BenchOptions(
        messages=messages,
        partitions=partitions,
        load=load,
        load_seconds=load_seconds,
        stall=not no_stall,
    )
    report = run_bench(settings(), options, lambda line: click.echo(line, err=True))
    emit(report, fmt, out)
