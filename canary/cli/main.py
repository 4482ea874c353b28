"""The ``canary`` command group, and the one place where errors become exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from canary import __version__
from canary.cli import (
    bench_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    diff_cmd,
    produce_cmd,
    report_cmd,
    run_cmd,
    schedule_cmd,
    verify_cmd,
    watch_cmd,
)
from canary.config import load_settings
from canary.errors import CanaryError, VerificationFailed


class _Group(click.Group):
    """Reports CanaryError as one line on stderr and exits with its code: no traceback.

    A failed verification is the command's answer, not a fault, and says so: its report
    is already printed, and the line names the verdict's reasons.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CanaryError as exc:
            label = "FAIL" if isinstance(exc, VerificationFailed) else "error"
            click.echo(f"canary: {label}: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="CANARY_CONFIG",
    show_envvar=True,
    help="TOML configuration file [default: configs/local.toml].",
)
@click.version_option(__version__, prog_name="canary")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """canary: prove a Kafka consumer migration safe during its gray release.

    The `legacy` path (consumer group -> MySQL) and the `ring` path (ring buffers and a
    worker pool -> PostgreSQL) consume the same topic; each publishes a checksum of every
    row it wrote. canary joins them and the tables, and its exit code gates a release:
    0 pass, 1 divergence beyond thresholds, 2 usage or configuration error, 3 a service
    could not be reached.

    \b
    First steps:
      canary config check          show the resolved configuration
      canary db init               create the tables in MySQL and PostgreSQL
      canary produce --count 1000  publish synthetic order events
    """
    ctx.obj = _LazySettings(config_path)


class _LazySettings:
    """Loads the configuration on first use, so `--help` works even with a broken file."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._settings: Any = None

    def get(self) -> Any:
        if self._settings is None:
            self._settings = load_settings(self._path)
        return self._settings


cli.add_command(config_cmd.config)
cli.add_command(db_cmd.db)
cli.add_command(produce_cmd.produce)
cli.add_command(run_cmd.run)
cli.add_command(diff_cmd.diff)
cli.add_command(report_cmd.report)
cli.add_command(demo_cmd.demo)
cli.add_command(bench_cmd.bench)
cli.add_command(schedule_cmd.schedule)
cli.add_command(watch_cmd.watch_command)
cli.add_command(verify_cmd.verify)


def main() -> None:
    try:
        cli.main(prog_name="canary")
    except KeyboardInterrupt:
        click.echo("canary: interrupted", err=True)
        sys.exit(130)
