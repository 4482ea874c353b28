"""Helpers shared by the commands: the settings of the current invocation, progress lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click

from canary.config import Settings


def settings() -> Settings:
    """The validated configuration of this invocation (loaded on first use)."""
    loaded: Settings = click.get_current_context().find_root().obj.get()
    return loaded


def progress_printer(label: str, total: int | None = None) -> Callable[[int], None] | None:
    """A callback that redraws one status line on a terminal; None when not a terminal."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(done: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        share = f"/{total:,} ({100 * done / total:5.1f} %)" if total else ""
        click.echo(f"\r{label}: {done:,}{share}  {done / elapsed:,.0f}/s   ", err=True, nl=False)
        if total is not None and done >= total:
            click.echo("", err=True)

    return show


def progress_lines() -> Callable[[str], None] | None:
    """A callback printing progress lines on stderr; None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    return lambda line: click.echo(f"canary: {line}", err=True)
