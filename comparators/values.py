"""Whether a column value read from MySQL means the same as the one read from PostgreSQL."""

from __future__ import annotations

import enum
import json
import math
import re
import struct
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, get_args

__all__ = [
    "EXACT",
    "KINDS",
    "MISSING",
    "ColumnKind",
    "JsonValue",
    "Missing",
    "Tolerance",
    "compare_rows",
    "display",
    "equal",
    "normalize",
]

ColumnKind: TypeAlias = Literal[
    "auto",
    "decimal",
    "datetime",
    "json",
    "bool",
    "text",
    "float",
    "float32",
    "int",
    "bytes",
    "date",
    "uuid",
]
KINDS: Final[tuple[ColumnKind, ...]] = get_args(ColumnKind)

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

# Unrounded arithmetic (the recipe in the decimal docs): add, subtract and multiply are
# exact, so a tolerance or rounding check never hinges on the caller's thread context.
_EXACT_CONTEXT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


@dataclass(frozen=True)
class Tolerance:
    """Numbers are equal when ``|a - b| <= max(absolute, relative * max(|a|, |b|))``.

    Both bounds default to 0, i.e. exact. Applies to numbers only (never inside JSON).
    Floats enter the arithmetic as the decimal they print as (``repr``; for kind
    ``"float32"`` the shortest text of the 4-byte float), so an absolute tolerance of
    0.01 accepts 1.50 vs 1.51 even for floats.
    """

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self) -> None:
        for name in ("absolute", "relative"):
            bound = getattr(self, name)
            if not math.isfinite(bound) or bound < 0:
                raise ValueError(f"Tolerance.{name} must be a finite number >= 0, got {bound!r}")

    @property
    def exact(self) -> bool:
        """True when no difference at all is tolerated."""
        return self.absolute == 0 and self.relative == 0


EXACT: Final = Tolerance()


class Missing(enum.Enum):
    """Marks a column that one side's row does not have (distinct from NULL)."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = Missing.MISSING

_NO_KINDS: Final[Mapping[str, ColumnKind]] = MappingProxyType({})
_NO_TOLERANCES: Final[Mapping[str, Tolerance]] = MappingProxyType({})
_BYTES_LIKE: Final = (bytes, bytearray, memoryview)


# --- normalize ---------------------------------------------------------------------------


def normalize(value: object, kind: ColumnKind = "auto") -> object:
    """Return the canonical form of one column value as read by PyMySQL or psycopg 3.

    Numbers become ``Decimal`` with trailing zeros dropped (``float`` stays ``float`` in
    ``auto``); datetimes become aware UTC (a naive one is taken to hold UTC); JSON
    (``dict``/``list``, or ``str``/``bytes`` text for kind ``"json"``) becomes a tree
    whose numbers are ``Decimal``; TINYINT(1) ``0``/``1`` and BIT(1) bytes become
    ``bool`` for kind ``"bool"``; bytes-likes become ``bytes``. Kind ``"float32"`` rounds
    a number to the nearest 4-byte float (ties to even) and gives the ``Decimal`` of its
    shortest text (``0.1`` and ``0.10000000149011612`` both become ``Decimal("0.1")``);
    a finite number beyond float32's range keeps its own value, which no float32 has.
    Kind ``"uuid"`` gives the canonical lowercase text of a ``uuid.UUID``, of 16 bytes
    (RFC 4122 order) or of text in the 8-4-4-4-12 layout or 32 hex digits, in any case;
    other text stays as it is. Text is never changed otherwise.
    A value the kind does not cover gets its ``"auto"`` form, so a type mismatch stays
    visible to :func:`equal`. Raises ``ValueError`` for an unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown column kind {kind!r}; expected one of {', '.join(KINDS)}")
    if value is None:
        return None
    return _NORMALIZERS[kind](value)


def _auto(value: object) -> object:  # noqa: PLR0911 - one return per type, read as a table
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return _canonical_decimal(value)
    if isinstance(value, float):
        return 0.0 if value == 0 else value  # -0.0 and 0.0 are one value
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, _BYTES_LIKE):
        return bytes(value)
    if isinstance(value, dict | list):
        return _json_tree(value)
    return value


def _decimal(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return _canonical_decimal(_to_decimal(value))
    if isinstance(value, str):
        parsed = _parse_decimal(value)
        return value if parsed is None else _canonical_decimal(parsed)
    return _auto(value)


def _int(value: object) -> object:
    number = _decimal(value)
    if isinstance(number, Decimal) and number.is_finite() and number == number.to_integral_value():
        return int(number)
    return number


def _float(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal | str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return _auto(value)
        return 0.0 if number == 0 else number
    return _auto(value)


def _float32(value: object) -> object:
    number = _float(value)
    if not isinstance(number, float):
        return number
    rounded = _round_float32(number)
    if rounded is None or not math.isfinite(rounded):
        return _to_decimal(number)  # NaN, an infinity, or beyond any float32
    return _canonical_decimal(Decimal(_float32_text(rounded)))


def _round_float32(number: float) -> float | None:
    """``number`` rounded to the nearest 4-byte float (ties to even), as the double that
    holds it; None when ``number`` is finite but rounds to infinity (|x| >= 2^128 - 2^103)."""
    try:
        (rounded,) = struct.unpack("<f", struct.pack("<f", number))
    except OverflowError:  # some Python versions raise rather than round to infinity
        return None
    if math.isinf(rounded) and not math.isinf(number):
        return None
    return float(rounded)


def _float32_text(value: float) -> str:
    """The shortest text that reads back as the float32 ``value`` (at most 9 digits)."""
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if _round_float32(float(text)) == value:
            return text
    return repr(value)  # not reached: 9 significant digits always suffice


# What PostgreSQL reads as a uuid, less braces and URNs: 8-4-4-4-12 or 32 hex digits.
_UUID_TEXT: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32}"
)
_UUID_BYTES: Final = 16


def _uuid(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and _UUID_TEXT.fullmatch(value):
        return str(uuid.UUID(hex=value))
    if isinstance(value, _BYTES_LIKE) and len(value) == _UUID_BYTES:
        return str(uuid.UUID(bytes=bytes(value)))
    return _auto(value)


def _datetime(value: object) -> object:
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:  # e.g. MySQL's zero date '0000-00-00 00:00:00' arrives as text
            return value
    return _auto(value)


def _date(value: object) -> object:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return _auto(value)


def _json(value: object) -> object:
    if isinstance(value, str | bytes | bytearray | memoryview):
        try:
            text = value if isinstance(value, str) else bytes(value).decode()
            # Every number as Decimal, so no binary float rounding can hide a cent.
            parsed = json.loads(
                text, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant
            )
        except ValueError:  # not JSON text (or not UTF-8): kept, so it differs from JSON
            return _auto(value)
        return _json_tree(parsed)
    return _json_tree(value)


def _bool(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    # PyMySQL returns BIT(1) as one byte.
    if isinstance(value, _BYTES_LIKE) and bytes(value) in (b"\x00", b"\x01"):
        return bytes(value) == b"\x01"
    return _auto(value)


_NORMALIZERS: Final[Mapping[ColumnKind, Callable[[object], object]]] = MappingProxyType(
    {
        "auto": _auto,
        "decimal": _decimal,
        "datetime": _datetime,
        "json": _json,
        "bool": _bool,
        # Text stays exact: case, trailing spaces and Unicode normal forms are differences.
        "text": _auto,
        "float": _float,
        "float32": _float32,
        "int": _int,
        "bytes": _auto,
        "date": _date,
        "uuid": _uuid,
    }
)


def _canonical_decimal(value: Decimal) -> Decimal:
    """Drop trailing zeros without touching the context (``Decimal.normalize`` rounds)."""
    if not value.is_finite():
        return value
    if not value:
        return Decimal(0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values have an int exponent
    end = len(digits)
    while digits[end - 1] == 0:
        end -= 1
    return Decimal((sign, digits[:end], exponent + len(digits) - end))


def _to_decimal(value: int | float | Decimal) -> Decimal:
    if isinstance(value, float):
        # repr is the shortest text that round-trips, i.e. the number the float was written as.
        return Decimal(repr(value))
    return Decimal(value)


def _parse_decimal(text: str) -> Decimal | None:
    try:
        return _EXACT_CONTEXT.create_decimal(text)
    except InvalidOperation:
        return None


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # neither engine's JSON type can hold NaN/Infinity


def _json_tree(value: object) -> object:
    if isinstance(value, dict):
        return {key: _json_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_tree(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        # JSON numbers compare by value: 1 == 1.0 == 1.00, and no float rounding hides a cent.
        return _canonical_decimal(_to_decimal(value))
    return _auto(value)


# --- equal -------------------------------------------------------------------------------


def equal(
    mysql_value: object,
    pg_value: object,
    kind: ColumnKind = "auto",
    tolerance: Tolerance = EXACT,
) -> bool:
    """Whether two values of one column mean the same on both engines.

    ``"auto"`` infers from the pair: a ``bool`` on either side compares as ``"bool"``,
    a ``dict``/``list`` on either side makes the other side's text parse as JSON.
    Types never mix otherwise, except numbers (``int``, ``Decimal``, ``float``), which
    compare by value within ``tolerance``. NULL equals only NULL; NaN equals NaN.
    """
    if kind == "auto":
        kind = _infer_kind(mysql_value, pg_value)
    return _same(normalize(mysql_value, kind), normalize(pg_value, kind), tolerance)


def _infer_kind(first: object, second: object) -> ColumnKind:
    if isinstance(first, bool) or isinstance(second, bool):
        return "bool"
    if isinstance(first, dict | list) or isinstance(second, dict | list):
        return "json"
    return "auto"


def _as_number(value: object) -> Decimal:
    assert isinstance(value, int | float | Decimal)
    return _to_decimal(value)


def _category(value: object) -> type:
    """The type a normalized value compares as; values of different categories differ."""
    if isinstance(value, bool):  # before int: True is not the number 1 here
        return bool
    if isinstance(value, int | float | Decimal):
        return Decimal
    for category in (dict, list, datetime, str, bytes):
        if isinstance(value, category):
            return category
    return object


def _same(first: object, second: object, tolerance: Tolerance) -> bool:
    category = _category(first)
    if category is not _category(second):
        return False
    if category is Decimal:
        return _numbers_equal(_as_number(first), _as_number(second), tolerance)
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            _same(item, second[key], EXACT) for key, item in first.items()
        )
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(
            _same(a, b, EXACT) for a, b in zip(first, second, strict=True)
        )
    return bool(first == second)  # None is None, bool, datetime (both UTC), str, bytes


def _numbers_equal(a: Decimal, b: Decimal, tolerance: Tolerance) -> bool:
    if a.is_nan() or b.is_nan():  # checked first: comparing a signalling NaN raises
        return a.is_nan() and b.is_nan()
    if a == b:
        return True
    if tolerance.exact or a.is_infinite() or b.is_infinite():
        return False
    ctx = _EXACT_CONTEXT
    difference = ctx.abs(ctx.subtract(a, b))
    largest = max(ctx.abs(a), ctx.abs(b))
    relative = ctx.multiply(_to_decimal(tolerance.relative), largest)
    return difference <= max(_to_decimal(tolerance.absolute), relative)


# --- rows --------------------------------------------------------------------------------


def compare_rows(
    mysql_row: Mapping[str, object],
    pg_row: Mapping[str, object],
    *,
    kinds: Mapping[str, ColumnKind] = _NO_KINDS,
    tolerances: Mapping[str, Tolerance] = _NO_TOLERANCES,
    ignore: Collection[str] = (),
) -> dict[str, tuple[object, object]]:
    """The columns whose values differ, each as ``(mysql value, pg value)``.

    Columns come in the MySQL row's order, then those only PostgreSQL has; a column
    one side lacks differs, with :data:`MISSING` in its place. Columns in ``ignore``
    are skipped; a column absent from ``kinds``/``tolerances`` is ``"auto"``/exact.
    """
    differences: dict[str, tuple[object, object]] = {}
    for column in [*mysql_row, *(name for name in pg_row if name not in mysql_row)]:
        if column in ignore:
            continue
        mysql_value = mysql_row.get(column, MISSING)
        pg_value = pg_row.get(column, MISSING)
        if (
            mysql_value is MISSING
            or pg_value is MISSING
            or not equal(
                mysql_value,
                pg_value,
                kinds.get(column, "auto"),
                tolerances.get(column, EXACT),
            )
        ):
            differences[column] = (mysql_value, pg_value)
    return differences


# --- display -----------------------------------------------------------------------------


def display(value: object) -> JsonValue:  # noqa: PLR0911 - one return per type
    """A JSON-able form of a raw value for reports, keeping what a reader needs to see.

    ``Decimal`` -> plain text at its own scale (``"1.50"``); ``datetime`` -> ISO 8601
    with microseconds and offset (naive means UTC); ``date`` -> ISO; bytes-likes ->
    hex; ``dict``/``list`` -> the same shape, leaves displayed; non-finite ``float``
    -> ``"nan"``/``"inf"``/``"-inf"``; :data:`MISSING` -> ``"<missing>"``; other
    types -> ``str``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        shown = _utc(value) if value.utcoffset() is None else value  # naive holds UTC
        return shown.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, _BYTES_LIKE):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(key): display(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [display(item) for item in value]
    if value is MISSING:
        return "<missing>"
    return str(value)
