"""Tests for the synthetic order events: deterministic, versioned, valid, awkward."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.core.orders import OrderEvent, default_key_count, generate_orders
from canary.handlers.orders import to_row


def _decoded(events: list[OrderEvent]) -> list[dict[str, Any]]:
    return [orjson.loads(event.value) for event in events]


def test_same_seed_gives_identical_events() -> None:
    first = list(generate_orders(1000, 80, seed=7))
    second = list(generate_orders(1000, 80, seed=7))
    assert len(first) == 1000
    assert first == second


@pytest.mark.parametrize("other", [8, 0, 2**40])
def test_other_seed_gives_different_events(other: int) -> None:
    first = list(generate_orders(200, 20, seed=7))
    second = list(generate_orders(200, 20, seed=other))
    assert [e.value for e in first] != [e.value for e in second]
    assert [e.key for e in first] != [e.key for e in second]


def test_zero_count_yields_nothing() -> None:
    assert list(generate_orders(0, 5, seed=1)) == []


@given(
    count=st.integers(min_value=1, max_value=400),
    keys=st.integers(min_value=1, max_value=60),
    seed=st.integers(),
)
def test_versions_grow_by_one_per_key_and_keys_stay_in_range(
    count: int, keys: int, seed: int
) -> None:
    events = list(generate_orders(count, keys, seed))
    assert len(events) == count
    seen: dict[int, int] = defaultdict(int)
    for event in events:
        value = orjson.loads(event.value)
        order_id = value["order_id"]
        assert 1 <= order_id <= keys
        assert event.key == str(order_id).encode()
        seen[order_id] += 1
        assert value["version"] == seen[order_id]


def test_a_single_key_gets_every_version_in_order() -> None:
    versions = [v["version"] for v in _decoded(list(generate_orders(50, 1, seed=3)))]
    assert versions == list(range(1, 51))


def test_every_event_passes_the_handler() -> None:
    for event in generate_orders(3000, default_key_count(3000), seed=11):
        row = to_row(event.key, event.value)
        value = orjson.loads(event.value)
        assert row["order_id"] == int(event.key)
        assert row["version"] == value["version"]
        assert row["note"] == value["note"]


def test_notes_include_non_ascii_null_and_empty() -> None:
    notes = [v["note"] for v in _decoded(list(generate_orders(3000, 300, seed=5)))]
    assert None in notes
    assert "" in notes
    non_ascii = {n for n in notes if n and any(ord(c) > 127 for c in n)}
    assert non_ascii
    # Beyond the Basic Multilingual Plane (emoji) and a combining mark.
    assert any(any(ord(c) > 0xFFFF for c in n) for n in non_ascii)
    assert any("\u0301" in n for n in non_ascii)


def test_amounts_have_at_most_two_decimals_and_equal_the_items() -> None:
    for value in _decoded(list(generate_orders(2000, 200, seed=9))):
        amount = Decimal(value["amount"])
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)
        assert exponent >= -2, value["amount"]
        assert value["items"], "an order has at least one item"
        total = sum(Decimal(item["price"]) * item["qty"] for item in value["items"])
        assert amount == total


def test_event_times_are_aware_with_microseconds() -> None:
    micro = 0
    for value in _decoded(list(generate_orders(500, 50, seed=2))):
        moment = datetime.fromisoformat(value["event_time"])
        assert moment.utcoffset() is not None
        micro += moment.microsecond != 0
    assert micro > 0


def test_later_versions_of_a_key_have_later_event_times() -> None:
    last: dict[int, datetime] = {}
    for value in _decoded(list(generate_orders(1000, 40, seed=4))):
        moment = datetime.fromisoformat(value["event_time"])
        previous = last.get(value["order_id"])
        if previous is not None:
            assert moment > previous
        last[value["order_id"]] = moment


@given(st.integers(min_value=0, max_value=10**9))
def test_default_key_count_is_ten_events_per_key_at_least_one(count: int) -> None:
    keys = default_key_count(count)
    assert keys >= 1
    assert keys == max(1, count // 10)
    if count >= 10:
        assert keys * 10 <= count < (keys + 1) * 10
