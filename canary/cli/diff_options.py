"""The options `canary diff stream`, `canary diff tables` and `canary verify` share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``options`` in the order they are listed in ``--help``."""

    def apply(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def names(value: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def stream_options(function: F) -> F:
    """--grace, --until-idle, --no-drill and --ignore-checkpoints of a stream diff."""
    return _stack(
        click.option(
            "--grace",
            type=click.FloatRange(min=0),
            default=None,
            metavar="S",
            help="Allow the other path's event S seconds before a record counts as missing: "
            "the read waits for it, or with --until-idle 0 a record younger than S is "
            "reported pending, not judged [default: diff.grace].",
        ),
        click.option(
            "--until-idle",
            type=click.FloatRange(min=0),
            default=None,
            metavar="S",
            help="Stop once no event has arrived for S seconds; 0 = read to the end of the "
            "topic as it is now [default: diff.until_idle].",
        ),
        click.option(
            "--no-drill",
            is_flag=True,
            help="Do not fetch rows from the databases to explain mismatches.",
        ),
        click.option(
            "--ignore-checkpoints",
            is_flag=True,
            help="Read the whole compare topic even where `canary watch` saved its state.",
        ),
    )(function)


def table_options(*, table_default: str, key_required: bool) -> Callable[[F], F]:
    """--table, --mysql-table, --pg-table, --key, --columns, --max-samples, --older-than
    and --recheck of a table diff; ``table_default`` says in the help what T defaults to."""
    return _stack(
        click.option(
            "--table",
            default=None,
            metavar="T",
            help="The table on both sides; also picks its rule in [tables.rules.T]"
            f"{table_default}.",
        ),
        click.option(
            "--mysql-table", default=None, metavar="A", help="The MySQL table [default: T]."
        ),
        click.option(
            "--pg-table", default=None, metavar="B", help="The PostgreSQL table [default: T]."
        ),
        click.option(
            "--key",
            required=key_required,
            default=None,
            metavar="K[,K2]",
            help="The primary key (or a unique key): one column or several, comma-separated"
            + ("." if key_required else " [default: order_id]."),
        ),
        click.option(
            "--columns",
            default=None,
            metavar="C,...",
            help="Compare only these columns [default: every column both tables have].",
        ),
        click.option(
            "--max-samples",
            type=click.IntRange(min=0, max=10_000),
            default=None,
            metavar="N",
            help="Keys listed per kind of difference [default: tables.max_samples].",
        ),
        click.option(
            "--older-than",
            type=click.FloatRange(min=0),
            default=None,
            metavar="S",
            help="Compare only rows whose age column (tables.rules.T.age_column) is older "
            "than S seconds: rows still being written are left out.",
        ),
        click.option(
            "--recheck/--no-recheck",
            default=None,
            help="Read differing rows again after tables.recheck_delay seconds and count "
            "only those that still differ [default: tables.recheck].",
        ),
    )


def cut_options(function: F) -> F:
    """--topic, --legacy-group and --ring-group: whose commits make the cut."""
    return _stack(
        click.option(
            "--topic",
            default=None,
            metavar="TOPIC",
            help="The source topic the cut is taken on [default: kafka.source_topic].",
        ),
        click.option(
            "--legacy-group",
            default=None,
            metavar="G",
            help="The legacy path's consumer group, whose Kafka commits it reads "
            "[default: legacy.group].",
        ),
        click.option(
            "--ring-group",
            default=None,
            metavar="G",
            help="The ring path's consumer group, whose rows of the offsets table it reads "
            "[default: ring.group].",
        ),
    )(function)
