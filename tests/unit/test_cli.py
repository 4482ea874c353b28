"""Tests for the command line through click's runner: help, config check, exit codes,
and how a verdict becomes the exit code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner, Result

from canary import __version__
from canary.cli import demo_cmd, diff_cmd
from canary.cli.main import cli
from canary.config import load_settings
from canary.core.gate import Check, VerifyReport
from canary.core.pace import Pace
from canary.demo.report import DemoReport, Production
from canary.demo.run import DemoOptions

LOCAL_TOML = Path(__file__).resolve().parents[2] / "configs" / "local.toml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's commands read os.environ: no CANARY_* from outside leaks in."""
    for name in list(os.environ):
        if name.startswith("CANARY_"):
            monkeypatch.delenv(name)


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=True)


def _commands(
    command: click.Command = cli, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands())


def test_the_contract_commands_exist() -> None:
    paths = {path for path, _ in COMMANDS}
    for expected in [("config", "check"), ("db", "init"), ("produce",), ("run", "legacy")]:
        assert expected in paths


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "canary" for path, _ in COMMANDS]
)
def test_help_lists_every_option_and_subcommand(
    path: tuple[str, ...], command: click.Command
) -> None:
    # A broken config value must not stop --help: settings load lazily.
    result = _invoke([*path, "--help"], env={"CANARY_RING__WORKERS": "not-a-number"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    assert "--help" in result.stdout
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            for flag in (*param.opts, *param.secondary_opts):
                assert flag in result.stdout, f"{flag} missing from help of {path}"
    if isinstance(command, click.Group):
        for name in command.commands:
            assert name in result.stdout


def test_version() -> None:
    result = _invoke(["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_config_check_prints_the_resolved_config_with_secrets_masked() -> None:
    result = _invoke(
        ["--config", str(LOCAL_TOML), "config", "check"],
        env={"CANARY_PG_PASSWORD": "s3cret", "CANARY_MYSQL_PASSWORD": "my-s3cret-too"},
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert str(LOCAL_TOML) in result.stdout
    assert "CANARY_PG_PASSWORD (set)" in result.stdout
    for section in ("kafka", "mysql", "postgres", "handler", "produce", "legacy", "ring"):
        assert f"[{section}]" in result.stdout
    settings = load_settings(LOCAL_TOML, environ={})
    assert f'bootstrap = "{settings.kafka.bootstrap}"' in result.stdout


def test_config_check_masks_a_dsn_password() -> None:
    result = _invoke(
        ["--config", str(LOCAL_TOML), "config", "check"],
        env={"CANARY_PG_DSN": "postgresql://carol:dsn-s3cret@pg.example:6543/shop"},
    )
    assert result.exit_code == 0, result.output
    assert "dsn-s3cret" not in result.output
    assert '"pg.example"' in result.stdout
    assert "6543" in result.stdout


def test_config_check_json_parses_and_reflects_overrides() -> None:
    result = _invoke(
        ["--config", str(LOCAL_TOML), "config", "check", "--format", "json"],
        env={"CANARY_PG_PASSWORD": "s3cret", "CANARY_RING__WORKERS": "8"},
    )
    assert result.exit_code == 0, result.output
    view = orjson.loads(result.stdout)
    assert view["ring"]["workers"] == 8
    assert view["ring"]["effective_workers"] == 8
    assert view["postgres"]["port"] == load_settings(LOCAL_TOML, environ={}).postgres.port
    assert "s3cret" not in result.stdout
    assert "CANARY_PG_PASSWORD" in view["postgres"]["password"]


def test_bad_config_value_exits_2_with_one_line_naming_the_key() -> None:
    result = _invoke(
        ["--config", str(LOCAL_TOML), "config", "check"], env={"CANARY_RING__WORKERS": "x"}
    )
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ring.workers" in lines[0]
    assert "CANARY_RING__WORKERS" in lines[0]
    assert "Traceback" not in result.output


def test_bad_value_in_the_config_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[ring]\nring_capacity = 1000\n", encoding="utf-8")
    result = _invoke(["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert "ring.ring_capacity" in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    result = _invoke(["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert "Traceback" not in result.output


def test_config_file_from_canary_config_variable(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text("[legacy]\ngroup = 'from-variable'\n", encoding="utf-8")
    result = _invoke(["config", "check", "--format", "json"], env={"CANARY_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["legacy"]["group"] == "from-variable"


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-flag"],
        ["config", "check", "--no-such-flag"],
        ["config", "check", "--format", "yaml"],
        ["produce"],  # --count is required
        ["produce", "--count", "0"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = _invoke(args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Usage:" in result.stderr


# --- verdicts: the report as asked for, then exit 1 with the reasons on stderr -----------

REASONS = ["3 mismatched records (limit 0)", "1 records missing in ring (limit 0)"]
# Each report command, and the function in its module that makes its report.
VERDICT_COMMANDS = [
    (diff_cmd, "diff_stream", ["diff", "stream", "--run-id", "r1", "--no-drill"]),
    (diff_cmd, "diff_tables", ["diff", "tables", "--table", "orders", "--key", "order_id"]),
    # canary demo: test_demo_prints_the_gates_report_then_exits_by_its_verdict
]


def _fake_report(verdict: str) -> dict[str, object]:
    return {
        "kind": "stream",
        "id": "stream-r1-1",
        "verdict": verdict,
        "reasons": REASONS if verdict == "fail" else [],
    }


@pytest.mark.parametrize(
    ("module", "function", "args"),
    VERDICT_COMMANDS,
    ids=[" ".join(c[2][:2]) for c in VERDICT_COMMANDS],
)
@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_a_report_command_prints_its_report_then_exits_by_verdict(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    function: str,
    args: list[str],
    verdict: str,
) -> None:
    report = _fake_report(verdict)
    monkeypatch.setattr(module, function, lambda *_args, **_kw: report)
    result = _invoke(["--config", str(LOCAL_TOML), *args, "--format", "json"])
    assert orjson.loads(result.stdout) == report
    if verdict == "pass":
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
    else:
        assert result.exit_code == 1, result.output
        assert result.stderr == f"canary: FAIL: {'; '.join(REASONS)}\n"
        assert "error" not in result.stderr


@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_demo_prints_the_gates_report_then_exits_by_its_verdict(
    monkeypatch: pytest.MonkeyPatch, verdict: str
) -> None:
    tables = {"kind": "tables", "verdict": "pass", "reasons": []}
    gate = VerifyReport(
        "verify-r1", "r1", "t", Check("stream", _fake_report(verdict)), Check("tables", tables)
    )
    report = DemoReport(gate, Production(Pace(10), 1.0))
    seen: list[DemoOptions] = []

    def fake(_settings: object, options: DemoOptions, _say: object) -> DemoReport:
        seen.append(options)
        return report

    monkeypatch.setattr(demo_cmd, "run_demo", fake)
    args = ["demo", "--count", "10", "--rate", "50", "--burst", "0", "--format", "json"]
    result = _invoke(["--config", str(LOCAL_TOML), *args])
    assert orjson.loads(result.stdout) == report.as_json()
    assert (seen[0].count, seen[0].rate, seen[0].burst_seconds) == (10, 50.0, 0.0)
    if verdict == "pass":
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
    else:
        assert result.exit_code == 1, result.output
        assert result.stderr == f"canary: FAIL: {'; '.join(f'stream: {r}' for r in REASONS)}\n"


def test_a_failed_verdict_written_to_a_file_still_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    report = _fake_report("fail")
    monkeypatch.setattr(diff_cmd, "diff_stream", lambda *_args, **_kw: report)
    out = tmp_path / "r1.json"
    args = ["diff", "stream", "--run-id", "r1", "--format", "json", "--out", str(out)]
    result = _invoke(["--config", str(LOCAL_TOML), *args])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert orjson.loads(out.read_text(encoding="utf-8")) == report
    first, second = result.stderr.splitlines()
    assert first == f"report stream-r1-1 (fail) written to {out}"
    assert second == f"canary: FAIL: {'; '.join(REASONS)}"
