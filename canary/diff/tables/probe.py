"""The walk's view of the two databases: summaries, cut points and row comparisons.

Every worker thread opens its own MySQL and PostgreSQL session on first use; ``close``
ends them all. Each summary asks both databases at once (the PostgreSQL half on a thread
of its own). Errors of a lost connection arrive as ServiceUnavailable.

For a single integer key, a range wide enough to be split is summarized piece by piece
in the same pass (grouped by the piece its key falls in): when it has to be split, its
pieces' summaries are already known, so no row is hashed twice on the way down. Grouping
costs the engines more than a plain sum, so once most wide ranges turn out to match, the
rest are summed plainly (and pieces come back if most start to differ again).

When every loose column is JSON, a range whose loose sums differ is not streamed into
Python: its MySQL rows go, piece by piece, as COPY text into PostgreSQL, which compares
them with its own as ``jsonb`` (see ``PostgresQueries.judge_loose``); only the keys it
flags are read on both sides and judged by ``comparators.values``. A piece PostgreSQL
cannot read (a text that is not JSON to it) is streamed and compared in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from typing import Any, TypeVar

from canary.config import Settings
from canary.core.cut import Cut
from canary.core.segments import (
    Action,
    Key,
    Range,
    Summary,
    decide,
    sample_step,
    split_at,
    value_cuts,
)
from canary.diff.tables.columns import Spec
from canary.diff.tables.compare import Outcome, RowComparer, merge
from canary.diff.tables.inflight import InFlight, set_aside, union
from sinks import checksums, mysql, postgres

T = TypeVar("T")


class Sessions:
    """One MySQL and one PostgreSQL session per thread, all closed by ``close``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[Any] = []

    def mysql(self) -> Any:
        connection = getattr(self._local, "mysql", None)
        if connection is None:
            connection = checksums.connect_mysql(self._settings.mysql)
            self._local.mysql = connection
            with self._lock:
                self._open.append(connection)
        return connection

    def postgres(self) -> Any:
        connection = getattr(self._local, "postgres", None)
        if connection is None:
            connection = checksums.connect_postgres(self._settings.postgres)
            self._local.postgres = connection
            with self._lock:
                self._open.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            opened, self._open = self._open, []
        for connection in opened:
            # Closing a broken session must not mask the error that broke it.
            with suppress(Exception):
                connection.close()

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Connection losses of either database as ServiceUnavailable."""
        with ExitStack() as stack:
            stack.enter_context(mysql.translated(self._settings.mysql))
            stack.enter_context(postgres.translated(self._settings.postgres))
            yield


# When, among ranges whose exact sums matched, this share of loose sums still differed
# (after at least LOOSE_SAMPLE of them), the loose texts differ by habit (MariaDB keeps
# JSON as written, JSONB reorders it): stop computing loose sums, verify those columns
# row by row directly.
LOOSE_SAMPLE = 8
LOOSE_HOPELESS = 0.9
# Summarize wide ranges piece by piece until, of at least PIECES_SAMPLE of them, less than
# this share had to be split (the share is kept up to date either way).
PIECES_SAMPLE = 4
PIECES_PAY = 0.5
# Rows per piece of a range whose JSON PostgreSQL judges: a few MB of COPY text, well
# under a MySQL packet.
JUDGE_ROWS = 10_000


class TablesProbe:
    """Implements ``canary.core.segments.Probe`` over both databases."""

    def __init__(
        self, settings: Settings, spec: Spec, cutoff: datetime | None, cut: Cut | None = None
    ) -> None:
        self.spec = spec
        self.cutoff = cutoff
        self.cut = cut
        self.sessions = Sessions(settings)
        self.mysql = checksums.MySQLQueries(spec.plan("mysql", cut))
        self.postgres = checksums.PostgresQueries(spec.plan("postgres", cut))
        self.everything = RowComparer(spec.read_order)
        self.loose = RowComparer(spec.loose)
        self.exact = RowComparer(spec.exact)
        self._lock = threading.Lock()
        self._loose_seen = 0
        self._loose_differ = 0
        self.skip_loose_sums = False
        self._judged = bool(spec.loose) and all(c.kind == "json" for c in spec.loose)
        self._parts = settings.tables.segments
        self._download_below = settings.tables.download_below
        self.key_span: tuple[int, int] | None = None  # smallest and largest integer key
        self._known: dict[Range, tuple[Summary, Summary]] = {}  # pieces summarized ahead
        self._known_cuts: dict[Range, list[Key]] = {}
        self._wide_seen = 0  # wide ranges summarized whole, and of those, how many split
        self._wide_split = 0
        self._other = ThreadPoolExecutor(
            settings.tables.parallel, thread_name_prefix="canary-tables-pg"
        )

    def close(self) -> None:
        """End the helper threads and every session."""
        self._other.shutdown(wait=True, cancel_futures=True)
        self.sessions.close()

    def _postgres(self, work: Callable[[Any], T]) -> Future[T]:
        """``work(session)`` on a helper thread (its own PostgreSQL session)."""

        def run() -> T:
            with self.sessions.translated():
                return work(self.sessions.postgres())

        return self._other.submit(run)

    def summarize(self, rng: Range) -> tuple[Summary, Summary]:
        with self._lock:
            known = self._known.pop(rng, None)
        if known is not None:
            return known
        cuts = self._piece_cuts(rng)
        if cuts and self._pieces_pay():
            return self._summarize_pieces(rng, cuts)
        loose = not self.skip_loose_sums
        theirs = self._postgres(
            lambda session: self.postgres.summarize(session, rng, self.cutoff, loose=loose)
        )
        with self.sessions.translated():
            mine = self.mysql.summarize(self.sessions.mysql(), rng, self.cutoff, loose=loose)
        summaries = mine, theirs.result()
        if loose and self.spec.loose:
            self._learn(*summaries)
        if cuts:
            self._count_wide(decide(*summaries, self._download_below) is Action.SPLIT)
        return summaries

    def _count_wide(self, split: bool) -> None:
        with self._lock:
            self._wide_seen += 1
            self._wide_split += split

    def _pieces_pay(self) -> bool:
        with self._lock:
            seen, split = self._wide_seen, self._wide_split
        return seen < PIECES_SAMPLE or split >= PIECES_PAY * seen

    def _piece_cuts(self, rng: Range) -> list[int]:
        """Where ``cuts`` would cut ``rng`` if it had to be split: equal slices of its key
        span; none when it is too narrow to hold enough rows to be split at all."""
        if not self.spec.integer_key or self.key_span is None:
            return []
        low = self.key_span[0] if rng.lo is None else int(rng.lo[0])
        high = self.key_span[1] if rng.hi is None else int(rng.hi[0]) - 1
        if high - low + 1 < self._download_below:
            return []
        return value_cuts(low, high, self._parts)

    def _summarize_pieces(self, rng: Range, cuts: list[int]) -> tuple[Summary, Summary]:
        loose = not self.skip_loose_sums
        theirs = self._postgres(
            lambda session: self.postgres.summarize_pieces(
                session, rng, self.cutoff, cuts, loose=loose
            )
        )
        with self.sessions.translated():
            mine = self.mysql.summarize_pieces(
                self.sessions.mysql(), rng, self.cutoff, cuts, loose=loose
            )
        pieces = list(zip(mine, theirs.result(), strict=True))
        summaries = _total(mine), _total([b for _, b in pieces])
        if loose and self.spec.loose:
            for piece in pieces:
                self._learn(*piece)
        split = decide(*summaries, self._download_below) is Action.SPLIT
        self._count_wide(split)
        if split:
            children = split_at(rng, [(cut,) for cut in cuts])
            with self._lock:
                self._known.update(zip(children, pieces, strict=True))
                self._known_cuts[rng] = [(cut,) for cut in cuts]
        return summaries

    def _learn(self, mine: Summary, theirs: Summary) -> None:
        """Count how often loose sums differ where exact ones match; give up on them when
        that is nearly always."""
        if not mine.count or (mine.count, mine.exact) != (theirs.count, theirs.exact):
            return
        with self._lock:
            self._loose_seen += 1
            self._loose_differ += mine.loose != theirs.loose
            if (
                self._loose_seen >= LOOSE_SAMPLE
                and self._loose_differ >= LOOSE_HOPELESS * self._loose_seen
            ):
                self.skip_loose_sums = True

    def cuts(self, rng: Range, mysql: Summary, postgres: Summary, parts: int) -> Sequence[Key]:
        with self._lock:
            known = self._known_cuts.pop(rng, None)
        if known is not None:
            return known
        if self.spec.integer_key:
            lows = [s.low for s in (mysql, postgres) if s.low is not None]
            highs = [s.high for s in (mysql, postgres) if s.high is not None]
            if not lows or not highs:
                return []
            return [(cut,) for cut in value_cuts(min(lows), max(highs), parts)]
        # Sampled from the side with more rows: each piece then holds at most ~1/parts of
        # them, and the other side's rows shrink at the next level.
        with self.sessions.translated():
            if mysql.count >= postgres.count:
                step = sample_step(mysql.count, parts)
                return self.mysql.cuts(self.sessions.mysql(), rng, self.cutoff, step)
            step = sample_step(postgres.count, parts)
            return self.postgres.cuts(self.sessions.postgres(), rng, self.cutoff, step)

    def settle(self, rng: Range, *, loose_only: bool) -> Outcome:
        if not self._judged:
            comparer = self.loose if loose_only else self.everything
            return self._stream(rng, comparer, loose_only=loose_only)
        return self._judge(rng) if loose_only else self._download(rng)

    def _judge(self, rng: Range) -> Outcome:
        """Only the JSON of ``rng`` differs in its sums: PostgreSQL flags keys, Python
        judges their rows."""
        rows, flagged, outcome = self._flag(rng)
        outcome.rows += rows
        if flagged:
            _absorb(outcome, self.recheck([key for key, _ in flagged]), rows=False)
        return outcome

    def _download(self, rng: Range) -> Outcome:
        """Every column of ``rng``: the exact ones streamed and merged in Python, the JSON
        ones flagged by PostgreSQL; every key either finds is judged on its whole rows."""
        exact = self._stream(rng, self.exact, exact_only=True)
        _, flagged, streamed = self._flag(rng)
        keys = {key for key, side in flagged if side == "both"}
        keys.update(key for key, _ in (*exact.different, *streamed.different))
        outcome = Outcome(exact.rows, exact.only_in_mysql, exact.only_in_postgres)
        if keys:
            _absorb(outcome, self.recheck(sorted(keys)), rows=False)
        return outcome

    def _flag(self, rng: Range) -> tuple[int, list[tuple[Key, str]], Outcome]:
        """Rows read, the keys PostgreSQL flags in ``rng`` (with the side that holds them)
        and what the pieces it could not judge showed in Python. The next piece is read
        from MySQL while PostgreSQL judges one."""
        first = self._read_copy(rng)
        pending = [(rng, first[0], self._judge_copy(rng, *first))]
        if first[0] > JUDGE_ROWS:  # too many rows for one piece: cut it at every n-th key
            with self.sessions.translated():
                cuts = self.mysql.cuts(self.sessions.mysql(), rng, self.cutoff, JUDGE_ROWS)
            pending = []
            for piece in split_at(rng, cuts):
                count, text = self._read_copy(piece)
                pending.append((piece, count, self._judge_copy(piece, count, text)))
        rows = 0
        flagged: list[tuple[Key, str]] = []
        streamed = Outcome()
        for piece, count, verdict in pending:
            found = None if verdict is None else verdict.result()
            if found is None:  # cut short, or not JSON to PostgreSQL: compared in Python
                _absorb(streamed, self._stream(piece, self.loose, loose_only=True))
                continue
            sides = [side for _, side in found]
            rows += 2 * count - sides.count("mysql") + sides.count("postgres")
            flagged += found
        return rows, flagged, streamed

    def _read_copy(self, rng: Range) -> tuple[int, bytes | None]:
        with self.sessions.translated():
            return self.mysql.loose_copy(
                self.sessions.mysql(), rng, self.cutoff, limit=JUDGE_ROWS + 1
            )

    def _judge_copy(
        self, rng: Range, count: int, text: bytes | None
    ) -> Future[list[tuple[Key, str]] | None] | None:
        """PostgreSQL's judgement of one piece, on a helper thread; None when the MySQL
        text was cut short (fewer lines than rows) or the piece is too large."""
        if text is None or count > JUDGE_ROWS or (count and text.count(b"\n") + 1 != count):
            return None
        return self._postgres(
            lambda session: self.postgres.judge_loose(session, rng, self.cutoff, text)
        )

    def _stream(
        self,
        rng: Range,
        comparer: RowComparer,
        *,
        loose_only: bool = False,
        exact_only: bool = False,
    ) -> Outcome:
        """Both sides' rows of ``rng`` (the comparer's columns) merged in Python."""
        chosen = {"loose_only": loose_only, "exact_only": exact_only}
        with self.sessions.translated():
            outcome = merge(
                self.mysql.rows(self.sessions.mysql(), rng, self.cutoff, **chosen),
                self.postgres.rows(self.sessions.postgres(), rng, self.cutoff, **chosen),
                key_width=len(self.spec.key),
                comparer=comparer,
            )
        return self._set_aside(outcome)

    def recheck(self, keys: Sequence[Key]) -> Outcome:
        """Read the rows of ``keys`` again on both sides and compare them."""
        key_width = len(self.spec.key)
        with self.sessions.translated():
            mine = self.mysql.rows_for(self.sessions.mysql(), keys, self.cutoff)
            theirs = self.postgres.rows_for(self.sessions.postgres(), keys, self.cutoff)
        return self._set_aside(
            merge(
                sorted(mine, key=lambda row: tuple(row[:key_width])),
                sorted(theirs, key=lambda row: tuple(row[:key_width])),
                key_width=key_width,
                comparer=self.everything,
            )
        )

    def _set_aside(self, outcome: Outcome) -> Outcome:
        """With a cut, keys found below it on one side only, asked after on the other:
        those it holds at or past the cut are in flight (``inflight.set_aside``)."""
        if self.cut is None or not (outcome.only_in_mysql or outcome.only_in_postgres):
            return outcome
        with self.sessions.translated():
            past_on_postgres = self.postgres.in_flight(
                self.sessions.postgres(), outcome.only_in_mysql
            )
            past_on_mysql = self.mysql.in_flight(self.sessions.mysql(), outcome.only_in_postgres)
        return set_aside(outcome, set(past_on_mysql), set(past_on_postgres))

    def in_flight(self, max_samples: int) -> InFlight:
        """Every key at or past the cut on either side, counted once (read last: see
        ``canary.diff.tables.inflight``)."""
        with self.sessions.translated():
            return union(
                self.mysql.in_flight_keys(self.sessions.mysql()),
                self.postgres.in_flight_keys(self.sessions.postgres()),
                max_samples,
            )


def _absorb(outcome: Outcome, part: Outcome, *, rows: bool = True) -> None:
    if rows:
        outcome.rows += part.rows
    outcome.only_in_mysql += part.only_in_mysql
    outcome.only_in_postgres += part.only_in_postgres
    outcome.different += part.different


def _total(pieces: Sequence[Summary]) -> Summary:
    """One summary of adjacent pieces, as a summary of their union would read."""
    lows = [p.low for p in pieces if p.low is not None]
    highs = [p.high for p in pieces if p.high is not None]
    looses = [p.loose for p in pieces]
    return Summary(
        sum(p.count for p in pieces),
        sum(p.exact for p in pieces),
        None if None in looses else sum(p.loose or 0 for p in pieces),
        min(lows) if lows else None,
        max(highs) if highs else None,
    )
