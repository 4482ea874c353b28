"""A deliberately slow handler for the ring path's integration tests.

``to_row`` sleeps (1.5 ms unless ``SLOW_HANDLER_DELAY_MS`` says otherwise), then does
exactly what the default order handler does, so a run that uses it must leave the same
table and the same checksums. Selected with
``CANARY_HANDLER__PATH=tests.integration.slow_handler:to_row`` and the project root on
``PYTHONPATH``. The sleep releases the GIL, like a slow database or service call would.
"""

from __future__ import annotations

import os
import time

from canary.core.checksum import Row
from canary.handlers import orders

DELAY_S = float(os.environ.get("SLOW_HANDLER_DELAY_MS", "1.5")) / 1000.0


def to_row(key: bytes | None, value: bytes | None) -> Row:
    time.sleep(DELAY_S)
    return orders.to_row(key, value)
