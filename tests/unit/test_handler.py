"""Tests for the default handler (order event -> row) and the handler loader."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.errors import EXIT_USAGE, ConfigError, HandlerError
from canary.handlers.loader import load_handler
from canary.handlers.orders import to_row

ITEMS = [{"sku": "SKU-00001", "qty": 2, "price": "6.25", "line": 1}]


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "order_id": 42,
        "user_id": 1042,
        "amount": "1234.50",
        "currency": "EUR",
        "status": "paid",
        "items": ITEMS,
        "note": "Cafe\u0301 🚀 日本",
        "event_time": "2026-03-01T14:30:15.123456+02:00",
        "version": 3,
    }
    event.update(changes)
    return event


def _encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def _without(name: str) -> bytes:
    event = _event()
    del event[name]
    return _encode(event)


def test_valid_event_becomes_the_exact_row() -> None:
    row = to_row(b"42", _encode(_event()))
    assert row == {
        "order_id": 42,
        "user_id": 1042,
        "amount": Decimal("1234.50"),
        "currency": "EUR",
        "status": "paid",
        "items": ITEMS,
        "note": "Cafe\u0301 🚀 日本",
        "event_time": datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "version": 3,
    }
    assert type(row["amount"]) is Decimal
    assert isinstance(row["items"], list)
    moment = row["event_time"]
    assert isinstance(moment, datetime)
    assert moment.tzinfo is not None
    assert moment.utcoffset() is not None
    assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert moment.microsecond == 123456


def test_note_may_be_null_and_key_may_be_absent() -> None:
    row = to_row(None, _encode(_event(note=None)))
    assert row["note"] is None
    assert row["order_id"] == 42


def test_zulu_suffix_is_utc() -> None:
    row = to_row(b"42", _encode(_event(event_time="2026-03-01T12:30:15.000001Z")))
    assert row["event_time"] == datetime(2026, 3, 1, 12, 30, 15, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "amount", ["0", "0.5", "-12.30", "9999999999.99", "-9999999999.99", "1E+2"]
)
def test_amounts_that_fit_numeric_12_2_are_kept_by_value(amount: str) -> None:
    assert to_row(b"42", _encode(_event(amount=amount)))["amount"] == Decimal(amount)


@given(
    st.decimals(
        min_value=Decimal("-9999999999.99"),
        max_value=Decimal("9999999999.99"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_any_two_place_amount_in_range_is_accepted(amount: Decimal) -> None:
    assert to_row(None, _encode(_event(amount=str(amount))))["amount"] == amount


INVALID: list[tuple[str, bytes | None, bytes | None, str]] = [
    ("value None", b"42", None, "value"),
    ("not JSON", b"42", b"{not json", "JSON"),
    ("not UTF-8 JSON", b"42", b"\xff\xfe", "JSON"),
    ("JSON array", b"42", b"[1, 2]", "object"),
    ("JSON string", b"42", b'"order"', "object"),
    ("missing order_id", None, _without("order_id"), "order_id"),
    ("negative order_id", None, _encode(_event(order_id=-1)), "order_id"),
    ("bool order_id", None, _encode(_event(order_id=True)), "order_id"),
    ("string order_id", None, _encode(_event(order_id="42")), "order_id"),
    ("float order_id", None, _encode(_event(order_id=42.0)), "order_id"),
    ("order_id beyond BIGINT", None, _encode(_event(order_id=1 << 63)), "order_id"),
    ("missing user_id", b"42", _without("user_id"), "user_id"),
    ("negative version", b"42", _encode(_event(version=-3)), "version"),
    ("empty currency", b"42", _encode(_event(currency="")), "currency"),
    ("numeric status", b"42", _encode(_event(status=5)), "status"),
    ("key mismatch", b"43", _encode(_event()), "order_id"),
    ("key with padding", b"042", _encode(_event()), "key"),
    ("amount with 3 decimals", b"42", _encode(_event(amount="1.234")), "amount"),
    ("amount too large", b"42", _encode(_event(amount="10000000000.00")), "amount"),
    ("amount too large, negative", b"42", _encode(_event(amount="-1E+10")), "amount"),
    ("NaN amount", b"42", _encode(_event(amount="NaN")), "amount"),
    ("infinite amount", b"42", _encode(_event(amount="-Infinity")), "amount"),
    ("amount not a number", b"42", _encode(_event(amount="12,50")), "amount"),
    ("amount as a JSON number", b"42", _encode(_event(amount=12.5)), "amount"),
    ("missing amount", b"42", _without("amount"), "amount"),
    ("event_time without tz", b"42", _encode(_event(event_time="2026-03-01T12:30")), "event_time"),
    ("event_time not ISO", b"42", _encode(_event(event_time="yesterday")), "event_time"),
    ("event_time as epoch", b"42", _encode(_event(event_time=1_700_000_000)), "event_time"),
    ("items an object", b"42", _encode(_event(items={"sku": "A"})), "items"),
    ("items missing", b"42", _without("items"), "items"),
    ("note a number", b"42", _encode(_event(note=5)), "note"),
    ("note a list", b"42", _encode(_event(note=["a"])), "note"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "field"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_input_raises_handler_error_naming_the_field(
    key: bytes | None, value: bytes | None, field: str
) -> None:
    with pytest.raises(HandlerError) as caught:
        to_row(key, value)
    assert field in str(caught.value)


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"])
def test_event_time_outside_the_utc_range_is_a_handler_error(moment: str) -> None:
    with pytest.raises(HandlerError, match="event_time"):
        to_row(b"42", _encode(_event(event_time=moment)))


@pytest.mark.parametrize(("field", "text"), [("currency", "EURODOLLAR"), ("status", "s" * 33)])
def test_text_longer_than_the_mysql_column_is_rejected(field: str, text: str) -> None:
    with pytest.raises(HandlerError, match=field):
        to_row(b"42", _encode(_event(**{field: text})))


def test_a_note_longer_than_mysql_text_is_refused_for_both_paths() -> None:
    # 21,845 three-byte characters are 65,535 bytes: the most MySQL TEXT holds.
    fits = "日" * 21_845
    assert to_row(None, orjson.dumps(_event(note=fits)))["note"] == fits
    with pytest.raises(HandlerError, match=r"note is 65,538 bytes of UTF-8"):
        to_row(None, orjson.dumps(_event(note=fits + "日")))
    with pytest.raises(HandlerError, match="note is 70,000 bytes"):
        to_row(None, orjson.dumps(_event(note="x" * 70_000)))


@pytest.mark.parametrize("changes", [{"note": "a\x00b"}, {"items": [{"sku": "A\x00"}]}])
def test_nul_characters_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(HandlerError):
        to_row(b"42", _encode(_event(**changes)))


# --- loader -------------------------------------------------------------------------------


def test_loader_resolves_the_default_handler() -> None:
    handler = load_handler("canary.handlers.orders:to_row")
    assert handler is to_row
    assert handler(b"42", _encode(_event()))["order_id"] == 42


def test_loader_resolves_a_user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = "canary_test_user_handler_ok"
    (tmp_path / f"{module}.py").write_text(
        "def handle(key, value):\n    return {'k': key, 'v': value}\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    handler: Callable[[bytes | None, bytes | None], Any] = load_handler(f"{module}:handle")
    assert handler(b"k", b"v") == {"k": b"k", "v": b"v"}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("canary_no_such_module_zz:to_row", "canary_no_such_module_zz"),
        ("canary.handlers.no_such_module:to_row", "canary.handlers.no_such_module"),
        ("canary.handlers.orders:no_such_function", "no_such_function"),
        ("canary.handlers.orders:_AMOUNT_SCALE", "_AMOUNT_SCALE"),  # exists, not callable
        ("canary.handlers.orders", "canary.handlers.orders"),  # no function part
    ],
)
def test_bad_handler_path_is_a_config_error(path: str, detail: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_handler(path)
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.key == "handler.path"
    assert "handler.path" in str(caught.value)
    assert detail in str(caught.value)


def test_handler_module_that_fails_to_import_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = "canary_test_user_handler_broken"
    (tmp_path / f"{module}.py").write_text("def handle(key, value:\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ConfigError, match=r"handler\.path"):
        load_handler(f"{module}:handle")
