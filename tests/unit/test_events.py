"""Tests for the compare event: exact bytes, round trips, and every way to be invalid."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.events import (
    PATHS,
    CompareEvent,
    SourceCoord,
    decode_event,
    encode_event,
    event_key,
)
from canary.errors import CanaryError, InvalidEvent

EVENT = CompareEvent(
    run="run-7",
    path="ring",
    key="order-42 ✓",
    src=SourceCoord(t="orders", p=3, o=1234, ts=1_700_000_000_000),
    sum="1cfd28e34d0a2fcd64dd619b7f44f33d",
    at=1_700_000_000_012.5,
)
EVENT_BYTES = (
    b'{"v":1,"run":"run-7","path":"ring","key":"order-42 \xe2\x9c\x93",'
    b'"src":{"t":"orders","p":3,"o":1234,"ts":1700000000000},'
    b'"sum":"1cfd28e34d0a2fcd64dd619b7f44f33d","at":1700000000012.5}'
)


def test_golden_encoding() -> None:
    assert encode_event(EVENT) == EVENT_BYTES


def test_golden_decoding() -> None:
    assert decode_event(EVENT_BYTES) == EVENT


def test_kafka_key_is_the_business_key_in_utf8() -> None:
    assert event_key(EVENT) == "order-42 ✓".encode()


def test_latency_is_commit_time_minus_source_timestamp() -> None:
    assert EVENT.latency_ms == 12.5


def test_paths() -> None:
    assert PATHS == ("legacy", "ring")


def test_events_are_frozen() -> None:
    decoded = decode_event(EVENT_BYTES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.sum = "0" * 32  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.src.o = 0  # type: ignore[misc]


INT64 = st.integers(-(2**63), 2**63 - 1)
EVENTS = st.builds(
    CompareEvent,
    run=st.text(),
    path=st.sampled_from(PATHS),
    key=st.text(),
    src=st.builds(
        SourceCoord,
        t=st.text(),
        p=st.integers(0, 2**31 - 1),
        o=st.integers(0, 2**63 - 1),
        ts=INT64,
    ),
    sum=st.text("0123456789abcdef", min_size=32, max_size=32),
    # Integers only up to 2**53, where a float still holds them exactly.
    at=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
)


@given(EVENTS)
def test_round_trip(event: CompareEvent) -> None:
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert dataclasses.astuple(decoded) == dataclasses.astuple(event)
    assert type(decoded.at) is float
    assert type(decoded.src) is SourceCoord


@given(EVENTS)
def test_encoding_holds_exactly_the_contract_fields(event: CompareEvent) -> None:
    obj = orjson.loads(encode_event(event))
    assert list(obj) == ["v", "run", "path", "key", "src", "sum", "at"]
    assert list(obj["src"]) == ["t", "p", "o", "ts"]
    assert obj["v"] == 1


def test_integer_commit_time_decodes_as_float() -> None:
    decoded = decode_event(EVENT_BYTES.replace(b'"at":1700000000012.5', b'"at":1700000000012'))
    assert decoded.at == 1_700_000_000_012.0
    assert type(decoded.at) is float


def test_unknown_fields_are_ignored() -> None:
    obj = orjson.loads(EVENT_BYTES)
    obj["extra"] = {"anything": [1, 2]}
    obj["src"]["headers"] = None
    assert decode_event(orjson.dumps(obj)) == EVENT


def test_invalid_event_is_a_canary_value_error() -> None:
    assert issubclass(InvalidEvent, CanaryError)
    assert issubclass(InvalidEvent, ValueError)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(None, "tombstone", id="tombstone"),
        pytest.param(b"", "not JSON", id="empty"),
        pytest.param(b"{", "not JSON", id="truncated"),
        pytest.param(b"\xff\xfe", "not JSON", id="not-utf8"),
        pytest.param(b'{"v":1,"at":NaN}', "not JSON", id="nan-literal"),
        pytest.param(EVENT_BYTES.replace(b"12.5", b"12.5e400"), "not JSON", id="infinite-at"),
        pytest.param(b"[]", "not a JSON object but an array", id="array"),
        pytest.param(b'"event"', "not a JSON object but string", id="string"),
        pytest.param(b"null", "not a JSON object but null", id="null"),
    ],
)
def test_undecodable_values(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode_event(raw)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, name = path.split(".")
        for parent in parents:
            obj = obj[parent]
        obj[name] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, name = path.split(".")
        for parent in parents:
            obj = obj[parent]
        del obj[name]

    return mutate


INVALID_CASES = [
    # version, checked before anything else
    ("no-version", _drop("v"), "missing field 'v'"),
    ("version-2", _set("v", 2), "unsupported version v=2"),
    ("version-0", _set("v", 0), "unsupported version v=0"),
    ("version-true", _set("v", True), "unsupported version v=true"),
    ("version-float", _set("v", 1.0), "unsupported version v=1.0"),
    ("version-string", _set("v", "1"), "unsupported version v=string '1'"),
    ("version-null", _set("v", None), "unsupported version v=null"),
    # missing fields
    *[
        (f"missing-{name}", _drop(name), f"missing field '{name}'")
        for name in ("run", "path", "key", "src", "sum", "at", "src.t", "src.p", "src.o", "src.ts")
    ],
    # mistyped fields; bool is not an integer
    ("run-int", _set("run", 7), "field 'run' must be a string, got 7"),
    ("run-null", _set("run", None), "field 'run' must be a string, got null"),
    ("path-int", _set("path", 1), "field 'path' must be a string, got 1"),
    ("key-array", _set("key", ["k"]), "field 'key' must be a string, got an array"),
    ("src-array", _set("src", []), "field 'src' must be an object, got an array"),
    ("src-string", _set("src", "orders/3/1234"), "field 'src' must be an object, got string"),
    ("src-null", _set("src", None), "field 'src' must be an object, got null"),
    ("sum-int", _set("sum", 12), "field 'sum' must be a string, got 12"),
    ("at-string", _set("at", "1700000000012.5"), "field 'at' must be a number, got string"),
    ("at-true", _set("at", True), "field 'at' must be a number, got true"),
    ("at-null", _set("at", None), "field 'at' must be a number, got null"),
    ("topic-int", _set("src.t", 1), "field 'src.t' must be a string, got 1"),
    ("partition-true", _set("src.p", True), "field 'src.p' must be an integer, got true"),
    ("partition-float", _set("src.p", 3.0), "field 'src.p' must be an integer, got 3.0"),
    ("partition-string", _set("src.p", "3"), "field 'src.p' must be an integer, got string"),
    ("offset-false", _set("src.o", False), "field 'src.o' must be an integer, got false"),
    ("offset-float", _set("src.o", 1234.5), "field 'src.o' must be an integer, got 1234.5"),
    ("timestamp-true", _set("src.ts", True), "field 'src.ts' must be an integer, got true"),
    ("timestamp-float", _set("src.ts", 1.5), "field 'src.ts' must be an integer, got 1.5"),
    # values
    ("path-unknown", _set("path", "canary"), "field 'path' must be 'legacy' or 'ring'"),
    ("path-case", _set("path", "Legacy"), "field 'path' must be 'legacy' or 'ring'"),
    ("sum-upper", _set("sum", "1CFD28E34D0A2FCD64DD619B7F44F33D"), "32 lowercase hex"),
    ("sum-short", _set("sum", "1cfd28e34d0a2fcd64dd619b7f44f33"), "32 lowercase hex"),
    ("sum-long", _set("sum", "1cfd28e34d0a2fcd64dd619b7f44f33d0"), "32 lowercase hex"),
    ("sum-not-hex", _set("sum", "1cfd28e34d0a2fcd64dd619b7f44f33g"), "32 lowercase hex"),
    ("sum-inner-space", _set("sum", "1cfd28e34d0a2fcd 4dd619b7f44f33d"), "32 lowercase hex"),
    ("sum-empty", _set("sum", ""), "32 lowercase hex"),
    ("partition-negative", _set("src.p", -1), "field 'src.p' must not be negative, got -1"),
    ("offset-negative", _set("src.o", -1), "field 'src.o' must not be negative, got -1"),
]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [pytest.param(mutate, reason, id=case) for case, mutate, reason in INVALID_CASES],
)
def test_invalid_events(mutate: Callable[[dict[str, Any]], None], reason: str) -> None:
    obj = orjson.loads(EVENT_BYTES)
    mutate(obj)
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        decode_event(orjson.dumps(obj))


def test_another_version_is_reported_as_such_whatever_else_it_holds() -> None:
    with pytest.raises(InvalidEvent, match="unsupported version v=2"):
        decode_event(b'{"v":2,"id":"something else entirely"}')


def test_negative_source_timestamp_is_allowed() -> None:
    # Kafka reports -1 for a message without a timestamp.
    obj = orjson.loads(EVENT_BYTES)
    obj["src"]["ts"] = -1
    assert decode_event(orjson.dumps(obj)).src.ts == -1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"at": float("inf")}, "field 'at' must be finite, got inf", id="infinite-at"),
        pytest.param({"at": float("nan")}, "field 'at' must be finite, got nan", id="nan-at"),
        pytest.param({"v": 2}, "unsupported version v=2", id="version"),
        pytest.param({"path": "canary"}, "must be 'legacy' or 'ring'", id="path"),
        pytest.param({"sum": "not a digest"}, "32 lowercase hex", id="sum"),
        pytest.param(
            {"src": SourceCoord("orders", -1, 0, 0)}, "'src.p' must not be", id="partition"
        ),
    ],
)
def test_encoding_refuses_events_readers_would_reject(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        encode_event(dataclasses.replace(EVENT, **changes))
