"""The fault drills: both paths on one paced topic, a fault in the middle, then the verdict.

* ``run_outage``: PostgreSQL, MariaDB or the Kafka broker is stopped mid-run with
  ``scripts/services stop NAME`` and started again after ``down_s`` seconds. Both paths
  run with ``--until-idle`` and must end by themselves.
* ``run_kills``: each path's process group gets SIGKILL at random moments of its
  progress and is restarted at once; the run after the last kill must end by itself.

Everything runs through the real CLI (``python -m canary``) as child processes, on a
``ServiceSet`` of its own, with uuid-named topics, tables and groups. Progress is read
from the compare topic (``tally.CompareTally``); the verdict comes from
``canary diff stream`` and ``canary diff tables`` plus the tally's own count of what
each path wrote against what the source topic holds. Every wait is bounded.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tests.chaos.children import Child
from tests.chaos.isolated import SERVICES, ServiceSet
from tests.chaos.results import PATHS, DrillResult, PathOutcome
from tests.chaos.stage import Names, Stage
from tests.chaos.tally import CompareTally, published

# Which paths a service's outage interrupts.
AFFECTED = {"postgres": ("ring",), "mysql": ("legacy",), "kafka": ("legacy", "ring")}
# A running path with no commit for this long (beyond its idle period) is stuck.
STALL_S = 60.0
# The slowest rate a path may work at before the drill's bound ends the wait for it.
MIN_RATE = 300.0


# --- what a drill is ---------------------------------------------------------------------


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ValueError(f"{name}={value!r}: expected a positive number")
    return number


@dataclass(frozen=True)
class OutageDrill:
    service: str
    events: int = 60_000
    rate: float = 2_000.0
    down_s: float = 30.0  # between `stop` returning and `start` being called
    until_idle: float = 8.0
    at: float = 0.5  # of the production time, when the service is stopped
    partitions: int = 6
    seed: int = 7

    def __post_init__(self) -> None:
        if self.service not in SERVICES:
            raise ValueError(f"expected one of {SERVICES}, got {self.service!r}")
        if self.rate <= 0:
            raise ValueError("an outage drill needs a paced producer (rate > 0)")

    @property
    def fault(self) -> str:
        if self.service == "kafka":
            return "kafka broker restarted"
        return f"{self.service} stopped {self.down_s:g} s"

    @classmethod
    def from_environment(
        cls, service: str, environ: Mapping[str, str] | None = None
    ) -> OutageDrill:
        """CANARY_CHAOS_EVENTS, _RATE, _UNTIL_IDLE, and _DB_DOWN_S (MariaDB, PostgreSQL)
        or _KAFKA_DOWN_S (the broker) shorten or lengthen the drill."""
        env = os.environ if environ is None else environ
        down = "CANARY_CHAOS_KAFKA_DOWN_S" if service == "kafka" else "CANARY_CHAOS_DB_DOWN_S"
        return cls(
            service=service,
            events=int(_number(env, "CANARY_CHAOS_EVENTS", cls.events)),
            rate=_number(env, "CANARY_CHAOS_RATE", cls.rate),
            down_s=_number(env, down, 8.0 if service == "kafka" else cls.down_s),
            until_idle=_number(env, "CANARY_CHAOS_UNTIL_IDLE", cls.until_idle),
        )


@dataclass(frozen=True)
class KillDrill:
    events: int = 200_000
    rate: float = 5_000.0  # 0: as fast as the producer goes
    kills: int = 10  # per path
    until_idle: float = 8.0
    resume_limit_s: float = 8.0  # a restart must commit again within this (a dead static
    # member was held for the session timeout before: 10 s classic, 45 s KIP-848)
    resume_cap_s: float = 60.0  # how long a restart is watched for its first commit
    partitions: int = 6
    seed: int = 7
    kill_seed: int = field(default_factory=lambda: random.SystemRandom().randrange(1 << 32))

    @property
    def fault(self) -> str:
        return f"SIGKILL x{self.kills} per path"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KillDrill:
        """CANARY_CHAOS_KILL_EVENTS, _KILL_RATE, _KILLS, _RESUME_LIMIT_S, _UNTIL_IDLE;
        CANARY_CHAOS_SEED repeats the kill moments of an earlier drill."""
        env = os.environ if environ is None else environ
        extra: dict[str, Any] = {}
        if env.get("CANARY_CHAOS_SEED"):
            extra["kill_seed"] = int(env["CANARY_CHAOS_SEED"])
        return cls(
            events=int(_number(env, "CANARY_CHAOS_KILL_EVENTS", cls.events)),
            rate=_number(env, "CANARY_CHAOS_KILL_RATE", cls.rate),
            kills=int(_number(env, "CANARY_CHAOS_KILLS", cls.kills)),
            resume_limit_s=_number(env, "CANARY_CHAOS_RESUME_LIMIT_S", cls.resume_limit_s),
            until_idle=_number(env, "CANARY_CHAOS_UNTIL_IDLE", cls.until_idle),
            **extra,
        )


# --- waiting, always with a bound --------------------------------------------------------


def _await_exit(
    child: Child, path: str, tally: CompareTally, not_before: float, deadline: float, idle: float
) -> int | None:
    """The path's exit code once it stops by itself; None when it is still running at
    ``deadline`` or has committed nothing for ``idle + STALL_S`` seconds (then it is
    stopped)."""
    while True:
        code = child.poll()
        if code is not None:
            return code
        tally.check()
        now = time.time()
        quiet = now - max(tally.last_at(path), not_before, child.started)
        if now > deadline or quiet > idle + STALL_S:
            child.stop()
            return None
        time.sleep(0.1)


def _await_producer(child: Child, deadline: float) -> int | None:
    """The producer's exit code; None when it is still sending at ``deadline``."""
    code = child.wait(max(0.0, deadline - time.time()))
    if code is None:
        child.stop()
    return code


def _outcome(
    path: str, tally: CompareTally, in_topic: int, exit_code: int | None, last: Child
) -> PathOutcome:
    records = tally.distinct(path)
    return PathOutcome(
        path=path,
        exit_code=exit_code,
        records=records,
        lost=max(0, in_topic - records),
        duplicates=tally.duplicates(path),
        last_tail=last.tail(),
    )


# --- the outage drill --------------------------------------------------------------------


def run_outage(
    services: ServiceSet,
    drill: OutageDrill,
    workdir: Path,
    code: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> DrillResult:
    """Stop ``drill.service`` in the middle of a paced run of both paths, start it again
    after ``drill.down_s`` seconds, and judge what the paths made of it."""
    names = Names.fresh(drill.service)
    began = time.time()
    with services.drills(exclusive=True), Stage(services, names, workdir, code, extra_env) as stage:
        stage.prepare(drill.partitions)
        tally = CompareTally(services.bootstrap, names.compare_topic, names.run_id, names.topic)
        tally.start()
        try:
            producer = stage.produce(drill.events, drill.rate, drill.seed, drill.partitions)
            children = {path: stage.start_path(path, drill.until_idle) for path in PATHS}
            production_s = drill.events / drill.rate
            time.sleep(max(0.0, producer.started + production_s * drill.at - time.time()))
            stage.notes += _await_first_commits(children, tally)
            stopped = time.time()
            try:
                services.stop(drill.service)
                time.sleep(drill.down_s)
            finally:
                services.start(drill.service)
            back = time.time()
            bound = back + drill.until_idle + 2 * STALL_S + drill.events / MIN_RATE
            producer_exit = _await_producer(producer, bound)
            exits = _await_all(children, tally, back, bound, drill.until_idle)
            tally.catch_up()
            in_topic = published(services.bootstrap, names.topic)
            outcomes = {
                path: _outcome(path, tally, in_topic, exits[path], children[path]) for path in PATHS
            }
            for path in AFFECTED[drill.service]:
                first = tally.first_after(path, back)
                outcomes[path].must_recover = True
                outcomes[path].recover_s = None if first is None else max(0.0, first - back)
        finally:
            tally.stop()
        stream_exit, stream, tables_exit, tables = stage.diffs()
    return DrillResult(
        fault=drill.fault,
        events=drill.events,
        published=in_topic,
        producer_exit=producer_exit,
        outage_s=back - stopped,
        paths=outcomes,
        stream_exit=stream_exit,
        stream=stream,
        tables_exit=tables_exit,
        tables=tables,
        wall_s=time.time() - began,
        workdir=workdir,
        run_id=names.run_id,
        notes=stage.notes,
    )


def _await_first_commits(children: dict[str, Child], tally: CompareTally) -> list[str]:
    """A fault in the middle of a run needs paths that are running: wait (bounded) until
    each has committed something. What is still missing is returned as notes."""
    deadline = time.time() + STALL_S
    while True:
        tally.check()
        idle = [p for p, c in children.items() if not tally.last_at(p) and c.poll() is None]
        if not idle:
            return []
        if time.time() > deadline:
            return [f"{path}: no commit yet when the fault began" for path in idle]
        time.sleep(0.1)


def _await_all(
    children: dict[str, Child], tally: CompareTally, not_before: float, deadline: float, idle: float
) -> dict[str, int | None]:
    """Wait for every path at once, so that one slow path does not delay noticing that
    another one is stuck."""
    exits: dict[str, int | None] = {}
    lock = threading.Lock()

    def wait(path: str, child: Child) -> None:
        code = _await_exit(child, path, tally, not_before, deadline, idle)
        with lock:
            exits[path] = code

    _in_threads({path: partial(wait, path, child) for path, child in children.items()})
    return exits


def _in_threads(work: dict[str, Callable[[], None]]) -> None:
    """Run each callable in its own thread; re-raise the first failure here."""
    failures: list[BaseException] = []

    def guarded(function: Callable[[], None]) -> None:
        try:
            function()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failures.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(function,), name=name, daemon=True)
        for name, function in work.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


# --- the SIGKILL drill -------------------------------------------------------------------


@dataclass
class _KillLog:
    kill_times: list[float] = field(default_factory=list)
    resumes: list[float | None] = field(default_factory=list)
    note: str = ""
    exit_code: int | None = None
    last: Child | None = None


def run_kills(
    services: ServiceSet,
    drill: KillDrill,
    workdir: Path,
    code: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> DrillResult:
    """SIGKILL each path's process group at ``drill.kills`` random moments of its
    progress, restart it at once, and judge the run that follows the last kill."""
    names = Names.fresh("sigkill")
    began = time.time()
    logs = {path: _KillLog() for path in PATHS}
    with (
        services.drills(exclusive=False),
        Stage(services, names, workdir, code, extra_env) as stage,
    ):
        stage.prepare(drill.partitions)
        tally = CompareTally(services.bootstrap, names.compare_topic, names.run_id, names.topic)
        tally.start()
        try:
            producer = stage.produce(drill.events, drill.rate, drill.seed, drill.partitions)
            _in_threads(
                {
                    path: partial(
                        _kill_loop,
                        stage,
                        tally,
                        path,
                        drill,
                        random.Random(f"{drill.kill_seed}/{path}"),
                        logs[path],
                    )
                    for path in PATHS
                }
            )
            production_s = drill.events / drill.rate if drill.rate else 0.0
            producer_exit = _await_producer(producer, producer.started + production_s + STALL_S)
            tally.catch_up()
            in_topic = published(services.bootstrap, names.topic)
            outcomes: dict[str, PathOutcome] = {}
            for path, log in logs.items():
                assert log.last is not None
                outcome = _outcome(path, tally, in_topic, log.exit_code, log.last)
                outcome.must_recover = True
                outcome.kills_planned = drill.kills
                outcome.kill_times = log.kill_times
                outcome.kill_note = log.note
                outcome.resumes = log.resumes
                known = [r for r in log.resumes if r is not None]
                if log.resumes and len(known) == len(log.resumes):
                    outcome.recover_s = max(known)
                outcomes[path] = outcome
        finally:
            tally.stop()
        stream_exit, stream, tables_exit, tables = stage.diffs()
    return DrillResult(
        fault=drill.fault,
        events=drill.events,
        published=in_topic,
        producer_exit=producer_exit,
        outage_s=None,
        paths=outcomes,
        stream_exit=stream_exit,
        stream=stream,
        tables_exit=tables_exit,
        tables=tables,
        wall_s=time.time() - began,
        workdir=workdir,
        run_id=names.run_id,
        resume_limit_s=drill.resume_limit_s,
        notes=[
            *stage.notes,
            f"kill moments from seed {drill.kill_seed} (CANARY_CHAOS_SEED, or --seed)",
        ],
    )


def _kill_loop(
    stage: Stage,
    tally: CompareTally,
    path: str,
    drill: KillDrill,
    rng: random.Random,
    log: _KillLog,
) -> None:
    """Kill moments are drawn as shares of the path's own progress, so every kill lands
    while the path still has work and its restart has something to resume."""
    began = time.time()
    child = stage.start_path(path, drill.until_idle)
    targets = sorted(rng.uniform(0.02, 0.9) for _ in range(drill.kills))
    for number, share in enumerate(targets, start=1):
        reason = _await_progress(child, path, tally, int(share * drill.events))
        if reason:
            log.note = f"before kill {number}: {reason}"
            break
        if not child.kill_group():
            log.note = f"the run exited by itself just before kill {number}"
            break
        log.kill_times.append(time.time() - began)
        child = stage.start_path(path, drill.until_idle, attempt=number)
        resume = _await_resume(child, path, tally, drill.resume_cap_s)
        log.resumes.append(resume)
        if resume is None:
            log.note = f"restart {number} made no progress within {drill.resume_cap_s:g} s"
            break
        if resume > drill.resume_limit_s:
            # The verdict is made; more kills would only add minutes of the same stall.
            log.note = f"stopped after restart {number} resumed in {resume:.1f} s"
            break
    remaining = max(0, drill.events - tally.distinct(path))
    deadline = time.time() + drill.until_idle + 2 * STALL_S + remaining / MIN_RATE
    log.exit_code = _await_exit(child, path, tally, time.time(), deadline, drill.until_idle)
    log.last = child


def _await_progress(child: Child, path: str, tally: CompareTally, target: int) -> str:
    """Wait until the path has written ``target`` distinct records; why not, or ''."""
    while tally.distinct(path) < target:
        tally.check()
        code = child.poll()
        if code is not None:
            return f"the run exited {code} by itself at {tally.distinct(path):,} records"
        if time.time() - max(tally.last_at(path), child.started) > STALL_S:
            return f"no progress for {STALL_S:g} s at {tally.distinct(path):,} records"
        time.sleep(0.05)
    return ""


def _await_resume(child: Child, path: str, tally: CompareTally, cap: float) -> float | None:
    """Seconds from the restart to the restarted run's first commit; None if there is
    none within ``cap`` or the run exits first."""
    restarted = child.started
    while tally.last_at(path) <= restarted:
        tally.check()
        if child.poll() is not None or time.time() - restarted > cap:
            return None
        time.sleep(0.05)
    first = tally.first_after(path, restarted)
    return None if first is None else first - restarted
