"""Speed and exactness of `canary diff tables` on a table whose every row reads differently.

Creates a nine-column table pair (``tests/edge_tables.py`` describes it: JSON in another
key order and spacing, DOUBLE vs double precision, TINYINT(1) vs BOOLEAN, DATETIME(6) vs
TIMESTAMPTZ, emoji and trailing spaces, nullable text) of ``--rows`` rows per side,
loaded with LOAD DATA and COPY, with differences of every kind planted; runs
``diff_tables`` on it and checks that the report names exactly the planted set.

    .venv/bin/python benchmarks/edge_tables_bench.py [--rows 1000000] [--per-kind 10]
        [--repeat 1] [--no-recheck] [--keep | --reuse NAME]

Prints rows, seconds, rows/s, differences found vs planted and false positives, then
one JSON line per run. Exits 1 when a run is not exact. Uses the configuration of the
other commands (``configs/local.toml``, CANARY_* variables).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the table generator lives in the test package

from canary.config import Settings, load_settings  # noqa: E402
from canary.diff.tables.run import diff_tables  # noqa: E402
from tests import edge_tables  # noqa: E402


def run(settings: Settings, table: str, planted: edge_tables.Planted, recheck: bool) -> bool:
    started = time.monotonic()
    report = diff_tables(
        settings,
        table=table,
        key=["id"],
        max_samples=planted.total + 100,
        recheck=recheck,
        store=False,
    ).as_json()
    seconds = time.monotonic() - started
    rows = max(report["rows"]["mysql"], report["rows"]["postgres"])
    outcome = edge_tables.check(report, planted)
    stats = report["stats"]
    print(
        f"{rows:,} rows per side in {seconds:.2f} s, {rows / seconds:,.0f} rows/s: "
        f"found {outcome.found}/{outcome.planted} planted differences, "
        f"{len(outcome.false_positives)} false positives (ranges {stats['ranges_checked']}, "
        f"streamed {stats['ranges_streamed']}, downloaded {stats['ranges_downloaded']}, "
        f"rows compared {stats['rows_compared']:,}, loose sums skipped "
        f"{stats['loose_sums_skipped']})"
    )
    for line in (*outcome.missed, *outcome.false_positives)[:20]:
        print(f"  {line}")
    figures: dict[str, Any] = {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "found": outcome.found,
        "planted": outcome.planted,
        "false_positives": len(outcome.false_positives),
        "recheck": recheck,
    }
    print(json.dumps(figures))
    return outcome.exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--per-kind", type=int, default=10, help="planted rows per kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-recheck", action="store_true", help="diff without the recheck")
    parser.add_argument("--keep", action="store_true", help="keep the tables afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="diff the kept tables NAME again")
    args = parser.parse_args()
    settings = load_settings()
    planted = edge_tables.plant(args.rows, args.per_kind, args.seed)
    options = settings.tables
    print(
        f"edge-case tables: {args.rows:,} rows, {planted.total} planted differences, "
        f"segments {options.segments}, download_below {options.download_below:,}, "
        f"parallel {options.parallel}"
    )
    table = args.reuse or f"bench_edge_{uuid.uuid4().hex[:8]}"
    if args.reuse:
        expected = (
            args.rows - len(planted.only_in_postgres),
            args.rows - len(planted.only_in_mysql),
        )
        if edge_tables.counts(settings, table) != expected:
            parser.error(f"{table} does not hold the rows of --rows {args.rows} --seed {args.seed}")
    else:
        started = time.monotonic()
        edge_tables.load(settings, table, planted)
        print(f"loaded {table} in both databases: {time.monotonic() - started:.1f} s")
    exact = True
    try:
        for _ in range(args.repeat):
            exact = run(settings, table, planted, not args.no_recheck) and exact
    finally:
        if not (args.keep or args.reuse):
            edge_tables.drop(settings, table)
        elif args.keep:
            print(f"kept {table}: --reuse {table} diffs it again")
    sys.exit(0 if exact else 1)


if __name__ == "__main__":
    main()
