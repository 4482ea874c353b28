"""A likely cause for each differing value, so a report says why a row differs."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Final, Literal, TypeAlias, get_args

from comparators.values import normalize

__all__ = ["CAUSES", "Cause", "likely_cause", "summarize"]

Cause: TypeAlias = Literal[
    "time-zone hour shift",
    "precision loss",
    "case-only",
    "trailing whitespace",
    "NULL vs empty",
    "JSON value",
    "boolean flip",
    "other",
]
CAUSES: Final[tuple[Cause, ...]] = get_args(Cause)

# Every gap two UTC offsets can leave: whole hours, and the :30/:45 zones (India +5:30,
# Nepal +5:45, Chatham +12:45, Newfoundland -3:30, ...), up to the 14 h of Kiribati.
_ZONE_SHIFTS: Final = frozenset(
    timedelta(hours=hours, minutes=minutes)
    for hours in range(15)
    for minutes in (0, 30, 45)
    if timedelta(0) < timedelta(hours=hours, minutes=minutes) <= timedelta(hours=14)
)
_SUB_SECOND: Final = timedelta(seconds=1)
_FLOAT_RELATIVE: Final = Decimal("1e-6")
# A bool looks itself up as 0/1 (True == 1); BIT(1) arrives from PyMySQL as one byte.
_BOOLISH: Final[dict[object, bool]] = {0: False, 1: True, b"\x00": False, b"\x01": True}
# Unrounded arithmetic, so a rounding check on 65-digit DECIMALs is not itself rounded.
_EXACT_CONTEXT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def likely_cause(column: str, mysql_value: object, pg_value: object) -> Cause:
    """Label one differing value of ``column`` with the one cause that explains it alone.

    A mix of causes (case *and* a trailing space) is ``"other"``, as are equal values.
    Timestamps within 1 s of a whole-hour or :30/:45 gap are a time-zone shift, closer
    ones a precision loss. Numbers are a precision loss when the one with fewer
    significant decimal places is within one unit of its last place of the other (a
    rounding or truncation: ``1.235`` vs ``1.24``, ``2.5`` vs ``2``, and ``268.64`` vs
    ``268.60`` as a NUMERIC(12,2) column returns a value rounded to one place), or, when
    a float is involved, within 1e-6 relative; two numbers with as many significant places
    (``1.52`` vs ``1.51``) are a real change, ``"other"``. A cent added to a round amount
    (``1.50`` vs ``1.51``) cannot be told from a rounding and is labelled as one: the label
    says "likely". ``column`` names the value for callers' logs; the label ignores it.
    """
    del column  # part of the signature so per-column hints can come without breaking callers
    for rule in _RULES:
        cause = rule(mysql_value, pg_value)
        if cause is not None:
            return cause
    return "other"


def summarize(causes: Iterable[str]) -> dict[str, int]:
    """Count each label, most frequent first (ties in :data:`CAUSES` order, then by name)."""
    counts = Counter(causes)
    rank: dict[str, int] = {cause: index for index, cause in enumerate(CAUSES)}
    order = sorted(counts, key=lambda cause: (-counts[cause], rank.get(cause, len(rank)), cause))
    return {cause: counts[cause] for cause in order}


# Each rule names the cause of a pair it recognises, or passes with None.
def _null_vs_empty(first: object, second: object) -> Cause | None:
    if (first is None and second == "") or (first == "" and second is None):
        return "NULL vs empty"
    return None


def _boolean_flip(first: object, second: object) -> Cause | None:
    # Needs a real bool on one side: two plain 0/1 ints are an integer column changing.
    if not (isinstance(first, bool) or isinstance(second, bool)):
        return None
    a, b = _truth(first), _truth(second)
    return "boolean flip" if a is not None and b is not None and a != b else None


def _truth(value: object) -> bool | None:
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value)
    if isinstance(value, bool | int | bytes):
        return _BOOLISH.get(value)
    return None


def _json_value(first: object, second: object) -> Cause | None:
    # Only when a side is already structured: two strings are text, whatever they hold.
    if not (isinstance(first, dict | list) or isinstance(second, dict | list)):
        return None
    if all(isinstance(normalize(side, "json"), dict | list) for side in (first, second)):
        return "JSON value"
    return None


def _datetime_cause(first: object, second: object) -> Cause | None:
    if not (isinstance(first, datetime) and isinstance(second, datetime)):
        return None
    a, b = normalize(first, "datetime"), normalize(second, "datetime")
    assert isinstance(a, datetime)
    assert isinstance(b, datetime)
    gap = abs(a - b)
    if not gap:
        return "other"
    if gap < _SUB_SECOND:
        return "precision loss"
    if any(abs(gap - shift) < _SUB_SECOND for shift in _ZONE_SHIFTS):
        return "time-zone hour shift"
    return "other"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _number_cause(first: object, second: object) -> Cause | None:
    if not (_is_number(first) and _is_number(second)):
        return None
    a, b = normalize(first, "decimal"), normalize(second, "decimal")
    assert isinstance(a, Decimal)
    assert isinstance(b, Decimal)
    if not (a.is_finite() and b.is_finite()) or a == b:
        return "other"
    ctx = _EXACT_CONTEXT
    gap = ctx.abs(ctx.subtract(a, b))
    if isinstance(first, float) or isinstance(second, float):
        # A float has no scale to compare; a FLOAT(24)/REAL round-trip drifts ~1e-7 relative.
        return (
            "precision loss"
            if gap <= ctx.multiply(_FLOAT_RELATIVE, max(ctx.abs(a), ctx.abs(b)))
            else "other"
        )
    coarse, fine = sorted((_places(first), _places(second)))
    if coarse < fine and gap < Decimal((0, (1,), -coarse)):  # one unit in the coarse last place
        return "precision loss"
    return "other"


def _places(value: object) -> int:
    """Significant decimal places: ``Decimal("1.50")`` has 1 (a database pads every value
    to the column's scale, so trailing zeros say nothing), an int 0."""
    if isinstance(value, Decimal):
        exponent = value.normalize(_EXACT_CONTEXT).as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0
    return 0


def _text_cause(first: object, second: object) -> Cause | None:
    if not (isinstance(first, str) and isinstance(second, str)) or first == second:
        return None
    # Canonically equivalent spellings (ANGSTROM SIGN vs A WITH RING) also casefold alike,
    # but differ in Unicode normal form, not in case.
    if first.casefold() == second.casefold() and _nfc(first) != _nfc(second):
        return "case-only"
    if first.rstrip() == second.rstrip() or first.strip() == second.strip():
        return "trailing whitespace"
    return "other"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_RULES: Final[tuple[Callable[[object, object], Cause | None], ...]] = (
    _null_vs_empty,
    _boolean_flip,
    _json_value,
    _datetime_cause,
    _number_cause,
    _text_cause,
)
