"""What `--consistent` costs: a plain and a consistent `canary diff tables`, same tables.

Fills the two ``orders``-shaped tables of ``tables_bench`` (``src_partition = id % 6``,
``src_offset = id``), creates a source topic of 6 partitions and commits, for a legacy
group of its own in Kafka and for a ring group in an offsets table of its own, the
offset ``--cut-share`` of the rows (so the rest, ids at or above it, are in flight).
Then times ``diff_tables`` plain and with ``consistent``, and drops what it made.

    .venv/bin/python benchmarks/consistent_bench.py [--rows 500000] [--cut-share 0.9]

Uses the configuration of the other commands (``configs/local.toml``, CANARY_* vars).
"""

from __future__ import annotations

import argparse
import time
import uuid

from confluent_kafka import Consumer, TopicPartition
from tables_bench import MYSQL_TABLE, PG_TABLE, create, drop

from canary.config import Settings, load_settings
from canary.diff.tables.run import diff_tables
from canary.kafka import admin, client
from sinks import postgres

PARTITIONS = 6


def _commit(settings: Settings, topic: str, group: str, offset: int) -> None:
    """Commit ``offset`` on every partition of ``topic`` for ``group`` in Kafka."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": group})
    try:
        offsets = [TopicPartition(topic, p, offset) for p in range(PARTITIONS)]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def _timed(settings: Settings, label: str, **options: object) -> None:
    started = time.monotonic()
    report = diff_tables(
        settings,
        table="bench_recon",
        mysql_table=MYSQL_TABLE,
        pg_table=PG_TABLE,
        key=["order_id"],
        store=False,
        **options,  # type: ignore[arg-type]
    ).as_json()
    seconds = time.monotonic() - started
    rows = report["rows"]
    flying = report.get("in_flight")
    print(
        f"{label:<11} {seconds:6.2f} s  verdict {report['verdict']}  rows compared "
        f"{rows['mysql']:,} / {rows['postgres']:,}"
        + ("" if flying is None else f"  in flight {flying:,}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--cut-share", type=float, default=0.9)
    arguments = parser.parse_args()
    base = load_settings()
    suffix = uuid.uuid4().hex[:8]
    topic, offsets = f"bench_cut_{suffix}", f"bench_offsets_{suffix}"
    settings = base.model_copy(
        update={
            "postgres": base.postgres.model_copy(update={"offsets_table": offsets}),
            "legacy": base.legacy.model_copy(update={"group": f"bench-legacy-{suffix}"}),
            "ring": base.ring.model_copy(update={"group": f"bench-ring-{suffix}"}),
        }
    )
    cut = int(arguments.rows * arguments.cut_share)
    admin_client = client.admin(settings.kafka.bootstrap)
    print(f"filling {arguments.rows:,} rows per side: {create(settings, arguments.rows):.1f} s")
    admin.ensure_topic(admin_client, settings.kafka.bootstrap, topic, PARTITIONS)
    try:
        _commit(settings, topic, settings.legacy.group, cut)
        with postgres.connect(settings.postgres) as connection:
            connection.execute(postgres.offsets_ddl(offsets).encode())
            for partition in range(PARTITIONS):
                connection.execute(
                    f"INSERT INTO {offsets} (consumer_group, topic, partition, next_offset) "  # type: ignore[arg-type]
                    "VALUES (%s, %s, %s, %s)",
                    (settings.ring.group, topic, partition, cut),
                )
        print(f"cut at offset {cut:,} of every partition")
        _timed(settings, "plain")
        _timed(settings, "consistent", consistent=True, topic=topic)
    finally:
        drop(settings)
        with postgres.connect(settings.postgres) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {offsets}".encode())
        for future in admin_client.delete_topics([topic]).values():
            future.result(timeout=30)


if __name__ == "__main__":
    main()
