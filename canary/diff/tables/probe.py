"""The walk's view of the two databases: summaries, cut points and row comparisons.

Every worker thread opens its own MySQL and PostgreSQL session on first use; ``close``
ends them all. Errors of a lost connection arrive as ServiceUnavailable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from typing import Any

from canary.config import Settings
from canary.core.cut import Cut
from canary.core.segments import Key, Range, Summary, sample_step, value_cuts
from canary.diff.tables.columns import Spec
from canary.diff.tables.compare import Outcome, RowComparer, merge
from canary.diff.tables.inflight import InFlight, set_aside, union
from sinks import checksums, mysql, postgres


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
        self._lock = threading.Lock()
        self._loose_seen = 0
        self._loose_differ = 0
        self.skip_loose_sums = False

    def summarize(self, rng: Range) -> tuple[Summary, Summary]:
        loose = not self.skip_loose_sums
        with self.sessions.translated():
            mine = self.mysql.summarize(self.sessions.mysql(), rng, self.cutoff, loose=loose)
            theirs = self.postgres.summarize(
                self.sessions.postgres(), rng, self.cutoff, loose=loose
            )
        if loose and self.spec.loose:
            self._learn(mine, theirs)
        return mine, theirs

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
        comparer = self.loose if loose_only else self.everything
        with self.sessions.translated():
            outcome = merge(
                self.mysql.rows(self.sessions.mysql(), rng, self.cutoff, loose_only=loose_only),
                self.postgres.rows(
                    self.sessions.postgres(), rng, self.cutoff, loose_only=loose_only
                ),
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
