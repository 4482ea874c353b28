"""One drill's topics, tables, groups and child processes on a service set.

The children are the real CLI (``python -m canary``), run from the source tree under
test, with an environment that points them at the service set and at the drill's own
uuid-named topics, tables and groups, and at nothing of the caller's configuration.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from psycopg import sql

from tests.chaos.children import Child
from tests.chaos.isolated import ROOT, ServiceSet
from tests.chaos.tally import delete_topics, ensure_topics

COMMAND_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Names:
    """One drill's own topics, tables, groups and run id."""

    run_id: str
    topic: str
    compare_topic: str
    dlq_topic: str
    table: str
    offsets_table: str
    legacy_group: str
    ring_group: str

    @classmethod
    def fresh(cls, label: str) -> Names:
        tag = uuid.uuid4().hex[:10]
        return cls(
            run_id=f"chaos-{label}-{tag}",
            topic=f"chaos-src-{tag}",
            compare_topic=f"chaos-cmp-{tag}",
            dlq_topic=f"chaos-dlq-{tag}",
            table=f"chaos_{tag}",
            offsets_table=f"chaos_offsets_{tag}",
            legacy_group=f"chaos-legacy-{tag}",
            ring_group=f"chaos-ring-{tag}",
        )


class Stage:
    """A drill's topics, tables and child processes on a service set; leaving it stops
    every child it started and drops what it created."""

    def __init__(
        self,
        services: ServiceSet,
        names: Names,
        workdir: Path,
        code: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.services = services
        self.names = names
        self.workdir = workdir
        self.code = code or ROOT
        self.children: list[Child] = []
        self.notes: list[str] = []
        workdir.mkdir(parents=True, exist_ok=True)
        # Nothing of the caller's canary configuration may point a child elsewhere.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANARY_")}
        env.update(services.client_environment())
        env.update(
            {
                "CANARY_KAFKA__SOURCE_TOPIC": names.topic,
                "CANARY_KAFKA__COMPARE_TOPIC": names.compare_topic,
                "CANARY_KAFKA__DLQ_TOPIC": names.dlq_topic,
                "CANARY_MYSQL__TABLE": names.table,
                "CANARY_POSTGRES__TABLE": names.table,
                "CANARY_POSTGRES__OFFSETS_TABLE": names.offsets_table,
                "CANARY_LEGACY__GROUP": names.legacy_group,
                "CANARY_RING__GROUP": names.ring_group,
                "CANARY_RING__CHECKPOINT_PATH": str(workdir / "ring.checkpoint.json"),
            }
        )
        env.update(extra_env or {})
        self.env = env

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *_: object) -> None:
        for child in self.children:
            child.stop()
        self._drop()

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "canary", *args]

    def run(self, label: str, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> int | None:
        """A command to its end (None if it had to be killed at ``timeout``)."""
        child = self.spawn(label, *args)
        code = child.wait(timeout)
        if code is None:
            child.stop()
        return code

    def spawn(self, label: str, *args: str) -> Child:
        child = Child(label, self.command(*args), self.env, self.code, self.workdir)
        self.children.append(child)
        return child

    def prepare(self, partitions: int) -> None:
        names = self.names
        ensure_topics(
            self.services.bootstrap,
            {names.topic: partitions, names.compare_topic: 6, names.dlq_topic: 1},
        )
        code = self.run("db-init", "db", "init", timeout=120)
        if code != 0:
            raise RuntimeError(f"canary db init: exit {code}\n{self.children[-1].tail()}")

    def produce(self, events: int, rate: float, seed: int, partitions: int) -> Child:
        return self.spawn(
            "produce",
            "produce",
            "--count",
            str(events),
            "--rate",
            f"{rate:g}",
            "--seed",
            str(seed),
            "--topic",
            self.names.topic,
            "--partitions",
            str(partitions),
        )

    def start_path(self, path: str, until_idle: float, attempt: int = 0) -> Child:
        group = self.names.legacy_group if path == "legacy" else self.names.ring_group
        return self.spawn(
            f"{path}-{attempt}",
            "run",
            "-v",
            path,
            "--run-id",
            self.names.run_id,
            "--topic",
            self.names.topic,
            "--group",
            group,
            "--until-idle",
            f"{until_idle:g}",
        )

    def diffs(self) -> tuple[int | None, dict[str, Any], int | None, dict[str, Any]]:
        """``canary diff stream`` and ``canary diff tables``: exit codes and JSON reports."""
        stream_file = self.workdir / "stream.json"
        tables_file = self.workdir / "tables.json"
        stream_exit = self.run(
            "diff-stream",
            "diff",
            "stream",
            "--run-id",
            self.names.run_id,
            "--grace",
            "0",
            "--until-idle",
            "0",
            "--format",
            "json",
            "--out",
            str(stream_file),
        )
        tables_exit = self.run(
            "diff-tables",
            "diff",
            "tables",
            "--table",
            self.names.table,
            "--key",
            "order_id",
            "--format",
            "json",
            "--out",
            str(tables_file),
        )
        return stream_exit, _report(stream_file), tables_exit, _report(tables_file)

    def _drop(self) -> None:
        """Best effort: a drill that failed must still report its own failure."""
        names, services = self.names, self.services
        steps: list[tuple[str, Callable[[], None]]] = [
            (
                "topics",
                lambda: delete_topics(
                    services.bootstrap, [names.topic, names.compare_topic, names.dlq_topic]
                ),
            ),
            ("MySQL table", lambda: _drop_mysql(services, names.table)),
            ("PostgreSQL tables", lambda: _drop_postgres(services, names)),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - reported, never raised over the result
                self.notes.append(f"could not drop the drill's {what}: {exc}")


def _report(path: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return report


def _drop_mysql(services: ServiceSet, table: str) -> None:
    connection = pymysql.connect(
        host="127.0.0.1",
        port=services.mysql_port,
        user="canary",
        password="canary",
        database="canary",
        connect_timeout=5,
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS `{table}`")
    finally:
        connection.close()


def _drop_postgres(services: ServiceSet, names: Names) -> None:
    with psycopg.connect(services.pg_dsn, connect_timeout=5, autocommit=True) as connection:
        for table in (names.table, names.offsets_table):
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
