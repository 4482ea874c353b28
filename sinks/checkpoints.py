"""The watchers' checkpoints: per compare partition of a run, the join state and the read
position, saved together in PostgreSQL.

Table ``<report_schema>.watch_checkpoints``, one row per (run_id, topic, partition):

    position  BIGINT  the next compare-topic offset to read (NULL: nothing saved yet)
    epoch     BIGINT  raised by every watcher that takes the partition over
    state     BYTEA   the partition's whole join state (canary.core.join, zlib'd JSON)
    summary   JSONB   its tally and pending records only: what other watchers and the
                      report merge without loading the whole state

A save names the epoch its owner claimed; once another watcher has claimed the
partition since, the save changes nothing and the partition is reported *fenced*: a
watcher that stalled through a rebalance can never overwrite its successor's state.
Every call raises ``TransientFault`` while PostgreSQL cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from canary.core.checkpoint import Claimed, Saved
from canary.errors import ServiceUnavailable
from sinks import postgres

_NOT_CREATED = (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)


class CheckpointStore:
    """Checkpoints of the runs' watchers in ``schema``, over ``connect``."""

    def __init__(self, connect: postgres.Connector, schema: str) -> None:
        self._link = postgres.Link(connect, connect.address)
        self._table = sql.SQL("{}.watch_checkpoints").format(sql.Identifier(schema))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._link.translated() as connection, connection.transaction():
            yield connection

    def ensure(self) -> None:
        with self._transaction() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(hashtext('canary.watch_checkpoints'))")
            connection.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (run_id TEXT NOT NULL, topic TEXT NOT NULL, "
                    "partition INTEGER NOT NULL, position BIGINT, epoch BIGINT NOT NULL, "
                    "state BYTEA, summary JSONB, updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
                    "PRIMARY KEY (run_id, topic, partition))"
                ).format(self._table)
            )

    def claim(self, run_id: str, topic: str, partitions: Sequence[int]) -> dict[int, Claimed]:
        """Take ``partitions`` over: raise their epochs, return what was saved."""
        query = sql.SQL(
            "INSERT INTO {t} (run_id, topic, partition, epoch) VALUES (%s, %s, %s, 1) "
            "ON CONFLICT (run_id, topic, partition) DO UPDATE SET epoch = {t}.epoch + 1 "
            "RETURNING epoch, position, state"
        ).format(t=self._table)
        claimed: dict[int, Claimed] = {}
        with self._transaction() as connection:
            for partition in sorted(partitions):
                row = connection.execute(query, (run_id, topic, partition)).fetchone()
                assert row is not None  # RETURNING always gives the row
                epoch, position, state = row
                claimed[partition] = Claimed(
                    epoch, position, None if state is None else bytes(state)
                )
        return claimed

    def save(self, run_id: str, topic: str, rows: Sequence[Saved]) -> set[int]:
        """Write ``rows`` in one transaction; returns the partitions that were fenced."""
        query = sql.SQL(
            "UPDATE {} SET position = %s, state = %s, summary = %s, updated_at = now() "
            "WHERE run_id = %s AND topic = %s AND partition = %s AND epoch = %s"
        ).format(self._table)
        fenced: set[int] = set()
        with self._transaction() as connection:
            for row in rows:
                done = connection.execute(
                    query,
                    (
                        row.position,
                        row.state,
                        Jsonb(row.summary),
                        run_id,
                        topic,
                        row.partition,
                        row.epoch,
                    ),
                )
                if done.rowcount == 0:
                    fenced.add(row.partition)
        return fenced

    def summaries(self, run_id: str, topic: str) -> dict[int, dict[str, Any]]:
        """The saved summary of every partition of the run."""
        query = sql.SQL(
            "SELECT partition, summary FROM {} WHERE run_id = %s AND topic = %s "
            "AND summary IS NOT NULL"
        ).format(self._table)
        with self._transaction() as connection:
            rows = connection.execute(query, (run_id, topic)).fetchall()
        return dict(rows)

    def states(self, run_id: str, topic: str) -> dict[int, tuple[int, bytes]]:
        """(position, state) of every partition of the run with a checkpoint, read only:
        a store no watcher has created yet (no schema, no table) holds none."""
        query = sql.SQL(
            "SELECT partition, position, state FROM {} WHERE run_id = %s AND topic = %s "
            "AND state IS NOT NULL"
        ).format(self._table)
        try:
            with self._transaction() as connection:
                rows = connection.execute(query, (run_id, topic)).fetchall()
        except ServiceUnavailable as exc:
            if isinstance(exc.__cause__, _NOT_CREATED):
                return {}
            raise
        return {partition: (position, bytes(state)) for partition, position, state in rows}

    def forget(self, run_id: str, topic: str) -> None:
        """Delete the run's checkpoints (a watch started over from the beginning)."""
        with self._transaction() as connection:
            connection.execute(
                sql.SQL("DELETE FROM {} WHERE run_id = %s AND topic = %s").format(self._table),
                (run_id, topic),
            )

    def close(self) -> None:
        self._link.drop()
