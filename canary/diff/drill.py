"""Drill-down: for sampled records, fetch both rows and say which columns differ and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from canary.core import schema
from comparators.causes import likely_cause
from comparators.values import compare_rows, display

Rows = Mapping[int, Mapping[str, Any]]


def table_key(sample: Mapping[str, Any]) -> int | None:
    """The table key of a report sample: its business key, when that is an integer."""
    try:
        return int(sample["key"])
    except (KeyError, TypeError, ValueError):
        return None


def table_keys(samples: Iterable[Mapping[str, Any]]) -> list[int]:
    return sorted({key for key in map(table_key, samples) if key is not None})


def explain(sample: Mapping[str, Any], mysql_rows: Rows, pg_rows: Rows) -> dict[str, Any]:
    """The sample plus its rows' differing columns, each with both values and a cause."""
    detail = dict(sample)
    key = table_key(sample)
    mine = mysql_rows.get(key) if key is not None else None
    theirs = pg_rows.get(key) if key is not None else None
    absent = [name for name, row in (("MySQL", mine), ("PostgreSQL", theirs)) if row is None]
    if key is None:
        detail["rows"] = "the key is not a table key"
    elif mine is None or theirs is None:
        detail["rows"] = "no row in " + " and ".join(absent)
    else:
        differing = compare_rows(mine, theirs, kinds=schema.KINDS)  # type: ignore[arg-type]
        detail["rows"] = "differ" if differing else "equal now (a later version replaced it)"
        detail["columns"] = {
            column: {
                "mysql": display(a),
                "postgres": display(b),
                "cause": likely_cause(column, a, b),
            }
            for column, (a, b) in sorted(differing.items())
        }
    return detail
