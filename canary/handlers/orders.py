"""The default handler: a demo order event becomes one ``orders`` row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from canary.core.checksum import Row
from canary.errors import HandlerError

# DECIMAL(12,2) / NUMERIC(12,2) on both engines: a value they would round or refuse is
# rejected here, so what is checksummed is exactly what is stored.
_AMOUNT_SCALE = 2
_AMOUNT_DIGITS = 12
# Longest text the MySQL columns hold (VARCHAR(8), VARCHAR(32)); PostgreSQL TEXT would
# take more, and the two paths would silently diverge.
_STR_FIELDS = {"currency": 8, "status": 32}
_INT_FIELDS = ("order_id", "user_id", "version")
# MySQL TEXT holds 65,535 bytes; PostgreSQL TEXT far more. A longer note is refused for
# both paths alike rather than written by one and refused by the other.
_NOTE_BYTES = 65_535


def to_row(key: bytes | None, value: bytes | None) -> Row:
    """Decode and validate an order event; any problem raises HandlerError with the reason."""
    if value is None:
        raise HandlerError("message has no value")
    if b"\\u0000" in value:
        # PostgreSQL text and JSONB cannot hold U+0000 while MySQL can: refuse it for both.
        raise HandlerError(
            "value contains a NUL character (\\u0000), which PostgreSQL cannot store"
        )
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise HandlerError(f"value is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise HandlerError("value is not a JSON object")
    row: dict[str, Any] = {}
    for name in _INT_FIELDS:
        field = event.get(name)
        if type(field) is not int or field < 0 or field >= 1 << 63:
            raise HandlerError(f"{name} must be a non-negative 64-bit integer, got {field!r}")
        row[name] = field
    for name, longest in _STR_FIELDS.items():
        field = event.get(name)
        if not isinstance(field, str) or not field:
            raise HandlerError(f"{name} must be a non-empty string, got {field!r}")
        if len(field) > longest:
            raise HandlerError(f"{name} is longer than {longest} characters: {field[:40]!r}")
        row[name] = field
    if key is not None and key != str(row["order_id"]).encode():
        raise HandlerError(f"message key {key!r} does not match order_id {row['order_id']}")
    row["amount"] = _amount(event.get("amount"))
    items = event.get("items")
    if not isinstance(items, list):
        raise HandlerError("items must be a JSON array")
    row["items"] = items
    row["note"] = _note(event.get("note"))
    row["event_time"] = _instant(event.get("event_time"))
    return row


def _note(field: object) -> str | None:
    if field is not None and not isinstance(field, str):
        raise HandlerError("note must be a string or null")
    # Four bytes per character at most: only a long note needs encoding to be measured.
    if field is not None and len(field) * 4 > _NOTE_BYTES and len(field.encode()) > _NOTE_BYTES:
        raise HandlerError(
            f"note is {len(field.encode()):,} bytes of UTF-8; the MySQL column holds "
            f"at most {_NOTE_BYTES:,}"
        )
    return field


def _amount(field: object) -> Decimal:
    if not isinstance(field, str):
        raise HandlerError(f"amount must be a decimal string, got {field!r}")
    try:
        amount = Decimal(field)
    except InvalidOperation:
        raise HandlerError(f"amount is not a decimal: {field!r}") from None
    if not amount.is_finite():
        raise HandlerError(f"amount is not finite: {field!r}")
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -_AMOUNT_SCALE:
        raise HandlerError(f"amount has more than {_AMOUNT_SCALE} decimal places: {field!r}")
    if abs(amount) >= Decimal(10) ** (_AMOUNT_DIGITS - _AMOUNT_SCALE):
        raise HandlerError(f"amount does not fit DECIMAL(12,2): {field!r}")
    return amount


def _instant(field: object) -> datetime:
    if not isinstance(field, str):
        raise HandlerError(f"event_time must be an ISO-8601 string, got {field!r}")
    try:
        moment = datetime.fromisoformat(field)
    except ValueError:
        raise HandlerError(f"event_time is not ISO-8601: {field!r}") from None
    if moment.tzinfo is None:
        raise HandlerError(f"event_time has no time zone: {field!r}")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise HandlerError(f"event_time is outside the representable range: {field!r}") from None
