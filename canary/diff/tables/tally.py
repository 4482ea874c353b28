"""Adds up the outcomes of a table diff: exact counts, the smallest keys as samples, causes."""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from canary.core.segments import Key
from canary.diff.tables.compare import Difference, Outcome
from comparators.causes import likely_cause, summarize
from comparators.values import JsonValue, display

CLASSES = ("only_in_mysql", "only_in_postgres", "different")


def key_json(key: Key) -> JsonValue:
    """A key as the report shows it: the value itself, or an array for a composite key."""
    return key[0] if len(key) == 1 else list(key)


def _parsed(value: object) -> object:
    """JSON text as a structure (so the report and the cause label see its shape)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _Smallest:
    """The ``limit`` smallest keys seen, with what goes with them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[Any, ...]] = []  # max-heap by key through _Reversed
        self._seen = 0

    def push(self, key: Key, item: Any) -> None:
        if self.limit == 0:
            return
        self._seen += 1
        entry = (_Reversed(key), self._seen, item)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif key < self._heap[0][0].key:
            heapq.heapreplace(self._heap, entry)

    def sorted(self) -> list[Any]:
        return [item for _, _, item in sorted(self._heap, key=lambda e: e[0].key)]


class _Reversed:
    __slots__ = ("key",)

    def __init__(self, key: Key) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key


class Tally:
    """Counts every difference; keeps ``max_samples`` per class and, up to ``keep_keys``
    keys in all, every differing key (for the recheck)."""

    def __init__(self, json_columns: Sequence[str], max_samples: int, keep_keys: int) -> None:
        self._json = frozenset(json_columns)
        self.counts = dict.fromkeys(CLASSES, 0)
        self.columns: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.rows_compared = 0
        self._samples = {name: _Smallest(max_samples) for name in CLASSES}
        self._keep = keep_keys
        self._keys: list[Key] = []
        self.overflow = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, outcome: Outcome) -> None:
        self.rows_compared += outcome.rows
        for name, keys in (
            ("only_in_mysql", outcome.only_in_mysql),
            ("only_in_postgres", outcome.only_in_postgres),
        ):
            self.counts[name] += len(keys)
            for key in keys:
                self._samples[name].push(key, key)
                self._remember(key)
        self.counts["different"] += len(outcome.different)
        for key, difference in outcome.different:
            self._samples["different"].push(key, self._explain(key, difference))
            self._remember(key)

    def _remember(self, key: Key) -> None:
        if len(self._keys) < self._keep:
            self._keys.append(key)
        else:
            self.overflow = True

    def _explain(self, key: Key, difference: Difference) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for column, (first, second) in difference.items():
            a, b = (_parsed(first), _parsed(second)) if column in self._json else (first, second)
            cause = likely_cause(column, a, b)
            self.columns[column] += 1
            self.causes[cause] += 1
            shown[column] = {"mysql": display(a), "postgres": display(b), "cause": cause}
        return {"key": key_json(key), "columns": shown}

    def keys(self) -> Iterator[Key]:
        """Every differing key remembered (all of them unless ``overflow``)."""
        return iter(self._keys)

    def samples(self) -> dict[str, list[Any]]:
        return {
            "only_in_mysql": [key_json(k) for k in self._samples["only_in_mysql"].sorted()],
            "only_in_postgres": [key_json(k) for k in self._samples["only_in_postgres"].sorted()],
            "different": self._samples["different"].sorted(),
        }

    def cause_counts(self) -> dict[str, int]:
        return summarize(self.causes.elements())

    def column_counts(self) -> dict[str, int]:
        return dict(sorted(self.columns.items(), key=lambda item: (-item[1], item[0])))
