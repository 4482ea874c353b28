"""``canary config``: inspect the resolved configuration."""

from __future__ import annotations

import click
import orjson

from canary.cli.context import settings
from canary.config import masked_view


@click.group()
def config() -> None:
    """Inspect the configuration (file, environment overrides, defaults)."""


@config.command("check")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def check(fmt: str) -> None:
    """Validate the configuration and print it resolved, secrets masked.

    Exits 2 and names the file or variable and the key when a value is wrong.
    """
    resolved = settings()
    view = masked_view(resolved)
    if fmt == "json":
        click.echo(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"# configuration: {resolved.source} (valid)")
    for section, values in view.items():
        click.echo(f"\n[{section}]")
        for key, value in values.items():
            click.echo(f"{key} = {orjson.dumps(value).decode()}")
