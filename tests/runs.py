"""Running `canary run …` as a child process in tests, and reading its summary."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from canary.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def env_for(settings: Settings, tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that points a `canary` subprocess (either path, or a diff) at
    the topics, tables and groups of ``settings``."""
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "CANARY_KAFKA__SOURCE_TOPIC": settings.kafka.source_topic,
        "CANARY_KAFKA__COMPARE_TOPIC": settings.kafka.compare_topic,
        "CANARY_KAFKA__DLQ_TOPIC": settings.kafka.dlq_topic,
        "CANARY_MYSQL__TABLE": settings.mysql.table,
        "CANARY_POSTGRES__TABLE": settings.postgres.table,
        "CANARY_POSTGRES__OFFSETS_TABLE": settings.postgres.offsets_table,
        "CANARY_POSTGRES__REPORT_SCHEMA": settings.postgres.report_schema,
        "CANARY_LEGACY__GROUP": settings.legacy.group,
        "CANARY_RING__GROUP": settings.ring.group,
        "CANARY_RING__CHECKPOINT_PATH": str(tmp / "cp.json"),
        **(extra or {}),
    }


@dataclass(frozen=True)
class Finished:
    """A finished run: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str

    def counter(self, label: str) -> float:
        """A figure of the summary, e.g. ``counter("dead-lettered")``."""
        found = re.search(
            rf"^\s+{re.escape(label)}\s+([\d,.]+)( MB)?\s*$", self.stdout, re.MULTILINE
        )
        assert found, f"no {label!r} line in the summary:\n{self.stdout}\n{self.stderr}"
        return float(found.group(1).replace(",", ""))

    def stopped_by(self) -> str:
        found = re.search(r"stopped \((.*)\)$", self.stdout, re.MULTILINE)
        assert found, f"no summary:\n{self.stdout}\n{self.stderr}"
        return found.group(1)


@dataclass
class Member:
    """A running `canary run` process whose output goes to files."""

    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path
    started_ms: float = field(default_factory=lambda: time.time() * 1000.0)

    def log(self) -> str:
        return self.stderr.read_text()

    def wait(self, timeout: float = 300.0) -> Finished:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"canary run did not stop within {timeout:.0f} s:\n{self.log()}")
        return Finished(code, self.stdout.read_text(), self.log())

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(30) == -signal.SIGKILL


def start(
    command: list[str], env: dict[str, str], folder: Path, cwd: Path, label: str = "run"
) -> Member:
    """Start ``command`` with its output in two files under ``folder``."""
    name = f"{label}-{uuid.uuid4().hex[:8]}"
    stdout, stderr = folder / f"{name}.out", folder / f"{name}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            command, cwd=cwd, env=env, stdout=out, stderr=err, text=True
        )
    return Member(process, stdout, stderr)


def wait_for(
    what: str,
    condition: Callable[[], bool],
    *running: Member,
    timeout: float = 60.0,
    exit_timeout: float = 120.0,
) -> None:
    """Poll ``condition``; fail on timeout, or as soon as one of ``running`` has exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        for member in running:
            if member.process.poll() is not None:
                ended = member.wait(exit_timeout)
                pytest.fail(
                    f"canary exited with {ended.code} while waiting for {what}:\n"
                    f"{ended.stdout}{ended.stderr}"
                )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
