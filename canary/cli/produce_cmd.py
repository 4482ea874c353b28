"""``canary produce``: synthetic order events for demos, tests and benchmarks."""

from __future__ import annotations

import click

from canary import app
from canary.cli.context import progress_printer, settings


@click.command()
@click.option(
    "--count", "-n", type=click.IntRange(min=1), required=True, help="How many events to publish."
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help="Messages per second; 0 = as fast as possible [default: from config].",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Random seed; the same seed gives the same events [default: from config].",
)
@click.option("--topic", default=None, help="Target topic [default: kafka.source_topic].")
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions when the topic is created [default: kafka.partitions].",
)
@click.option(
    "--keys",
    type=click.IntRange(min=1),
    default=None,
    help="Distinct order ids; events per key = count / keys [default: count / 10].",
)
def produce(
    count: int,
    rate: float | None,
    seed: int | None,
    topic: str | None,
    partitions: int | None,
    keys: int | None,
) -> None:
    """Publish synthetic order events, several versions per order id.

    Each event's key is its order id; the JSON value holds a decimal amount as a
    string, a list of items, a note with non-ASCII text and an event time with
    microseconds. The topic is created when missing.

    \b
    Example:
      canary produce --count 100000 --seed 1
    """
    resolved = settings()
    result = app.produce(
        resolved,
        count=count,
        rate=rate,
        seed=seed,
        topic=topic,
        partitions=partitions,
        keys=keys,
        progress=progress_printer("produced", count),
    )
    click.echo(
        f"produced {result.count:,} events to {result.topic} in {result.seconds:.2f} s "
        f"({result.rate:,.0f} msg/s)"
    )
