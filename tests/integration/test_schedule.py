"""`canary schedule` on the real services: stream jobs over a private compare topic filled
with hand-made compare events, reports in a private report schema.

One module-wide compare topic holds two runs: ``good`` (every record matched on both
paths) and ``bad`` (one checksum differs). Jobs with ``until_idle = 0`` read it to its
end, so each run takes about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from confluent_kafka.admin import AdminClient

from canary.config import ScheduledJob, ScheduleSettings, Settings
from canary.core.events import CompareEvent, PathName, SourceCoord, encode_event
from canary.errors import EXIT_SERVICE, EXIT_USAGE, ServiceUnavailable, UsageError
from canary.kafka import admin, client
from canary.kafka.producer import CheckedProducer
from canary.paths.runtime import StopFlag
from canary.schedule import jobs
from canary.schedule.execute import run_job
from canary.schedule.runner import Outcome, run_schedule
from sinks import mysql, postgres, reports
from tests.services import Services

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CANARY = Path(sys.executable).with_name("canary")
LOCAL_TOML = ROOT / "configs" / "local.toml"
BASE_TS = 1_790_000_000_000
RECORDS = 6


@dataclass(frozen=True)
class World:
    settings: Settings  # private compare topic and report schema
    schema: str
    topic: str

    def stored(self, run_id: str) -> list[reports.StoredReport]:
        return [report for report in self.reports("stream") if report.run_id == run_id]

    def reports(self, kind: str) -> list[reports.StoredReport]:
        with postgres.connect(self.settings.postgres) as connection:
            return reports.recent(connection, self.schema, 100, kind)

    def env(self, config: Path) -> dict[str, str]:
        return {
            **os.environ,
            "CANARY_CONFIG": str(config),
            "CANARY_KAFKA__COMPARE_TOPIC": self.topic,
            "CANARY_POSTGRES__REPORT_SCHEMA": self.schema,
        }


def events(run: str, *, mismatch_at: int | None = None) -> list[CompareEvent]:
    made = []
    for offset in range(RECORDS):
        src = SourceCoord(f"orders-{run}", offset % 3, offset, BASE_TS + offset)
        for path in ("legacy", "ring"):
            digest = f"{offset:032x}"
            if path == "ring" and offset == mismatch_at:
                digest = "f" * 32
            name: PathName = "legacy" if path == "legacy" else "ring"
            made.append(CompareEvent(run, name, f"k{offset}", src, digest, src.ts + 5.0))
    return made


@pytest.fixture(scope="module")
def world(services: Services) -> Iterator[World]:
    bootstrap = services.settings.kafka.bootstrap
    admin_client: AdminClient = client.admin(bootstrap)
    topic = services.unique("sched_cmp")
    admin.ensure_topic(admin_client, bootstrap, topic, 3)
    producer = CheckedProducer(bootstrap)
    published = [*events("good"), *events("bad", mismatch_at=2)]
    for event in published:
        producer.produce(topic, encode_event(event), key=event.key.encode())
    producer.flush()
    assert producer.delivered == len(published)

    suffix = uuid.uuid4().hex[:10]
    base = services.settings
    settings = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"compare_topic": topic}),
            "postgres": base.postgres.model_copy(
                update={
                    "report_schema": f"sched_reports_{suffix}",
                    "table": f"sched_orders_{suffix}",
                    "offsets_table": f"sched_offsets_{suffix}",
                }
            ),
        }
    )
    with postgres.connect(settings.postgres) as connection:
        postgres.init_schema(connection, settings.postgres)
    yield World(settings, settings.postgres.report_schema, topic)
    with postgres.connect(settings.postgres) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {settings.postgres.report_schema} CASCADE")  # type: ignore[arg-type]
        connection.execute(f"DROP TABLE IF EXISTS {settings.postgres.table}")  # type: ignore[arg-type]
        connection.execute(f"DROP TABLE IF EXISTS {settings.postgres.offsets_table}")  # type: ignore[arg-type]
        connection.commit()
    for future in admin_client.delete_topics([topic]).values():
        future.result(timeout=30)


def stream_job(name: str, run_id: str, **fields: Any) -> ScheduledJob:
    values: dict[str, Any] = {"interval": 1, "until_idle": 0, "drill_down": False, **fields}
    return ScheduledJob(name=name, kind="stream", run_id=run_id, **values)


def canary(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def config_with_jobs(tmp_path: Path, topic: str) -> Path:
    path = tmp_path / "schedule.toml"
    jobs_toml = (
        '\n[[schedule.jobs]]\nname = "good"\nkind = "stream"\ninterval = 1\nrun_id = "good"\n'
        "until_idle = 0\ndrill_down = false\n"
        '\n[[schedule.jobs]]\nname = "bad"\nkind = "stream"\ncron = "0 4 * * *"\n'
        'run_id = "bad"\nuntil_idle = 0\ndrill_down = false\n'
        f'compare_topic = "{topic}"\n'
    )
    path.write_text(LOCAL_TOML.read_text(encoding="utf-8") + jobs_toml, encoding="utf-8")
    return path


# --- in process -----------------------------------------------------------------------------


def test_an_interval_job_runs_again_and_again_while_a_failing_job_fails_beside_it(
    world: World,
) -> None:
    # "lost" reads the same run, but its report store is a PostgreSQL that is not there.
    settings = world.settings.model_copy(
        update={
            "schedule": ScheduleSettings(
                jobs=[stream_job("lost", "good"), stream_job("good", "good")]
            )
        }
    )
    unreachable = settings.model_copy(
        update={"postgres": settings.postgres.model_copy(update={"port": 1})}
    )
    zone = ZoneInfo("UTC")
    specs = jobs.build_specs(settings, datetime.now(zone))
    stop = StopFlag()
    seen: list[Outcome] = []

    def on_run(outcome: Outcome) -> None:
        seen.append(outcome)
        lost = [o.started for o in seen if o.job == "lost"]
        good = [o.started for o in seen if o.job == "good"]
        if len(lost) >= 2 and len(good) >= 2 and max(good) > min(lost):
            stop.set("enough runs")

    def function_for(spec: jobs.JobSpec) -> Callable[[], dict[str, Any]]:
        resolved = unreachable if spec.name == "lost" else settings
        return lambda: run_job(resolved, spec.job)

    result = run_schedule(specs, function_for, zone=zone, stop=stop, duration=40, on_run=on_run)
    assert result.stopped_by == "enough runs", result.outcomes
    assert isinstance(result.worst, ServiceUnavailable)
    assert result.worst.exit_code == EXIT_SERVICE
    good = [o for o in result.outcomes if o.job == "good"]
    lost = [o for o in result.outcomes if o.job == "lost"]
    for outcome in lost:
        assert isinstance(outcome.error, ServiceUnavailable)
        assert str(outcome.error).startswith("PostgreSQL is not reachable at 127.0.0.1:1")
    assert all(o.verdict == "pass" and o.error is None for o in good), good
    assert any(o.started > min(f.started for f in lost) for o in good)
    stored = {report.id: report for report in world.stored("good")}
    for outcome in good:
        assert outcome.report_id in stored
        assert stored[outcome.report_id].verdict == "pass"
        assert stored[outcome.report_id].body["matched"] == RECORDS


def test_a_stream_job_reading_to_the_end_leaves_a_late_pair_pending(world: World) -> None:
    """The documented ``until_idle = 0`` job: an event whose pair is seconds late is not
    a missing record, and once the pair is there the next run matches it."""
    run_id = f"late-{uuid.uuid4().hex[:8]}"
    on_time = events(run_id)[:-2]  # every record but the last, on both paths
    now_ms = time.time() * 1000
    src = SourceCoord(f"orders-{run_id}", 0, RECORDS, int(now_ms) - 500)
    legacy = CompareEvent(run_id, "legacy", "k-late", src, "e" * 32, now_ms - 400)
    ring = CompareEvent(run_id, "ring", "k-late", src, "e" * 32, now_ms + 3000)
    producer = CheckedProducer(world.settings.kafka.bootstrap)

    def publish(published: list[CompareEvent]) -> None:
        for event in published:
            producer.produce(world.topic, encode_event(event), key=event.key.encode())
        producer.flush()

    publish([*on_time, legacy])
    job = stream_job("late", run_id, grace=60)
    first = run_job(world.settings, job)
    assert first["verdict"] == "pass", first["reasons"]
    assert (first["matched"], first["missing_in_ring"]) == (RECORDS - 1, 0)
    assert (first["pending"]["in_ring"], first["pending"]["in_legacy"]) == (1, 0)
    assert [s["key"] for s in first["pending"]["samples"]["in_ring"]] == ["k-late"]

    publish([ring])
    second = run_job(world.settings, job)
    assert second["verdict"] == "pass", second["reasons"]
    assert (second["matched"], second["pending"]["in_ring"]) == (RECORDS, 0)
    assert {r.id for r in world.stored(run_id)} == {first["id"], second["id"]}


@pytest.fixture
def table_pair(world: World) -> Iterator[str]:
    """The same three rows in a MySQL table and a PostgreSQL table of one name."""
    name = f"sched_t_{uuid.uuid4().hex[:10]}"
    rows = [(1, "1.50", "a"), (2, "20.00", "b"), (3, "0.05", None)]
    my = mysql.connect(world.settings.mysql)
    try:
        with my.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE `{name}` (id BIGINT PRIMARY KEY, amount DECIMAL(10,2), "
                "note VARCHAR(40))"
            )
            cursor.executemany(f"INSERT INTO `{name}` VALUES (%s, %s, %s)", rows)
        my.commit()
        with postgres.connect(world.settings.postgres) as pg:
            pg.execute(
                f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, amount NUMERIC(10,2), note TEXT)"  # type: ignore[arg-type]
            )
            with pg.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {name} VALUES (%s, %s, %s)", rows)  # type: ignore[arg-type]
            pg.commit()
        yield name
    finally:
        with my.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{name}`")
        my.commit()
        my.close()
        with postgres.connect(world.settings.postgres) as pg:
            pg.execute(f"DROP TABLE IF EXISTS {name}")  # type: ignore[arg-type]
            pg.commit()


def test_a_tables_job_goes_on_after_a_tables_job_whose_table_is_missing(
    world: World, table_pair: str
) -> None:
    def tables_job(name: str, table: str) -> ScheduledJob:
        return ScheduledJob(name=name, kind="tables", interval=1, table=table, key=["id"])

    settings = world.settings.model_copy(
        update={
            "schedule": ScheduleSettings(
                jobs=[tables_job("gone", f"{table_pair}_gone"), tables_job("pair", table_pair)]
            )
        }
    )
    zone = ZoneInfo("UTC")
    stop = StopFlag()
    seen: list[Outcome] = []

    def on_run(outcome: Outcome) -> None:
        seen.append(outcome)
        gone = [o.started for o in seen if o.job == "gone"]
        pair = [o.started for o in seen if o.job == "pair"]
        if gone and len(pair) >= 2 and max(pair) > min(gone):
            stop.set("enough runs")

    result = run_schedule(
        jobs.build_specs(settings, datetime.now(zone)),
        lambda spec: lambda: run_job(settings, spec.job),
        zone=zone,
        stop=stop,
        duration=40,
        on_run=on_run,
    )
    assert result.stopped_by == "enough runs", result.outcomes
    for outcome in result.outcomes:
        if outcome.job == "gone":
            assert isinstance(outcome.error, UsageError)
            assert outcome.error.exit_code == EXIT_USAGE
            assert f"unknown table '{table_pair}_gone'" in str(outcome.error)
        else:
            assert outcome.verdict == "pass", outcome
    stored = {report.id: report for report in world.reports("tables")}
    pair_runs = [o for o in result.outcomes if o.job == "pair"]
    for outcome in pair_runs:
        assert outcome.report_id in stored
        body = stored[outcome.report_id].body
        assert body["rows"] == {"mysql": 3, "postgres": 3}
        assert body["different"] == 0


# --- through the command line ---------------------------------------------------------------


def test_schedule_list_and_run_through_the_cli(world: World, tmp_path: Path) -> None:
    env = world.env(config_with_jobs(tmp_path, world.topic))

    listed = canary("schedule", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[2:]}
    assert set(rows) == {"good", "bad"}
    assert "every 1s" in rows["good"]
    assert "cron 0 4 * * *" in rows["bad"]
    assert "04:00:00 UTC" in rows["bad"]
    assert f"run bad on {world.topic}" in rows["bad"]

    passed = canary("schedule", "run", "good", env=env)
    assert passed.returncode == 0, passed.stderr
    [line] = passed.stdout.splitlines()
    assert line.startswith("good: report stream-good-")
    assert line.endswith(" PASS")
    report_id = line.split()[2]
    assert report_id in {report.id for report in world.stored("good")}

    failed = canary("schedule", "run", "bad", "--format", "json", env=env)
    assert failed.returncode == 1, failed.stderr
    assert '"mismatched": 1' in failed.stdout
    assert "bad: report stream-bad-" in failed.stderr
    assert failed.stderr.splitlines()[-1] == "canary: FAIL: bad: 1 mismatched records (limit 0)"
    assert [r.verdict for r in world.stored("bad")] == ["fail"]

    lost = canary("schedule", "run", "good", env={**env, "CANARY_POSTGRES__PORT": "1"})
    assert lost.returncode == EXIT_SERVICE
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in lost.stderr

    unknown = canary("schedule", "run", "nope", env=env)
    assert unknown.returncode == EXIT_USAGE
    assert "known jobs: good, bad" in unknown.stderr


def test_schedule_start_runs_until_sigterm_and_stores_every_report(
    world: World, tmp_path: Path
) -> None:
    config = tmp_path / "start.toml"
    config.write_text(
        LOCAL_TOML.read_text(encoding="utf-8")
        + '\n[[schedule.jobs]]\nname = "again"\nkind = "stream"\ninterval = 1\n'
        'run_id = "good"\nuntil_idle = 0\ndrill_down = false\n',
        encoding="utf-8",
    )
    before = {report.id for report in world.stored("good")}
    process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [str(CANARY), "schedule", "start", "--for", "40"],
        cwd=ROOT,
        env=world.env(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 40
        while len(lines) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        process.send_signal(signal.SIGTERM)
        rest, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    lines.extend(rest.splitlines())
    assert process.returncode == 0, stderr
    assert "stopping (SIGTERM)" in stderr
    assert len(lines) >= 2, (lines, stderr)
    ids = [line.split()[5] for line in lines]
    for line in lines:
        assert line.split()[2:5] == ["UTC", "again", "PASS"], line
    stored = {report.id for report in world.stored("good")} - before
    assert set(ids) <= stored
    assert len(stored) == len(lines)
