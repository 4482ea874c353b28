"""A second Kafka, MariaDB and PostgreSQL, run by scripts/services with a state folder and
ports of their own, that drills may stop and start while other tests use the default set.

Invariants: the set never uses the default state folder or the default ports (a drill
would stop services that others are using); the script is called without
CANARY_KAFKA_BOOTSTRAP / CANARY_MYSQL_DSN / CANARY_PG_DSN, which would make it start
nothing, while the programs under test get exactly those, pointing at this set.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services"
SERVICES = ("kafka", "mysql", "postgres")
DEFAULT_STATE = ROOT / ".state" / "chaos"
EXTERNAL_VARIABLES = ("CANARY_KAFKA_BOOTSTRAP", "CANARY_MYSQL_DSN", "CANARY_PG_DSN")
# The default set's ports (CONTRACTS §2): a drill must never stop what runs there.
SHARED_PORTS = frozenset({9092, 9093, 3306, 5432})
# Bounds one call of the script: a first `up` installs packages and fetches Kafka's jars.
SCRIPT_TIMEOUT_S = 900.0


class ServiceError(RuntimeError):
    """scripts/services failed, or did not finish in time; the message holds its output."""


@dataclass(frozen=True)
class ServiceSet:
    state: Path = DEFAULT_STATE
    kafka_port: int = 19092
    controller_port: int = 19093
    mysql_port: int = 13306
    pg_port: int = 15432

    def __post_init__(self) -> None:
        if self.state.resolve() == (ROOT / ".state").resolve():
            raise ValueError(f"{self.state} is the default state folder; drills need their own")
        ports = (self.kafka_port, self.controller_port, self.mysql_port, self.pg_port)
        shared = sorted(SHARED_PORTS.intersection(ports))
        if shared:
            raise ValueError(f"ports {shared} belong to the default service set")
        if len(set(ports)) != len(ports):
            raise ValueError(f"the four ports must differ, got {ports}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceSet:
        """CANARY_CHAOS_STATE and CANARY_CHAOS_{KAFKA,KAFKA_CONTROLLER,MYSQL,PG}_PORT, each
        defaulting to the field's default."""
        env = os.environ if environ is None else environ

        def port(name: str, default: int) -> int:
            value = env.get(name, "")
            if not value:
                return default
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise ValueError(f"{name}={value!r} is not a port")
            return int(value)

        state = env.get("CANARY_CHAOS_STATE", "")
        return cls(
            state=Path(state).absolute() if state else DEFAULT_STATE,
            kafka_port=port("CANARY_CHAOS_KAFKA_PORT", cls.kafka_port),
            controller_port=port("CANARY_CHAOS_KAFKA_CONTROLLER_PORT", cls.controller_port),
            mysql_port=port("CANARY_CHAOS_MYSQL_PORT", cls.mysql_port),
            pg_port=port("CANARY_CHAOS_PG_PORT", cls.pg_port),
        )

    # --- addresses -----------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mysql_dsn(self) -> str:
        return f"mysql://canary:canary@127.0.0.1:{self.mysql_port}/canary"

    @property
    def pg_dsn(self) -> str:
        return f"postgresql://canary:canary@127.0.0.1:{self.pg_port}/canary"

    def client_environment(self) -> dict[str, str]:
        """What points a canary process at this set."""
        return {
            "CANARY_KAFKA_BOOTSTRAP": self.bootstrap,
            "CANARY_MYSQL_DSN": self.mysql_dsn,
            "CANARY_PG_DSN": self.pg_dsn,
        }

    def script_environment(self) -> dict[str, str]:
        """What makes scripts/services manage this set."""
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in EXTERNAL_VARIABLES and not name.startswith("CANARY_SERVICES_")
        }
        env.update(
            {
                "CANARY_SERVICES_STATE": str(self.state),
                "CANARY_SERVICES_KAFKA_PORT": str(self.kafka_port),
                "CANARY_SERVICES_KAFKA_CONTROLLER_PORT": str(self.controller_port),
                "CANARY_SERVICES_MYSQL_PORT": str(self.mysql_port),
                "CANARY_SERVICES_PG_PORT": str(self.pg_port),
            }
        )
        return env

    # --- scripts/services ----------------------------------------------------------------

    def call(self, *args: str, timeout: float = SCRIPT_TIMEOUT_S) -> str:
        """Run ``scripts/services ARGS`` for this set; its output, or ServiceError."""
        try:
            done = subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
                [str(SCRIPT), *args],
                cwd=ROOT,
                env=self.script_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(
                f"scripts/services {' '.join(args)} ({self.state}) did not finish in "
                f"{timeout:.0f} s"
            ) from exc
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise ServiceError(
                f"scripts/services {' '.join(args)} ({self.state}) exited "
                f"{done.returncode}:\n{output}"
            )
        return output

    def up(self) -> None:
        self.call("up")

    def down(self) -> None:
        self.call("down")

    def stop(self, service: str) -> float:
        """Stop one service; the seconds it took."""
        return self._timed("stop", service)

    def start(self, service: str) -> float:
        """Start one service and wait until it answers; the seconds it took."""
        return self._timed("start", service)

    def _timed(self, action: str, service: str) -> float:
        if service not in SERVICES:
            raise ValueError(f"expected one of {SERVICES}, got {service!r}")
        began = time.monotonic()
        self.call(action, service)
        return time.monotonic() - began

    # --- sharing the set -----------------------------------------------------------------

    def _lock_path(self, kind: str) -> Path:
        digest = hashlib.md5(str(self.state).encode(), usedforsecurity=False).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"canary-chaos-{digest}.{kind}.lock"

    @contextmanager
    def session(self, *, keep_up: bool = False) -> Iterator[ServiceSet]:
        """The set is up for the block. Every user holds a shared lock; the last one out
        (the one that can turn it exclusive) brings the set down again."""
        with self._lock_path("session").open("a+") as handle:
            _flock(handle, fcntl.LOCK_SH)
            try:
                self.up()
            except ServiceError:
                self._down_if_last(handle, keep_up)
                raise
            try:
                yield self
            finally:
                self._down_if_last(handle, keep_up)

    def _down_if_last(self, handle: IO[str], keep_up: bool) -> None:
        if keep_up:
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another session still uses the set; it stops it
        self.down()

    @contextmanager
    def drills(self, *, exclusive: bool) -> Iterator[None]:
        """A drill that stops services holds the set alone; drills that only kill their
        own processes may share it with each other."""
        with self._lock_path("drills").open("a+") as handle:
            _flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield


def _flock(handle: IO[str], operation: int, timeout: float = 1800.0) -> None:
    """flock with a bound: a drill waits for another one at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{handle.name} still locked by another drill after {timeout:.0f} s"
                ) from None
            time.sleep(0.5)
