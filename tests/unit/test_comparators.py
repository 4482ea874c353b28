"""Tests for the cross-engine value rules and the cause labels of differing values."""

from __future__ import annotations

import json
import struct
import unicodedata
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from comparators.causes import CAUSES, likely_cause, summarize
from comparators.values import (
    EXACT,
    KINDS,
    MISSING,
    ColumnKind,
    Tolerance,
    compare_rows,
    display,
    equal,
    normalize,
)

NOON = datetime(2024, 5, 1, 12, 0, 0, 123456)  # as PyMySQL returns DATETIME(6): naive, UTC
PLUS_2 = timezone(timedelta(hours=2))


def assert_equal(a: object, b: object, kind: ColumnKind = "auto", tol: Tolerance = EXACT) -> None:
    assert equal(a, b, kind, tol), (a, b, kind)
    assert equal(b, a, kind, tol), (b, a, kind)


def assert_differ(a: object, b: object, kind: ColumnKind = "auto", tol: Tolerance = EXACT) -> None:
    assert not equal(a, b, kind, tol), (a, b, kind)
    assert not equal(b, a, kind, tol), (b, a, kind)


def assert_cause(a: object, b: object, cause: str) -> None:
    assert likely_cause("col", a, b) == cause, (a, b)
    assert likely_cause("col", b, a) == cause, (b, a)


# --- strategies ----------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_trees = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_trees, min_size=1, max_size=5)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
naive_datetimes = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30))
aware_datetimes = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)
any_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(),  # NaN, sNaN and infinities included
    st.floats(),
    st.text(),
    st.binary(),
    st.binary().map(bytearray),
    st.dates(),
    naive_datetimes,
    aware_datetimes,
    st.times(),
    json_objects,
    st.lists(json_trees, max_size=4),
)


def permuted(tree: Any, rnd: Any) -> Any:
    """The same JSON tree with the keys of every object in a shuffled order."""
    if isinstance(tree, dict):
        keys = list(tree)
        rnd.shuffle(keys)
        return {key: permuted(tree[key], rnd) for key in keys}
    if isinstance(tree, list):
        return [permuted(item, rnd) for item in tree]
    return tree


# --- Tolerance and kinds -------------------------------------------------------------------


def test_kinds_are_the_documented_ones() -> None:
    assert set(KINDS) == {
        "auto", "decimal", "datetime", "json", "bool", "text", "float", "float32", "int",
        "bytes", "date", "uuid",
    }  # fmt: skip


def test_tolerance_defaults_to_exact() -> None:
    assert Tolerance() == EXACT
    assert EXACT.exact
    assert not Tolerance(absolute=0.01).exact


@pytest.mark.parametrize(
    "kwargs",
    [
        {"absolute": -0.1},
        {"relative": -1.0},
        {"absolute": float("nan")},
        {"relative": float("inf")},
    ],
)
def test_tolerance_rejects_negative_or_non_finite(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Tolerance"):
        Tolerance(**kwargs)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown column kind"):
        normalize(1, "money")  # type: ignore[arg-type]


# --- decimals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        (Decimal("1.50"), Decimal("1.5")),
        (Decimal("1.500000"), Decimal("1.5")),
        (1, Decimal("1.0")),
        (Decimal("-0.00"), Decimal(0)),
        (Decimal("1E+2"), 100),
        (Decimal("0.1"), 0.1),
        # 40 digits: above the default 28-digit context, still compared exactly
        (
            Decimal("1234567890123456789012345678901234567890.50"),
            Decimal("1234567890123456789012345678901234567890.5"),
        ),
    ],
)
def test_decimal_equal_by_value(mysql: object, pg: object) -> None:
    assert_equal(mysql, pg)
    assert_equal(mysql, pg, "decimal")


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        (Decimal("1.50"), Decimal("1.51")),
        (
            Decimal("1234567890123456789012345678901234567890.50"),
            Decimal("1234567890123456789012345678901234567890.51"),
        ),
        (Decimal(1), Decimal(-1)),
        (Decimal("0.1"), 0.2),
        (Decimal(1), "1"),  # a type change is visible in auto
        (Decimal(1), None),
    ],
)
def test_decimal_differences(mysql: object, pg: object) -> None:
    assert_differ(mysql, pg)


def test_decimal_kind_parses_text_and_canonicalizes() -> None:
    assert_equal("1.50", Decimal("1.5"), "decimal")
    assert_differ("1.50", Decimal("1.5"))
    assert_differ("not a number", Decimal(0), "decimal")
    assert normalize(Decimal("123.4500E+3"), "decimal") == Decimal("123450")
    assert str(normalize(Decimal("1.500"), "decimal")) == "1.5"
    assert str(normalize(Decimal("-0.000"), "decimal")) == "0"


def test_decimal_nan_and_infinity() -> None:
    assert_equal(Decimal("NaN"), Decimal("NaN"))
    assert_equal(Decimal("sNaN"), Decimal("NaN"))  # must not raise InvalidOperation
    assert_differ(Decimal("NaN"), Decimal(0))
    assert_equal(Decimal("Infinity"), float("inf"))
    assert_differ(Decimal("Infinity"), Decimal("-Infinity"), tol=Tolerance(relative=1.0))


def test_int_kind() -> None:
    assert normalize(Decimal("42.00"), "int") == 42
    assert type(normalize(Decimal("42.00"), "int")) is int
    assert normalize("42", "int") == 42
    assert normalize(Decimal("4.2"), "int") == Decimal("4.2")
    assert_equal(42, Decimal("42.00"), "int")
    assert_differ(42, 43, "int")
    assert_differ(1, True, "int")  # a bool is not the number 1 outside kind "bool"


# --- floats and tolerance -----------------------------------------------------------------


def test_floats_exact_by_default() -> None:
    assert_differ(0.1 + 0.2, 0.3)
    assert_equal(0.1 + 0.2, 0.3, tol=Tolerance(relative=1e-9))
    assert_equal(-0.0, 0.0)
    assert_equal(float("nan"), float("nan"))
    assert_differ(float("nan"), 1.0, tol=Tolerance(absolute=1e9))
    assert_equal(float("inf"), float("inf"))
    assert_differ(float("inf"), float("-inf"))


def test_absolute_tolerance_reads_floats_as_written() -> None:
    # In binary, 1.51 - 1.50 is 0.010000000000000009 > 0.01; as written it is 0.01.
    cent = Tolerance(absolute=0.01)
    assert_equal(1.50, 1.51, "float", cent)
    assert_equal(Decimal("1.50"), Decimal("1.51"), "decimal", cent)
    assert_differ(Decimal("1.50"), Decimal("1.52"), "decimal", cent)
    # 34 digits: the default 28-digit context would round the difference away.
    big = Decimal("12345678901234567890123456789012.34")
    assert_equal(big, Decimal("12345678901234567890123456789012.35"), tol=cent)
    assert_differ(big, Decimal("12345678901234567890123456789012.36"), tol=cent)


def test_relative_tolerance() -> None:
    per_mille = Tolerance(relative=0.001)
    assert_equal(1000.0, 1001.0, tol=per_mille)
    assert_differ(1000.0, 1002.0, tol=per_mille)
    assert_equal(Decimal(1000), 1001, tol=per_mille)


def test_float_kind() -> None:
    assert normalize(Decimal("1.5"), "float") == 1.5
    assert normalize("2.5", "float") == 2.5
    assert_equal("2.5", 2.5, "float")
    assert_differ("x", 2.5, "float")


# --- 4-byte floats ------------------------------------------------------------------------

FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.401298464324817e-45  # the smallest subnormal, 2^-149


def as_float32(value: float) -> float:
    """``value`` rounded to a 4-byte float, as the double that holds it (as an engine does)."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        (0.10000000149011612, 0.1),  # FLOAT 0.1 as its exact double vs REAL 0.1 as written
        ("0.3333333432674408", "0.33333334"),  # the texts both engines read
        (1 / 3, as_float32(1 / 3)),  # DOUBLE vs REAL: the double rounded to float32
        (16777217.0, 16777216.0),  # 2^24 + 1 rounds (ties to even) to 2^24
        (FLOAT32_TINY, "1e-45"),
        (1.1754942106924411e-38, 1.1754942e-38),  # the largest subnormal
        (FLOAT32_MAX, "3.4028235e38"),
        (3.4028235677973362e38, FLOAT32_MAX),  # just below the halfway point: rounds down
        (-0.0, 0.0),
        (1e-50, 0.0),  # rounds to zero
        (2**-150, 0.0),  # the halfway point to 2^-149 rounds to even: zero
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (Decimal("0.1"), 0.10000000149011612),  # a DECIMAL against a FLOAT
        (1, 1.0),
    ],
)
def test_float32_equal_at_four_byte_precision(mysql: object, pg: object) -> None:
    assert_equal(mysql, pg, "float32")


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        (0.20000000298023224, 0.20000001788139343),  # the next float32: MariaDB prints 0.2
        (as_float32(1 / 3), 0.3333333730697632),
        (FLOAT32_TINY, 2 * FLOAT32_TINY),
        (2**-150 * 1.0000001, 0.0),  # just past halfway: rounds to 2^-149, not zero
        (3.4028235677973366e38, float("inf")),  # beyond float32: equals no float32 ...
        (3.4028235677973366e38, FLOAT32_MAX),  # ... not even the largest
        (1e39, float("inf")),
        (float("nan"), 0.0),
        (float("inf"), float("-inf")),
        ("x", 1.0),
    ],
)
def test_float32_differences(mysql: object, pg: object) -> None:
    assert_differ(mysql, pg, "float32")


def test_float32_normalizes_to_the_shortest_text_of_the_4_byte_float() -> None:
    assert normalize(0.10000000149011612, "float32") == Decimal("0.1")
    assert str(normalize(0.1, "float32")) == "0.1"
    assert normalize(1 / 3, "float32") == Decimal("0.33333334")
    assert normalize(-0.0, "float32") == Decimal(0)
    assert normalize(1e39, "float32") == Decimal("1E+39")  # kept: no float32 holds it
    assert normalize("abc", "float32") == "abc"
    assert normalize(True, "float32") is True


def test_float32_tolerance_reads_the_4_byte_floats_as_written() -> None:
    # As float32s, 0.3 and 0.29 are 0.30000001192092896 and 0.28999999165534973, more than
    # 0.01 apart; as written they are 0.01 apart.
    cent = Tolerance(absolute=0.01)
    assert_equal(as_float32(0.3), 0.29, "float32", cent)
    assert_differ(as_float32(0.3), 0.28, "float32", cent)
    assert_equal(as_float32(1000.0), 1001.0, "float32", Tolerance(relative=0.001))


@given(st.floats(allow_nan=False, width=64))
def test_a_double_equals_its_nearest_float32(value: float) -> None:
    assume(abs(value) < 3.4028235677973366e38)
    assert_equal(value, as_float32(value), "float32")
    assert normalize(value, "float32") == normalize(as_float32(value), "float32")


@given(st.floats(width=32, allow_nan=False), st.floats(width=32, allow_nan=False))
def test_distinct_float32_values_differ(first: float, second: float) -> None:
    assume(first != second)
    assert_differ(first, second, "float32")
    assert_equal(first, float(repr(first)), "float32")


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_text_is_shortest_and_reads_back(value: float) -> None:
    number = normalize(value, "float32")
    assert isinstance(number, Decimal)
    assert as_float32(float(number)) == value
    digits = len(number.as_tuple().digits)
    if digits > 1:  # one digit fewer never reads back as the same float32
        shorter = float(f"{value:.{digits - 2}e}")
        assert as_float32(shorter) != value


# --- UUIDs ----------------------------------------------------------------------------------

UUID_TEXT = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    "mysql",
    [
        UUID_TEXT,
        UUID_TEXT.upper(),
        "0F8fAD5b-D9cB-469f-A165-70867728950E",
        UUID_TEXT.replace("-", ""),
        UUID_TEXT.replace("-", "").upper(),
        uuid.UUID(UUID_TEXT).bytes,  # BINARY(16)
        bytearray(uuid.UUID(UUID_TEXT).bytes),
        uuid.UUID(UUID_TEXT),
    ],
)
def test_uuid_equal_by_value(mysql: object) -> None:
    assert_equal(mysql, UUID_TEXT, "uuid")
    assert_equal(mysql, uuid.UUID(UUID_TEXT), "uuid")
    assert normalize(mysql, "uuid") == UUID_TEXT


@pytest.mark.parametrize(
    "mysql",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950f",  # another UUID
        "{" + UUID_TEXT + "}",  # braces, URNs and other layouts are not taken for UUIDs
        f"urn:uuid:{UUID_TEXT}",
        UUID_TEXT + "\n",
        " " + UUID_TEXT,
        UUID_TEXT[:-1],
        "0f8fad5bd9cb-469f-a165-70867728950e",
        "0g8fad5b-d9cb-469f-a165-70867728950e",
        uuid.UUID(UUID_TEXT).bytes[::-1],  # other bytes, another UUID
        uuid.UUID(UUID_TEXT).bytes[:15],
        None,
        "",
    ],
)
def test_uuid_differences(mysql: object) -> None:
    assert_differ(mysql, UUID_TEXT, "uuid")


def test_uuid_kind_leaves_other_values_alone() -> None:
    assert normalize("not a uuid", "uuid") == "not a uuid"
    assert normalize(b"short", "uuid") == b"short"
    assert normalize(5, "uuid") == 5


@given(st.uuids())
def test_every_uuid_spelling_is_one_value(value: uuid.UUID) -> None:
    text = str(value)
    for spelling in (text.upper(), value.hex, value.hex.upper(), value.bytes, value):
        assert_equal(spelling, text, "uuid")


def test_tolerance_does_not_reach_into_json() -> None:
    assert_differ({"a": 1.0}, {"a": 1.001}, tol=Tolerance(absolute=0.01))


# --- datetimes ------------------------------------------------------------------------------


def test_naive_utc_equals_aware_instant() -> None:
    assert_equal(NOON, NOON.replace(tzinfo=UTC))
    assert_equal(NOON, NOON.replace(tzinfo=UTC).astimezone(PLUS_2))
    assert_equal(NOON, NOON.replace(tzinfo=UTC).astimezone(PLUS_2), "datetime")
    assert normalize(NOON) == NOON.replace(tzinfo=UTC)
    assert normalize(NOON.replace(tzinfo=PLUS_2)) == datetime(2024, 5, 1, 10, 0, 0, 123456, UTC)


def test_datetime_differences() -> None:
    aware = NOON.replace(tzinfo=UTC)
    assert_differ(NOON, aware + timedelta(microseconds=1))
    assert_differ(NOON, aware + timedelta(hours=2))
    assert_differ(NOON, NOON.replace(tzinfo=PLUS_2))  # the wall clock agrees, the instant not
    assert_differ(datetime(2024, 5, 1), date(2024, 5, 1))
    assert_differ(NOON, NOON.isoformat())


def test_datetime_kind_parses_iso_text_and_keeps_zero_dates() -> None:
    assert_equal("2024-05-01 12:00:00.123456", NOON.replace(tzinfo=UTC), "datetime")
    assert_equal("2024-05-01T14:00:00.123456+02:00", NOON, "datetime")
    assert normalize("0000-00-00 00:00:00", "datetime") == "0000-00-00 00:00:00"
    assert_differ("0000-00-00 00:00:00", NOON, "datetime")


def test_dates() -> None:
    assert_equal(date(2024, 2, 29), date(2024, 2, 29))
    assert_equal("2024-02-29", date(2024, 2, 29), "date")
    assert_differ("2024-02-29", date(2024, 2, 29))
    assert_differ(date(2024, 2, 29), date(2024, 3, 1), "date")
    assert_differ("2024-02-30", date(2024, 3, 1), "date")


# --- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        ('{"b": 2, "a": 1}', {"a": 1, "b": 2}),
        (
            '{\n  "a" :  [1, 2],\n  "b": {"y": null, "x": "s"}\n}',
            {"b": {"x": "s", "y": None}, "a": [1, 2]},
        ),
        ('{"price": 1.00}', {"price": 1.0}),
        ('{"price": 1.00}', {"price": 1}),
        ('{"price": 19.99}', {"price": 19.99}),
        ('{"price": 0.1}', {"price": Decimal("0.10")}),
        (
            '{"n": 123456789012345678901234567890.123456789}',
            {"n": Decimal("123456789012345678901234567890.123456789")},
        ),
        ("[]", []),
        (b'{"a": "\xc3\xa9"}', {"a": "é"}),
    ],
)
def test_json_equal_by_structure(mysql: object, pg: object) -> None:
    assert_equal(mysql, pg)
    assert_equal(mysql, pg, "json")


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        ('{"price": 19.99}', {"price": 19.98}),  # a cent: no float rounding hides it
        (
            '{"n": 123456789012345678901234567890.123456789}',
            {"n": Decimal("123456789012345678901234567890.123456788")},
        ),
        ('{"a": true}', {"a": 1}),
        ('{"a": false}', {"a": 0}),
        ('{"a": null}', {}),
        ('{"a": ""}', {"a": None}),
        ("[1, 2]", [2, 1]),
        ('{"a": "X"}', {"a": "x"}),
        ('{"a": NaN}', {"a": float("nan")}),  # NaN is not JSON on either engine
        ("not json", {"a": 1}),
        ("{}", []),
        ('{"a": 1}', None),
    ],
)
def test_json_differences(mysql: object, pg: object) -> None:
    assert_differ(mysql, pg)
    assert_differ(mysql, pg, "json")


def test_json_kind_parses_text_on_both_sides_auto_does_not() -> None:
    assert_equal('{"a": 1}', '{ "a" : 1.0 }', "json")
    assert_differ('{"a": 1}', '{ "a" : 1.0 }')  # two strings in auto are text
    assert_equal('"abc"', "abc", "json")  # a JSONB string scalar as psycopg loads it
    assert_equal("12.50", 12.5, "json")
    assert normalize('{"a": [1.50, true]}', "json") == {"a": [Decimal("1.5"), True]}


# --- booleans -----------------------------------------------------------------------------


@pytest.mark.parametrize(("tinyint", "boolean"), [(1, True), (0, False)])
def test_tinyint_equals_boolean(tinyint: int, boolean: bool) -> None:
    assert_equal(tinyint, boolean)
    assert_equal(tinyint, boolean, "bool")
    assert_differ(tinyint, not boolean)
    assert_differ(tinyint, not boolean, "bool")
    assert_equal(bytes([tinyint]), boolean, "bool")  # BIT(1)


def test_bool_differences() -> None:
    assert_differ(2, True)
    assert_differ(2, True, "bool")
    assert_differ("1", True)
    assert_differ(None, False, "bool")
    assert_differ(Decimal(1), True)
    assert_equal(1, 1, "bool")
    assert normalize(1, "bool") is True


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        ("PAID", "paid"),
        ("abc ", "abc"),
        (" abc", "abc"),
        ("abc\t", "abc"),
        (None, ""),
        ("é", "e\u0301"),  # NFC vs NFD
        ("\u00c5", "\u212b"),  # LATIN CAPITAL A WITH RING vs ANGSTROM SIGN
        ("👍", "👍🏽"),
        ("abc", b"abc"),
    ],
)
@pytest.mark.parametrize("kind", ["auto", "text"])
def test_text_is_exact(mysql: object, pg: object, kind: ColumnKind) -> None:
    assert_differ(mysql, pg, kind)


@pytest.mark.parametrize("text", ["", " ", "Zoë 👩\u200d💻 Ame\u0301lie", "e\u0301", "🇫🇷", "ß"])
def test_text_equals_itself(text: str) -> None:
    assert_equal(text, text)
    assert_equal(text, text, "text")
    assert normalize(text, "text") is text


@pytest.mark.parametrize("kind", KINDS)
def test_null_is_only_null(kind: ColumnKind) -> None:
    assert_equal(None, None, kind)
    assert_differ(None, "", kind)
    assert_differ(None, 0, kind)
    assert_differ(None, False, kind)


# --- bytes and others ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["auto", "bytes"])
def test_bytes_by_content(kind: ColumnKind) -> None:
    assert_equal(b"\x00\xff", bytearray(b"\x00\xff"), kind)
    assert_equal(b"\x00\xff", memoryview(b"\x00\xff"), kind)
    assert_differ(b"\x00\xff", b"\x00\xfe", kind)
    assert_differ(b"\x00\xff", b"\x00\xff\x00", kind)
    assert_differ(b"abc", "abc", kind)


def test_other_types_compare_with_their_own_equality() -> None:
    assert_equal(time(12, 30), time(12, 30))
    assert_differ(time(12, 30), timedelta(hours=12, minutes=30))
    key = uuid.UUID(int=7)
    assert_equal(key, uuid.UUID(int=7))
    assert_differ(key, str(key))


# --- compare_rows -------------------------------------------------------------------------


def test_compare_rows_returns_only_differing_columns() -> None:
    mysql = {
        "order_id": 1,
        "amount": Decimal("1.50"),
        "items": '[{"sku": "A", "qty": 2}]',
        "paid": 1,
        "note": None,
        "event_time": NOON,
        "status": "PAID",
    }
    pg = {
        "order_id": 1,
        "amount": Decimal("1.5"),
        "items": [{"qty": 2, "sku": "A"}],
        "paid": True,
        "note": "",
        "event_time": NOON.replace(tzinfo=UTC).astimezone(PLUS_2),
        "status": "paid",
    }
    assert compare_rows(mysql, pg) == {"note": (None, ""), "status": ("PAID", "paid")}
    assert compare_rows(mysql, pg, ignore={"note", "status"}) == {}


def test_compare_rows_missing_columns_in_order() -> None:
    diff = compare_rows({"a": 1, "b": None, "c": 3}, {"d": 4, "c": 3, "a": 1})
    assert diff == {"b": (None, MISSING), "d": (MISSING, 4)}
    assert list(diff) == ["b", "d"]
    assert MISSING is not None
    assert repr(MISSING) == "<missing>"


def test_compare_rows_uses_kinds_and_tolerances() -> None:
    mysql = {"doc": '{"a": 1}', "price": 1.5, "flag": 1}
    pg = {"doc": '{"a": 1.0}', "price": 1.51, "flag": 1}
    assert set(compare_rows(mysql, pg)) == {"doc", "price"}
    assert (
        compare_rows(
            mysql,
            pg,
            kinds={"doc": "json", "flag": "bool"},
            tolerances={"price": Tolerance(absolute=0.01)},
        )
        == {}
    )


# --- display ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        (True, True),
        (7, 7),
        (2.5, 2.5),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        ("é", "é"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("1E+3"), "1000"),
        (NOON, "2024-05-01T12:00:00.123456+00:00"),
        (datetime(2024, 5, 1, 14, tzinfo=PLUS_2), "2024-05-01T14:00:00.000000+02:00"),
        (date(2024, 2, 29), "2024-02-29"),
        (b"\x00\xff", "00ff"),
        (bytearray(b"\x01"), "01"),
        (memoryview(b"\xab"), "ab"),
        ({"a": [Decimal("0.10"), None]}, {"a": ["0.10", None]}),
        ((1, b"\x02"), [1, "02"]),
        (MISSING, "<missing>"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_display(value: object, shown: object) -> None:
    assert display(value) == shown


@given(any_values)
def test_display_is_always_strict_json(value: object) -> None:
    json.dumps(display(value), allow_nan=False)


# --- causes: examples, both directions ------------------------------------------------------

_AWARE_NOON = NOON.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("mysql", "pg", "cause"),
    [
        # time-zone hour shift: the wall clock written in a local zone as if it were UTC
        (NOON, _AWARE_NOON + timedelta(hours=2), "time-zone hour shift"),
        (NOON, _AWARE_NOON - timedelta(hours=14), "time-zone hour shift"),
        (NOON, _AWARE_NOON + timedelta(hours=5, minutes=30), "time-zone hour shift"),
        (NOON, _AWARE_NOON + timedelta(hours=5, minutes=45), "time-zone hour shift"),
        (NOON, _AWARE_NOON - timedelta(hours=3, minutes=30), "time-zone hour shift"),
        (NOON, _AWARE_NOON.replace(microsecond=0) + timedelta(hours=1), "time-zone hour shift"),
        (NOON, _AWARE_NOON + timedelta(hours=15), "other"),
        (NOON, _AWARE_NOON + timedelta(minutes=20), "other"),
        (NOON, _AWARE_NOON + timedelta(days=1), "other"),
        # precision loss
        (NOON, _AWARE_NOON.replace(microsecond=123000), "precision loss"),
        (NOON, _AWARE_NOON + timedelta(microseconds=1), "precision loss"),
        (datetime(2024, 1, 1, 0, 0, 0, 500000), datetime(2024, 1, 1, 0, 0, 1), "precision loss"),
        (Decimal("1.235"), Decimal("1.24"), "precision loss"),
        (Decimal("1.239"), Decimal("1.23"), "precision loss"),
        (Decimal("-1.239"), Decimal("-1.23"), "precision loss"),
        (Decimal("2.5"), 2, "precision loss"),
        (Decimal("2.5"), 3, "precision loss"),
        (0.1, struct.unpack("f", struct.pack("f", 0.1))[0], "precision loss"),
        (Decimal("0.1"), 0.1000001, "precision loss"),
        (Decimal("1.52"), Decimal("1.51"), "other"),
        (Decimal("268.64"), Decimal("268.60"), "precision loss"),
        (Decimal("1.2"), Decimal("1.35"), "other"),
        (2, 3, "other"),
        (0.1, 0.2, "other"),
        (Decimal("NaN"), Decimal(1), "other"),
        # text
        ("PAID", "paid", "case-only"),
        ("straße", "STRASSE", "case-only"),
        ("\u212b", "\u00e5", "case-only"),  # ANGSTROM SIGN vs small a with ring
        ("\u212b", "\u00c5", "other"),  # same letter, another code point: not case
        ("abc ", "abc", "trailing whitespace"),
        ("abc\t\n", "abc", "trailing whitespace"),
        ("  abc", "abc", "trailing whitespace"),
        ("Abc ", "abc", "other"),
        ("é", "e\u0301", "other"),
        ("abc", "abd", "other"),
        # NULL vs empty
        (None, "", "NULL vs empty"),
        (None, " ", "other"),
        (None, "x", "other"),
        # JSON value
        ('{"a": 1}', {"a": 2}, "JSON value"),
        ({"a": 1}, {"a": 1, "b": None}, "JSON value"),
        ("[1, 2]", [2, 1], "JSON value"),
        ("not json", {"a": 1}, "other"),
        ('"a"', {"a": 1}, "other"),
        # boolean flip
        (1, False, "boolean flip"),
        (0, True, "boolean flip"),
        (True, False, "boolean flip"),
        (b"\x01", False, "boolean flip"),
        (2, True, "other"),
        (1, 0, "other"),  # plain integers: no boolean involved
        # other
        (1, "1", "other"),
        (date(2024, 1, 1), date(2024, 1, 2), "other"),
        (b"\x00", b"\x01", "other"),
        (None, 0, "other"),
    ],
)
def test_likely_cause(mysql: object, pg: object, cause: str) -> None:
    assert_cause(mysql, pg, cause)


def test_causes_are_the_documented_labels() -> None:
    assert set(CAUSES) == {
        "time-zone hour shift", "precision loss", "case-only", "trailing whitespace",
        "NULL vs empty", "JSON value", "boolean flip", "other",
    }  # fmt: skip


def test_summarize_counts_most_frequent_first() -> None:
    labels = ["other", "case-only", "precision loss", "case-only", "other", "custom"]
    summary = summarize(labels)
    assert summary == {"case-only": 2, "other": 2, "precision loss": 1, "custom": 1}
    assert list(summary) == ["case-only", "other", "precision loss", "custom"]
    assert summarize([]) == {}
    assert summarize(iter(["other"])) == {"other": 1}


# --- properties: equal meanings stay equal --------------------------------------------------


@given(any_values, st.sampled_from(KINDS))
def test_equal_is_reflexive(value: object, kind: ColumnKind) -> None:
    assert equal(value, value, kind)
    assert equal(normalize(value, kind), normalize(value, kind), kind)
    assert equal(normalize(value), value)


@given(
    st.decimals(min_value=-(10**20), max_value=10**20, allow_nan=False, allow_infinity=False),
    st.integers(0, 12),
)
def test_decimal_scale_changes_stay_equal(value: Decimal, extra_zeros: int) -> None:
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    wider = Decimal((sign, (*digits, *(0,) * extra_zeros), exponent - extra_zeros))
    assert_equal(value, wider)
    assert_equal(value, wider, "decimal")
    assert normalize(value, "decimal") == normalize(wider, "decimal")
    if value == value.to_integral_value():
        assert_equal(int(value), wider)


@given(aware_datetimes)
def test_aware_datetime_equals_its_naive_utc_form(aware: datetime) -> None:
    naive_utc = aware.astimezone(UTC).replace(tzinfo=None)
    assert_equal(naive_utc, aware)
    assert_equal(naive_utc, aware, "datetime")
    assert normalize(naive_utc) == normalize(aware)


@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.timezones()))
def test_zoneinfo_datetime_equals_its_naive_utc_form(aware: datetime) -> None:
    assert_equal(aware.astimezone(UTC).replace(tzinfo=None), aware)


@given(json_objects, st.randoms(use_true_random=False), st.sampled_from([None, 0, 2]))
def test_json_key_permutations_stay_equal(
    tree: dict[str, Any], rnd: Any, indent: int | None
) -> None:
    text = json.dumps(permuted(tree, rnd), indent=indent)
    assert_equal(text, tree)
    assert_equal(text, tree, "json")
    assert_equal(permuted(tree, rnd), tree)


# --- properties: every kind of change is detected and labelled ------------------------------


@given(st.integers(-(10**14), 10**14))
def test_one_cent_change_is_detected(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)  # DECIMAL(12,2) on both engines: scale 2 both sides
    changed = amount + Decimal("0.01")
    assert_differ(amount, changed)
    assert_differ(amount, changed, "decimal")
    # A cent onto a round amount (1.50 -> 1.51) looks exactly like a rounding to one
    # place; elsewhere both values have as many significant places: a real change.
    rounded_looking = any(v == v.quantize(Decimal("0.1")) for v in (amount, changed))
    assert_cause(amount, changed, "precision loss" if rounded_looking else "other")


@given(naive_datetimes, offsets)
def test_one_microsecond_shift_is_detected(naive: datetime, zone: timezone) -> None:
    shifted = (naive.replace(tzinfo=UTC) + timedelta(microseconds=1)).astimezone(zone)
    assert_differ(naive, shifted)
    assert_differ(naive, shifted, "datetime")
    assert_cause(naive, shifted, "precision loss")


@given(
    naive_datetimes,
    st.sampled_from([-1, 1]),
    st.integers(0, 14),
    st.sampled_from([0, 30, 45]),
    offsets,
)
def test_zone_hour_shift_is_detected(
    naive: datetime, sign: int, hours: int, minutes: int, zone: timezone
) -> None:
    shift = timedelta(hours=hours, minutes=minutes)
    assume(timedelta(0) < shift <= timedelta(hours=14))
    shifted = (naive.replace(tzinfo=UTC) + sign * shift).astimezone(zone)
    assert_differ(naive, shifted)
    assert_cause(naive, shifted, "time-zone hour shift")


@given(st.text(), st.sampled_from([" ", "  ", "\t", "\n", "\u3000"]))
def test_trailing_whitespace_is_detected(text: str, space: str) -> None:
    assert_differ(text, text + space)
    assert_differ(text, text + space, "text")
    assert_cause(text, text + space, "trailing whitespace")


@given(st.text(min_size=1))
def test_case_change_is_detected(text: str) -> None:
    changed = text.swapcase()
    assume(changed != text)
    assume(changed.casefold() == text.casefold())
    assert_differ(text, changed)
    assert_differ(text, changed, "text")
    assert_cause(text, changed, "case-only")


@pytest.mark.parametrize("kind", KINDS)
def test_null_vs_empty_is_detected(kind: ColumnKind) -> None:
    assert_differ(None, "", kind)
    assert_cause(None, "", "NULL vs empty")


@given(
    json_objects,
    st.text(),
    st.one_of(st.integers(), st.text(), st.booleans(), st.none()),
    st.sampled_from([None, 2]),
)
def test_changed_json_leaf_is_detected(
    tree: dict[str, Any], key: str, leaf: object, indent: int | None
) -> None:
    changed: object
    if isinstance(leaf, bool):
        changed = not leaf
    elif isinstance(leaf, int):
        changed = leaf + 1
    elif isinstance(leaf, str):
        changed = leaf + "!"
    else:
        changed = 0
    before = {**tree, key: {"leaf": leaf}}
    after = {**tree, key: {"leaf": changed}}
    mysql_text = json.dumps(after, indent=indent)
    assert_differ(mysql_text, before)
    assert_differ(mysql_text, before, "json")
    assert_cause(mysql_text, before, "JSON value")
    assert_cause(after, before, "JSON value")


@given(st.booleans())
def test_flipped_bool_is_detected(value: bool) -> None:
    for mysql in (int(not value), not value, bytes([not value])):
        assert_differ(mysql, value, "bool")
        assert_cause(mysql, value, "boolean flip")
    assert_differ(int(not value), value)


# --- properties: text is never normalized ---------------------------------------------------


@given(st.text())
def test_text_differs_from_its_other_normal_forms(text: str) -> None:
    assert_equal(text, text, "text")
    for form in ("NFC", "NFD", "NFKC"):
        other = unicodedata.normalize(form, text)
        if other != text:
            assert_differ(text, other)
            assert_differ(text, other, "text")
            assert likely_cause("col", text, other) != "NULL vs empty"


@pytest.mark.parametrize(
    "text", ["\u00e9", "Ame\u0301lie", "👩\u200d💻", "👍🏽", "🇫🇷", "한국어", "\u212b", "ﬁ"]
)
def test_emoji_and_combining_marks(text: str) -> None:
    assert_equal(text, text)
    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, text)
        if other != text:
            assert_differ(text, other)
            assert_cause(text, other, "other")
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    assert equal(nfc, nfd) is (nfc == nfd)
