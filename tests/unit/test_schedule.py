"""Tests for canary.schedule without services: job validation, triggers on a fixed clock,
the one-run-at-a-time and failure-survival rules, and the scheduler loop with fake jobs."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import time
import tomllib
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from canary.cli import schedule_cmd
from canary.cli.main import cli
from canary.config import ScheduledJob, ScheduleSettings, Settings, load_settings
from canary.diff import run as diff_run
from canary.errors import (
    EXIT_FAILED,
    EXIT_SERVICE,
    EXIT_USAGE,
    CanaryError,
    ConfigError,
    ServiceUnavailable,
    UsageError,
    VerificationFailed,
)
from canary.paths.runtime import StopFlag
from canary.schedule import execute, jobs
from canary.schedule.runner import GuardedJob, Outcome, RunBudget, run_schedule

LOCAL_TOML = Path(__file__).resolve().parents[2] / "configs" / "local.toml"
UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 11, 26, 12, 0, 7, tzinfo=UTC_ZONE)  # a Thursday


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CANARY_"):
            monkeypatch.delenv(name)


def stream_job(name: str = "s", **fields: Any) -> ScheduledJob:
    values: dict[str, Any] = {"interval": 30, "run_id": "r1", **fields}
    return ScheduledJob(name=name, kind="stream", **values)


def tables_job(name: str = "t", **fields: Any) -> ScheduledJob:
    values: dict[str, Any] = {"cron": "*/15 * * * *", "table": "orders", "key": ["order_id"]}
    return ScheduledJob(name=name, kind="tables", **{**values, **fields})


def verify_job(name: str = "v", **fields: Any) -> ScheduledJob:
    values: dict[str, Any] = {"interval": 60, "run_id": "r1", **fields}
    return ScheduledJob(name=name, kind="verify", **values)


def with_jobs(*scheduled: ScheduledJob, timezone: str = "UTC") -> Settings:
    return Settings(
        schedule=ScheduleSettings(timezone=timezone, jobs=list(scheduled)), source="test.toml"
    )


def write_config(tmp_path: Path, jobs_toml: str, name: str = "canary.toml") -> Path:
    path = tmp_path / name
    path.write_text(jobs_toml, encoding="utf-8")
    return path


# --- job validation at config load -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('kind = "stream"\nrun_id = "r"', "schedule.jobs.0.cron", "exactly one of interval"),
        (
            'kind = "stream"\nrun_id = "r"\ninterval = 5\ncron = "* * * * *"',
            "schedule.jobs.0.cron",
            "not both",
        ),
        ('kind = "stream"\ninterval = 5', "schedule.jobs.0.run_id", "stream job needs run_id"),
        ('kind = "stream"\ninterval = 5\nrun_id = ""', "schedule.jobs.0.run_id", "empty"),
        ('kind = "tables"\ninterval = 5\nkey = ["id"]', "schedule.jobs.0.table", "needs table"),
        ('kind = "tables"\ninterval = 5\ntable = "t"', "schedule.jobs.0.key", "needs key"),
        (
            'kind = "tables"\ninterval = 5\ntable = "t"\nkey = ["id"]\nrun_id = "r"',
            "schedule.jobs.0",
            "run_id is only for stream and verify jobs, and this is a tables job",
        ),
        (
            'kind = "stream"\ninterval = 5\nrun_id = "r"\ncolumns = ["a"]',
            "schedule.jobs.0",
            "columns is only for tables and verify jobs, and this is a stream job",
        ),
        ('kind = "verify"\ninterval = 5', "schedule.jobs.0.run_id", "verify job needs run_id"),
        (
            'kind = "tables"\ninterval = 5\ntable = "t"\nkey = ["id"]\ntopic = "orders"',
            "schedule.jobs.0",
            "topic goes only with consistent = true",
        ),
        (
            'kind = "stream"\ninterval = 5\nrun_id = "r"\nconsistent = true',
            "schedule.jobs.0",
            "consistent is only for tables jobs, and this is a stream job",
        ),
        (
            'kind = "verify"\ninterval = 5\nrun_id = "r"\nconsistent = false',
            "schedule.jobs.0",
            "consistent is only for tables jobs, and this is a verify job",
        ),
        ('kind = "stream"\ninterval = 0\nrun_id = "r"', "schedule.jobs.0.interval", "greater"),
        ('kind = "diff"\ninterval = 5\nrun_id = "r"', "schedule.jobs.0.kind", "tables"),
        ('kind = "stream"\ninterval = 5\nrun_id = "r"\nbogus = 1', "schedule.jobs.0.bogus", ""),
    ],
)
def test_a_malformed_job_is_a_config_error_naming_its_key(
    tmp_path: Path, body: str, key: str, words: str
) -> None:
    path = write_config(tmp_path, f'[[schedule.jobs]]\nname = "j"\n{body}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.key == key
    assert caught.value.source == str(path)
    assert words in caught.value.problem


def test_duplicate_job_names_are_rejected(tmp_path: Path) -> None:
    job = '[[schedule.jobs]]\nname = "twice"\nkind = "stream"\ninterval = 5\nrun_id = "r"\n'
    path = write_config(tmp_path, job + job)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key == "schedule"
    assert "jobs[0] and jobs[1] are both named 'twice'" in caught.value.problem


def test_an_unknown_time_zone_is_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[schedule]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key == "schedule.timezone"


def test_a_valid_schedule_loads(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[schedule]\ntimezone = "Europe/Berlin"\n'
        '[[schedule.jobs]]\nname = "a"\nkind = "stream"\ninterval = 2.5\nrun_id = "r1"\n'
        "until_idle = 0\ndrill_down = false\n"
        '[[schedule.jobs]]\nname = "b"\nkind = "tables"\ncron = "0 3 * * *"\n'
        'mysql_table = "m"\npg_table = "p"\ntable = "orders"\nkey = ["id", "v"]\n',
    )
    schedule = load_settings(path, environ={}).schedule
    assert schedule.timezone == "Europe/Berlin"
    assert [job.name for job in schedule.jobs] == ["a", "b"]
    assert schedule.jobs[0].interval == 2.5
    assert schedule.jobs[0].until_idle == 0
    assert schedule.jobs[1].key == ["id", "v"]


def test_local_toml_schedules_nothing_and_its_commented_example_is_valid() -> None:
    assert load_settings(LOCAL_TOML, environ={}).schedule.jobs == []
    text = LOCAL_TOML.read_text(encoding="utf-8")
    example = text[text.index("# [schedule]") :]
    lines = [line[2:] for line in example.splitlines() if re.match(r"^# (\[|\w+ = )", line)]
    settings = Settings.model_validate(tomllib.loads("\n".join(lines)))
    kinds = {job.kind for job in settings.schedule.jobs}
    assert kinds == {"stream", "tables", "verify"}
    specs = jobs.build_specs(settings, NOW)
    assert len(specs) == 3


# --- triggers on a fixed clock -------------------------------------------------------------


def test_an_interval_job_first_runs_one_interval_after_now() -> None:
    [spec] = jobs.build_specs(with_jobs(stream_job(interval=90)), NOW)
    assert jobs.next_run(spec, NOW) == NOW + timedelta(seconds=90)
    later = NOW + timedelta(seconds=100)
    assert jobs.next_run(spec, later) == NOW + timedelta(seconds=180)


def test_a_cron_job_fires_on_its_line_in_the_schedule_time_zone() -> None:
    settings = with_jobs(tables_job(cron="30 3 * * mon-fri"), timezone="Europe/Berlin")
    [spec] = jobs.build_specs(settings, NOW)
    fire = jobs.next_run(spec, NOW)
    assert fire == datetime(2026, 11, 27, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert fire is not None
    assert fire.astimezone(UTC) == datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC_ZONE)
    assert jobs.next_run(spec, saturday) == datetime(
        2026, 11, 30, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")
    )


@pytest.mark.parametrize("line", ["61 * * * *", "* * *", "a b c d e", "*/0 * * * *"])
def test_a_cron_line_that_does_not_parse_names_its_key(line: str) -> None:
    settings = with_jobs(stream_job("ok"), tables_job("bad", cron=line))
    with pytest.raises(ConfigError) as caught:
        jobs.build_specs(settings, NOW)
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.key == "schedule.jobs[1].cron"
    assert caught.value.source == "test.toml"
    assert repr(line) in caught.value.problem


def test_triggers_and_targets_are_described_as_written() -> None:
    assert jobs.describe(stream_job(interval=30)) == "every 30s"
    assert jobs.describe(stream_job(interval=1.5)) == "every 1.5s"
    assert jobs.describe(stream_job(interval=300)) == "every 5m"
    assert jobs.describe(stream_job(interval=7200)) == "every 2h"
    assert jobs.describe(tables_job(cron="0 3 * * *")) == "cron 0 3 * * *"
    assert jobs.target(stream_job(run_id="r7")) == "run r7"
    assert jobs.target(stream_job(compare_topic="cmp")) == "run r1 on cmp"
    assert jobs.target(tables_job()) == "table orders by order_id"
    pair = tables_job(mysql_table="a", pg_table="b", key=["k1", "k2"])
    assert jobs.target(pair) == "table a ~ b by k1,k2"
    assert jobs.target(tables_job(consistent=True)) == "table orders by order_id at the cut"
    gate = verify_job(run_id="r7")
    assert (
        jobs.target(gate) == "run r7 and table mysql.table ~ postgres.table by order_id at the cut"
    )
    named = verify_job(table="orders", key=["id"], compare_topic="cmp")
    assert jobs.target(named) == "run r1 on cmp and table orders by id at the cut"


def test_an_unknown_job_name_is_a_usage_error_listing_the_known_ones() -> None:
    settings = with_jobs(stream_job("alpha"), tables_job("beta"))
    assert jobs.find(settings, "beta").kind == "tables"
    with pytest.raises(UsageError) as caught:
        jobs.find(settings, "gamma")
    assert caught.value.exit_code == EXIT_USAGE
    assert "alpha, beta" in str(caught.value)
    with pytest.raises(UsageError, match="no job is configured"):
        jobs.find(with_jobs(), "gamma")


# --- a job's options over the configuration ------------------------------------------------


def test_a_stream_job_runs_the_stream_diff_with_its_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Settings, dict[str, Any]]] = []

    def fake_diff_stream(settings: Settings, **options: Any) -> dict[str, Any]:
        calls.append((settings, options))
        return {"id": "stream-r9-1", "verdict": "pass"}

    monkeypatch.setattr(diff_run, "diff_stream", fake_diff_stream)
    settings = with_jobs()
    job = stream_job(run_id="r9", grace=3, until_idle=0, compare_topic="cmp.x", drill_down=False)
    assert execute.run_job(settings, job) == {"id": "stream-r9-1", "verdict": "pass"}
    [(used, options)] = calls
    assert used.kafka.compare_topic == "cmp.x"
    assert used.kafka.bootstrap == settings.kafka.bootstrap
    assert options == {
        "run_id": "r9",
        "grace": 3,
        "until_idle": 0,
        "progress": None,
        "drill_down": False,
        "store": True,
    }
    execute.run_job(settings, stream_job())  # unset options: the [diff] and [kafka] defaults
    used, options = calls[1]
    assert used is settings
    assert (options["grace"], options["until_idle"], options["drill_down"]) == (None, None, True)


def test_a_tables_job_runs_the_tables_diff_with_its_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_diff_tables(_settings: Settings, **options: Any) -> dict[str, Any]:
        calls.append(options)
        return {"id": "tables-orders-1", "verdict": "fail"}

    module = types.ModuleType("canary.diff.tables.run")
    module.diff_tables = fake_diff_tables  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "canary.diff.tables.run", module)
    job = tables_job(
        mysql_table="m",
        pg_table="p",
        key=["a", "b"],
        max_samples=5,
        recheck=False,
        older_than=60,
        consistent=True,
        topic="orders.v2",
        legacy_group="lg",
        ring_group="rg",
    )
    assert execute.run_job(with_jobs(), job)["verdict"] == "fail"
    execute.run_job(with_jobs(), tables_job())
    assert calls == [
        {
            "table": "orders",
            "mysql_table": "m",
            "pg_table": "p",
            "key": ["a", "b"],
            "columns": None,
            "max_samples": 5,
            "older_than": 60,
            "recheck": False,
            "consistent": True,
            "topic": "orders.v2",
            "legacy_group": "lg",
            "ring_group": "rg",
            "store": True,
        },
        {
            "table": "orders",
            "mysql_table": None,
            "pg_table": None,
            "key": ["order_id"],
            "columns": None,
            "max_samples": None,
            "older_than": None,
            "recheck": None,
            "consistent": False,
            "topic": None,
            "legacy_group": None,
            "ring_group": None,
            "store": True,
        },
    ]


class _Gate:
    """What ``verify_run`` returns, as far as a job looks at it."""

    def __init__(self, error: CanaryError | None, verdict: str) -> None:
        self._error, self._verdict = error, verdict

    def failure(self) -> CanaryError | None:
        return self._error

    def as_json(self) -> dict[str, Any]:
        return {"kind": "verify", "id": "verify-r1-1", "verdict": self._verdict}


def test_a_verify_job_runs_the_gate_with_its_options_and_raises_what_it_could_not_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Settings, dict[str, Any]]] = []
    answers = [
        _Gate(VerificationFailed("tables: 1 row differs"), "fail"),
        _Gate(ServiceUnavailable("Kafka", "127.0.0.1:1"), "error"),
    ]

    def fake_verify_run(settings: Settings, **options: Any) -> _Gate:
        calls.append((settings, options))
        return answers[len(calls) - 1]

    module = types.ModuleType("canary.diff.verify")
    module.verify_run = fake_verify_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "canary.diff.verify", module)
    job = verify_job(
        run_id="r3",
        grace=2,
        until_idle=0,
        compare_topic="cmp.v",
        table="orders",
        key=["order_id"],
        recheck=False,
        topic="orders.src",
        ring_group="rg",
    )
    failed = execute.run_job(with_jobs(), job)
    assert failed == {"kind": "verify", "id": "verify-r1-1", "verdict": "fail"}
    with pytest.raises(ServiceUnavailable):
        execute.run_job(with_jobs(), verify_job())  # exit code 3: the job's error
    (used, options), (_, defaults) = calls
    assert used.kafka.compare_topic == "cmp.v"
    assert options == {
        "run_id": "r3",
        "grace": 2,
        "until_idle": 0,
        "drill_down": True,
        "table": "orders",
        "mysql_table": None,
        "pg_table": None,
        "key": ["order_id"],
        "columns": None,
        "max_samples": None,
        "older_than": None,
        "recheck": False,
        "topic": "orders.src",
        "legacy_group": None,
        "ring_group": "rg",
        "store": True,
    }
    assert (defaults["table"], defaults["key"], defaults["topic"]) == (None, None, None)


# --- one run at a time, failures survived ---------------------------------------------------


def passing() -> dict[str, Any]:
    return {"id": "stream-r1-1", "verdict": "pass"}


def guarded(function: Callable[[], dict[str, Any]], budget: RunBudget | None = None) -> GuardedJob:
    return GuardedJob("job-a", function, budget or RunBudget(), clock=lambda: NOW)


def test_a_run_while_the_previous_one_is_going_is_skipped() -> None:
    entered = threading.Event()
    release = threading.Event()
    calls = 0

    def slow() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        entered.set()
        release.wait(5)
        return passing()

    job = guarded(slow)
    first = threading.Thread(target=job)
    first.start()
    assert entered.wait(5)
    assert job() is None  # skipped: the first run still holds the job
    release.set()
    first.join(5)
    assert calls == 1
    outcome = job()  # and once it is over, the next run goes ahead
    assert outcome is not None
    assert outcome.verdict == "pass"
    assert calls == 2


def test_a_failing_run_is_logged_with_the_job_name_and_the_next_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    results: list[Callable[[], dict[str, Any]]] = []

    def unreachable() -> dict[str, Any]:
        raise ServiceUnavailable("Kafka", "127.0.0.1:1", "no broker answered")

    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    results.extend([unreachable, broken, passing])

    def next_result() -> dict[str, Any]:
        return results.pop(0)()

    job = guarded(next_result)
    with caplog.at_level(logging.ERROR, logger="canary.schedule.runner"):
        first, second, third = job(), job(), job()
    assert first is not None
    assert isinstance(first.error, ServiceUnavailable)
    assert str(first.error) == "Kafka is not reachable at 127.0.0.1:1: no broker answered"
    assert first.verdict is None
    assert second is not None
    # A foreign error joins the tree at its root: exit code 1, its cause kept.
    assert type(second.error) is CanaryError
    assert str(second.error) == "RuntimeError: boom"
    assert second.error.exit_code == EXIT_FAILED
    assert isinstance(second.error.__cause__, RuntimeError)
    assert third is not None
    assert (third.job, third.started, third.report_id, third.verdict) == (
        "job-a",
        NOW,
        "stream-r1-1",
        "pass",
    )
    assert third.error is None
    assert not third.failed
    logged = [record.getMessage() for record in caplog.records]
    assert "job job-a failed: Kafka is not reachable at 127.0.0.1:1: no broker answered" in logged
    assert "job job-a failed" in logged
    assert caplog.records[1].exc_info is not None  # an unexpected error keeps its traceback


def test_a_fail_verdict_is_a_verification_failure_and_a_broken_reporter_is_survived() -> None:
    def reporter(_outcome: Outcome) -> None:
        raise OSError("stdout closed")

    budget = RunBudget()
    report = {"id": "x", "verdict": "fail", "reasons": ["2 mismatched records (limit 0)"]}
    job = GuardedJob("j", lambda: report, budget, reporter)
    outcome = job()
    assert outcome is not None
    assert (outcome.report_id, outcome.verdict) == ("x", "fail")
    assert isinstance(outcome.error, VerificationFailed)
    assert str(outcome.error) == "j: 2 mismatched records (limit 0)"
    assert outcome.error.exit_code == EXIT_FAILED
    assert outcome.failed
    assert budget.outcomes == [outcome]


def test_the_run_budget_counts_all_jobs_and_reports_the_worst_error() -> None:
    spent: list[int] = []
    budget = RunBudget(3, on_spent=lambda: spent.append(1))
    a = GuardedJob("a", passing, budget)
    b = GuardedJob("b", lambda: {"id": "y", "verdict": "fail"}, budget)
    assert a() is not None
    assert b() is not None
    assert spent == []
    assert a() is not None
    assert spent == [1]
    assert b() is None  # the budget is spent: no fourth run
    assert len(budget.outcomes) == 3
    worst = budget.worst()
    assert isinstance(worst, VerificationFailed)
    assert str(worst) == "b: verdict fail"
    assert RunBudget().worst() is None


def test_the_worst_error_is_the_one_of_the_highest_exit_code_the_earliest_of_equals() -> None:
    raised = [
        UsageError("first usage error"),
        ServiceUnavailable("MySQL", "127.0.0.1:1"),
        ServiceUnavailable("Kafka", "127.0.0.1:2"),
        UsageError("second usage error"),
    ]
    budget = RunBudget()

    def failing() -> dict[str, Any]:
        raise raised[len(budget.outcomes)]

    job = GuardedJob("j", failing, budget)
    fail = GuardedJob("f", lambda: {"id": "z", "verdict": "fail"}, budget)
    fail()
    for _ in raised:
        job()
    assert budget.worst() is raised[1]


# --- the APScheduler loop, with fake job functions ------------------------------------------


def fast_specs(*names: str, interval: float = 0.1) -> list[jobs.JobSpec]:
    settings = with_jobs(*(stream_job(name, interval=interval) for name in names))
    return jobs.build_specs(settings, datetime.now(UTC_ZONE))


def test_the_scheduler_keeps_running_a_job_after_another_one_fails() -> None:
    seen: list[Outcome] = []

    def missing_topic() -> dict[str, Any]:
        raise UsageError("compare topic 'x' does not exist")

    def function_for(spec: jobs.JobSpec) -> Callable[[], dict[str, Any]]:
        return missing_topic if spec.name == "failing" else passing

    result = run_schedule(
        fast_specs("failing", "good"),
        function_for,
        zone=UTC_ZONE,
        stop=StopFlag(),
        max_runs=8,
        duration=10,
        on_run=seen.append,
    )
    assert result.stopped_by == "max-runs"
    assert len(result.outcomes) == 8
    assert seen == result.outcomes
    good = [o for o in result.outcomes if o.job == "good"]
    failing = [o for o in result.outcomes if o.job == "failing"]
    assert len(failing) >= 2
    assert all(isinstance(o.error, UsageError) for o in failing)
    first_failure = min(o.started for o in failing)
    assert any(o.started > first_failure and o.verdict == "pass" for o in good)
    assert isinstance(result.worst, UsageError)
    assert result.worst.exit_code == EXIT_USAGE


def test_the_scheduler_never_runs_one_job_twice_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def slow() -> dict[str, Any]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.35)  # more than three intervals
        with lock:
            running -= 1
        return passing()

    result = run_schedule(
        fast_specs("slow"), lambda _spec: slow, zone=UTC_ZONE, stop=StopFlag(), max_runs=3
    )
    assert len(result.outcomes) == 3
    assert most == 1
    assert result.worst is None


def test_the_scheduler_stops_after_its_time_limit_and_on_a_stop_flag() -> None:
    began = time.monotonic()
    result = run_schedule(
        fast_specs("a", interval=60),
        lambda _spec: passing,
        zone=UTC_ZONE,
        stop=StopFlag(),
        duration=0.3,
    )
    assert result.stopped_by == "time limit"
    assert result.outcomes == []
    assert time.monotonic() - began < 5

    stop = StopFlag()
    threading.Timer(0.3, stop.set, args=("SIGTERM",)).start()
    result = run_schedule(fast_specs("a"), lambda _spec: passing, zone=UTC_ZONE, stop=stop)
    assert result.stopped_by == "SIGTERM"
    assert result.outcomes


# --- the commands, with fake runs -----------------------------------------------------------


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


JOBS_TOML = (
    '[[schedule.jobs]]\nname = "fast"\nkind = "stream"\ninterval = 0.2\nrun_id = "r1"\n'
    '[[schedule.jobs]]\nname = "nightly"\nkind = "tables"\ncron = "0 3 * * *"\n'
    'table = "orders"\nkey = ["order_id"]\n'
)


def test_list_says_so_when_no_job_is_configured() -> None:
    result = invoke(["--config", str(LOCAL_TOML), "schedule", "list"])
    assert result.exit_code == 0
    assert "no job is configured" in result.stdout


def test_list_shows_kind_trigger_and_next_run(tmp_path: Path) -> None:
    config = write_config(tmp_path, JOBS_TOML)
    result = invoke(["--config", str(config), "schedule", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["job", "kind", "trigger", "next", "run", "compares"]
    assert re.search(r"^fast +stream +every 0.2s +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[2])
    assert re.search(r"^nightly +tables +cron 0 3 \* \* \* +\d{4}-\d\d-\d\d 03:00:00 UTC", lines[3])


def test_a_bad_cron_line_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, JOBS_TOML.replace("0 3 * * *", "0 25 * * *"))
    for command in ("list", "start"):
        result = invoke(["--config", str(config), "schedule", command])
        assert result.exit_code == EXIT_USAGE
        assert "schedule.jobs[1].cron" in result.stderr
        assert str(config) in result.stderr


def test_run_unknown_job_exits_2_listing_the_known_ones(tmp_path: Path) -> None:
    config = write_config(tmp_path, JOBS_TOML)
    result = invoke(["--config", str(config), "schedule", "run", "weekly"])
    assert result.exit_code == EXIT_USAGE
    assert "known jobs: fast, nightly" in result.stderr


@pytest.mark.parametrize(
    ("verdict", "reasons", "code", "stderr"),
    [
        ("pass", [], 0, ""),
        (
            "fail",
            ["2 rows only in MySQL", "1 row differs"],
            1,
            "canary: FAIL: nightly: 2 rows only in MySQL; 1 row differs\n",
        ),
    ],
)
def test_run_prints_the_report_id_and_exits_by_verdict(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    verdict: str,
    reasons: list[str],
    code: int,
    stderr: str,
) -> None:
    ran: list[str] = []

    def fake_run(_settings: Settings, job: ScheduledJob, **_kw: Any) -> dict[str, Any]:
        ran.append(job.name)
        return {
            "id": f"tables-{job.name}-1",
            "kind": "tables",
            "verdict": verdict,
            "reasons": reasons,
        }

    monkeypatch.setattr(schedule_cmd, "run_job", fake_run)
    config = write_config(tmp_path, JOBS_TOML)
    result = invoke(["--config", str(config), "schedule", "run", "nightly"])
    assert result.exit_code == code
    assert ran == ["nightly"]
    assert result.stdout == f"nightly: report tables-nightly-1 {verdict.upper()}\n"
    assert result.stderr == stderr


def test_start_without_jobs_exits_2() -> None:
    result = invoke(["--config", str(LOCAL_TOML), "schedule", "start", "--max-runs", "1"])
    assert result.exit_code == EXIT_USAGE
    assert "no job is configured" in result.stderr


def test_start_prints_one_line_per_run_and_stops_after_max_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(_settings: Settings, job: ScheduledJob, **_kw: Any) -> dict[str, Any]:
        return {"id": f"stream-{job.run_id}-x", "verdict": "pass"}

    monkeypatch.setattr(schedule_cmd, "run_job", fake_run)
    config = write_config(tmp_path, JOBS_TOML)
    result = invoke(["--config", str(config), "schedule", "start", "--max-runs", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert re.fullmatch(r"\S+ \S+ UTC  fast  PASS  stream-r1-x  \(\d+\.\d s\)", line), line
    assert "stopping (max-runs)" in result.stderr


def test_start_exits_1_naming_the_failed_verdict_when_the_worst_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(_settings: Settings, job: ScheduledJob, **_kw: Any) -> dict[str, Any]:
        reasons = ["3 mismatched records (limit 0)"]
        return {"id": f"stream-{job.run_id}-x", "verdict": "fail", "reasons": reasons}

    monkeypatch.setattr(schedule_cmd, "run_job", fake_run)
    config = write_config(tmp_path, JOBS_TOML)
    result = invoke(["--config", str(config), "schedule", "start", "--max-runs", "2"])
    assert result.exit_code == EXIT_FAILED
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert re.fullmatch(r"\S+ \S+ UTC  fast  FAIL  stream-r1-x  \(\d+\.\d s\)", line), line
    assert "stopped: 2 run(s), 2 not passed" in result.stderr
    assert result.stderr.endswith("canary: FAIL: fast: 3 mismatched records (limit 0)\n")


def test_start_stops_cleanly_on_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(_settings: Settings, _job: ScheduledJob, **_kw: Any) -> dict[str, Any]:
        raise ServiceUnavailable("PostgreSQL", "127.0.0.1:1")

    monkeypatch.setattr(schedule_cmd, "run_job", fake_run)
    config = write_config(tmp_path, JOBS_TOML)
    timer = threading.Timer(0.7, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        result = invoke(["--config", str(config), "schedule", "start", "--for", "20"])
    finally:
        timer.cancel()
    assert "stopping (SIGTERM)" in result.stderr
    assert result.exit_code == EXIT_SERVICE  # the worst run: an unreachable service
    assert result.stderr.endswith("canary: error: PostgreSQL is not reachable at 127.0.0.1:1\n")
    assert result.stdout.count("ERROR  PostgreSQL is not reachable at 127.0.0.1:1") >= 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
