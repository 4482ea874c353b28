"""``canary run``: the two consumer paths under comparison."""

from __future__ import annotations

import logging

import click

from canary import app
from canary.cli.context import settings
from canary.paths.runtime import RunSummary, StopFlag, stop_on_signals

_RUN_ID = click.option("--run-id", required=True,
                       help="Gray-release run id stamped on every compare event.")
_TOPIC = click.option("--topic", default=None, help="Source topic [default: kafka.source_topic].")
_IDLE = click.option("--until-idle", type=click.FloatRange(min=0), default=None, metavar="S",
                     help="Stop once nothing new has arrived for S seconds [default: run until "
                          "SIGINT/SIGTERM].")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log assignments and progress to stderr.")
def run(verbose: bool) -> None:
    """Run one consumer path on the source topic.

    Both paths write every message durably, then publish a compare event (the
    checksum of the row) to the compare topic; offsets are committed only after
    that. SIGINT/SIGTERM finish the work in hand, commit and leave the group.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")


@run.command("legacy")
@_RUN_ID
@_TOPIC
@click.option("--group", default=None, help="Consumer group [default: legacy.group].")
@_IDLE
def legacy(run_id: str, topic: str | None, group: str | None, until_idle: float | None) -> None:
    """The legacy path: a classic consumer-group member writing to MySQL.

    \b
    Example:
      canary run legacy --run-id r1 --until-idle 10
    """
    stop = StopFlag()
    with stop_on_signals(stop):
        summary = app.run_legacy(settings(), run_id=run_id, topic=topic, group=group,
                                 until_idle=until_idle, stop=stop)
    _print(summary)


def _print(summary: RunSummary) -> None:
    for line in summary.lines():
        click.echo(line)
