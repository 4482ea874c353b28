"""A handler that diverges on purpose, for demos and tests of the diff.

It wraps the default orders handler. For a share of the order ids, chosen by a stable
hash of the key (so every run picks the same ones), it changes what it writes:

* ``rounding``: the amount rounded to one decimal place (a precision loss);
* ``timezone``: the event time one hour late (a time-zone slip);
* ``drop``: the record is refused and goes to the dead-letter topic (missing in the table).

The share comes from ``CANARY_DIVERGENCE_RATE`` (default 0.01), read on every call so a
test can change it without re-importing.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import xxhash

from canary.core.checksum import Row
from canary.errors import HandlerError
from canary.handlers.orders import to_row as base_to_row

KINDS = ("rounding", "timezone", "drop")
RATE_VARIABLE = "CANARY_DIVERGENCE_RATE"
_BUCKETS = 1_000_000


def divergence(key: bytes | None, rate: float) -> str | None:
    """The kind of divergence injected for ``key``, or None for an untouched key."""
    if key is None or rate <= 0:
        return None
    digest = xxhash.xxh3_64_intdigest(key)
    if digest % _BUCKETS >= rate * _BUCKETS:
        return None
    return KINDS[(digest // _BUCKETS) % len(KINDS)]


def to_row(key: bytes | None, value: bytes | None) -> Row:
    row = dict(base_to_row(key, value))
    kind = divergence(key, float(os.environ.get(RATE_VARIABLE, "0.01")))
    if kind == "rounding":
        amount = row["amount"]
        assert isinstance(amount, Decimal)
        row["amount"] = amount.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    elif kind == "timezone":
        moment = row["event_time"]
        assert isinstance(moment, datetime)
        row["event_time"] = moment + timedelta(hours=1)
    elif kind == "drop":
        raise HandlerError("dropped on purpose (divergence injection)")
    return row
