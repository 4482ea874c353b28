"""The watcher's logic with in-memory ports: settling by commits only once read past,
checkpoints that resume exactly, fencing, windows and alerts on verdict changes."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from canary.core.checkpoint import Claimed, Saved
from canary.core.events import CompareEvent, PathName, SourceCoord, encode_event
from canary.core.join import Commits
from canary.core.message import SourceMessage
from canary.core.verdict import Thresholds
from canary.diff.watch import Listener, Watcher, WatchOptions, WatchPorts, queue_reading
from canary.testing import MemoryMessage

TOPIC = "cmp"
RUN = "r1"
TS = 1_700_000_000_000


def message(offset: int, path: PathName, record: int, digest: str | None = None) -> MemoryMessage:
    event = CompareEvent(
        run=RUN,
        path=path,
        key=f"k{record}",
        src=SourceCoord("orders", 0, record, TS),
        sum=digest or f"{record:032x}",
        at=TS + (5.0 if path == "legacy" else 2.0),
    )
    return MemoryMessage(encode_event(event), event.key.encode(), (TOPIC, 0, offset))


class Log:
    """One compare partition (0): messages handed out in batches as the test releases them."""

    def __init__(self) -> None:
        self.messages: list[MemoryMessage] = []
        self.released = 0
        self.position = 0
        self.listener: Listener | None = None
        self.started_at: int | None = None

    def append(self, path: PathName, record: int, digest: str | None = None) -> None:
        self.messages.append(message(len(self.messages), path, record, digest))

    def release(self) -> None:
        self.released = len(self.messages)


class Consumer:
    def __init__(self, log: Log) -> None:
        self.log = log

    def subscribe(self, topic: str, listener: Listener) -> None:
        self.log.listener = listener
        start = listener.on_assign([(topic, 0)]).get((topic, 0), 0)
        self.log.position = self.log.started_at = start

    def consume(self, count: int, timeout: float) -> list[SourceMessage]:
        log = self.log
        batch = log.messages[log.position : min(log.released, log.position + 3)]
        log.position += len(batch)
        return list(batch)

    def end_offsets(
        self, partitions: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        return dict.fromkeys(partitions, (0, self.log.released))

    def positions(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return dict.fromkeys(partitions, self.log.position)

    def close(self) -> None:
        pass


class Store:
    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}

    def claim(self, run_id: str, topic: str, partitions: Sequence[int]) -> dict[int, Claimed]:
        claimed = {}
        for number in partitions:
            row = self.rows.setdefault(number, {"epoch": 0, "position": None, "state": None})
            row["epoch"] += 1
            claimed[number] = Claimed(row["epoch"], row["position"], row["state"])
        return claimed

    def save(self, run_id: str, topic: str, rows: Sequence[Saved]) -> set[int]:
        fenced = set()
        for saved in rows:
            row = self.rows[saved.partition]
            if row["epoch"] != saved.epoch:
                fenced.add(saved.partition)
                continue
            row.update(position=saved.position, state=saved.state, summary=saved.summary)
        return fenced

    def summaries(self, run_id: str, topic: str) -> dict[int, dict[str, Any]]:
        return {n: r["summary"] for n, r in self.rows.items() if r.get("summary")}


class PathCommits:
    def __init__(self) -> None:
        self.now: dict[str, dict[tuple[str, int], int]] = {"legacy": {}, "ring": {}}

    def read(self) -> Commits:
        return {path: dict(offsets) for path, offsets in self.now.items()}


class Reports:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    def save(self, report: dict[str, Any]) -> None:
        self.saved.append(report)


class Alerts:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, alert: dict[str, Any]) -> None:
        self.sent.append(alert)


class Clock:
    def __init__(self) -> None:
        self.now = TS / 1000 + 100

    def __call__(self) -> float:
        return self.now


def watcher(
    log: Log,
    store: Store,
    commits: PathCommits,
    steps: list[Any],
    *,
    until_idle: float | None = None,
    grace: float = 0.0,
) -> tuple[Watcher, Reports, Alerts]:
    """A watcher whose every loop iteration runs the next of ``steps`` (then stops)."""
    reports, alerts = Reports(), Alerts()
    pending = list(steps)

    def stop() -> bool:
        if not pending:
            return True
        pending.pop(0)()
        return False

    options = WatchOptions(
        run_id=RUN,
        topic=TOPIC,
        window_s=0.0,  # a window every iteration
        grace_s=grace,
        until_idle=until_idle,
        checkpoint_s=0.0,
        settle_s=0.0,
    )
    ports = WatchPorts(Consumer(log), commits, store, reports, alerts)
    return Watcher(options, Thresholds(), ports, stop, clock=Clock()), reports, alerts


def nothing() -> None:
    pass


def test_missing_is_judged_only_once_the_other_path_committed_past_it_and_was_read() -> None:
    log, store, commits = Log(), Store(), PathCommits()
    for record in range(5):
        log.append("legacy", record)
    for record in (0, 1, 3):  # ring skips 2 (and has not reached 4 yet)
        log.append("ring", record)
    log.release()

    def commit_ring_past_two() -> None:
        commits.now["ring"] = {("orders", 0): 4}

    watch, reports, alerts = watcher(
        log, store, commits, [nothing] * 4 + [commit_ring_past_two] + [nothing] * 4
    )
    outcome = watch.run()
    runs = [r for r in reports.saved if r.get("scope") == "run"]
    # Everything read, but before the ring commit nothing is missing: 2 and 4 pending.
    before = runs[3]
    assert before["records"] == {"legacy": 5, "ring": 3}
    assert before["missing_in_ring"] == 0
    assert before["pending"]["in_ring"] == 2
    # After it (and a read past the end taken after it): 2 is missing, 4 still pending.
    assert runs[-1]["missing_in_ring"] == 1
    assert runs[-1]["samples"]["missing_in_ring"][0]["src"]["o"] == 2
    assert outcome.report.pending["in_ring"] == 1
    assert outcome.report.verdict == "fail"
    assert [a["state"] for a in alerts.sent] == ["fail"]
    assert alerts.sent[0]["previous"] == "pass"


def test_a_restarted_watcher_resumes_from_its_checkpoint_with_the_same_counts() -> None:
    def fill(log: Log) -> None:
        for record in range(30):
            log.append("legacy", record)
            log.append("ring", record, "f" * 32 if record == 7 else None)
            if record % 10 == 0:
                log.append("ring", record)  # a redelivery

    whole = Log()
    fill(whole)
    whole.release()
    uninterrupted, _, _ = watcher(whole, Store(), PathCommits(), [nothing] * 40)
    expected = uninterrupted.run().report

    log, store = Log(), Store()
    fill(log)
    log.release()
    first, _, _ = watcher(log, store, PathCommits(), [nothing] * 6)  # stopped part-way
    first.run()
    assert 0 < store.rows[0]["position"] < len(log.messages)
    saved_at = store.rows[0]["position"]
    second, _, _ = watcher(log, store, PathCommits(), [nothing] * 40)
    resumed = second.run().report
    assert log.started_at == saved_at  # not from the beginning
    for field in ("records", "matched", "mismatched", "missing_in_ring", "duplicates"):
        assert getattr(resumed, field) == getattr(expected, field), field
    assert resumed.mismatched == 1
    assert resumed.duplicates == (0, 3)


def test_a_fenced_watcher_drops_the_partition_instead_of_overwriting_its_successor() -> None:
    log, store = Log(), Store()
    log.append("legacy", 0)
    log.release()

    def successor_claims() -> None:
        store.claim(RUN, TOPIC, [0])

    watch, _, _ = watcher(log, store, PathCommits(), [nothing, successor_claims, nothing, nothing])
    watch.run()
    assert store.rows[0]["epoch"] == 2
    assert watch.unpaired() == 0  # the partition was dropped on the fenced save


@pytest.mark.parametrize("digest", [None, "e" * 32])
def test_alerts_follow_the_run_verdict_both_ways(digest: str | None) -> None:
    log, store, commits = Log(), Store(), PathCommits()
    log.append("legacy", 0)
    log.append("ring", 0, digest)
    log.release()
    watch, _, alerts = watcher(log, store, commits, [nothing] * 4)
    watch.run()
    expected: Mapping[str | None, list[str]] = {None: [], "e" * 32: ["fail"]}
    assert [a["state"] for a in alerts.sent] == expected[digest]


def test_a_watcher_behind_the_end_judges_missing_as_it_passes_each_reading() -> None:
    """The producer outruns the watcher (6 events a step, 3 read a step): a commit reading
    applies as soon as its end is read past, not once the watcher reaches the topic's end."""
    log, store, commits = Log(), Store(), PathCommits()
    ends: list[int] = []

    def produce(step: int) -> None:
        for record in range(3 * step, 3 * step + 3):
            log.append("legacy", record)
            if record != 2:  # ring never writes record 2
                log.append("ring", record)
        log.release()
        # The ring path commits ten steps behind what it has written.
        commits.now["ring"] = {("orders", 0): max(0, 3 * step - 30)}
        ends.append(log.released)

    steps = [lambda s=step: produce(s) for step in range(20)] + [nothing] * 30
    watch, reports, _ = watcher(log, store, commits, steps)
    watch.run()
    runs = [r for r in reports.saved if r.get("scope") == "run"]
    first_past = next(s for s in range(20) if 3 * s - 30 > 2)  # ring's commit passes 2
    # Iteration k has read min(3 (k + 1), what was released) events.
    judged_at = next(k for k in range(len(runs)) if 3 * (k + 1) >= ends[first_past])
    assert judged_at < 30 < len(runs)  # well before the watcher has read everything
    assert runs[judged_at - 1]["missing_in_ring"] == 0
    assert runs[judged_at]["missing_in_ring"] == 1
    assert runs[judged_at]["samples"]["missing_in_ring"][0]["src"]["o"] == 2


def test_queued_readings_stay_few_ordered_and_spread_over_the_backlog() -> None:
    targets: deque[tuple[Commits, int]] = deque()
    for end in range(1, 1001):
        queue_reading(targets, ({"ring": {("orders", 0): end}}, end))
    ends = [end for _, end in targets]
    assert len(ends) == 16
    assert ends[0] == 1
    assert ends[-1] == 1000
    assert ends == sorted(set(ends))
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert max(gaps) <= 4 * 1000 / 16  # no stretch of the backlog without a reading
    # Nothing new since the last reading: its commits are replaced, nothing is added.
    queue_reading(targets, ({"ring": {("orders", 0): 5000}}, 1000))
    assert len(targets) == 16
    assert targets[-1][0]["ring"][("orders", 0)] == 5000
