"""Per-record costs of the pure core: handler, checksum, compare-event decoding.

.venv/bin/python benchmarks/micro.py
"""

from __future__ import annotations

import timeit

from canary.core.checksum import row_checksum
from canary.core.events import CompareEvent, SourceCoord, decode_event, encode_event
from canary.core.orders import generate_orders
from canary.handlers.orders import to_row


def best_rate(work: object, count: int) -> float:
    seconds = min(timeit.repeat(work, number=1, repeat=5))  # type: ignore[arg-type]
    return count / seconds


def main() -> None:
    events = list(generate_orders(20_000, 2_000, seed=1))
    rows = [to_row(event.key, event.value) for event in events]
    raw = encode_event(
        CompareEvent(
            run="r1",
            path="ring",
            key="42",
            src=SourceCoord("orders", 3, 1234, 1_700_000_000_000),
            sum="0" * 32,
            at=1_700_000_000_012.5,
        )
    )
    count = len(events)
    figures = {
        "handler (orders.to_row)": best_rate(
            lambda: [to_row(e.key, e.value) for e in events], count
        ),
        "checksum (row_checksum)": best_rate(lambda: [row_checksum(r) for r in rows], count),
        "compare event decode": best_rate(lambda: [decode_event(raw) for _ in range(count)], count),
    }
    for name, rate in figures.items():
        print(f"{name:<26} {rate:>12,.0f} per second")


if __name__ == "__main__":
    main()
