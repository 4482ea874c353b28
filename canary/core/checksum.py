"""Canonical row encoding and its xxh3_128 checksum: rows that mean the same hash the same.

Both paths hash the row they wrote and publish the digest in the compare event, so the
bytes below are a wire contract (compare event ``v`` 1). Golden tests pin them; changing
them in any way needs a new event version. Python's ``hash()`` is salted per process and
must never stand in for this.

Layout
------
A row encodes as the concatenation of one entry per column, in ascending order of the
column name's UTF-8 bytes (the same order as sorting the ``str`` names, because UTF-8
preserves code-point order)::

    u32be len(name) | name, UTF-8 | tag, 1 byte | u32be len(value) | value bytes

There is no header and no column count: every entry carries its own lengths, so a byte
string splits into entries in exactly one way and no name/value boundary can shift
(``{"ab": "c"}`` and ``{"a": "bc"}`` differ). An empty row encodes to ``b""``.

Tags and value bytes
--------------------
=====  ==========  ====================================================================
tag    type        value bytes
=====  ==========  ====================================================================
``N``  ``None``    none (length 0)
``B``  bool        one byte, ``0x00`` or ``0x01``
``I``  int         ASCII decimal, ``-`` for negatives, no leading zeros: ``b"-42"``
``D``  Decimal     ASCII plain notation of the value: no exponent, trailing fractional
                   zeros and a bare ``.`` dropped, negative zero written ``0``
                   (``1.50`` -> ``b"1.5"``, ``1E+3`` -> ``b"1000"``, ``-0.00`` ->
                   ``b"0"``); NaN and infinities raise ``ValueError``
``F``  float       IEEE 754 binary64, big-endian, 8 bytes; ``-0.0`` written as ``0.0``;
                   NaN raises ``ValueError``; infinities are kept
``S``  str         the UTF-8 bytes exactly as given, no Unicode normalization (NFC and
                   NFD spellings of one text differ)
``X``  bytes       the bytes as given
``C``  date        ASCII ISO 8601 ``YYYY-MM-DD``
``T``  datetime    the instant as signed 64-bit big-endian microseconds since
                   1970-01-01T00:00:00Z; a naive datetime means UTC, an aware one is
                   converted to UTC (naive 12:00 == 12:00+00:00 == 14:00+02:00)
``J``  dict, list  ``orjson.dumps(value, option=OPT_SORT_KEYS)``: compact UTF-8 JSON,
                   object keys sorted at every depth
=====  ==========  ====================================================================

The tag makes the type part of the value. ``int`` 1, ``Decimal`` 1, ``float`` 1.0,
``True`` and ``"1"`` all hash differently: an integer column that comes back as a
DECIMAL, or a DECIMAL that comes back as a float, is a change in what was written, and
both drivers return the same Python type for the same column type. NULL, ``""``, ``0``
and ``False`` are four different values.

Inside JSON, numbers are written as orjson writes them (``1`` and ``1.0`` differ), a
``Decimal``, ``datetime`` or dataclass is refused with ``TypeError`` rather than
silently stringified, and a non-finite float becomes ``null`` (no database JSON type can
hold one). Subclasses of the types above encode as their base type; bool is checked
before int and datetime before date. Any other type raises ``TypeError`` naming the
column.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final, TypeAlias

import orjson
import xxhash

__all__ = ["Row", "RowValue", "canonical_bytes", "row_checksum"]

RowValue: TypeAlias = (
    bool | int | Decimal | float | str | bytes | date | datetime | dict[str, Any] | list[Any] | None
)
Row: TypeAlias = Mapping[str, RowValue]

_T_NULL: Final = 0x4E  # N
_T_BOOL: Final = 0x42  # B
_T_INT: Final = 0x49  # I
_T_DECIMAL: Final = 0x44  # D
_T_FLOAT: Final = 0x46  # F
_T_STR: Final = 0x53  # S
_T_BYTES: Final = 0x58  # X
_T_DATE: Final = 0x43  # C
_T_DATETIME: Final = 0x54  # T
_T_JSON: Final = 0x4A  # J

_pack_u32 = struct.Struct(">I").pack
_pack_head = struct.Struct(">BI").pack
_pack_float = struct.Struct(">BId").pack
_pack_micros = struct.Struct(">BIq").pack

_NULL: Final = _pack_head(_T_NULL, 0)
_TRUE: Final = struct.pack(">BIB", _T_BOOL, 1, 1)
_FALSE: Final = struct.pack(">BIB", _T_BOOL, 1, 0)

_EPOCH: Final = datetime(1970, 1, 1)  # naive on purpose: a naive datetime means UTC
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)

# Rows of one table repeat the same few column names, so their encoded prefixes are
# built once; the bound only guards against callers that invent names per row.
_NAME_ENTRIES: dict[str, bytes] = {}
_NAME_ENTRIES_MAX: Final = 4096


def row_checksum(row: Row) -> str:
    """Return the xxh3_128 digest of ``canonical_bytes(row)`` as 32 lowercase hex chars."""
    return xxhash.xxh3_128_hexdigest(canonical_bytes(row))


def canonical_bytes(row: Row) -> bytes:
    """Return the canonical encoding of ``row`` described in this module's docstring.

    Raises ``TypeError`` for a value of an unsupported type (or JSON that cannot be
    encoded) and ``ValueError`` for a NaN float, a non-finite Decimal or text holding
    lone surrogates; both name the column.
    """
    parts: list[bytes] = []
    append = parts.append
    entries = _NAME_ENTRIES
    try:
        for name in sorted(row):
            # Typed Any because mypy cannot narrow through ``kind``; each branch below
            # checks the exact type before using the value.
            value: Any = row[name]
            append(entries.get(name) or _name_entry(name))
            # Exact-type checks for the common types, most frequent first, keep a column
            # to a few pointer comparisons; dates, bytes and subclasses take the slow path.
            kind = type(value)
            if kind is str:
                data = value.encode()
                append(_pack_head(_T_STR, len(data)))
                append(data)
            elif kind is int:
                data = b"%d" % value
                append(_pack_head(_T_INT, len(data)))
                append(data)
            elif value is None:
                append(_NULL)
            elif kind is Decimal:
                data = _decimal_text(name, value)
                append(_pack_head(_T_DECIMAL, len(data)))
                append(data)
            elif kind is datetime:
                append(_pack_micros(_T_DATETIME, 8, _utc_micros(value)))
            elif kind is bool:
                append(_TRUE if value else _FALSE)
            elif kind is float:
                append(_pack_float(_T_FLOAT, 8, _finite_float(name, value)))
            elif kind is dict or kind is list:
                data = _json(name, value)
                append(_pack_head(_T_JSON, len(data)))
                append(data)
            else:
                append(_encode_rest(name, value))
    except UnicodeEncodeError as exc:
        raise ValueError(f"column {name!r}: text is not valid Unicode: {exc.reason}") from exc
    return b"".join(parts)


def _name_entry(name: object) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"column names must be str, got {type(name).__name__}: {name!r}")
    data = name.encode()
    entry = _pack_u32(len(data)) + data
    if len(_NAME_ENTRIES) >= _NAME_ENTRIES_MAX:
        _NAME_ENTRIES.clear()
    _NAME_ENTRIES[name] = entry
    return entry


def _decimal_text(name: str, value: Decimal) -> bytes:
    if not value.is_finite():
        raise ValueError(f"column {name!r}: Decimal {value} has no canonical form")
    # str() is twice as fast as format(); it only uses an exponent for very large or
    # very small scales, and format(..., "f") writes those out exactly, never rounding.
    # The exponent's letter follows the thread's decimal context (Context.capitals).
    text = str(value)
    if "E" in text or "e" in text:
        text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.encode()


def _utc_micros(value: datetime) -> int:
    if value.tzinfo is None:
        delta = value - _EPOCH
    else:
        # Aware subtraction applies the UTC offset inside the timedelta, so instants
        # just outside years 1..9999 in UTC stay representable.
        try:
            delta = value - _EPOCH_UTC
        except TypeError:
            # A tzinfo whose utcoffset() is None makes the datetime naive by definition.
            delta = value.replace(tzinfo=None) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _finite_float(name: str, value: float) -> float:
    if math.isnan(value):
        raise ValueError(f"column {name!r}: NaN has no canonical form")
    # -0.0 == 0.0, and both engines may hand back either for a zero.
    return 0.0 if value == 0.0 else value


def _json(name: str, value: dict[str, Any] | list[Any]) -> bytes:
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"column {name!r}: JSON value cannot be encoded: {exc}") from exc


def _encode_rest(name: str, value: object) -> bytes:
    """Encode what the fast path skips (subclasses as their base type): tag, length, value."""
    data: bytes
    if isinstance(value, int):  # never a bool: the fast path took those, and bool is final
        data = int.__repr__(value).encode()
        tag = _T_INT
    elif isinstance(value, Decimal):
        data = _decimal_text(name, value)
        tag = _T_DECIMAL
    elif isinstance(value, float):
        return _pack_float(_T_FLOAT, 8, _finite_float(name, float(value)))
    elif isinstance(value, str):
        data = str.encode(value)
        tag = _T_STR
    elif isinstance(value, bytes):
        data = bytes(value)
        tag = _T_BYTES
    elif isinstance(value, datetime):
        return _pack_micros(_T_DATETIME, 8, _utc_micros(value))
    elif isinstance(value, date):
        data = date.isoformat(value).encode()
        tag = _T_DATE
    elif isinstance(value, dict | list):
        data = _json(name, value)
        tag = _T_JSON
    else:
        raise TypeError(
            f"column {name!r}: unsupported type {type(value).__module__}.{type(value).__qualname__}"
        )
    return _pack_head(tag, len(data)) + data
