"""Synthetic order events: deterministic, versioned per key, with awkward values on purpose."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CHF")
STATUSES = ("created", "paid", "packed", "shipped", "delivered", "cancelled")
# Notes exercise what breaks naive pipelines: emoji, combining marks (e + U+0301 is not
# the same string as the precomposed é), CJK, right-to-left text, NULL and empty string.
NOTES = (
    "Café ☕ — livraison rapide",
    "Cafe\u0301 combining accent",
    "日本語のメモ",
    "🚀🔥 rush order 🎁",
    "Zoë Ñandú, ﬁnance",
    "עברית ومرحبا",
    "",
    None,
)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One synthetic event: the Kafka key and the encoded JSON value."""

    key: bytes
    value: bytes


def default_key_count(count: int) -> int:
    """Ten events per key on average, so upserts really overwrite."""
    return max(1, count // 10)


def generate_orders(count: int, keys: int, seed: int) -> Iterator[OrderEvent]:
    """Yield ``count`` events over ``keys`` order ids; versions grow by one per key."""
    rng = random.Random(seed)
    versions: dict[int, int] = {}
    for _ in range(count):
        order_id = 1 + rng.randrange(keys)
        version = versions.get(order_id, 0) + 1
        versions[order_id] = version
        yield OrderEvent(
            key=str(order_id).encode(),
            value=orjson.dumps(_order_value(rng, order_id, version)),
        )


def _order_value(rng: random.Random, order_id: int, version: int) -> dict[str, object]:
    items = []
    total = Decimal(0)
    for line in range(1 + rng.randrange(3)):
        price = Decimal(rng.randrange(50, 50_000)).scaleb(-2)
        qty = 1 + rng.randrange(4)
        total += price * qty
        items.append(
            {
                "sku": f"SKU-{rng.randrange(100_000):05d}",
                "qty": qty,
                "price": str(price),
                "line": line + 1,
            }
        )
    moment = _EPOCH + timedelta(
        seconds=order_id * 60 + version * 7, microseconds=rng.randrange(1_000_000)
    )
    return {
        "order_id": order_id,
        "user_id": 1000 + order_id % 997,
        "amount": str(total),
        "currency": CURRENCIES[order_id % len(CURRENCIES)],
        "status": STATUSES[min(version - 1, len(STATUSES) - 1)],
        "items": items,
        "note": NOTES[rng.randrange(len(NOTES))],
        "event_time": moment.isoformat(timespec="microseconds"),
        "version": version,
    }
