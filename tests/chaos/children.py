"""Child processes of a drill, each the leader of its own process group.

A path may start worker processes of its own; killing the group is what a crash of the
whole service looks like. A group is signalled only while its leader is still unreaped,
so a drill never signals a process group that is not its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class Child:
    """A running command whose output goes to ``<folder>/<label>.out`` and ``.err``."""

    def __init__(
        self,
        label: str,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        folder: Path,
    ) -> None:
        self.label = label
        self.stdout = folder / f"{label}.out"
        self.stderr = folder / f"{label}.err"
        self.killed = False
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(  # noqa: S603 - the project's own CLI
                list(command),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.started = time.time()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when the process still runs after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_group(self) -> bool:
        """SIGKILL to the whole group, then reap the leader; False when the leader had
        already exited (and nothing was killed)."""
        if not self._signal_group(signal.SIGKILL):
            return False
        self.killed = True
        self.process.wait(30)
        return True

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds."""
        if self._signal_group(signal.SIGTERM) and self.wait(grace) is None:
            self.killed = True
            self._signal_group(signal.SIGKILL)
            self.process.wait(30)

    def _signal_group(self, signum: signal.Signals) -> bool:
        """Signal the group only while its leader is not reaped: until then no other
        process can have been given its id."""
        if self.process.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):  # exited since the poll, not reaped
            os.killpg(self.process.pid, signum)
        return True

    def tail(self, lines: int = 15) -> str:
        """The last lines of both outputs, for a failure message."""
        parts = []
        for path in (self.stdout, self.stderr):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            if text:
                parts.append(f"  {path}:\n" + "\n".join(f"    | {line}" for line in text))
        return "\n".join(parts)
