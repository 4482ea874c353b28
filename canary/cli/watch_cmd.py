"""``canary watch``: live verification of a running gray release."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from canary.cli.context import settings
from canary.cli.output import emit, report_options
from canary.cli.run_cmd import metrics_options
from canary.core.verdict import require_pass
from canary.diff.live import LiveOptions, watch
from canary.diff.watch import WatchOptions
from canary.paths.runtime import StopFlag, stop_on_signals


@click.command("watch")
@click.option("--run-id", required=True, help="The gray-release run to watch.")
@click.option(
    "--window",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    metavar="S",
    help="Judge a window (and the run so far) every S seconds.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="A record one path has not written is missing only once that path has "
    "committed past it and S seconds have passed since the other wrote it "
    "[default: diff.grace].",
)
@click.option(
    "--until-idle",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="End once no compare event has arrived for S seconds, judging every record "
    "still alone as missing, like `canary diff stream` [default: watch until "
    "SIGINT/SIGTERM].",
)
@click.option(
    "--fail-fast", is_flag=True, help="Exit 1 at the first failing window (a pipeline gate)."
)
@click.option(
    "--alert-url",
    default=None,
    metavar="URL",
    help="POST a JSON alert to URL whenever the run's verdict changes (CONTRACTS §8).",
)
@click.option(
    "--legacy-group",
    default=None,
    metavar="G",
    help="The legacy path's consumer group, whose commits settle missing records "
    "[default: legacy.group].",
)
@click.option(
    "--ring-group",
    default=None,
    metavar="G",
    help="The ring path's consumer group [default: ring.group].",
)
@click.option(
    "--from-start",
    is_flag=True,
    help="Forget this run's checkpoints and read the compare topic from its beginning.",
)
@metrics_options
@report_options
def watch_command(
    run_id: str,
    window: float,
    grace: float | None,
    until_idle: float | None,
    fail_fast: bool,
    alert_url: str | None,
    legacy_group: str | None,
    ring_group: str | None,
    from_start: bool,
    metrics_host: str,
    metrics_port: int | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Verify a running gray release live, window by window, with bounded memory.

    The watcher joins both paths' compare events as they arrive. Every --window seconds
    it judges the window and the run so far with the [diff] thresholds, stores both
    reports (see `canary report`), prints a status line on a terminal, updates the
    metrics and, when the run's verdict changes, posts an alert.

    A record only one path has written waits as pending until the other path's event
    arrives, or until the other path has committed past its source offset (and the
    grace period has passed): then it is missing, exactly, not by a guess on time.

    The join state is checkpointed in PostgreSQL every few seconds: a watcher stopped
    or killed resumes where it was. Several watchers of one run share the compare
    partitions as a consumer group (canary-watch-RUN); each report merges them all.

    On SIGINT/SIGTERM: last window, last checkpoint, the run's report, exit code of
    its verdict. Exit 0 pass, 1 fail (or a failing window with --fail-fast), 2 usage,
    3 a service unreachable at the start.

    \b
    Examples:
      canary watch --run-id r1 --metrics-port 9465 --alert-url http://127.0.0.1:8080/hook
      canary watch --run-id r1 --window 10 --until-idle 30 --format json --out r1.json
    """
    resolved = settings()
    if alert_url is not None and not alert_url.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"{alert_url!r} is not an http:// or https:// URL", param_hint="--alert-url"
        )
    options = LiveOptions(
        watch=WatchOptions(
            run_id=run_id,
            topic=resolved.kafka.compare_topic,
            window_s=window,
            grace_s=resolved.diff.grace if grace is None else grace,
            until_idle=until_idle,
            fail_fast=fail_fast,
            max_samples=resolved.diff.max_samples,
        ),
        legacy_group=legacy_group or resolved.legacy.group,
        ring_group=ring_group or resolved.ring.group,
        alert_url=alert_url,
        metrics_address=None if metrics_port is None else (metrics_host, metrics_port),
        from_start=from_start,
    )
    status = (lambda line: click.echo(f"canary: {line}", err=True)) if sys.stderr.isatty() else None
    stop = StopFlag()
    with stop_on_signals(stop):
        outcome = watch(resolved, options, stop.is_set, status)
    emit(outcome.report, fmt, out)
    if outcome.failed_window is not None:
        require_pass(outcome.failed_window.as_json(), "a window failed")
    require_pass(outcome.report.as_json())
