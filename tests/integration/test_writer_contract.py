"""The BatchWriter and OffsetStore contracts (canary.paths.ports), one suite over every
backend: the in-memory double, MariaDB and PostgreSQL.

The paths rely on exactly these promises, so the double must keep them as the real
writers do, or unit tests built on it prove nothing. Each real backend gets its own
uuid-named tables, created with ``init_schema`` and dropped afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from canary.core.schema import SinkRow
from canary.errors import RowRejected, TransientFault
from canary.paths.ports import BatchWriter, OffsetStore, Partition
from canary.testing import MemoryWriter
from sinks import ddl, mysql, postgres
from tests.services import Services

pytestmark = pytest.mark.integration

# NUMERIC(12,2) / DECIMAL(12,2) holds less than 10**10; both engines refuse this.
TOO_LARGE = Decimal("1e12")
SMALL = postgres.SMALL_BATCH  # at most this many rows: PostgreSQL's plain upserts
LARGE = postgres.SMALL_BATCH * 3  # more: its COPY + DISTINCT ON merge


def _row(
    key: int,
    version: int,
    offset: int,
    *,
    status: str = "created",
    amount: Decimal = Decimal("10.00"),
    note: str | None = "n",
) -> SinkRow:
    values = {
        "order_id": key,
        "user_id": 1000 + key,
        "amount": amount,
        "currency": "EUR",
        "status": status,
        "items": [{"sku": f"SKU-{key}", "qty": 1}],
        "note": note,
        "event_time": datetime(2026, 3, 1, 12, 0, 0, 123456, UTC),
        "version": version,
    }
    return SinkRow(values, partition=0, offset=offset)


def _memory_reject(row: SinkRow) -> str | None:
    # The memory double has no column types; refuse what DECIMAL(12,2) cannot hold.
    if abs(row.values["amount"]) >= Decimal(10) ** 10:
        return "amount out of range for DECIMAL(12,2)"
    return None


@dataclass
class Backend:
    """A writer under test, with what the tests need to look at it from outside."""

    name: str
    impl: BatchWriter
    store: OffsetStore | None
    read: Callable[[], dict[int, dict[str, Any]]]
    break_connection: Callable[[], None]

    def write(
        self, rows: Sequence[SinkRow], offsets: Mapping[Partition, int] | None = None
    ) -> None:
        self.impl.write(rows, offsets or {})

    def rows(self) -> dict[int, tuple[int, str, Decimal, int]]:
        """Per key: version, status, amount and source offset, as the table holds them."""
        return {
            key: (
                int(row["version"]),
                str(row["status"]),
                Decimal(row["amount"]),
                int(row["src_offset"]),
            )
            for key, row in self.read().items()
        }


def _memory() -> Iterator[Backend]:
    writer = MemoryWriter(reject=_memory_reject)

    def fail_once() -> None:
        writer.fail_next = 1

    yield Backend("memory", writer, writer, lambda: dict(writer.rows), fail_once)


def _mysql(services: Services) -> Iterator[Backend]:
    settings = services.settings.mysql
    table = services.unique("contract")
    admin = mysql.connect(settings)
    mysql.init_schema(admin, table)
    writer = mysql.OrdersWriter(mysql.Connector(settings), table)

    def kill() -> None:
        connection = writer._connection
        assert connection is not None, "the writer has no connection to break yet"
        thread = connection.thread_id()  # type: ignore[no-untyped-call]  # untyped in PyMySQL
        with admin.cursor() as cursor:
            cursor.execute(f"KILL CONNECTION {int(thread)}")
            # KILL only flags the thread; wait until it is gone so the fault is certain.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                    (thread,),
                )
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.05)
        admin.commit()

    try:
        yield Backend("mysql", writer, None, lambda: mysql.fetch_rows(admin, table), kill)
    finally:
        writer.close()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {ddl.mysql_name(table)}")
        admin.commit()
        admin.close()


def _postgres(services: Services) -> Iterator[Backend]:
    settings = services.settings.postgres.model_copy(
        update={
            "table": services.unique("contract"),
            "offsets_table": services.unique("contract_offsets"),
        }
    )
    admin = postgres.connect(settings)
    admin.autocommit = True
    postgres.init_schema(admin, settings)
    writer = postgres.OrdersWriter(
        postgres.Connector(settings), settings.table, settings.offsets_table, "contract"
    )

    def terminate() -> None:
        connection = writer._link.connection
        assert connection is not None, "the writer has no connection to break yet"
        # The timeout makes the call wait until the backend has really ended.
        ended = admin.execute(
            "SELECT pg_terminate_backend(%s, 10000)", (connection.info.backend_pid,)
        ).fetchone()
        assert ended == (True,)

    try:
        yield Backend(
            "postgres",
            writer,
            writer,
            lambda: postgres.fetch_rows(admin, settings.table),
            terminate,
        )
    finally:
        writer.close()
        for table in (settings.table, settings.offsets_table):
            admin.execute(f"DROP TABLE IF EXISTS {ddl.postgres_name(table)}")
        admin.close()


def _open(kind: str, request: pytest.FixtureRequest) -> Iterator[Backend]:
    if kind == "memory":
        return _memory()
    services: Services = request.getfixturevalue("services")
    return _mysql(services) if kind == "mysql" else _postgres(services)


@pytest.fixture(params=["memory", "mysql", "postgres"])
def writer(request: pytest.FixtureRequest) -> Iterator[Backend]:
    yield from _open(request.param, request)


@pytest.fixture(params=["memory", "postgres"])
def offsets(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The backends that keep offsets beside the rows (MySQL's live in Kafka)."""
    yield from _open(request.param, request)


def _store(backend: Backend) -> OffsetStore:
    assert backend.store is not None
    return backend.store


# ------------------------------------------------------------------ version guard


def test_an_older_version_or_a_replay_is_a_no_op_and_the_newest_wins(writer: Backend) -> None:
    writer.write([_row(1, 2, 10, status="v2", amount=Decimal("2.00"))])
    writer.write([_row(1, 1, 11, status="v1 late", amount=Decimal("1.00"))])
    assert writer.rows() == {1: (2, "v2", Decimal("2.00"), 10)}

    writer.write([_row(1, 2, 10, status="v2", amount=Decimal("2.00"))])
    assert writer.rows() == {1: (2, "v2", Decimal("2.00"), 10)}

    writer.write([_row(1, 3, 12, status="v3", amount=Decimal("3.00"))])
    assert writer.rows() == {1: (3, "v3", Decimal("3.00"), 12)}


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_within_one_batch_the_newest_version_wins_in_any_order(writer: Backend, size: int) -> None:
    keys = size // 3
    batch = [
        _row(key, version, 100 * version + key, status=f"v{version}")
        for version in (2, 3, 1)
        for key in range(1, keys + 1)
    ]
    assert (len(batch) > SMALL) == (size > SMALL)
    writer.write(batch)
    assert writer.rows() == {
        key: (3, "v3", Decimal("10.00"), 300 + key) for key in range(1, keys + 1)
    }


# ------------------------------------------------------------------ equal versions


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_of_equal_versions_in_one_batch_the_first_applied_wins(writer: Backend, size: int) -> None:
    # One key already stored at an older version, the others new: both must keep the
    # first of their two equal-version rows.
    writer.write([_row(100, 1, 1, status="stored")])
    keys = (size - 2) // 2
    firsts = [_row(key, 5, 10 + key, status="first") for key in (*range(1, keys + 1), 100)]
    seconds = [
        _row(key, 5, 500 + key, status="second", amount=Decimal("99.00"))
        for key in (*range(1, keys + 1), 100)
    ]
    batch = firsts + seconds
    assert (len(batch) > SMALL) == (size > SMALL)
    writer.write(batch)
    assert writer.rows() == {
        key: (5, "first", Decimal("10.00"), 10 + key) for key in (*range(1, keys + 1), 100)
    }


def test_of_equal_versions_across_batches_the_first_applied_wins(writer: Backend) -> None:
    writer.write([_row(1, 4, 10, status="first")])
    writer.write([_row(1, 4, 11, status="second", amount=Decimal("5.00"))])
    # Again through a large batch, where PostgreSQL merges from its staging table.
    writer.write(
        [_row(1, 4, 12, status="third")] + [_row(key, 1, 100 + key) for key in range(2, LARGE + 2)]
    )
    rows = writer.rows()
    assert rows[1] == (4, "first", Decimal("10.00"), 10)
    assert len(rows) == LARGE + 1


# ------------------------------------------------------------------ rejected rows


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_a_row_the_table_cannot_hold_rejects_the_whole_batch(writer: Backend, size: int) -> None:
    writer.write([_row(1, 1, 1, status="before")])
    before = writer.rows()
    good = [_row(1, 2, 2, status="after")] + [_row(key, 1, key) for key in range(2, size)]
    bad = _row(size, 1, size, amount=TOO_LARGE)
    batch = [*good[: size // 2], bad, *good[size // 2 :]]
    assert len(batch) == size

    with pytest.raises(RowRejected) as refused:
        writer.write(batch)
    assert refused.value.reason
    assert writer.rows() == before

    # The writer is not broken by the refusal: the batch without that row goes through.
    writer.write(good)
    rows = writer.rows()
    assert rows[1] == (2, "after", Decimal("10.00"), 2)
    assert sorted(rows) == list(range(1, size))


# ------------------------------------------------------------------ transient faults


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_a_transient_fault_writes_nothing_and_the_next_write_succeeds_by_itself(
    writer: Backend, size: int
) -> None:
    # A first batch of the same size: PostgreSQL's staging table then belongs to the
    # connection that breaks, and must be made again on the next one.
    writer.write([_row(key, 1, key) for key in range(1, size + 1)])
    before = writer.rows()
    writer.break_connection()
    batch = [_row(key, 2, 100 + key, status="v2") for key in range(1, size + 1)]

    with pytest.raises(TransientFault):
        writer.write(batch)
    assert writer.rows() == before

    writer.write(batch)
    assert writer.rows() == {
        key: (2, "v2", Decimal("10.00"), 100 + key) for key in range(1, size + 1)
    }


# ------------------------------------------------------------------ offsets


def test_offsets_are_stored_with_the_rows_and_never_lowered_by_write(offsets: Backend) -> None:
    store = _store(offsets)
    offsets.write([_row(1, 1, 4)], {("t", 0): 5, ("t", 1): 9})
    assert store.stored_offsets("t") == {0: 5, 1: 9}

    offsets.write([_row(2, 1, 2)], {("t", 0): 3})
    assert store.stored_offsets("t") == {0: 5, 1: 9}
    assert sorted(offsets.rows()) == [1, 2]

    # Offsets alone (every message of the batch was dead-lettered) still move forward.
    offsets.write([], {("t", 0): 7})
    assert store.stored_offsets("t") == {0: 7, 1: 9}
    assert store.stored_offsets("u") == {}


def test_offsets_do_not_move_when_their_rows_are_not_written(offsets: Backend) -> None:
    store = _store(offsets)
    offsets.write([_row(1, 1, 1)], {("t", 0): 2})

    with pytest.raises(RowRejected):
        offsets.write([_row(2, 1, 2), _row(3, 1, 3, amount=TOO_LARGE)], {("t", 0): 4})
    assert store.stored_offsets("t") == {0: 2}

    offsets.break_connection()
    with pytest.raises(TransientFault):
        offsets.write([_row(2, 1, 2)], {("t", 0): 3})
    assert store.stored_offsets("t") == {0: 2}
    assert sorted(offsets.rows()) == [1]


def test_reset_offset_can_lower_a_stored_offset(offsets: Backend) -> None:
    store = _store(offsets)
    offsets.write([_row(1, 1, 39)], {("t", 0): 40, ("t", 1): 8})
    store.reset_offset("t", 0, 2)
    assert store.stored_offsets("t") == {0: 2, 1: 8}

    # After a reset, write goes on raising from the new value, never below it.
    offsets.write([], {("t", 0): 1})
    assert store.stored_offsets("t") == {0: 2, 1: 8}
    offsets.write([], {("t", 0): 6})
    assert store.stored_offsets("t") == {0: 6, 1: 8}

    store.reset_offset("t", 5, 0)
    assert store.stored_offsets("t") == {0: 6, 1: 8, 5: 0}
