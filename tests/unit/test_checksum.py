"""Tests for the canonical row encoding: pinned bytes, and equal meaning iff equal digest."""

from __future__ import annotations

import enum
import random
import struct
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Context, Decimal, localcontext
from typing import Any

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from canary.core.checksum import RowValue, canonical_bytes, row_checksum

# --- golden rows: these bytes and digests are the wire contract of compare event v1 ---

ORDER_ROW: dict[str, RowValue] = {
    "order_id": 1001,
    "customer": "Zoë 👩\u200d💻 Ame\u0301lie",  # emoji ZWJ sequence and a combining acute
    "amount": Decimal("1234.50"),
    "currency": "EUR",
    "status": "PAID",
    "items": [{"sku": "A-1", "qty": 2, "price": "9.99"}, {"sku": "B-7", "qty": 1}],
    "note": None,
    "paid": True,
    "created_at": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
}
ORDER_BYTES = (
    b"\x00\x00\x00\x06amountD\x00\x00\x00\x061234.5"
    b"\x00\x00\x00\ncreated_atT\x00\x00\x00\x08\x00\x06\x17c\xa6\t\xc6\x00"
    b"\x00\x00\x00\x08currencyS\x00\x00\x00\x03EUR"
    b"\x00\x00\x00\x08customerS\x00\x00\x00\x19"
    b"Zo\xc3\xab \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb Ame\xcc\x81lie"
    b'\x00\x00\x00\x05itemsJ\x00\x00\x00<[{"price":"9.99","qty":2,"sku":"A-1"},{"qty":1,"sku":"B-7"}]'
    b"\x00\x00\x00\x04noteN\x00\x00\x00\x00"
    b"\x00\x00\x00\x08order_idI\x00\x00\x00\x041001"
    b"\x00\x00\x00\x04paidB\x00\x00\x00\x01\x01"
    b"\x00\x00\x00\x06statusS\x00\x00\x00\x04PAID"
)
ORDER_SUM = "1cfd28e34d0a2fcd64dd619b7f44f33d"

EVERY_TYPE_ROW: dict[str, RowValue] = {
    "n": None,
    "b": False,
    "i": -7,
    "d": Decimal("-0.0100"),
    "f": 2.5,
    "s": "",
    "x": b"\x00\xff",
    "c": date(2024, 2, 29),
    "t": datetime(1969, 12, 31, 23, 59, 59, 999999),  # one microsecond before the epoch
    "j": {"z": [], "a": {"y": 1, "x": None}},
}
EVERY_TYPE_BYTES = (
    b"\x00\x00\x00\x01bB\x00\x00\x00\x01\x00"
    b"\x00\x00\x00\x01cC\x00\x00\x00\n2024-02-29"
    b"\x00\x00\x00\x01dD\x00\x00\x00\x05-0.01"
    b"\x00\x00\x00\x01fF\x00\x00\x00\x08@\x04\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x01iI\x00\x00\x00\x02-7"
    b'\x00\x00\x00\x01jJ\x00\x00\x00\x1d{"a":{"x":null,"y":1},"z":[]}'
    b"\x00\x00\x00\x01nN\x00\x00\x00\x00"
    b"\x00\x00\x00\x01sS\x00\x00\x00\x00"
    b"\x00\x00\x00\x01tT\x00\x00\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\x00\x00\x00\x01xX\x00\x00\x00\x02\x00\xff"
)
EVERY_TYPE_SUM = "4977b200285172ce8788f4dc6f2f6785"


@pytest.mark.parametrize(
    ("row", "expected_bytes", "expected_sum"),
    [
        pytest.param(ORDER_ROW, ORDER_BYTES, ORDER_SUM, id="order"),
        pytest.param(EVERY_TYPE_ROW, EVERY_TYPE_BYTES, EVERY_TYPE_SUM, id="every-type"),
        pytest.param(
            {"name": "\u00e9"},
            b"\x00\x00\x00\x04nameS\x00\x00\x00\x02\xc3\xa9",
            "23412a19d201f6edb7e59322b9d43734",
            id="nfc",
        ),
        pytest.param(
            {"name": "e\u0301"},
            b"\x00\x00\x00\x04nameS\x00\x00\x00\x03e\xcc\x81",
            "351e0cdb0497c788661efb3b8c6f6135",
            id="nfd",
        ),
        # The published XXH3-128 digest of no input at all.
        pytest.param({}, b"", "99aa06d3014798d86001c324468d497f", id="empty"),
    ],
)
def test_golden_rows(row: dict[str, RowValue], expected_bytes: bytes, expected_sum: str) -> None:
    assert canonical_bytes(row) == expected_bytes
    assert row_checksum(row) == expected_sum


# --- strategies and a reference notion of "meaning" ---

NAIVE_DATETIMES = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))
OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
FINITE_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
JSON_CONTAINERS = st.lists(JSON_VALUES, max_size=4) | st.dictionaries(
    st.text(max_size=6), JSON_VALUES, max_size=4
)

VALUES_BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "bool": st.booleans(),
    "int": st.integers(),
    "decimal": FINITE_DECIMALS,
    "float": st.floats(allow_nan=False),
    "str": st.text(max_size=12),
    "bytes": st.binary(max_size=12),
    "date": st.dates(),
    "datetime": NAIVE_DATETIMES
    | st.builds(lambda d, tz: d.replace(tzinfo=tz), NAIVE_DATETIMES, OFFSETS),
    "json": JSON_CONTAINERS,
}
VALUES = st.one_of(*VALUES_BY_KIND.values())
ROWS = st.dictionaries(st.text(max_size=8), VALUES, min_size=1, max_size=8)


def kind_of(value: object) -> str:
    kinds: list[tuple[str, type | tuple[type, ...]]] = [
        ("bool", bool),
        ("int", int),
        ("decimal", Decimal),
        ("float", float),
        ("str", str),
        ("bytes", bytes),
        ("datetime", datetime),
        ("date", date),
        ("json", (dict, list)),
    ]
    if value is None:
        return "null"
    return next(kind for kind, types in kinds if isinstance(value, types))


def json_meaning(value: Any) -> Any:
    """JSON by structure, with types kept apart (Python alone says 1 == 1.0 == True)."""
    if isinstance(value, dict):
        return ("object", frozenset((k, json_meaning(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(json_meaning(v) for v in value))
    return (type(value).__name__, value)


def meaning(value: object) -> Any:
    """What a value means, written independently of the encoder under test."""
    kind = kind_of(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return (kind, value.replace(tzinfo=UTC))  # aware datetimes compare as instants
    if kind == "json":
        return (kind, json_meaning(value))
    # Decimal and float compare by value here, so 1.50 == 1.5 and -0.0 == 0.0.
    return (kind, value)


def entries(encoded: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """Split canonical bytes into (name, tag, value), insisting on the documented layout."""
    out = []
    at = 0
    while at < len(encoded):
        (name_len,) = struct.unpack_from(">I", encoded, at)
        name = encoded[at + 4 : at + 4 + name_len]
        at += 4 + name_len
        tag = encoded[at : at + 1]
        (value_len,) = struct.unpack_from(">I", encoded, at + 1)
        value = encoded[at + 5 : at + 5 + value_len]
        assert len(value) == value_len
        at += 5 + value_len
        out.append((name, tag, value))
    assert at == len(encoded)
    return out


# --- equal meaning, equal digest ---


@given(ROWS, st.data())
def test_column_order_of_the_row_is_irrelevant(row: dict[str, Any], data: st.DataObject) -> None:
    permuted = dict(data.draw(st.permutations(list(row.items()))))
    assert canonical_bytes(permuted) == canonical_bytes(row)


@given(ROWS)
def test_columns_are_in_utf8_byte_order_and_each_is_self_delimiting(row: dict[str, Any]) -> None:
    names = [name for name, _, _ in entries(canonical_bytes(row))]
    assert names == sorted(name.encode() for name in row)


@given(FINITE_DECIMALS, st.integers(0, 8))
def test_decimal_hashes_by_value_whatever_its_scale(value: Decimal, extra_zeros: int) -> None:
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    padded = Decimal((sign, (*digits, *(0,) * extra_zeros), exponent - extra_zeros))
    scientific = Decimal(format(value, "E"))
    normalized = value.normalize(Context(prec=len(digits) + 1))
    assert padded == scientific == normalized == value
    expected = row_checksum({"amount": value})
    for variant in (padded, scientific, normalized):
        assert row_checksum({"amount": variant}) == expected


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("1.50", "1.5"),
        ("1.5000000000", "1.5"),
        ("1E+3", "1000"),
        ("1000.000", "1000"),
        ("0.000", "0"),
        ("-0", "0"),
        ("-0.00", "0E+5"),
        ("1.5E-10", "0.00000000015"),
    ],
)
def test_decimal_examples(left: str, right: str) -> None:
    assert canonical_bytes({"d": Decimal(left)}) == canonical_bytes({"d": Decimal(right)})


def test_decimal_text_is_plain_notation() -> None:
    assert entries(canonical_bytes({"d": Decimal("1.2E+5")}))[0][2] == b"120000"
    assert entries(canonical_bytes({"d": Decimal("-7E-3")}))[0][2] == b"-0.007"
    many_digits = "123456789012345678901234567890123456789.1234567890"
    assert entries(canonical_bytes({"d": Decimal(many_digits)}))[0][2] == many_digits[:-1].encode()


def test_decimal_text_ignores_the_decimal_context() -> None:
    expected = canonical_bytes({"d": Decimal("1E+3")})
    with localcontext(Context(prec=2, capitals=0)):
        assert str(Decimal("1E+3")) == "1e+3"
        assert canonical_bytes({"d": Decimal("1E+3")}) == expected
        assert canonical_bytes({"d": Decimal("123.456")}) == canonical_bytes(
            {"d": Decimal("123.4560")}
        )
        assert entries(canonical_bytes({"d": Decimal("123.456")}))[0][2] == b"123.456"
        assert entries(canonical_bytes({"d": Decimal("1.23456E+10")}))[0][2] == b"12345600000"


@given(NAIVE_DATETIMES, OFFSETS)
def test_naive_datetime_is_utc_and_aware_ones_hash_by_instant(
    naive: datetime, offset: timezone
) -> None:
    in_utc = naive.replace(tzinfo=UTC)
    elsewhere = in_utc.astimezone(offset)
    expected = row_checksum({"at": naive})
    assert row_checksum({"at": in_utc}) == expected
    assert row_checksum({"at": elsewhere}) == expected


def test_datetime_examples() -> None:
    naive = datetime(2024, 1, 1, 12, 0)  # naive means UTC
    digests = {
        row_checksum({"at": naive}),
        row_checksum({"at": datetime(2024, 1, 1, 12, 0, tzinfo=UTC)}),
        row_checksum({"at": datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))}),
    }
    assert len(digests) == 1
    assert row_checksum({"at": naive + timedelta(microseconds=1)}) not in digests


def reorder_keys(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: reorder_keys(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [reorder_keys(v, rnd) for v in value]
    return value


@given(JSON_CONTAINERS, st.randoms(use_true_random=False))
def test_json_key_order_is_irrelevant_at_every_depth(value: Any, rnd: random.Random) -> None:
    assert row_checksum({"j": reorder_keys(value, rnd)}) == row_checksum({"j": value})


def test_json_is_compact_with_sorted_keys() -> None:
    value = {"b": [1, {"d": 1, "c": "é"}], "a": None}
    assert (
        entries(canonical_bytes({"j": value}))[0][2]
        == '{"a":null,"b":[1,{"c":"é","d":1}]}'.encode()
    )


def test_negative_zero_float_is_zero() -> None:
    assert canonical_bytes({"f": -0.0}) == canonical_bytes({"f": 0.0})


class Colour(enum.IntEnum):
    RED = 5


class Label(enum.StrEnum):
    PAID = "PAID"


def test_subclasses_hash_as_their_base_type() -> None:
    assert row_checksum({"v": Colour.RED}) == row_checksum({"v": 5})
    assert row_checksum({"v": Label.PAID}) == row_checksum({"v": "PAID"})
    assert row_checksum({"v": OrderedDict(b=1, a=2)}) == row_checksum({"v": {"a": 2, "b": 1}})


# --- different meaning, different digest ---


@given(ROWS, st.data())
def test_changing_any_one_value_changes_the_digest(
    row: dict[str, Any], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(row)))
    old = row[name]
    # Half the time a value of the same kind, so near misses are tried, not only type changes.
    new = data.draw(VALUES_BY_KIND[kind_of(old)] | VALUES)
    assume(meaning(new) != meaning(old))
    changed = {**row, name: new}
    assert canonical_bytes(changed) != canonical_bytes(row)
    assert row_checksum(changed) != row_checksum(row)


@given(ROWS, st.text(max_size=8))
def test_renaming_a_column_changes_the_digest(row: dict[str, Any], new_name: str) -> None:
    old_name = sorted(row)[0]
    assume(new_name not in row)
    renamed = {new_name if k == old_name else k: v for k, v in row.items()}
    assert row_checksum(renamed) != row_checksum(row)


def test_null_empty_zero_and_false_are_all_different() -> None:
    values: list[RowValue] = [None, "", 0, False, Decimal(0), 0.0, "0", b"", [], {}, "null"]
    digests = {row_checksum({"c": v}) for v in values}
    assert len(digests) == len(values)


def test_string_one_is_not_integer_one() -> None:
    assert row_checksum({"c": "1"}) != row_checksum({"c": 1})


def test_int_and_decimal_of_the_same_value_differ_by_design() -> None:
    # The type is part of the value: a column that comes back as another type has changed.
    assert row_checksum({"c": 1}) != row_checksum({"c": Decimal(1)})
    assert row_checksum({"c": 1}) != row_checksum({"c": 1.0})
    assert row_checksum({"c": 1}) != row_checksum({"c": True})


def test_nfc_and_nfd_spellings_differ() -> None:
    assert row_checksum({"c": "\u00e9"}) != row_checksum({"c": "e\u0301"})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"ab": "c"}, {"a": "bc"}),
        ({"a": "b", "c": "d"}, {"a": "bcd"}),
        ({"a": ""}, {"a": None}),
        ({"a": "", "b": ""}, {"a": "\x00\x00\x00\x01b"}),
        ({"a": b"S"}, {"a": "S"}),
    ],
)
def test_name_value_boundaries_cannot_collide(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert canonical_bytes(left) != canonical_bytes(right)
    assert row_checksum(left) != row_checksum(right)


# --- refusals ---


@pytest.mark.parametrize(
    "value",
    [
        pytest.param((1, 2), id="tuple"),
        pytest.param({1, 2}, id="set"),
        pytest.param(object(), id="object"),
        pytest.param(timedelta(seconds=1), id="timedelta"),
        pytest.param({"price": Decimal("1.5")}, id="decimal-in-json"),
        pytest.param([datetime(2024, 1, 1, tzinfo=UTC)], id="datetime-in-json"),
        pytest.param({1: "a"}, id="non-string-json-key"),
    ],
)
def test_unsupported_types_raise_type_error_naming_the_column(value: Any) -> None:
    with pytest.raises(TypeError, match="column 'amount'"):
        canonical_bytes({"amount": value})


@pytest.mark.parametrize(
    "value",
    [float("nan"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")],
    ids=str,
)
def test_values_without_a_canonical_form_raise_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="column 'amount'"):
        canonical_bytes({"amount": value})


def test_lone_surrogates_raise_value_error() -> None:
    with pytest.raises(ValueError, match="column 'c'"):
        canonical_bytes({"c": "\ud800"})


def test_non_string_column_names_raise_type_error() -> None:
    with pytest.raises(TypeError, match="column names must be str"):
        canonical_bytes({1: "a"})  # type: ignore[dict-item]


def test_json_literal_is_what_orjson_writes() -> None:
    value = [{"sku": "A-1", "qty": 2}]
    assert entries(canonical_bytes({"j": value}))[0][2] == orjson.dumps(
        value, option=orjson.OPT_SORT_KEYS
    )
