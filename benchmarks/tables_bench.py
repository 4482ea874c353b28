"""Speed of `canary diff tables` on two `orders`-shaped tables of a million rows.

Creates ``bench_recon_m`` in MySQL and ``bench_recon_p`` in PostgreSQL with the real
``orders`` schema (canary.core.schema), fills both in SQL with the same rows (the JSON ``items``
written compact and in insertion order, as the legacy path writes it), then times
``diff_tables`` on: identical tables, identical tables without the JSON column, and
tables with a few planted differences. Drops the tables at the end unless ``--keep``.

    .venv/bin/python benchmarks/tables_bench.py [--rows 1000000] [--keep] [--reuse]

Uses the configuration of the other commands (``configs/local.toml``, CANARY_* vars).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the SQL helpers live in the test package

from canary.config import Settings, load_settings  # noqa: E402
from canary.core import schema  # noqa: E402
from canary.diff.tables.run import diff_tables  # noqa: E402
from sinks import ddl  # noqa: E402
from tests.edge_tables import mysql_execute as _mysql  # noqa: E402
from tests.edge_tables import pg_execute as _pg  # noqa: E402

MYSQL_TABLE = "bench_recon_m"
PG_TABLE = "bench_recon_p"

_MYSQL_FILL = """
INSERT INTO `{table}` SELECT seq, 1000 + seq % 5000, (seq * 7919 % 1000000) / 100,
  ELT(1 + seq % 3, 'USD', 'EUR', 'JPY'), ELT(1 + seq % 4, 'created', 'paid', 'shipped', 'done'),
  CONCAT('[{{"sku":"SKU-', LPAD(seq % 99991, 5, '0'), '","qty":', 1 + seq % 5, ',"price":"',
         CAST((seq % 50000) / 100 AS DECIMAL(10,2)), '","line":1}}]'),
  IF(seq % 7 = 0, NULL, CONCAT('note ', seq, ' \U0001f680')),
  TIMESTAMPADD(MICROSECOND, seq * 1000003, '2026-01-01 00:00:00'), 1 + seq % 3, seq % 6, seq
FROM seq_1_to_{rows}
"""
_PG_FILL = """
INSERT INTO {table} SELECT g, 1000 + g % 5000, (g::bigint * 7919 % 1000000) / 100.0,
  (ARRAY['USD', 'EUR', 'JPY'])[1 + g % 3], (ARRAY['created', 'paid', 'shipped', 'done'])[1 + g % 4],
  ('[{{"sku":"SKU-' || lpad((g % 99991)::text, 5, '0') || '","qty":' || (1 + g % 5)
   || ',"price":"' || ((g % 50000) / 100.0)::numeric(10,2) || '","line":1}}]')::jsonb,
  CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g || ' \U0001f680' END,
  timestamptz '2026-01-01 00:00:00+00' + g::bigint * 1000003 * interval '1 microsecond',
  1 + g % 3, g % 6, g
FROM generate_series(1, {rows}) g
"""
# About ten differences, spread over the key range.
_PG_PLANT = [
    "UPDATE {table} SET amount = amount + 0.01 WHERE order_id = 12345",
    "UPDATE {table} SET status = upper(status) WHERE order_id = 234567",
    "UPDATE {table} SET note = note || ' ' WHERE order_id = 345678",
    "UPDATE {table} SET event_time = event_time + interval '1 hour' WHERE order_id = 456789",
    "UPDATE {table} SET items = jsonb_set(items, '{{0,qty}}', '9') WHERE order_id = 567890",
    "DELETE FROM {table} WHERE order_id IN (111, 678901, 789012)",
    "INSERT INTO {table} SELECT order_id + {rows}, user_id, amount, currency, status, items, "
    "note, event_time, version, src_partition, src_offset FROM {table} "
    "WHERE order_id IN (1, 2, 3)",
]


def create(settings: Settings, rows: int, *, mysql_too: bool = True) -> float:
    started = time.monotonic()
    if mysql_too:
        _mysql(
            settings,
            f"DROP TABLE IF EXISTS `{MYSQL_TABLE}`",
            ddl.mysql_ddl(MYSQL_TABLE),
            _MYSQL_FILL.format(table=MYSQL_TABLE, rows=rows),
        )
    _pg(
        settings,
        f"DROP TABLE IF EXISTS {PG_TABLE}",
        ddl.postgres_ddl(PG_TABLE),
        _PG_FILL.format(table=PG_TABLE, rows=rows),
        f"VACUUM ANALYZE {PG_TABLE}",
    )
    return time.monotonic() - started


def drop(settings: Settings) -> None:
    _mysql(settings, f"DROP TABLE IF EXISTS `{MYSQL_TABLE}`")
    _pg(settings, f"DROP TABLE IF EXISTS {PG_TABLE}")


def _mysql_rows(settings: Settings) -> int:
    try:
        return int(_mysql(settings, f"SELECT COUNT(*) FROM `{MYSQL_TABLE}`")[0][0])
    except Exception:  # noqa: BLE001 - a missing table just means "create it"
        return 0


def run(settings: Settings, label: str, columns: list[str] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    report = diff_tables(
        settings,
        table="bench_recon",
        mysql_table=MYSQL_TABLE,
        pg_table=PG_TABLE,
        key=["order_id"],
        columns=columns,
        store=False,
    ).as_json()
    seconds = time.monotonic() - started
    rows = max(report["rows"]["mysql"], report["rows"]["postgres"])
    stats = report["stats"]
    print(
        f"{label:<34} {seconds:7.2f} s  {rows / seconds:>11,.0f} rows/s  "
        f"verdict {report['verdict']}: only_in_mysql {report['only_in_mysql']}, "
        f"only_in_postgres {report['only_in_postgres']}, different {report['different']}  "
        f"(ranges {stats['ranges_checked']}, streamed {stats['ranges_streamed']}, "
        f"downloaded {stats['ranges_downloaded']})"
    )
    return {"label": label, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the tables afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse a MySQL table of the right size (kept by --keep)",
    )
    args = parser.parse_args()
    settings = load_settings()
    options = settings.tables
    print(
        f"tables bench: {args.rows:,} rows, segments {options.segments}, download_below "
        f"{options.download_below:,}, parallel {options.parallel}"
    )
    fresh = not (args.reuse and _mysql_rows(settings) == args.rows)
    seconds = create(settings, args.rows, mysql_too=fresh)
    made = MYSQL_TABLE if fresh else "(reused MySQL table)"
    print(f"created {made} and {PG_TABLE}: {seconds:.1f} s")
    results = []
    try:
        everything = [c.name for c in schema.COLUMNS]
        no_json = [name for name in everything if name != "items"]
        results.append(run(settings, "identical"))
        results.append(run(settings, "identical, without the JSON column", no_json))
        _pg(settings, *(s.format(table=PG_TABLE, rows=args.rows) for s in _PG_PLANT))
        results.append(run(settings, "10 differences"))
        results.append(run(settings, "10 differences, without JSON", no_json))
    finally:
        if not args.keep:
            drop(settings)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
