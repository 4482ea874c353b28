"""Writing a report in the format asked for, to stdout or ``--out FILE``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from canary.core.report import Reported, as_json
from canary.render import html, text

F = TypeVar("F", bound=Callable[..., Any])


def report_options(function: F) -> F:
    """The ``--format`` and ``--out`` options every report command has."""
    function = click.option(
        "--out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write the report to FILE instead of stdout.",
    )(function)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "html"]),
        default="text",
        show_default=True,
        help="Report format.",
    )(function)


def render(report: Reported, fmt: str) -> str:
    report = as_json(report)
    if fmt == "json":
        return orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    if fmt == "html":
        return html.render(report)
    return text.render(report)


def emit(report: Reported, fmt: str, out: Path | None) -> None:
    report = as_json(report)
    if out is None:
        click.echo(render(report, fmt))
        return
    write(report, fmt, out)


def write(report: Reported, fmt: str, out: Path) -> None:
    """``report`` in ``fmt`` to the file ``out``, and a line on stderr saying so."""
    report = as_json(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report, fmt) + "\n", encoding="utf-8")
    click.echo(f"report {report.get('id', '')} ({report['verdict']}) written to {out}", err=True)
