"""A handler whose row for one chosen message only PostgreSQL can store.

``to_row`` does exactly what the default order handler does, except for the message
whose order id and version ``POISON_ORDER`` names (``"<order_id>:<version>"``): its
currency becomes longer than MySQL's ``VARCHAR(8)`` (PostgreSQL's ``TEXT`` takes it).
The handler itself accepts the row, so only the database can refuse it: that is what
the legacy path's rejected-row isolation has to deal with. Selected with
``CANARY_HANDLER__PATH=tests.integration.poison_handler:to_row`` and the project root on
``PYTHONPATH``.
"""

from __future__ import annotations

import os

from canary.core.checksum import Row
from canary.handlers import orders

LONG_CURRENCY = "CURRENCY-TOO-LONG"


def _target() -> tuple[int, int] | None:
    order_id, _, version = os.environ.get("POISON_ORDER", "").partition(":")
    return (int(order_id), int(version)) if order_id and version else None


TARGET = _target()


def to_row(key: bytes | None, value: bytes | None) -> Row:
    row = orders.to_row(key, value)
    if TARGET is not None and (row["order_id"], row["version"]) == TARGET:
        return {**row, "currency": LONG_CURRENCY}
    return row
