"""``canary bench``: the side-by-side benchmark of the two paths."""

from __future__ import annotations

from pathlib import Path

import click

from canary.bench.suite import BenchOptions, run_bench
from canary.cli.context import settings
from canary.cli.output import emit, report_options


def _rates(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
    if not rates or min(rates) < 10:
        raise click.BadParameter("give one or more loads, each at least 10 msg/s")
    return rates


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
    help="Messages per second during the rebalance runs and for latency_ms (both "
    "paths side by side; taken from --loads when it is one of them).",
)
@click.option(
    "--loads",
    callback=_rates,
    default="1000,5000",
    show_default=True,
    help="Comma-separated loads (msg/s) of latency_points: at each, ring alone, "
    "legacy alone and both side by side, each on a fresh topic.",
)
@click.option(
    "--load-seconds",
    type=click.FloatRange(min=3),
    default=15.0,
    show_default=True,
    help="How long the fixed load lasts.",
)
@click.option("--no-stall", is_flag=True, help="Skip the rebalance runs (their figures are 0).")
@report_options
def bench(
    messages: int,
    partitions: int,
    load: float,
    loads: tuple[float, ...],
    load_seconds: float,
    no_stall: bool,
    fmt: str,
    out: Path | None,
) -> None:
    """Measure both paths on this machine, in one run, and print the figures.

    Throughput of legacy, ring and a classic consumer writing to PostgreSQL (each
    alone, on the same topic); the limits (consuming alone, each database's batched
    upsert rate) and each path's share of its database's limit; p50/p99 latency at
    each of --loads, each path alone and both side by side; peak memory of the
    process and of its whole process tree, and the ring's peak of buffered bytes; and
    how long unmoved partitions stall when a second member joins and when it leaves,
    against a quiet stretch of equal length before either (each of the three phases
    lasts a third of --load-seconds, at least 6 s). Compare figures as ratios within
    one run: the machine is shared and noisy. A path that cannot keep up with a load
    drains its backlog after the load ends, and that wait is in its latency.

    \b
    Example:
      canary bench --messages 100000 --format json --out bench.json
      canary bench --messages 5000 --loads 300,600 --load 300 --load-seconds 6
    """
    options = BenchOptions(
        messages=messages,
        partitions=partitions,
        load=load,
        loads=loads,
        load_seconds=load_seconds,
        stall=not no_stall,
    )
    report = run_bench(settings(), options, lambda line: click.echo(line, err=True))
    emit(report, fmt, out)
