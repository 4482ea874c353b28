"""A handler that diverges on purpose, for demos and tests of the diff.

It wraps the default orders handler. For a share of the order ids, chosen by a stable
hash of the key (so every run picks the same ones), it changes what it writes:

* ``rounding``: the amount rounded to one decimal place (a precision loss);
* ``timezone``: the event time one hour late (a time-zone slip);
* ``drop``: the record is refused and goes to the dead-letter topic (missing in the table).

The share comes from ``CANARY_DIVERGENCE_RATE`` (default 0.01), read on every call so a
test can change it without re-importing.

Nothing marks an injected record in what is written: the key's hash alone decides, so
``footprint`` can tell from the source events (pure) exactly what each diff must find.
A rounding that changes nothing (an amount already at one decimal place) is no
divergence, and the tables judge only each key's last version.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import xxhash

from canary.core.checksum import Row, row_checksum
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
    row = base_to_row(key, value)
    kind = divergence(key, float(os.environ.get(RATE_VARIABLE, "0.01")))
    if kind == "drop":
        raise HandlerError("dropped on purpose (divergence injection)")
    return row if kind is None else diverge(row, kind)


def diverge(row: Row, kind: str) -> Row:
    """``row`` as the ring path writes it when ``kind`` ("rounding" or "timezone") is
    injected."""
    changed = dict(row)
    if kind == "rounding":
        amount = changed["amount"]
        assert isinstance(amount, Decimal)
        changed["amount"] = amount.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    elif kind == "timezone":
        moment = changed["event_time"]
        assert isinstance(moment, datetime)
        changed["event_time"] = moment + timedelta(hours=1)
    return changed


@dataclass(frozen=True, slots=True)
class Footprint:
    """What the injection does to a stream of source events: what each diff must find."""

    records: int  # records the default handler accepts: each one a compare event per path
    touched: int  # of them, records of a key chosen for a divergence
    mismatched: int  # records whose ring row differs from the legacy row
    dropped: int  # records the ring path refuses (missing in ring)
    different_keys: int  # keys whose last rows differ between the two tables
    missing_keys: int  # keys with a row in MySQL and none in PostgreSQL

    @property
    def stream(self) -> int:
        """Records the stream diff must report: mismatched or missing in ring."""
        return self.mismatched + self.dropped

    @property
    def tables(self) -> int:
        """Keys the table diff must report: different or only in MySQL."""
        return self.different_keys + self.missing_keys

    def as_json(self) -> dict[str, int]:
        return {
            "records": self.records,
            "touched": self.touched,
            "mismatched": self.mismatched,
            "missing_in_ring": self.dropped,
            "different_keys": self.different_keys,
            "only_in_mysql_keys": self.missing_keys,
        }


def footprint(events: Iterable[tuple[bytes | None, bytes | None]], rate: float) -> Footprint:
    """The footprint of injecting ``rate`` into ``events`` (key, value), in source order."""
    records = touched = mismatched = dropped = 0
    last: dict[bytes | None, tuple[str, bool]] = {}  # key -> (kind, last row differs)
    for key, value in events:
        try:
            row = base_to_row(key, value)
        except HandlerError:
            continue  # refused by both paths alike: no compare event, no row
        records += 1
        kind = divergence(key, rate)
        if kind is None:
            continue
        touched += 1
        differs = kind == "drop" or row_checksum(diverge(row, kind)) != row_checksum(row)
        if kind == "drop":
            dropped += 1
        elif differs:
            mismatched += 1
        # Versions only grow per key, so the last accepted event is the row both keep.
        last[key] = (kind, differs)
    return Footprint(
        records=records,
        touched=touched,
        mismatched=mismatched,
        dropped=dropped,
        different_keys=sum(1 for kind, differs in last.values() if differs and kind != "drop"),
        missing_keys=sum(1 for kind, _ in last.values() if kind == "drop"),
    )
