"""``canary demo``: a whole gray release on the local services, end to end.

Both paths run as separate processes, as they would in production, on a topic and
tables of their own; then the stream diff judges them and the report is stored.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from canary import app
from canary.config import Settings
from canary.diff.run import diff_stream
from canary.errors import CanaryError
from canary.handlers.divergent import RATE_VARIABLE

Say = Callable[[str], None]
DIVERGENT_HANDLER = "canary.handlers.divergent:to_row"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    count: int
    divergence: float
    workers: int | None
    idle: float = 5.0


def demo_settings(settings: Settings, stamp: str) -> Settings:
    """A topic, tables and groups that belong to this demo run alone."""
    return settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"source_topic": f"orders.demo-{stamp}"}),
            "mysql": settings.mysql.model_copy(update={"table": "demo_orders"}),
            "postgres": settings.postgres.model_copy(update={"table": "demo_orders"}),
            "legacy": settings.legacy.model_copy(update={"group": f"canary-legacy-demo-{stamp}"}),
            "ring": settings.ring.model_copy(update={"group": f"canary-ring-demo-{stamp}"}),
        }
    )


def run_demo(settings: Settings, options: DemoOptions, say: Say) -> dict[str, Any]:
    # Seconds and a random suffix: two demos started in the same second stay apart.
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    run_id = f"demo-{stamp}"
    demo = demo_settings(settings, stamp)
    say(f"== canary demo, run {run_id}")
    say(f"-- 1/4 tables: {demo.mysql.table} in MySQL and PostgreSQL, emptied")
    app.init_databases(demo)
    app.empty_tables(demo)
    app.ensure_source_topic(demo)
    injected = (
        f" (ring diverges on {100 * options.divergence:g} % of keys)" if options.divergence else ""
    )
    say(f"-- 2/4 both paths start on {demo.kafka.source_topic}{injected}")
    processes = _start_paths(demo, run_id, options)
    say(f"-- 3/4 producing {options.count:,} order events while they consume")
    produced = app.produce(
        demo, count=options.count, rate=None, seed=None, topic=None, partitions=None, keys=None
    )
    say(
        f"   {produced.count:,} events in {produced.seconds:.1f} s "
        f"({produced.rate:,.0f} msg/s); waiting for both paths to go idle"
    )
    _wait(processes, say)
    say("-- 4/4 stream diff")
    return diff_stream(demo, run_id=run_id, grace=0.0, until_idle=0.0).as_json()


def _start_paths(
    settings: Settings, run_id: str, options: DemoOptions
) -> dict[str, subprocess.Popen[str]]:
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
    if options.divergence:
        ring_env["CANARY_HANDLER__PATH"] = DIVERGENT_HANDLER
        ring_env[RATE_VARIABLE] = str(options.divergence)
    idle = str(options.idle)
    command = [sys.executable, "-m", "canary", "run"]
    ring_args = ["--workers", str(options.workers)] if options.workers else []
    return {
        "legacy": subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*command, "legacy", "--run-id", run_id, "--until-idle", idle],
            env=base_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
        "ring": subprocess.Popen(  # noqa: S603
            [*command, "ring", "--run-id", run_id, "--until-idle", idle, *ring_args],
            env=ring_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
    }


def _wait(processes: dict[str, subprocess.Popen[str]], say: Say) -> None:
    started = time.monotonic()
    failed = []
    for name, process in processes.items():
        output, _ = process.communicate()
        say(f"   {name} finished after {time.monotonic() - started:.1f} s:")
        for line in output.strip().splitlines():
            say(f"   | {line}")
        if process.returncode != 0:
            failed.append(f"{name} exited {process.returncode}")
    if failed:
        raise CanaryError("the demo's paths failed: " + "; ".join(failed))
