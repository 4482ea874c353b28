"""The composition root of a ring worker process: builds its adapters, then serves."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from dataclasses import dataclass
from typing import Any

from canary.config import Settings
from canary.handlers.loader import load_handler
from canary.kafka import publisher as kafka_publisher
from canary.paths import remote
from canary.paths.retry import Retrier
from canary.paths.runtime import StopFlag
from sinks import postgres


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a child needs to set itself up (sent once, at start)."""

    settings: Settings
    group: str
    run_id: str
    max_outage: float | None


def _end_with_parent() -> None:
    """A parent that dies without closing the pipe (SIGKILL) leaves no worker behind
    retrying a batch nobody will commit: the child exits as soon as the parent is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def serve_child(pipe: Any, spec: WorkerSpec) -> None:
    remote.ignore_stop_signals()
    _end_with_parent()
    settings = spec.settings
    pg = settings.postgres
    parts = remote.ChildParts(
        handler=load_handler(settings.handler.path),
        writer=postgres.OrdersWriter(
            postgres.Connector(pg), pg.table, pg.offsets_table, spec.group
        ),
        publisher=kafka_publisher.KafkaPublisher(
            kafka_publisher.producer(settings.kafka.bootstrap),
            run_id=spec.run_id,
            path="ring",
            compare_topic=settings.kafka.compare_topic,
            dlq_topic=settings.kafka.dlq_topic,
        ),
        # The parent's stop does not reach here: a child stops when its pipe closes.
        retrier=Retrier("PostgreSQL", StopFlag(), max_outage=spec.max_outage),
    )
    remote.serve(pipe, parts)
