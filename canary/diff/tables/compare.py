"""Row-by-row comparison of one key range: a merge of both sides' rows in key order.

The verdict on every pair of values is ``comparators.values`` (``compare_rows``); the
fast paths here only skip it when the answer is certain: values of one type that are
``==`` (``Decimal("1.50") == Decimal("1.5")`` is the rule's own answer), and JSON texts
that are equal as text or parse (numbers as ``Decimal``) to equal trees holding no
``true``/``false`` (Python's ``True == 1`` is the one place where ``==`` on parsed JSON
and the rule disagree).
"""

from __future__ import annotations

import json
import json.scanner
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from canary.core.segments import Key
from canary.diff.tables.columns import Column
from canary.errors import DuplicateKey, KeyOrderError
from comparators.values import compare_rows, equal

Difference = dict[str, tuple[object, object]]


@dataclass(slots=True)
class Outcome:
    """What one range's rows showed."""

    rows: int = 0  # rows read, both sides together
    only_in_mysql: list[Key] = field(default_factory=list)
    only_in_postgres: list[Key] = field(default_factory=list)
    different: list[tuple[Key, Difference]] = field(default_factory=list)
    # keys a consistent diff set aside: below the cut on one side, past it on the other
    in_flight: list[Key] = field(default_factory=list)


def _reject_constant(name: str) -> object:
    raise ValueError(name)


_LOCAL = threading.local()


def _scanner() -> Callable[[str, int], tuple[object, int]]:
    """This thread's C JSON scanner (it keeps a key memo, so threads do not share one)."""
    scan: Callable[[str, int], tuple[object, int]] | None = getattr(_LOCAL, "scan", None)
    if scan is None:
        decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
        # typeshed types the argument as a scanner; it takes any object with its hooks.
        scan = _LOCAL.scan = json.scanner.make_scanner(decoder)  # type: ignore[arg-type]
    return scan


def _as_utc(value: object) -> object:
    # DATETIME holds UTC: an aware value compares with TIMESTAMPTZ by plain ==.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _as_float(value: object) -> object:
    return value if value is None else float(str(value))


def _converter(column: Column) -> Callable[[object], object] | None:
    if column.mysql.mode == "datetime":
        return _as_utc
    if column.mysql.mode in ("float", "float32"):
        return _as_float  # both sides read the float's exact text
    return None


class RowComparer:
    """Compares value tuples of ``columns`` (in that order) from both sides."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self._names = [c.name for c in self.columns]
        self._converters = [_converter(c) for c in self.columns]
        self._json = [c.kind == "json" for c in self.columns]
        self._kinds = {c.name: c.kind for c in self.columns}
        self._tolerances = {c.name: c.tolerance for c in self.columns}

    def convert(self, values: Sequence[object]) -> list[object]:
        return [
            value if convert is None else convert(value)
            for value, convert in zip(values, self._converters, strict=True)
        ]

    def diff(self, mysql: Sequence[object], postgres: Sequence[object]) -> Difference:
        """The differing columns as ``{name: (mysql value, pg value)}``; empty when equal.

        Takes the values as read; the first check needs no conversion, because values of
        one type that are ``==`` are equal whatever the column's kind (floats arrive as
        the text their checksum hashed)."""
        for index, first in enumerate(mysql):
            a, b = first, postgres[index]
            if type(a) is type(b) and a == b:
                continue
            convert = self._converters[index]
            if convert is not None:
                a, b = convert(a), convert(b)
                if type(a) is type(b) and a == b:
                    continue
            if self._json[index] and _json_equal(a, b):
                continue
            name = self._names[index]
            if not equal(a, b, self._kinds[name], self._tolerances[name]):
                break
        else:
            return {}
        return compare_rows(
            dict(zip(self._names, self.convert(mysql), strict=True)),
            dict(zip(self._names, self.convert(postgres), strict=True)),
            kinds=self._kinds,
            tolerances=self._tolerances,
        )


def _decode(text: str) -> object:
    """JSON text as Python values, numbers as int/Decimal, as ``equal`` parses it."""
    value, end = _scanner()(text, 0)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return value


def _json_equal(a: object, b: object) -> bool:
    """True only when both JSON texts certainly mean the same (see the module docstring)."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    if "true" in a or "false" in a or "true" in b or "false" in b:
        return False
    try:
        return bool(_decode(a.strip(" \t\n\r")) == _decode(b.strip(" \t\n\r")))
    except (ValueError, RecursionError, StopIteration):
        return False


def _ordered(
    rows: Iterable[Sequence[Any]], width: int, side: str
) -> Iterator[tuple[Key, list[Any]]]:
    previous: Key | None = None
    for row in rows:
        key = tuple(row[:width])
        if previous is not None and previous == key:
            raise DuplicateKey(
                f"{side} holds key {list(key)!r} twice as compared (a UUID key is compared by "
                "value, so two spellings of one UUID are one key): keep one spelling of "
                "each UUID in that table"
            )
        if previous is not None and not previous < key:
            raise KeyOrderError(
                f"{side} returned key {list(key)!r} after {list(previous)!r}: its rows are not "
                "in strictly increasing key order (is the key unique, and text compared as bytes?)"
            )
        previous = key
        yield key, list(row[width:])


def merge(
    mysql_rows: Iterable[Sequence[Any]],
    pg_rows: Iterable[Sequence[Any]],
    *,
    key_width: int,
    comparer: RowComparer,
) -> Outcome:
    """Classify every key of two key-ordered row streams (key values first in each row)."""
    outcome = Outcome()
    mine = _ordered(mysql_rows, key_width, "MySQL")
    theirs = _ordered(pg_rows, key_width, "PostgreSQL")
    left = next(mine, None)
    right = next(theirs, None)
    while left is not None or right is not None:
        if right is None or (left is not None and left[0] < right[0]):
            assert left is not None
            outcome.only_in_mysql.append(left[0])
            outcome.rows += 1
            left = next(mine, None)
        elif left is None or right[0] < left[0]:
            outcome.only_in_postgres.append(right[0])
            outcome.rows += 1
            right = next(theirs, None)
        else:
            outcome.rows += 2
            differing = comparer.diff(left[1], right[1])
            if differing:
                outcome.different.append((left[0], differing))
            left = next(mine, None)
            right = next(theirs, None)
    return outcome
