"""Pure planning of a table diff: key ranges, what to do with each, and the bisection walk.

A table pair is compared range by range. Each side reports, per key range, a
:class:`Summary`: the row count and sums of per-row hashes computed inside its database
(see ``sinks.checksums``). :func:`decide` turns the two summaries into an
:class:`Action`; the walk splits ranges that differ into smaller ones until they are
small enough to download and compare row by row.

Invariants the tests hold this module to:

* Ranges are half-open, ``[lo, hi)`` in key order, ``None`` meaning unbounded. Every split
  of a range is a partition of it: the pieces are contiguous, in order, non-empty as key
  intervals, and their union is exactly the range (no gap, no overlap).
* Keys are tuples (one element per key column) of ``int`` or ``str`` and are ordered as
  Python orders tuples: ``str`` by code point, which is also UTF-8 byte order. The
  database adapters order and compare keys in the same way.
* The walk terminates: a split that cannot make two pieces turns into a download, and
  every split at least divides the larger side's row count (sampled cuts) or the key
  width (integer cuts) by the number of parts.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeAlias, TypeVar

__all__ = [
    "Action",
    "Key",
    "Probe",
    "Range",
    "Scalar",
    "Settled",
    "Summary",
    "WalkStats",
    "decide",
    "sample_step",
    "split_at",
    "value_cuts",
    "walk",
]

Scalar: TypeAlias = int | str
Key: TypeAlias = tuple[Scalar, ...]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Range:
    """Keys ``k`` with ``lo <= k < hi``; a ``None`` bound is open on that side."""

    lo: Key | None = None
    hi: Key | None = None

    def __post_init__(self) -> None:
        if self.lo is not None and self.hi is not None and not self.lo < self.hi:
            raise ValueError(f"empty range: lo {self.lo!r} is not below hi {self.hi!r}")

    def contains(self, key: Key) -> bool:
        return (self.lo is None or self.lo <= key) and (self.hi is None or key < self.hi)

    def __str__(self) -> str:
        low = "-inf" if self.lo is None else _show(self.lo)
        high = "+inf" if self.hi is None else _show(self.hi)
        return f"[{low}, {high})"


def _show(key: Key) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


@dataclass(frozen=True, slots=True)
class Summary:
    """What one database says about one range.

    ``exact`` sums a hash of every row over the key and the columns whose normalized text
    is identical on both engines when the values mean the same; ``loose`` sums a hash
    over the key and the columns that may be rendered differently for equal values (JSON,
    floats, columns with a tolerance). Equal sums prove equal rows; unequal ``loose``
    sums only mean "look closer"; ``None`` means the loose sum was not computed (then the
    loose columns must be compared row by row). ``low``/``high`` are the smallest and
    largest key in the range for single integer keys (``None`` otherwise, or when the
    range is empty).
    """

    count: int
    exact: int
    loose: int | None = 0
    low: int | None = None
    high: int | None = None


class Action(enum.Enum):
    EQUAL = "equal"  # same rows: nothing more to do
    SPLIT = "split"  # rows differ and there are too many to download: recurse
    DOWNLOAD = "download"  # rows differ: fetch both sides' rows and compare them all
    LOOSE = "loose"  # only the loose columns' texts differ: stream those and compare


def decide(mysql: Summary, postgres: Summary, download_below: int) -> Action:
    """The next step for a range, from both sides' summaries: a differing range with
    fewer than ``download_below`` rows on each side is downloaded, a larger one split."""
    if download_below < 1:
        raise ValueError(f"download_below must be >= 1, got {download_below}")
    if mysql.count == postgres.count == 0:
        return Action.EQUAL
    if mysql.count != postgres.count or mysql.exact != postgres.exact:
        if max(mysql.count, postgres.count) < download_below:
            return Action.DOWNLOAD
        return Action.SPLIT
    if mysql.loose is None or postgres.loose is None or mysql.loose != postgres.loose:
        return Action.LOOSE
    return Action.EQUAL


def value_cuts(low: int, high: int, parts: int) -> list[int]:
    """Cut points that split the integer keys ``low..high`` into at most ``parts`` pieces
    of equal width: every cut ``c`` has ``low < c <= high`` and starts a piece."""
    if parts < 2:
        raise ValueError(f"parts must be >= 2, got {parts}")
    if high <= low:
        return []
    step = -(-(high - low + 1) // parts)  # ceil
    return list(range(low + step, high + 1, step))


def sample_step(count: int, parts: int) -> int:
    """Every how many rows (in key order) to take a key as a cut, for ``parts`` pieces."""
    if parts < 2:
        raise ValueError(f"parts must be >= 2, got {parts}")
    return max(1, math.ceil(count / parts))


def split_at(rng: Range, cuts: Iterable[Key]) -> list[Range]:
    """``rng`` cut at each key of ``cuts`` that lies strictly inside it.

    Cuts may come unsorted, repeated or outside the range; those are sorted, merged and
    dropped. Each kept cut starts a piece, so the pieces partition ``rng`` exactly.
    """
    inside = sorted(
        {
            cut
            for cut in cuts
            if (rng.lo is None or rng.lo < cut) and (rng.hi is None or cut < rng.hi)
        }
    )
    bounds: list[Key | None] = [rng.lo, *inside, rng.hi]
    return [Range(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


class Probe(Protocol[T_co]):
    """What the walk needs from the two databases; implementations must be thread-safe
    (the walk calls them from a pool of threads)."""

    def summarize(self, rng: Range) -> tuple[Summary, Summary]:
        """Both sides' summaries of ``rng``: (MySQL, PostgreSQL)."""

    def cuts(self, rng: Range, mysql: Summary, postgres: Summary, parts: int) -> Sequence[Key]:
        """Keys at which to split ``rng`` into about ``parts`` pieces."""

    def settle(self, rng: Range, *, loose_only: bool) -> T_co:
        """Compare the rows of ``rng`` one by one (only the loose columns if asked)."""


@dataclass(frozen=True, slots=True)
class Settled(Generic[T]):
    """A range compared row by row, with what the probe found in it."""

    range: Range
    action: Action
    outcome: T


@dataclass(slots=True)
class WalkStats:
    """Counters of a walk, for progress lines and the report."""

    checked: int = 0  # ranges whose summaries were compared
    equal: int = 0
    split: int = 0
    downloaded: int = 0
    streamed: int = 0
    depth: int = 0  # deepest level reached; the root ranges are level 0
    rows: list[int] = field(default_factory=lambda: [0, 0])  # (MySQL, PostgreSQL) in the roots


@dataclass(frozen=True, slots=True)
class _Visited(Generic[T]):
    range: Range
    depth: int
    mysql: Summary
    postgres: Summary
    action: Action
    children: tuple[Range, ...]
    outcome: T | None


def _visit(probe: Probe[T], rng: Range, depth: int, parts: int, download_below: int) -> _Visited[T]:
    mysql, postgres = probe.summarize(rng)
    action = decide(mysql, postgres, download_below)
    children: tuple[Range, ...] = ()
    if action is Action.SPLIT:
        children = tuple(split_at(rng, probe.cuts(rng, mysql, postgres, parts)))
        if len(children) < 2:  # nothing to cut at: compare the rows, however many
            children = ()
            action = Action.DOWNLOAD
    outcome = None
    if action in (Action.DOWNLOAD, Action.LOOSE):
        outcome = probe.settle(rng, loose_only=action is Action.LOOSE)
    return _Visited(rng, depth, mysql, postgres, action, children, outcome)


def walk(
    roots: Sequence[Range],
    probe: Probe[T],
    *,
    parts: int,
    download_below: int,
    executor: Executor,
    settled: Callable[[Settled[T]], None],
    progress: Callable[[WalkStats], None] | None = None,
) -> WalkStats:
    """Compare ``roots`` (a partition of the key space) and every range they split into.

    Each range runs on ``executor``; ``settled`` receives, on the calling thread, every
    range that was compared row by row. Ranges whose summaries match are done. The first
    error of any range is raised after the pending ranges are cancelled.
    """
    stats = WalkStats()
    pending: dict[Future[_Visited[T]], Range] = {}

    def submit(rng: Range, depth: int) -> None:
        future = executor.submit(_visit, probe, rng, depth, parts, download_below)
        pending[future] = rng

    for root in roots:
        submit(root, 0)
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                del pending[future]
                visited = future.result()
                _count(stats, visited)
                for child in visited.children:
                    submit(child, visited.depth + 1)
                if visited.outcome is not None:
                    settled(Settled(visited.range, visited.action, visited.outcome))
                if progress is not None:
                    progress(stats)
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    return stats


def _count(stats: WalkStats, visited: _Visited[T]) -> None:
    stats.checked += 1
    stats.depth = max(stats.depth, visited.depth)
    if visited.depth == 0:
        stats.rows[0] += visited.mysql.count
        stats.rows[1] += visited.postgres.count
    if visited.action is Action.EQUAL:
        stats.equal += 1
    elif visited.action is Action.SPLIT:
        stats.split += 1
    elif visited.action is Action.DOWNLOAD:
        stats.downloaded += 1
    else:
        stats.streamed += 1
