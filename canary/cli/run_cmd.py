"""``canary run``: the two consumer paths under comparison."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from canary import app
from canary.cli.context import settings
from canary.paths.runtime import RunSummary, StopFlag, stop_on_signals

F = TypeVar("F", bound=Callable[..., Any])

_RUN_ID = click.option(
    "--run-id", required=True, help="Gray-release run id stamped on every compare event."
)
_TOPIC = click.option("--topic", default=None, help="Source topic [default: kafka.source_topic].")
_IDLE = click.option(
    "--until-idle",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="Stop once the group has caught up (its committed offsets at the end of every "
    "partition of the topic) and nothing new has arrived for S seconds; while partitions "
    "lag or have no owner the path goes on [default: run until SIGINT/SIGTERM].",
)
_MAX_OUTAGE = click.option(
    "--max-outage",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="Exit 3 when a service (the database, Kafka) stays away longer than S seconds "
    "[default: wait for it forever].",
)
_METRICS_PORT = click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=None,
    metavar="P",
    help="Serve Prometheus metrics at http://HOST:P/metrics [default: no endpoint].",
)
_METRICS_HOST = click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="Address the metrics endpoint listens on.",
)


def metrics_options(function: F) -> F:
    """``--metrics-host`` and ``--metrics-port``, as every long-running command has."""
    return _METRICS_HOST(_METRICS_PORT(function))


def _address(host: str, port: int | None) -> tuple[str, int] | None:
    return None if port is None else (host, port)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log assignments and progress to stderr.")
def run(verbose: bool) -> None:
    """Run one consumer path on the source topic.

    Both paths write every message durably, then publish a compare event (the
    checksum of the row) to the compare topic; offsets are committed only after
    that. SIGINT/SIGTERM finish the work in hand, commit and leave the group.

    A database or broker that goes away is waited out (retries with backoff, one log
    line when it goes and one when it is back); a row the database refuses, like a
    message the handler refuses, goes to the dead-letter topic with the reason.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )


@run.command("legacy")
@_RUN_ID
@_TOPIC
@click.option("--group", default=None, help="Consumer group [default: legacy.group].")
@_IDLE
@_MAX_OUTAGE
@_METRICS_PORT
@_METRICS_HOST
def legacy(
    run_id: str,
    topic: str | None,
    group: str | None,
    until_idle: float | None,
    max_outage: float | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """The legacy path: a classic consumer-group member writing to MySQL.

    At-least-once: a message's offset is committed after its row is committed in
    MySQL and its compare event is acknowledged by Kafka; a redelivered message is
    rewritten as a no-op (version-guarded upsert) and shows as a duplicate in the diff.

    \b
    Example:
      canary run legacy --run-id r1 --until-idle 10 --metrics-port 9465
    """
    stop = StopFlag()
    with stop_on_signals(stop):
        summary = app.run_legacy(
            settings(),
            run_id=run_id,
            topic=topic,
            group=group,
            until_idle=until_idle,
            stop=stop,
            max_outage=max_outage,
            metrics_address=_address(metrics_host, metrics_port),
        )
    _print(summary)


def _print(summary: RunSummary) -> None:
    for line in summary.lines():
        click.echo(line)


def _power_of_two(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and (value < 2 or value & (value - 1)):
        raise click.BadParameter(f"must be a power of two (e.g. 65536), got {value}")
    return value


@run.command("ring")
@_RUN_ID
@_TOPIC
@click.option("--group", default=None, help="Consumer group [default: ring.group].")
@_IDLE
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=1024),
    default=None,
    help="Most worker threads; the pool scales between ring.min_workers and this "
    "[default: ring.workers, 0 = 2 x CPU cores].",
)
@click.option(
    "--ring-capacity",
    type=int,
    default=None,
    callback=_power_of_two,
    help="Records buffered per partition before it is paused; a power of two "
    "[default: ring.ring_capacity].",
)
@_MAX_OUTAGE
@_METRICS_PORT
@_METRICS_HOST
def ring(
    run_id: str,
    topic: str | None,
    group: str | None,
    until_idle: float | None,
    workers: int | None,
    ring_capacity: int | None,
    max_outage: float | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """The ring path: one fetcher, bounded per-partition ring buffers and a worker pool
    writing to PostgreSQL, exactly once.

    Records of one key are processed in offset order, different keys in parallel.

    \b
    Exactly-once *effect* in PostgreSQL rests on three things:
      1. each batch is one transaction holding its rows AND the next offset of its
         partitions (table postgres.offsets_table);
      2. on assignment the path starts each partition at that stored offset, not at
         Kafka's committed one;
      3. the upsert is version-guarded, so a record applied again (a batch that
         committed just before a crash) changes nothing.
    Compare events are at-least-once: after a crash some are published again and the
    stream diff counts them as duplicates, never as mismatches.

    \b
    Example:
      canary run ring --run-id r1 --until-idle 10 --workers 4 --metrics-port 9464
    """
    resolved = settings()
    options = app.ring_options(
        resolved,
        run_id=run_id,
        topic=topic,
        group=group,
        until_idle=until_idle,
        workers=workers,
        ring_capacity=ring_capacity,
        max_outage=max_outage,
    )
    stop = StopFlag()
    with stop_on_signals(stop):
        path = app.run_ring(
            resolved, options, stop, metrics_address=_address(metrics_host, metrics_port)
        )
    previous = path.resumed_from
    if previous is not None and previous.offsets:
        offsets = ", ".join(f"p{p}@{o}" for p, o in sorted(previous.offsets.items()))
        click.echo(
            f"ring run {run_id}: the previous run's checkpoint stood at {offsets} "
            "(the path resumed from the offsets stored in PostgreSQL)"
        )
    _print(path.summary)
    click.echo(f"  peak workers   {path.pool_stats.peak_workers:>12,}")
    click.echo(f"  partition pauses {path.pauses:>10,}")
    click.echo(f"  peak buffered  {path.peak_bytes / 1e6:>12.1f} MB")
