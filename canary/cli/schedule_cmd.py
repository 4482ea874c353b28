"""``canary schedule``: the diff jobs of ``[schedule]``, listed, run once, or run on time."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from canary.cli.context import progress_printer, settings
from canary.cli.output import emit
from canary.config import Settings
from canary.core.verdict import require_pass
from canary.errors import UsageError
from canary.paths.runtime import StopFlag, stop_on_signals
from canary.render.text import table
from canary.schedule.execute import run_job
from canary.schedule.jobs import JobSpec, build_specs, describe, find, next_run, target
from canary.schedule.runner import JobFunction, Outcome, run_schedule

_TIME = "%Y-%m-%d %H:%M:%S %Z"


@click.group()
def schedule() -> None:
    """Run diffs on a timetable: the jobs of [schedule] in the configuration.

    Each job is a `diff stream` of one run (kind "stream"), a `diff tables` of one
    table pair (kind "tables", with `consistent = true` for --consistent) or a `verify`
    of one run (kind "verify"), on an interval (seconds) or a cron line read in
    schedule.timezone (default UTC). Every run's report goes to the report store (see
    `canary report list`).

    \b
    [schedule]
    timezone = "UTC"
    [[schedule.jobs]]
    name = "orders-tables"
    kind = "tables"
    cron = "*/15 * * * *"
    table = "orders"
    key = ["order_id"]
    """


@schedule.command("list")
def list_jobs() -> None:
    """The configured jobs: kind, trigger, next run time and what each compares."""
    resolved = settings()
    zone = ZoneInfo(resolved.schedule.timezone)
    now = datetime.now(zone)
    specs = build_specs(resolved, now)
    if not specs:
        click.echo(f"no job is configured: add [[schedule.jobs]] to {resolved.source}")
        return
    rows = [
        (spec.name, spec.kind, describe(spec.job), _when(next_run(spec, now)), target(spec.job))
        for spec in specs
    ]
    header = ("job", "kind", "trigger", "next run", "compares")
    click.echo("\n".join(table(rows, header=header)))


@schedule.command("run")
@click.argument("job_name", metavar="JOB")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default=None,
    help="Also print the whole report in this format [default: a summary line only].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the whole report to FILE (as --format, default text).",
)
def run_now(job_name: str, fmt: str | None, out: Path | None) -> None:
    """Run the job JOB once, now, and print its report's id and verdict.

    Exit code 0 when the verdict is pass, 1 when it is fail, 2 for an unknown job.

    \b
    Example:
      canary schedule run orders-tables
    """
    resolved = settings()
    job = find(resolved, job_name)
    build_specs(resolved, datetime.now(ZoneInfo(resolved.schedule.timezone)))
    show = progress_printer("compare events read") if job.kind == "stream" else None
    report = run_job(resolved, job, progress=(lambda seen, _ours: show(seen)) if show else None)
    to_stdout = fmt is not None and out is None
    if fmt is not None or out is not None:
        emit(report, fmt or "text", out)
    verdict = str(report["verdict"])
    click.echo(f"{job.name}: report {report['id']} {verdict.upper()}", err=to_stdout)
    require_pass(report, subject=job.name)


@schedule.command("start")
@click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Stop after N runs of all jobs together [default: no limit].",
)
@click.option(
    "--for",
    "duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Stop after S seconds [default: no limit].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log the scheduler's own events to stderr.")
def start(max_runs: int | None, duration: float | None, verbose: bool) -> None:
    """Run every job on its trigger until SIGINT/SIGTERM, --max-runs or --for.

    Prints one line per run: time, job, verdict and report id, or the error. A job never
    runs twice at once (a run due while the last is going is skipped), and a failing
    run (an unreachable service, a missing table) is logged and the schedule goes on.
    On a stop, the runs in progress finish and store their reports.

    Exit code: the worst of the runs (0 all passed, 1 a verdict failed, 2 a job could
    not run as configured, 3 a service could not be reached).

    \b
    Example:
      canary schedule start --for 3600
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    resolved = settings()
    zone = ZoneInfo(resolved.schedule.timezone)
    now = datetime.now(zone)
    specs = build_specs(resolved, now)
    if not specs:
        raise UsageError(f"no job is configured in [schedule] of {resolved.source}")
    click.echo(f"scheduling {len(specs)} job(s); stop with Ctrl-C", err=True)
    for spec in specs:
        first = _when(next_run(spec, now))
        click.echo(f"  {spec.name}: {spec.kind}, {describe(spec.job)}, first {first}", err=True)
    stop = StopFlag()
    with stop_on_signals(stop):
        result = run_schedule(
            specs,
            functools.partial(_function_for, resolved),
            zone=zone,
            stop=stop,
            max_runs=max_runs,
            duration=duration,
            on_run=_print_run,
            on_stopping=lambda reason: click.echo(
                f"stopping ({reason}): waiting for the runs in progress", err=True
            ),
        )
    failed = sum(1 for outcome in result.outcomes if outcome.failed)
    click.echo(f"stopped: {len(result.outcomes)} run(s), {failed} not passed", err=True)
    if result.worst is not None:
        raise result.worst


def _function_for(resolved: Settings, spec: JobSpec) -> JobFunction:
    return functools.partial(run_job, resolved, spec.job)


def _print_run(outcome: Outcome) -> None:
    when = f"{outcome.started:{_TIME}}"
    if outcome.verdict is not None:
        result = f"{outcome.verdict.upper()}  {outcome.report_id or ''}"
    else:
        result = f"ERROR  {outcome.error}"
    click.echo(f"{when}  {outcome.job}  {result}  ({outcome.seconds:.1f} s)")


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:{_TIME}}"
