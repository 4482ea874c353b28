"""The demo's two paths as processes of their own, as they would run in production.

Each is ``canary run legacy|ring --until-idle S`` on the demo's topic, tables and groups
(handed over as ``CANARY_…`` variables); with an injected divergence the ring path runs
the divergent handler. A path that fails ends the demo with its output shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from canary.config import Settings
from canary.errors import CanaryError
from canary.handlers.divergent import RATE_VARIABLE

Say = Callable[[str], None]
DIVERGENT_HANDLER = "canary.handlers.divergent:to_row"


@dataclass(frozen=True, slots=True)
class PathProcess:
    """A running path and the file its output goes to (a pipe nobody reads while the
    demo produces would fill and stall the path)."""

    process: subprocess.Popen[bytes]
    output: IO[bytes]

    def finish(self, timeout: float | None = None) -> str:
        """Wait for the path to end; its output (once: empty after that)."""
        self.process.wait(timeout)
        if self.output.closed:
            return ""
        self.output.seek(0)
        text = self.output.read().decode(errors="replace")
        self.output.close()
        return text


Processes = dict[str, PathProcess]


def start(
    settings: Settings, run_id: str, *, divergence: float, workers: int | None, idle: float
) -> Processes:
    """Both paths started, each consuming until nothing new came for ``idle`` seconds."""
    base_env = {
        **os.environ,
        "CANARY_KAFKA__SOURCE_TOPIC": settings.kafka.source_topic,
        "CANARY_MYSQL__TABLE": settings.mysql.table,
        "CANARY_POSTGRES__TABLE": settings.postgres.table,
        "CANARY_LEGACY__GROUP": settings.legacy.group,
        "CANARY_RING__GROUP": settings.ring.group,
    }
    if settings.source != "(defaults)":
        base_env["CANARY_CONFIG"] = settings.source
    ring_env = dict(base_env)
    if divergence:
        ring_env["CANARY_HANDLER__PATH"] = DIVERGENT_HANDLER
        ring_env[RATE_VARIABLE] = str(divergence)
    command = [sys.executable, "-m", "canary", "run"]
    common = ["--run-id", run_id, "--until-idle", str(idle)]
    ring_args = ["--workers", str(workers)] if workers else []
    processes: Processes = {}
    for name, env, extra in (("legacy", base_env, []), ("ring", ring_env, ring_args)):
        output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by PathProcess.finish
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*command, name, *common, *extra],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        processes[name] = PathProcess(process, output)
    return processes


def running(processes: Processes) -> bool:
    """Whether either path is still consuming."""
    return any(path.process.poll() is None for path in processes.values())


def wait(processes: Processes, say: Say) -> None:
    """Both paths' ends, each with its output; raises CanaryError when one failed."""
    started = time.monotonic()
    failed = []
    for name, path in processes.items():
        output = path.finish()
        say(f"   {name} went idle and stopped after {time.monotonic() - started:.1f} s more:")
        for line in output.strip().splitlines():
            say(f"   | {line}")
        if path.process.returncode != 0:
            failed.append(f"{name} exited {path.process.returncode}")
    if failed:
        raise CanaryError("the demo's paths failed: " + "; ".join(failed))


def stop(processes: Processes) -> None:
    """End the paths of a demo that is not going on (an error, Ctrl-C)."""
    for path in processes.values():
        if path.process.poll() is None:
            path.process.terminate()  # our own child, by its handle
    for path in processes.values():
        try:
            path.finish(timeout=30)
        except subprocess.TimeoutExpired:
            path.process.kill()
            path.finish()
