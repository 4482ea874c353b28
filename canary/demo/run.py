"""The demo's composition root: a whole gray release on the local services, end to end.

1. a fresh source topic and the demo's tables, emptied; 2. both paths start as
processes of their own; 3. order events are produced at a steady rate both paths
sustain, with one burst, while the demo samples how far behind each path is and runs
the consistent table diff (which must pass while the paths are still consuming);
4. both paths work off what is left and go idle; 5. the verify gate (stream diff and
consistent table diff) judges the run, and its report is stored.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from canary import app
from canary.config import Settings, is_identifier
from canary.core.orders import default_key_count, generate_orders
from canary.core.pace import Pace
from canary.core.schema import KEY
from canary.demo import paths
from canary.demo.report import DemoReport, Injection, MidRunCheck, Point, Production
from canary.diff.tables.commits import Positions, read_positions
from canary.diff.tables.run import diff_tables
from canary.diff.verify import verify_run
from canary.errors import UsageError
from canary.handlers import divergent
from canary.produce import ProduceResult

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    count: int
    rate: float = 400.0  # messages per second; 0 = as fast as possible
    burst_seconds: float = 5.0
    burst_factor: float = 4.0
    divergence: float = 0.0
    workers: int | None = None
    table: str = "demo_orders"
    idle: float = 5.0  # seconds without news after which a path stops
    every: float = 3.0  # seconds between two looks at how far behind the paths are

    def pace(self) -> Pace:
        return Pace(self.count, self.rate, self.burst_seconds, self.burst_factor)


def demo_settings(settings: Settings, stamp: str, table: str) -> Settings:
    """A topic and groups that belong to this demo run alone, and the demo's tables.

    Raises UsageError for a table name no database would take as it is."""
    if not is_identifier(table):
        raise UsageError(
            f"--table: not a table name: {table!r} (letters, digits and _, not first a digit)"
        )
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"source_topic": f"orders.demo-{stamp}"}),
            "mysql": settings.mysql.model_copy(update={"table": table}),
            "postgres": settings.postgres.model_copy(update={"table": table}),
            "legacy": settings.legacy.model_copy(update={"group": f"canary-legacy-demo-{stamp}"}),
            "ring": settings.ring.model_copy(update={"group": f"canary-ring-demo-{stamp}"}),
        }
    )


def run_demo(settings: Settings, options: DemoOptions, say: Say) -> DemoReport:
    """Run the demo, telling what happens through ``say``; the gate's report with what
    the demo saw. Raises CanaryError (a path failed, a service is unreachable)."""
    # Seconds and a random suffix: two demos started in the same second stay apart.
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    run_id = f"demo-{stamp}"
    demo = demo_settings(settings, stamp, options.table)
    pace = options.pace()
    say(f"== canary demo, run {run_id}")
    say(f"-- 1/5 tables: {demo.mysql.table} in MySQL and PostgreSQL, emptied")
    app.init_databases(demo)
    app.empty_tables(demo)
    app.ensure_source_topic(demo)
    injected = (
        f" (ring diverges on {100 * options.divergence:g} % of order ids)"
        if options.divergence
        else ""
    )
    say(f"-- 2/5 both paths start on {demo.kafka.source_topic}{injected}")
    processes = paths.start(
        demo, run_id, divergence=options.divergence, workers=options.workers, idle=options.idle
    )
    try:
        say(f"-- 3/5 producing {_plan(pace)}")
        watch = _Watch(demo, pace, processes, options.every, say)
        produced = watch.run()
        say(f"-- 4/5 both paths go idle ({options.idle:g} s without news) and stop")
        paths.wait(processes, say)
    finally:
        paths.stop(processes)
    say("-- 5/5 the verify gate: stream diff and consistent table diff of the run")
    gate = verify_run(
        demo, run_id=run_id, grace=0.0, until_idle=0.0, progress=lambda line: say(f"   {line}")
    )
    report = DemoReport(
        gate, Production(pace, produced.seconds), watch.timeline, watch.checks, None
    )
    if options.divergence:
        report.injection = _injection(demo, pace, options.divergence, report)
    for line in _summary(report):
        say(line)
    return report


def _plan(pace: Pace) -> str:
    text = f"{pace.count:,} order events"
    if pace.rate <= 0:
        return text + " as fast as possible"
    text += f" at {pace.rate:,.0f} msg/s"
    window = pace.burst_window
    if window is not None:
        text += (
            f", with a burst of {pace.burst_size:,} at {pace.rate * pace.burst_factor:,.0f} "
            f"msg/s from {window[0]:.1f} s to {window[1]:.1f} s"
        )
    return text + f": about {pace.seconds:.0f} s"


class _Watch:
    """Produces in a thread of its own while it samples the paths and checks the tables."""

    def __init__(
        self, settings: Settings, pace: Pace, processes: paths.Processes, every: float, say: Say
    ) -> None:
        self.settings, self.pace, self.processes = settings, pace, processes
        self.every, self.say = every, say
        self.timeline: list[Point] = []
        self.checks: list[MidRunCheck] = []
        self._result: ProduceResult | None = None
        self._error: BaseException | None = None

    def run(self) -> ProduceResult:
        """Production to its end, and the paths watched until both caught up."""
        thread = threading.Thread(target=self._produce, name="canary-demo-produce", daemon=True)
        self.timeline.append(Point(0.0, 0, 0, 0))  # nothing sent, nothing behind
        started = time.monotonic()
        thread.start()
        # Mid-run checks: when the burst's backlog peaks, and late in production.
        window = self.pace.burst_window
        plan = [window[1] if window else 0.5 * self.pace.seconds, 0.8 * self.pace.seconds]
        while True:
            # One look every few seconds while producing, every second after.
            thread.join(self.every)
            done = not thread.is_alive()
            if self._error is not None:
                raise self._error
            at = time.monotonic() - started
            positions = self._look(at, done)
            committed = positions.legacy.offsets and positions.ring.offsets
            if plan and committed and (at >= plan[0] or done):
                plan.pop(0)
                self._check(at)
            if done and ((self.checks and self._caught_up()) or not paths.running(self.processes)):
                break
            if done:
                time.sleep(1.0)
        assert self._result is not None
        return self._result

    def _produce(self) -> None:
        try:
            self._result = app.produce(
                self.settings,
                count=self.pace.count,
                rate=None,
                seed=None,
                topic=None,
                partitions=None,
                keys=None,
                pace=self.pace,
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the watching thread, raised there
            self._error = exc

    def _look(self, at: float, done: bool) -> Positions:
        positions = read_positions(self.settings)
        point = Point(
            at,
            sum(positions.ends.values()),  # in the topic: what the paths can be behind on
            positions.behind(positions.legacy),
            positions.behind(positions.ring),
        )
        self.timeline.append(point)
        self.say(
            f"   {at:5.1f} s  {point.produced:>8,} in the topic ({self._phase(at, done)})  behind: "
            f"legacy {point.legacy_behind:,}, ring {point.ring_behind:,}"
        )
        return positions

    def _phase(self, at: float, done: bool) -> str:
        if done:
            return "all sent"
        window = self.pace.burst_window
        if window is not None and window[0] <= at < window[1]:
            return f"burst, {self.pace.rate * self.pace.burst_factor:,.0f} msg/s"
        return f"{self.pace.rate:,.0f} msg/s" if self.pace.rate else "unpaced"

    def _caught_up(self) -> bool:
        last = self.timeline[-1]
        return last.produced == self.pace.count and not last.legacy_behind + last.ring_behind

    def _check(self, at: float) -> None:
        """One consistent table diff while the paths run; both paths have committed."""
        report = diff_tables(
            self.settings,
            table=None,
            mysql_table=self.settings.mysql.table,
            pg_table=self.settings.postgres.table,
            key=[KEY],
            consistent=True,
            store=False,
        )
        check = MidRunCheck.of(at, report.as_json())
        self.checks.append(check)
        self.say(f"   {check.line()}")


def _injection(settings: Settings, pace: Pace, rate: float, report: DemoReport) -> Injection:
    """What the injection must show, from the very events the demo produced."""
    produce = settings.produce
    keys = produce.keys or default_key_count(pace.count)
    events = ((e.key, e.value) for e in generate_orders(pace.count, keys, produce.seed))
    return Injection.judge(
        rate,
        divergent.footprint(events, rate),
        report.gate,
        lambda key: divergent.divergence(key, rate) is not None,
    )


_LABELS = {"stream": "stream diff", "tables": "table diff"}


def _summary(report: DemoReport) -> list[str]:
    gate = report.gate
    lines = []
    for check in gate.checks:
        body = check.body
        if body is None:
            lines.append(f"== {_LABELS[check.name]}: could not run: {check.error}")
            continue
        why = "; ".join(body.get("reasons") or []) or _good(check.name, body)
        lines.append(f"== {_LABELS[check.name]}: {check.verdict.upper()} ({why})")
        if check.name == "stream":
            lines.append(f"   {_latency(body['latency_ms'])}")
    if report.injection is not None:
        lines += [f"== {line}" for line in report.injection.lines()]
    verdict = gate.verdict.upper()
    lines.append(f"== verdict: {verdict} (exit code {gate.exit_code}), report {gate.id} stored")
    return lines


def _good(name: str, body: Mapping[str, Any]) -> str:
    if name == "stream":
        return f"{body['matched']:,} of {body['records']['legacy']:,} records matched"
    rows = body["rows"]["mysql"]
    return f"{rows:,} rows equal below the cut, {body.get('in_flight') or 0:,} keys in flight"


def _latency(latency: Mapping[str, Any]) -> str:
    """p50, p99 and max of both paths: the burst shows in p99 and max."""
    shown = (
        f"{path} {stats['p50']:,.0f} / {stats['p99']:,.0f} / {stats['max']:,.0f}"
        for path in ("legacy", "ring")
        if (stats := latency[path])
    )
    return "latency ms p50 / p99 / max: " + ", ".join(shown)
