"""The building blocks of the HTML pages: escaping, numbers, tables, the paths' colours.

Everything taken from a report passes through ``e`` (``html.escape``): keys, column
values and reasons are user data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final

PATHS: Final = ("legacy", "ring")
COLOURS: Final = {"legacy": "#1f77b4", "ring": "#d62728"}  # tests look for these in pixels


def e(value: object) -> str:
    return escape(str(value), quote=True)


def num(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]], bad: Sequence[bool] = ()) -> str:
    """Numbers right-aligned; a row flagged in ``bad`` shows its nonzero numbers in red."""

    def cell(value: object, flagged: bool) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            cls = "num bad" if flagged and value else "num"
            return f'<td class="{cls}">{e(num(value))}</td>'
        return f"<td>{e(num(value))}</td>"

    head = "".join(
        (f'<th class="num">{e(h)}</th>' if i else f"<th>{e(h)}</th>") for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>" + "".join(cell(v, i < len(bad) and bad[i]) for v in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
