"""Yardstick: data-diff 0.11.2 against `canary diff tables` on two 1M-row order tables.

data-diff is never a dependency of canary. It runs from its own virtualenv, found through
``--datadiff`` or ``DATADIFF_BIN`` (default ``.state/datadiff-venv/bin/data-diff``), as a
subprocess. The recipe that installs a working 0.11.2 (Python 3.11)::

    python3 -m venv .state/datadiff-venv
    .state/datadiff-venv/bin/pip install 'data-diff[mysql]==0.11.2' 'dbt-core<1.11' \
        'pydantic<2' psycopg2-binary

(``pydantic<2``: its dbt module uses ``Field(regex=...)``, which pydantic 2 refuses at
import; ``psycopg2-binary`` instead of the ``postgresql`` extra, whose ``psycopg2`` builds
from source and needs ``pg_config``.)

What it does: builds ``yard_m`` (MariaDB/MySQL) and ``yard_p`` (PostgreSQL), shaped like
canary's orders table without the JSON column, with identical content generated in the
database (the Sequence engine's ``seq_1_to_N`` and ``generate_series``); checks them with
an independent row-by-row referee; then, for (a) identical tables and (b) ten planted
differences, times each tool and scores the keys it reports against the planted ones.
Raw outputs and a summary go to ``benchmarks/results/datadiff-<date>.txt``; the tables are
dropped at the end unless ``--keep``.

    .venv/bin/python benchmarks/datadiff_yardstick.py [--rows N] [--wait-canary MINUTES]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pymysql
import pymysql.cursors

ROOT = Path(__file__).resolve().parent.parent
MYSQL_TABLE = "yard_m"
PG_TABLE = "yard_p"
KEY = "order_id"
COLUMNS = ("user_id", "amount", "currency", "status", "note", "event_time", "version")
EPOCH = "2024-01-01 00:00:00"

MYSQL_DDL = f"""CREATE TABLE `{MYSQL_TABLE}` (
  order_id BIGINT NOT NULL, user_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
  currency VARCHAR(8) NOT NULL, status VARCHAR(32) NOT NULL, note TEXT NULL,
  event_time DATETIME(6) NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""

PG_DDL = f"""CREATE TABLE {PG_TABLE} (
  order_id BIGINT NOT NULL, user_id BIGINT NOT NULL, amount NUMERIC(12,2) NOT NULL,
  currency TEXT NOT NULL, status TEXT NOT NULL, note TEXT NULL,
  event_time TIMESTAMPTZ NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (order_id)
)"""

# The same row as a function of n in both dialects. Notes: every 10th NULL, every 10th
# an emoji, every 10th empty, the rest plain text. event_time holds UTC with microseconds.
MYSQL_ROW = f"""SELECT seq, MOD(seq * 7919, 100000) + 1,
  CAST((MOD(seq * 37, 1000000)) / 100 AS DECIMAL(12,2)),
  ELT(MOD(seq, 3) + 1, 'USD', 'EUR', 'JPY'),
  ELT(MOD(seq, 4) + 1, 'new', 'paid', 'shipped', 'cancelled'),
  CASE MOD(seq, 10) WHEN 0 THEN NULL WHEN 1 THEN CONCAT('gift \U0001f381 #', seq)
    WHEN 2 THEN '' ELSE CONCAT('note ', seq) END,
  TIMESTAMP'{EPOCH}' + INTERVAL seq * 7 SECOND + INTERVAL MOD(seq * 13, 1000000) MICROSECOND,
  MOD(seq, 5) + 1"""

PG_ROW = f"""SELECT n, MOD(n * 7919, 100000) + 1,
  ((MOD(n * 37, 1000000)) / 100.0)::numeric(12,2),
  (ARRAY['USD', 'EUR', 'JPY'])[MOD(n, 3) + 1],
  (ARRAY['new', 'paid', 'shipped', 'cancelled'])[MOD(n, 4) + 1],
  CASE MOD(n, 10) WHEN 0 THEN NULL WHEN 1 THEN 'gift \U0001f381 #' || n
    WHEN 2 THEN '' ELSE 'note ' || n END,
  timestamptz '{EPOCH}+00' + n * 7 * interval '1 second'
    + (MOD(n * 13, 1000000)) * interval '1 microsecond',
  MOD(n, 5) + 1"""


@dataclasses.dataclass(frozen=True)
class Plant:
    """One planted difference: the key, what kind, and the SQL on each side."""

    key: int
    kind: str
    mysql: str | None = None
    pg: str | None = None


def plants(rows: int) -> list[Plant]:
    """Ten differences of varied kinds, at keys whose generated values suit the kind."""

    def k(base: int, mod: int, rem: int) -> int:
        key = base * rows // 1_000_000 or 1
        while key % mod != rem:
            key += 1
        return key

    paid, plain, null, emoji = (
        k(200_000, 20, 5),  # status paid, note plain text
        k(300_000, 10, 3),
        k(400_000, 10, 0),
        k(10_000, 10, 1),
    )
    keys = {
        "amount_cent": k(100_000, 1, 0),
        "status_case": paid,
        "note_trailing_space": plain,
        "note_null_vs_empty": null,
        "event_time_hour": k(500_000, 1, 0),
        "event_time_microsecond": k(600_000, 1, 0),
        "only_in_mysql": k(700_000, 1, 0),
        "only_in_pg": k(800_000, 1, 0),
        "version": k(900_000, 1, 0),
        "note_emoji_swap": emoji,
    }
    p = PG_TABLE
    m = MYSQL_TABLE
    return [
        Plant(
            keys["amount_cent"],
            "amount +0.01 (PG)",
            pg=f"UPDATE {p} SET amount = amount + 0.01 WHERE order_id = %s",
        ),
        Plant(
            keys["status_case"],
            "status 'paid' -> 'Paid' (PG)",
            pg=f"UPDATE {p} SET status = 'Paid' WHERE order_id = %s",
        ),
        Plant(
            keys["note_trailing_space"],
            "note trailing space (PG)",
            pg=f"UPDATE {p} SET note = note || ' ' WHERE order_id = %s",
        ),
        Plant(
            keys["note_null_vs_empty"],
            "note NULL (MySQL) vs '' (PG)",
            pg=f"UPDATE {p} SET note = '' WHERE order_id = %s",
        ),
        Plant(
            keys["event_time_hour"],
            "event_time +1 hour (PG)",
            pg=f"UPDATE {p} SET event_time = event_time + interval '1 hour' WHERE order_id = %s",
        ),
        Plant(
            keys["event_time_microsecond"],
            "event_time +1 microsecond (MySQL)",
            mysql=f"UPDATE {m} SET event_time = event_time + INTERVAL 1 MICROSECOND"
            " WHERE order_id = %s",
        ),
        Plant(
            keys["only_in_mysql"], "row only in MySQL", pg=f"DELETE FROM {p} WHERE order_id = %s"
        ),
        Plant(keys["only_in_pg"], "row only in PG", mysql=f"DELETE FROM {m} WHERE order_id = %s"),
        Plant(
            keys["version"],
            "version +1 (MySQL)",
            mysql=f"UPDATE {m} SET version = version + 1 WHERE order_id = %s",
        ),
        Plant(
            keys["note_emoji_swap"],
            "note emoji U+1F381 -> U+1F389 (MySQL)",
            mysql=f"UPDATE {m} SET note = REPLACE(note, '\U0001f381', '\U0001f389')"
            " WHERE order_id = %s",
        ),
    ]


# ---------------------------------------------------------------- connections


@dataclasses.dataclass(frozen=True)
class Dsn:
    user: str
    password: str
    host: str
    port: int
    database: str

    @classmethod
    def parse(cls, url: str, default_port: int) -> Dsn:
        parts = urlsplit(url)
        return cls(
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            database=parts.path.lstrip("/"),
        )

    def url(self, scheme: str) -> str:
        return f"{scheme}://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


def mysql_connect(dsn: Dsn, **kw: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password,
        database=dsn.database,
        charset="utf8mb4",
        autocommit=True,
        **kw,
    )


def pg_connect(dsn: Dsn) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password,
        dbname=dsn.database,
        autocommit=True,
    )


# ---------------------------------------------------------------- tables


def create_tables(my: Dsn, pg: Dsn, rows: int) -> float:
    """Creates and fills both tables; returns the seconds it took."""
    start = time.perf_counter()
    with mysql_connect(my) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{MYSQL_TABLE}`")
        cur.execute(MYSQL_DDL)
        cur.execute(f"INSERT INTO `{MYSQL_TABLE}` {MYSQL_ROW} FROM seq_1_to_{rows}")
        cur.execute(f"ANALYZE TABLE `{MYSQL_TABLE}`")
    with pg_connect(pg) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
        conn.execute(PG_DDL)
        conn.execute(
            f"INSERT INTO {PG_TABLE} {PG_ROW} FROM generate_series(1::bigint, %s) n", (rows,)
        )
        conn.execute(f"VACUUM ANALYZE {PG_TABLE}")
    return time.perf_counter() - start


def restore_rows(my: Dsn, pg: Dsn, keys: list[int]) -> None:
    """Puts the generated row back at each key on both sides (undoes the plants)."""
    placeholders = ", ".join(["%s"] * len(keys))
    with mysql_connect(my) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM `{MYSQL_TABLE}` WHERE order_id IN ({placeholders})", keys)
        cur.execute(
            f"INSERT INTO `{MYSQL_TABLE}` {MYSQL_ROW} FROM seq_1_to_{max(keys)}"
            f" WHERE seq IN ({placeholders})",
            keys,
        )
    with pg_connect(pg) as conn:
        conn.execute(f"DELETE FROM {PG_TABLE} WHERE order_id = ANY(%s)", (keys,))
        conn.execute(f"INSERT INTO {PG_TABLE} {PG_ROW} FROM unnest(%s::bigint[]) n", (keys,))


def apply_plants(my: Dsn, pg: Dsn, planted: list[Plant]) -> None:
    with mysql_connect(my) as mconn, mconn.cursor() as mcur, pg_connect(pg) as pconn:
        for plant in planted:
            if plant.mysql:
                assert mcur.execute(plant.mysql, (plant.key,)) == 1, plant
            if plant.pg:
                assert pconn.execute(plant.pg, (plant.key,)).rowcount == 1, plant


def drop_tables(my: Dsn, pg: Dsn) -> None:
    with mysql_connect(my) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{MYSQL_TABLE}`")
        cur.execute("DROP TABLE IF EXISTS `yard_json_m`")
    with pg_connect(pg) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
        conn.execute("DROP TABLE IF EXISTS yard_json_p")


# ---------------------------------------------------------------- referee


def _mysql_rows(my: Dsn) -> Iterator[tuple[Any, ...]]:
    with mysql_connect(my, cursorclass=pymysql.cursors.SSCursor) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT order_id, {', '.join(COLUMNS)} FROM `{MYSQL_TABLE}` ORDER BY order_id")
        yield from cur


def _pg_rows(pg: Dsn) -> Iterator[tuple[Any, ...]]:
    with pg_connect(pg) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.transaction(), conn.cursor(name="yard_referee") as cur:
            cur.itersize = 20_000
            cur.execute(f"SELECT order_id, {', '.join(COLUMNS)} FROM {PG_TABLE} ORDER BY order_id")
            for row in cur:
                event_time = row[6].astimezone(dt.UTC).replace(tzinfo=None)
                yield (*row[:6], event_time, *row[7:])


def referee(my: Dsn, pg: Dsn) -> tuple[dict[str, list[int]], float]:
    """Exact row-by-row merge join in Python: the ground truth the tools are scored on."""
    start = time.perf_counter()
    out: dict[str, list[int]] = {"only_in_mysql": [], "only_in_pg": [], "different": []}
    left, right = _mysql_rows(my), _pg_rows(pg)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            out["only_in_mysql"].append(a[0])  # type: ignore[index]
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            out["only_in_pg"].append(b[0])
            b = next(right, None)
        else:
            if tuple(a) != tuple(b):
                out["different"].append(a[0])
            a, b = next(left, None), next(right, None)
    return out, time.perf_counter() - start


# ---------------------------------------------------------------- running tools


@dataclasses.dataclass
class Run:
    tool: str
    scenario: str
    argv: list[str]
    walls: list[float]  # one per repetition
    exit_code: int
    peak_rss_mb: float  # the largest over the repetitions; 0 when /usr/bin/time is missing
    stdout: str  # of the last repetition
    stderr: str
    keys: dict[str, set[int]] = dataclasses.field(default_factory=dict)
    reported: int = 0  # the differences the tool says it found, by its own count
    note: str = ""

    @property
    def wall_s(self) -> float:
        return statistics.median(self.walls)


REPEAT = 1  # set from --repeat
TIME_BIN = Path("/usr/bin/time")


def run_measured(
    tool: str, scenario: str, argv: list[str], env: dict[str, str] | None = None
) -> Run:
    """Runs argv REPEAT times: wall times, exit code, peak RSS, the last outputs.

    Peak RSS comes from GNU time wrapped around the command: the child's own ru_maxrss
    would count the memory of this (forking) script as well.
    """
    walls: list[float] = []
    rss = 0.0
    for _ in range(REPEAT):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            with tempfile.NamedTemporaryFile("r") as rss_file:
                wrap = [str(TIME_BIN), "-f", "%M", "-o", rss_file.name] if TIME_BIN.exists() else []
                start = time.perf_counter()
                code = subprocess.call([*wrap, *argv], stdout=out, stderr=err, env=env, cwd=ROOT)  # noqa: S603 (argv built here)
                walls.append(time.perf_counter() - start)
                kib = rss_file.read().strip().splitlines()
                rss = max(rss, int(kib[-1]) / 1024 if kib and kib[-1].isdigit() else 0.0)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
    return Run(tool, scenario, argv, walls, code, rss, stdout, stderr)


def datadiff_env(datadiff: Path) -> dict[str, str]:
    # Its own HOME: data-diff writes ~/.datadiff.toml; --no-tracking is always passed too.
    # COLUMNS: it prints through rich, which wraps JSONL lines at 80 columns off a terminal.
    home = datadiff.parent.parent / "home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "PYTHONWARNINGS": "ignore::UserWarning",
        "COLUMNS": "1000000",
    }


def datadiff_argv(
    datadiff: Path,
    mysql_url: str,
    pg: Dsn,
    tables: tuple[str, str],
    columns: tuple[str, ...],
    extra: list[str],
) -> list[str]:
    argv = [str(datadiff), mysql_url, tables[0], pg.url("postgresql"), tables[1]]
    argv += ["--key-columns", KEY]
    for column in columns:
        argv += ["--columns", column]
    return [*argv, "--no-tracking", "--json", *extra]


def parse_datadiff(stdout: str) -> dict[str, set[int]]:
    """JSONL ["-", row] is a row of table A (MySQL) not matched in B, ["+", row] of B."""
    minus: set[int] = set()
    plus: set[int] = set()
    for line in stdout.splitlines():
        if not line.startswith('["'):
            continue
        op, values = json.loads(line)
        (minus if op == "-" else plus).add(int(values[0]))
    return {"only_in_mysql": minus - plus, "only_in_pg": plus - minus, "different": minus & plus}


# data-diff opens MySQL with charset="utf8" (3-byte utf8mb3) and no way to change it from
# the URL, so CAST(... AS CHAR) and the rows it downloads turn every 4-byte character (emoji)
# into '?'. This init_command (a mysql-connector option passed through the URL) is the
# workaround; both modes are measured.
DATADIFF_MODES = {"data-diff": "", "data-diff+utf8mb4": "?init_command=SET%20NAMES%20utf8mb4"}


def run_datadiff(datadiff: Path, my: Dsn, pg: Dsn, scenario: str, threads: int | None) -> list[Run]:
    """Per mode: the detailed run (keys to score) and the --stats run (its own counts)."""
    extra = ["--threads", str(threads)] if threads else []
    env = datadiff_env(datadiff)
    runs = []
    for mode, suffix in DATADIFF_MODES.items():
        for stats in (False, True):
            flags = [*extra, "--stats"] if stats else extra
            argv = datadiff_argv(
                datadiff, my.url("mysql") + suffix, pg, (MYSQL_TABLE, PG_TABLE), COLUMNS, flags
            )
            tool = f"{mode} --stats" if stats else mode
            run = run_measured(tool, scenario, argv, env)
            if stats:
                lines = run.stdout.splitlines()
                figures = json.loads(next(x for x in lines if x.startswith("{")))
                run.reported = int(
                    figures["exclusive_A"] + figures["exclusive_B"] + figures["updated"]
                )
            else:
                run.keys = parse_datadiff(run.stdout)
                run.reported = sum(len(v) for v in run.keys.values())
            runs.append(run)
            show(run)
    return runs


def canary_ready(canary: Path) -> bool:
    if not canary.exists():
        return False
    proc = subprocess.run(  # noqa: S603 (argv built here)
        [str(canary), "diff", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    return any(line.split()[:1] == ["tables"] for line in proc.stdout.splitlines())


def parse_canary(report: dict[str, Any]) -> dict[str, set[int]]:
    samples = report.get("samples", {})

    def keys(name: str) -> set[int]:
        out = set()
        for entry in samples.get(name, []):
            key = entry["key"] if isinstance(entry, dict) else entry
            out.add(int(key[0] if isinstance(key, list) else key))
        return out

    return {
        "only_in_mysql": keys("only_in_mysql"),
        "only_in_pg": keys("only_in_postgres"),
        "different": keys("different"),
    }


def show(run: Run) -> None:
    walls = ", ".join(f"{w:.2f}" for w in run.walls)
    print(
        f"  {run.tool:26} {run.wall_s:7.2f} s ({walls})  exit {run.exit_code}"
        f"  reported {run.reported}",
        flush=True,
    )


CANARY_MODES = {"canary": [], "canary --no-recheck": ["--no-recheck"]}


def run_canary(canary: Path, scenario: str, max_samples: int) -> list[Run]:
    """Per mode (its defaults, and without the 1 s recheck of differing rows): one Run."""
    runs = []
    for mode, flags in CANARY_MODES.items():
        argv = [str(canary), "diff", "tables", "--mysql-table", MYSQL_TABLE]
        argv += ["--pg-table", PG_TABLE, "--key", KEY, "--format", "json"]
        argv += ["--max-samples", str(max_samples), *flags]
        run = run_measured(mode, scenario, argv)
        start = run.stdout.find("{")
        if start >= 0:
            report = json.loads(run.stdout[start:])
            run.keys = parse_canary(report)
            kinds = ("only_in_mysql", "only_in_postgres", "different")
            run.reported = sum(int(report.get(n, 0)) for n in kinds)
            run.note = f"reasons {report.get('reasons')}; causes {report.get('causes')}"
        show(run)
        runs.append(run)
    return runs


# ---------------------------------------------------------------- JSON probe


def json_probe(datadiff: Path, my: Dsn, pg: Dsn) -> str:
    """1,000 rows with a JSON column holding the same objects: does data-diff cope?"""
    with mysql_connect(my) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS yard_json_m")
        cur.execute("CREATE TABLE yard_json_m (order_id BIGINT PRIMARY KEY, items JSON NOT NULL)")
        cur.execute(
            "INSERT INTO yard_json_m SELECT seq, JSON_OBJECT('sku', CONCAT('s', seq),"
            " 'qty', seq % 5) FROM seq_1_to_1000"
        )
    with pg_connect(pg) as conn:
        conn.execute("DROP TABLE IF EXISTS yard_json_p")
        conn.execute("CREATE TABLE yard_json_p (order_id BIGINT PRIMARY KEY, items JSONB NOT NULL)")
        conn.execute(
            "INSERT INTO yard_json_p SELECT n, jsonb_build_object('sku', 's' || n,"
            " 'qty', n % 5) FROM generate_series(1, 1000) n"
        )
    argv = datadiff_argv(
        datadiff, my.url("mysql"), pg, ("yard_json_m", "yard_json_p"), ("items",), []
    )
    probe = run_measured("data-diff", "json-probe", argv, datadiff_env(datadiff))
    wall, code, out, err = probe.wall_s, probe.exit_code, probe.stdout, probe.stderr
    keys = parse_datadiff(out)
    lines = out.splitlines()
    return (
        "JSON probe: 1,000 rows, same objects, MariaDB JSON vs PostgreSQL JSONB\n"
        f"  data-diff {wall:.2f} s exit {code}: {len(keys['different'])} rows reported different"
        f" (all false positives), {len(keys['only_in_mysql']) + len(keys['only_in_pg'])}"
        " one-sided\n"
        f"  first lines: {lines[:2]}\n  stderr: {err.strip()[-600:]}\n"
    )


# ---------------------------------------------------------------- scoring and output


@dataclasses.dataclass
class Score:
    found: list[Plant]
    missed: list[Plant]
    false_positives: set[int]
    misclassified: list[Plant]


def score(run: Run, planted: list[Plant]) -> Score:
    reported = set().union(*run.keys.values()) if run.keys else set()
    expect = {p.key: _expected_class(p) for p in planted}
    found = [p for p in planted if p.key in reported]
    misclassified = [p for p in found if p.key not in run.keys.get(expect[p.key], set())]
    return Score(
        found, [p for p in planted if p.key not in reported], reported - set(expect), misclassified
    )


def _expected_class(plant: Plant) -> str:
    if plant.kind == "row only in MySQL":
        return "only_in_mysql"
    if plant.kind == "row only in PG":
        return "only_in_pg"
    return "different"


def table_line(run: Run, rows: int, sc: Score | None, planted_n: int) -> str:
    rate = rows / run.wall_s if run.wall_s else 0.0
    if sc is None:  # the --stats run: only its own count
        found = fp = "-"
    else:
        found = f"{len(sc.found)}/{planted_n}"
        fp = str(len(sc.false_positives))
    return (
        f"{run.scenario:11} {run.tool:26} {run.wall_s:8.2f} {rate:11,.0f} {run.peak_rss_mb:8.0f}"
        f" {run.reported:9} {found:>7} {fp:>6} {run.exit_code:5}"
    )


HEADER = (
    f"{'scenario':11} {'tool':26} {'wall s':>8} {'rows/s':>11} {'rss MB':>8}"
    f" {'reported':>9} {'planted':>7} {'false+':>6} {'exit':>5}"
)


def describe(run: Run, sc: Score, truth: dict[str, list[int]]) -> str:
    lines = [f"{run.tool} / {run.scenario}:"]
    for plant in sc.found:
        flag = "  (misclassified)" if plant in sc.misclassified else ""
        lines.append(f"  found   {plant.key:>8}  {plant.kind}{flag}")
    lines += [f"  MISSED  {p.key:>8}  {p.kind}" for p in sc.missed]
    if run.note:
        lines.append(f"  {run.note}")
    fps = sorted(sc.false_positives)
    if fps:
        lines.append(f"  false positives: {len(fps)}; first keys {fps[:10]}")
    truth_keys = set().union(*truth.values())
    if truth_keys != {p.key for p in sc.found + sc.missed} and run.scenario == "b-planted":
        lines.append(f"  (referee's truth: {truth})")
    return "\n".join(lines)


def write_results(path: Path, sections: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


def raw_section(run: Run, keep_lines: int = 60) -> str:
    """One run's command and outputs; long stdout is cut to its head and tail."""
    lines = run.stdout.rstrip().splitlines()
    if len(lines) > keep_lines:
        cut = len(lines) - keep_lines
        lines = [*lines[: keep_lines - 10], f"[... {cut:,} lines left out ...]", *lines[-10:]]
    command = re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", " ".join(run.argv))
    return (
        f"===== {run.tool} / {run.scenario}: median {run.wall_s:.2f} s of"
        f" {[round(w, 2) for w in run.walls]}, exit {run.exit_code}\n"
        f"$ {command}\n--- stdout ({len(run.stdout.splitlines()):,} lines)\n"
        + "\n".join(lines)
        + f"\n--- stderr\n{run.stderr.rstrip()}"
    )


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--datadiff",
        type=Path,
        default=Path(env.get("DATADIFF_BIN", ROOT / ".state/datadiff-venv/bin/data-diff")),
    )
    ap.add_argument(
        "--datadiff-threads",
        type=int,
        default=None,
        help="data-diff --threads (default: its own default, 1)",
    )
    ap.add_argument(
        "--canary", type=Path, default=Path(env.get("CANARY_BIN", ROOT / ".venv/bin/canary"))
    )
    ap.add_argument("--tools", default="datadiff,canary", help="comma list: datadiff, canary")
    ap.add_argument(
        "--wait-canary",
        type=float,
        default=0.0,
        help="minutes to wait for `canary diff tables` to appear (default 0)",
    )
    ap.add_argument("--poll", type=float, default=180.0, help="seconds between those checks")
    ap.add_argument("--max-samples", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each command; median shown")
    ap.add_argument("--no-referee", action="store_true", help="skip the Python row-by-row check")
    ap.add_argument("--no-json-probe", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the yard_* tables in place")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument(
        "--mysql-url",
        default=env.get("CANARY_MYSQL_DSN", "mysql://canary:canary@127.0.0.1:3306/canary"),
    )
    ap.add_argument(
        "--pg-url",
        default=env.get("CANARY_PG_DSN", "postgresql://canary:canary@127.0.0.1:5432/canary"),
    )
    return ap.parse_args(argv)


def wait_for_canary(canary: Path, minutes: float, poll: float) -> bool:
    deadline = time.monotonic() + minutes * 60
    while True:
        if canary_ready(canary):
            return True
        if time.monotonic() >= deadline:
            return False
        print(f"  `canary diff tables` not there yet; checking again in {poll:.0f} s", flush=True)
        time.sleep(min(poll, max(1.0, deadline - time.monotonic())))


def measure(args: argparse.Namespace, my: Dsn, pg: Dsn) -> tuple[list[str], list[str]]:
    """Runs the scenarios; returns summary lines and raw sections."""
    tools = set(args.tools.split(","))
    planted = plants(args.rows)
    summary: list[str] = []
    runs: list[tuple[Run, dict[str, list[int]]]] = []
    truth_a: dict[str, list[int]] = {"only_in_mysql": [], "only_in_pg": [], "different": []}
    truth_b = {"only_in_mysql": [], "only_in_pg": [], "different": [p.key for p in planted]}

    print(f"filling {MYSQL_TABLE} and {PG_TABLE} with {args.rows:,} rows ...", flush=True)
    summary.append(f"fill: {create_tables(my, pg, args.rows):.1f} s for both tables")

    def check(label: str) -> dict[str, list[int]] | None:
        if args.no_referee:
            return None
        truth, secs = referee(my, pg)
        summary.append(f"referee ({label}): {secs:.1f} s, {truth}")
        print(f"  referee {label}: {secs:.1f} s {truth}", flush=True)
        return truth

    def scenario(name: str, tool: Callable[[str], list[Run]]) -> None:
        for run in tool(name):
            runs.append((run, truth_a if name == "a-identical" else truth_b))

    if "datadiff" in tools:
        truth_a = check("a") or truth_a
        print("(a) identical: data-diff", flush=True)
        scenario(
            "a-identical", lambda s: run_datadiff(args.datadiff, my, pg, s, args.datadiff_threads)
        )
        apply_plants(my, pg, planted)
        truth_b = check("b") or truth_b
        print("(b) planted: data-diff", flush=True)
        scenario(
            "b-planted", lambda s: run_datadiff(args.datadiff, my, pg, s, args.datadiff_threads)
        )
        if not args.no_json_probe:
            summary.append(json_probe(args.datadiff, my, pg))

    if "canary" in tools:
        ready = canary_ready(args.canary) or (
            args.wait_canary > 0 and wait_for_canary(args.canary, args.wait_canary, args.poll)
        )
        if not ready:
            summary.append("canary: `canary diff tables` was not available; not measured")
            print(summary[-1], flush=True)
        else:
            restore_rows(my, pg, [p.key for p in planted])
            if "datadiff" not in tools:
                truth_a = check("a") or truth_a
            print("(a) identical: canary", flush=True)
            scenario("a-identical", lambda s: run_canary(args.canary, s, args.max_samples))
            apply_plants(my, pg, planted)
            if "datadiff" not in tools:
                truth_b = check("b") or truth_b
            print("(b) planted: canary", flush=True)
            scenario("b-planted", lambda s: run_canary(args.canary, s, args.max_samples))

    return [*summary, *render(runs, planted, args.rows)], [
        raw_section(run, 400 if run.tool.startswith("canary") else 60) for run, _ in runs
    ]


def render(
    runs: list[tuple[Run, dict[str, list[int]]]], planted: list[Plant], rows: int
) -> list[str]:
    """The figures table (printed too) and, per scored run, which plants it found."""
    table = [HEADER]
    details = []
    for run, truth in runs:
        scenario_plants = planted if run.scenario == "b-planted" else []
        sc = None if run.tool.endswith("--stats") else score(run, scenario_plants)
        table.append(table_line(run, rows, sc, len(scenario_plants)))
        if sc is not None:
            details.append(describe(run, sc, truth))
    print("\n" + "\n".join(table))
    return ["\n".join(table), *details]


def git_state() -> str:
    def git(*a: str) -> str:
        proc = subprocess.run(["git", *a], capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603, S607
        return proc.stdout.strip()

    dirty = git("status", "--porcelain", "--", "canary")
    return f"git {git('rev-parse', '--short', 'HEAD')}" + (
        f" + uncommitted changes in canary/ ({len(dirty.splitlines())} paths)" if dirty else ""
    )


def main(argv: list[str] | None = None) -> int:
    global REPEAT  # noqa: PLW0603 (one setting read by run_measured)
    args = parse_args(argv)
    REPEAT = args.repeat
    my = Dsn.parse(args.mysql_url, 3306)
    pg = Dsn.parse(args.pg_url, 5432)
    version = subprocess.run(  # noqa: S603 (argv built here)
        [str(args.datadiff), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    head = [
        f"data-diff yardstick, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC,"
        f" {args.rows:,} rows/table",
        f"data-diff {version} from {args.datadiff}; canary from {args.canary} ({git_state()})",
        f"tables {MYSQL_TABLE} (MySQL {my.host}:{my.port}/{my.database}) and {PG_TABLE}"
        f" (PostgreSQL {pg.host}:{pg.port}/{pg.database}); columns {KEY} + {', '.join(COLUMNS)}",
        "JSON column left out of the main tables: data-diff reads MariaDB JSON (a LONGTEXT) as"
        " text and PostgreSQL JSONB as re-serialised text, so equal objects differ (probe below).",
        "rows/s = rows per table / wall time of the whole command (process start included);"
        f" wall s = median of {args.repeat} run(s); rss = peak RSS of the tool's process.",
    ]
    try:
        summary, raw = measure(args, my, pg)
    finally:
        if not args.keep:
            drop_tables(my, pg)
            print("dropped the yard_* tables")
    out = args.out / f"datadiff-{dt.datetime.now(dt.UTC):%Y-%m-%d}.txt"
    write_results(out, ["\n".join(head), *summary, "RAW OUTPUTS", *raw])
    return 0


if __name__ == "__main__":
    sys.exit(main())
