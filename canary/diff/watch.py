"""``canary watch``: the stream join of a run, live, for as long as the release runs.

A watcher is a member of the consumer group ``canary-watch-<run>`` on the compare topic;
several watchers of one run share its partitions (both paths' events of a record share
one). For each partition it owns, it keeps a ``PartitionJoin`` and:

- every ``settle_s`` it reads what both paths' groups have committed, then the
  partition's end; once it has read that far it settles the join with those commits,
  which judges the records one path will never write as missing, exactly. Up to
  ``_TARGETS`` such readings wait per partition, so a watcher far behind the topic's
  end still cuts its lanes as it passes each one, not only when it reaches the end;
- every ``checkpoint_s`` it saves every owned partition's state with its read position
  in one PostgreSQL transaction (``sinks.checkpoints``); a watcher started again, or a
  new owner after a rebalance, resumes there without re-reading the topic;
- every ``window_s`` it judges the window just ended and the run so far (its own
  partitions merged with the others' saved summaries), stores both reports, updates the
  metrics, and alerts when the run's verdict changes.

Everything outside the join reaches the watcher through the ports below.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from canary.core.checkpoint import Claimed, Saved
from canary.core.join import Commits, PartitionJoin, Snapshot, merge
from canary.core.message import SourceMessage
from canary.core.report import StreamReport, stream_report
from canary.core.tally import Tally
from canary.core.verdict import Thresholds
from canary.diff.checkpoint import (
    UnreadableCheckpoint,
    decode_state,
    encode_state,
    summary_snapshot,
    summary_state,
)
from canary.diff.fold import fold, run_marker
from canary.errors import TransientFault

log = logging.getLogger(__name__)
# Commit readings waiting per partition: a watcher behind by B events cuts its lanes
# about every B / _TARGETS events instead of once at the end of the backlog.
_TARGETS = 16
Partition = tuple[str, int]
BATCH = 10_000
KEPT_WINDOWS = 1_000  # window reports carried in the final report


class Listener(Protocol):
    def on_assign(self, partitions: list[Partition]) -> Mapping[Partition, int]: ...
    def on_revoke(self, partitions: list[Partition]) -> None: ...
    def on_lost(self, partitions: list[Partition]) -> None: ...


class CompareConsumer(Protocol):
    """A member of the watchers' group (``canary.kafka.consumer.GroupConsumer``)."""

    def subscribe(self, topic: str, listener: Listener) -> None: ...
    def consume(self, count: int, timeout: float) -> list[SourceMessage]: ...
    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, tuple[int, int]]: ...
    def positions(self, partitions: Sequence[Partition]) -> dict[Partition, int]: ...
    def close(self) -> None: ...


class CommitSource(Protocol):
    """Per path name, the committed next offset of every source (topic, partition);
    raises TransientFault while it cannot tell."""

    def read(self) -> Commits: ...


class CheckpointStore(Protocol):
    """``sinks.checkpoints.CheckpointStore``: every call may raise TransientFault."""

    def claim(self, run_id: str, topic: str, partitions: Sequence[int]) -> dict[int, Claimed]: ...
    def save(self, run_id: str, topic: str, rows: Sequence[Saved]) -> set[int]: ...
    def summaries(self, run_id: str, topic: str) -> dict[int, dict[str, Any]]: ...


class ReportStore(Protocol):
    """Keeps a report's JSON; may raise TransientFault."""

    def save(self, report: dict[str, Any]) -> None: ...


class AlertSink(Protocol):
    """Takes an alert (CONTRACTS §8) for delivery; never blocks."""

    def send(self, alert: dict[str, Any]) -> None: ...


class Figures(Protocol):
    """What the watcher tells its metrics (``canary.diff.watch_metrics.WatchMetrics``)."""

    def judged(self, report: dict[str, Any]) -> None: ...
    def window(self, *, failed: bool) -> None: ...
    def read(self, messages: int) -> None: ...
    def checkpointed(self) -> None: ...
    def owned(self, partitions: int, lag: int) -> None: ...


@dataclass(frozen=True, slots=True)
class WatchOptions:
    run_id: str
    topic: str  # the compare topic
    window_s: float = 60.0
    grace_s: float = 5.0
    until_idle: float | None = None  # None: until stopped
    fail_fast: bool = False
    checkpoint_s: float = 5.0
    settle_s: float = 2.0
    max_samples: int = 20


@dataclass(frozen=True, slots=True)
class WatchPorts:
    consumer: CompareConsumer
    commits: CommitSource
    checkpoints: CheckpointStore
    reports: ReportStore
    alerts: AlertSink | None = None
    figures: Figures | None = None
    status: Callable[[str], None] | None = None


@dataclass(slots=True)
class _Owned:
    join: PartitionJoin
    epoch: int
    position: int
    # Commits, each with the end to read past before they apply; oldest first.
    targets: deque[tuple[Commits, int]] = field(default_factory=deque)


@dataclass(slots=True)
class WatchOutcome:
    report: StreamReport  # the run at the end (with its windows)
    failed_window: StreamReport | None  # the window that ended a --fail-fast watch


class Watcher:
    """Watches one run until ``stop`` says so, or until idle (``options.until_idle``)."""

    def __init__(
        self,
        options: WatchOptions,
        limits: Thresholds,
        ports: WatchPorts,
        stop: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._options = options
        self._limits = limits
        self._ports = ports
        self._stop = stop
        self._clock = clock
        self._owned: dict[int, _Owned] = {}
        self._windows: deque[StreamReport] = deque(maxlen=KEPT_WINDOWS)
        self._state = "pass"  # the run's verdict as last alerted
        self._window_start = clock()
        self._assigned_once = False
        self._last_arrival = time.monotonic()

    # -- group membership -------------------------------------------------------------

    def on_assign(self, partitions: list[Partition]) -> dict[Partition, int]:
        numbers = [p for t, p in partitions if t == self._options.topic]
        claimed = self._waited(
            lambda: self._ports.checkpoints.claim(
                self._options.run_id, self._options.topic, numbers
            )
        )
        positions: dict[Partition, int] = {}
        for number, claim in (claimed or {}).items():
            join, position = PartitionJoin(self._options.max_samples), 0
            if claim.state is not None and claim.position is not None:
                try:
                    join = decode_state(claim.state, self._options.max_samples)
                    position = claim.position
                except UnreadableCheckpoint as exc:
                    log.warning(
                        "watch: checkpoint of compare partition %d unreadable (%s); "
                        "reading it from the start",
                        number,
                        exc,
                    )
            if position:
                positions[(self._options.topic, number)] = position
            self._owned[number] = _Owned(join, claim.epoch, position)
        self._assigned_once = True
        self._last_arrival = time.monotonic()
        log.info("watch: now owns compare partitions %s", sorted(self._owned))
        return positions

    def on_revoke(self, partitions: list[Partition]) -> None:
        numbers = {p for _, p in partitions}
        self._checkpoint(numbers)
        for number in numbers:
            self._owned.pop(number, None)

    def on_lost(self, partitions: list[Partition]) -> None:
        for _, number in partitions:
            self._owned.pop(number, None)

    def partition(self, number: int) -> PartitionJoin:
        """The sink ``fold`` feeds (EventSink). A partition not owned (its claim was cut
        short by a stop) gets a join that is never saved."""
        owned = self._owned.get(number)
        return owned.join if owned is not None else PartitionJoin(self._options.max_samples)

    @property
    def events(self) -> int:
        return sum(owned.join.events for owned in self._owned.values())

    def unpaired(self) -> int:
        return sum(owned.join.unpaired() for owned in self._owned.values())

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> WatchOutcome:
        options, ports = self._options, self._ports
        marker = run_marker(options.run_id)
        ports.consumer.subscribe(options.topic, self)
        now = time.monotonic()
        next_settle, next_checkpoint = now, now + options.checkpoint_s
        next_window = now + options.window_s
        failed: StreamReport | None = None
        try:
            while not self._stop():
                batch = ports.consumer.consume(BATCH, 0.2)
                now = time.monotonic()
                if batch:
                    self._last_arrival = now
                    fold(batch, marker, options.run_id, self)
                    self._advance()
                    if ports.figures is not None:
                        ports.figures.read(len(batch))
                if now >= next_settle:
                    self._settle()
                    next_settle = now + options.settle_s
                if now >= next_checkpoint:
                    self._checkpoint(set(self._owned))
                    next_checkpoint = now + options.checkpoint_s
                if now >= next_window:
                    window = self._end_window()
                    next_window = now + options.window_s
                    if options.fail_fast and window.verdict == "fail":
                        failed = window
                        break
                if not batch and self._idle(now):
                    break
            ended = failed is None and options.until_idle is not None and not self._stop()
            report = self._finish(ended=ended)
        finally:
            ports.consumer.close()
        return WatchOutcome(report, failed)

    def _idle(self, now: float) -> bool:
        until_idle = self._options.until_idle
        if until_idle is None or not self._assigned_once:
            return False
        idle = now - self._last_arrival
        waiting = self.unpaired() > 0 and idle < max(until_idle, self._options.grace_s)
        return idle >= until_idle and not waiting

    def _advance(self) -> None:
        """Note the read positions the last batch brought the partitions to."""
        topic = self._options.topic
        try:
            positions = self._ports.consumer.positions([(topic, n) for n in self._owned])
        except TransientFault:
            return
        for (_, number), position in positions.items():
            owned = self._owned.get(number)
            if owned is not None and position > owned.position:
                owned.position = position

    def _settle(self) -> None:
        """Apply the newest commits each partition has been read past; take a new reading
        of the commits and the ends for every partition with events since the last."""
        if not self._owned:
            return
        now_ms = self._clock() * 1000
        grace_ms = self._options.grace_s * 1000
        for owned in self._owned.values():
            passed = None
            while owned.targets and owned.position >= owned.targets[0][1]:
                passed = owned.targets.popleft()[0]
            if passed is not None:
                owned.join.settle(passed, now_ms, grace_ms)
        topic = self._options.topic
        try:
            # The commits first, then the ends: every event acknowledged before those
            # commits is below these ends.
            commits = self._ports.commits.read()
            ends = self._ports.consumer.end_offsets([(topic, n) for n in self._owned])
        except TransientFault as exc:
            log.warning("watch: cannot read where the paths stand yet (%s)", exc)
            return
        lag = 0
        for number, owned in self._owned.items():
            span = ends.get((topic, number))
            if span is None:
                continue
            lag += max(0, span[1] - owned.position)
            queue_reading(owned.targets, (commits, span[1]))
        if self._ports.figures is not None:
            self._ports.figures.owned(len(self._owned), lag)

    def _checkpoint(self, numbers: set[int]) -> None:
        rows = []
        for number in sorted(numbers):
            owned = self._owned.get(number)
            if owned is None:
                continue
            owned.join.window.flush()
            rows.append(
                Saved(
                    partition=number,
                    epoch=owned.epoch,
                    position=owned.position,
                    state=encode_state(owned.join),
                    summary=summary_state(owned.join.snapshot(ended=False)),
                )
            )
        if not rows:
            return
        options = self._options
        try:
            fenced = self._ports.checkpoints.save(options.run_id, options.topic, rows)
        except TransientFault as exc:
            log.warning("watch: checkpoint not saved (%s); next attempt soon", exc)
            return
        for number in fenced:
            log.warning("watch: compare partition %d has a new owner; dropping it", number)
            self._owned.pop(number, None)
        if self._ports.figures is not None:
            self._ports.figures.checkpointed()

    # -- judging ------------------------------------------------------------------------

    def _run_snapshot(self, *, ended: bool) -> Snapshot:
        """The run so far: this watcher's partitions and the others' saved summaries."""
        options = self._options
        parts = [owned.join.snapshot(ended=ended) for owned in self._owned.values()]
        try:
            saved = self._ports.checkpoints.summaries(options.run_id, options.topic)
        except TransientFault as exc:
            log.warning("watch: other watchers' figures unavailable (%s)", exc)
            saved = {}
        for number, state in saved.items():
            if number not in self._owned:
                parts.append(summary_snapshot(state, options.max_samples))
        return merge(parts, options.max_samples)

    def _end_window(self) -> StreamReport:
        options = self._options
        started, now = self._window_start, self._clock()
        self._window_start = now
        tallies = [owned.join.roll() for owned in self._owned.values()]
        pending = merge(
            (owned.join.snapshot(ended=False) for owned in self._owned.values()),
            options.max_samples,
        ).pending
        window_tally = Tally(options.max_samples)
        for tally in tallies:
            window_tally.merge(tally)
        span = (_iso(started), _iso(now))
        window = self._judge(Snapshot(window_tally, pending), "window", span)
        run = self._judge(self._run_snapshot(ended=False), "run", (None, _iso(now)))
        self._windows.append(window)
        self._store(window)
        self._store(run)
        figures = self._ports.figures
        if figures is not None:
            figures.window(failed=window.verdict == "fail")
            figures.judged(run.as_json())
        self._alert(run, window)
        self._show(window, run)
        return window

    def _judge(
        self, snapshot: Snapshot, scope: str, span: tuple[str | None, str], *, live: bool = True
    ) -> StreamReport:
        moment = self._clock()
        stamp = datetime.fromtimestamp(moment, UTC)
        report_id = f"watch-{self._options.run_id}-{stamp:%Y%m%dT%H%M%S%f}-{scope}"
        start, end = span
        return stream_report(
            report_id,
            self._options.run_id,
            snapshot.result(),
            self._limits,
            stamp.isoformat(timespec="seconds"),
            scope=scope,
            span=None if start is None else (start, end),
            live=live,
        )

    def _store(self, report: StreamReport) -> None:
        try:
            self._ports.reports.save(report.as_json())
        except TransientFault as exc:
            log.warning("watch: report %s not stored (%s)", report.id, exc)

    def _alert(self, run: StreamReport, window: StreamReport) -> None:
        if run.verdict == self._state:
            return
        previous, self._state = self._state, run.verdict
        if self._ports.alerts is None:
            return
        self._ports.alerts.send(
            {
                "kind": "canary.alert",
                "run_id": self._options.run_id,
                "state": run.verdict,
                "previous": previous,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "reasons": run.reasons,
                "window": {
                    "from": window.span[0] if window.span else None,
                    "to": window.span[1] if window.span else None,
                    "matched": window.matched,
                    "mismatched": window.mismatched,
                    "missing_in_ring": window.missing_in_ring,
                    "missing_in_legacy": window.missing_in_legacy,
                },
                "report_id": run.id,
            }
        )

    def _show(self, window: StreamReport, run: StreamReport) -> None:
        if self._ports.status is None:
            return
        pending = run.pending["in_ring"] + run.pending["in_legacy"]
        self._ports.status(
            f"{run.verdict.upper()} run {self._options.run_id}: {run.matched:,} matched, "
            f"{run.mismatched:,} mismatched, "
            f"{run.missing_in_ring + run.missing_in_legacy:,} missing, {pending:,} pending; "
            f"window {window.verdict}: {window.matched:,} matched, "
            f"p99 legacy {window.legacy.p99:,.1f} ms, ring {window.ring.p99:,.1f} ms"
        )

    def _finish(self, *, ended: bool) -> StreamReport:
        """Last window, last checkpoint, and the run's report (ended: every record still
        alone is missing; else still pending)."""
        if self._owned:
            self._end_window()
            self._checkpoint(set(self._owned))
        report = self._judge(
            self._run_snapshot(ended=ended), "run", (None, _iso(self._clock())), live=not ended
        )
        report.windows = list(self._windows)
        self._store(report)
        return report

    def _waited(self, call: Callable[[], dict[int, Claimed]]) -> dict[int, Claimed] | None:
        """``call`` retried while the store is away, until it answers or the watch stops."""
        delay = 0.5
        while True:
            try:
                return call()
            except TransientFault as exc:
                if self._stop():
                    return None
                log.warning("watch: checkpoints unavailable (%s); waiting", exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)


def queue_reading(targets: deque[tuple[Commits, int]], reading: tuple[Commits, int]) -> None:
    """Add a commit reading (commits, the end read after them) to ``targets``, oldest
    first, at most ``_TARGETS``. With nothing new since the last reading, the newer
    commits replace it; when full, the reading whose neighbours stand closest goes, so
    the rest stay spread over the backlog."""
    if targets and targets[-1][1] >= reading[1]:
        targets[-1] = reading
        return
    if len(targets) >= _TARGETS:
        ends = [end for _, end in targets] + [reading[1]]
        closest = min(range(1, len(targets)), key=lambda i: ends[i + 1] - ends[i - 1])
        del targets[closest]
    targets.append(reading)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
