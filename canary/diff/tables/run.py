"""One table diff end to end: describe both tables, walk the key ranges, recheck, store.

The composition root of ``canary diff tables`` (and of scheduled tables jobs): it wires
``sinks.checksums`` (SQL), ``canary.core.segments`` (planning and the walk) and
``canary.diff.tables`` (row comparison, tally, report) together.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from canary.config import Settings, TableRule, TablesSettings
from canary.core.segments import Range, WalkStats, split_at, value_cuts, walk
from canary.diff.tables.columns import Spec, build_spec
from canary.diff.tables.commits import read_cut
from canary.diff.tables.probe import TablesProbe
from canary.diff.tables.report import Consistency, Effort, Recheck, TablesReport, tables_report
from canary.diff.tables.tally import Tally
from canary.errors import UsageError
from sinks import checksums, mysql, postgres

Progress = Callable[[str], None]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")
_PROGRESS_EVERY = 1.0  # seconds between progress lines during the walk


def diff_tables(
    settings: Settings,
    *,
    table: str | None,
    mysql_table: str | None = None,
    pg_table: str | None = None,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    max_samples: int | None = None,
    older_than: float | None = None,
    recheck: bool | None = None,
    consistent: bool = False,
    topic: str | None = None,
    legacy_group: str | None = None,
    ring_group: str | None = None,
    progress: Progress | None = None,
    store: bool = True,
) -> TablesReport:
    """Compare a MySQL table with a PostgreSQL table by key; the §7 tables report.

    ``table`` names both tables unless ``mysql_table``/``pg_table`` say otherwise, and
    selects the rule ``settings.tables.rules[table]`` (else ``rules[mysql_table]``):
    ignored columns, tolerances, age column. ``columns`` limits the compared columns
    (default: every column both tables have). ``older_than`` compares only rows whose age
    column is older than that many seconds. With ``recheck`` (default
    ``settings.tables.recheck``) every differing key is read again after
    ``tables.recheck_delay`` seconds and counts only if it still differs. The report is
    stored when ``store``.

    ``consistent`` compares only the rows below the cut of ``topic`` between the groups
    ``legacy_group`` and ``ring_group`` (defaults: the source topic and the paths'
    groups; see ``canary.core.cut``); keys whose row on either side is at or past it are
    counted as in flight, also when they moved there while the diff ran.

    Raises UsageError (unknown table or column, bad arguments, no source columns, a path
    that never committed) and ServiceUnavailable.
    """
    if not consistent and (topic or legacy_group or ring_group):
        raise UsageError("--topic, --legacy-group and --ring-group go with --consistent")
    options = settings.tables
    label, mine, theirs = _names(table, mysql_table, pg_table)
    key = _split(key, "key")
    wanted = None if columns is None else _split(columns, "column")
    if older_than is not None and older_than < 0:
        raise UsageError(f"--older-than must be >= 0 seconds, got {older_than}")
    samples = options.max_samples if max_samples is None else max_samples
    if samples < 0:
        raise UsageError(f"--max-samples must be >= 0, got {samples}")
    rechecking = options.recheck if recheck is None else recheck
    rule = options.rules.get(label) or options.rules.get(mine) or TableRule()
    say = progress or (lambda _line: None)

    started = time.monotonic()
    now = datetime.now(UTC)
    cutoff = None if older_than is None else now - timedelta(seconds=older_than)
    spec = _spec(
        settings,
        mine,
        theirs,
        key,
        wanted,
        rule,
        need_age=older_than is not None,
        need_cut=consistent,
        label=label,
    )
    cut = None
    if consistent:
        cut = read_cut(settings, topic=topic, legacy_group=legacy_group, ring_group=ring_group)
        shown = ", ".join(f"{p}:{o:,}" for p, o in cut.offsets)
        say(f"cut of {cut.topic} (partition:offset): {shown}")
    say(
        f"MySQL {mine} vs PostgreSQL {theirs}: key {', '.join(c.name for c in spec.key)}, "
        f"{len(spec.columns)} columns ({len(spec.loose)} compared row by row when their "
        "texts differ)"
    )
    probe = TablesProbe(settings, spec, cutoff, cut)
    json_columns = [c.name for c in spec.columns if c.kind == "json"]
    tally = Tally(json_columns, samples, options.recheck_limit if rechecking else 0)
    outcome_of_recheck = Recheck(enabled=rechecking, delay_s=options.recheck_delay)
    try:
        stats = _walk(probe, spec, options, tally, say)
        if rechecking and tally.total:
            tally, outcome_of_recheck = _recheck(
                probe, tally, json_columns, samples, options.recheck_delay, say
            )
        # Last: whatever was set aside above is past the cut for good, so counted here.
        consistency = None if cut is None else Consistency(cut, probe.in_flight(samples))
    finally:
        probe.close()
    seconds = time.monotonic() - started
    report = tables_report(
        report_id=f"tables-{label}-{now:%Y%m%dT%H%M%S%f}",
        created_at=now.isoformat(timespec="seconds"),
        table=label,
        spec=spec,
        tally=tally,
        recheck=outcome_of_recheck,
        older_than=older_than,
        effort=Effort(seconds, stats, tally.rows_compared, probe.skip_loose_sums),
        consistency=consistency,
    )
    below = " below the cut" if cut is not None else ""
    flying = "" if consistency is None else f", {consistency.in_flight.count:,} keys in flight"
    say(
        f"done in {seconds:,.1f} s: {stats.rows[0]:,} MySQL rows, {stats.rows[1]:,} PostgreSQL "
        f"rows{below}, {tally.total:,} differences{flying}"
    )
    if store:
        checksums.save_report(settings.postgres, report.as_json())
    return report


def _walk(
    probe: TablesProbe, spec: Spec, options: TablesSettings, tally: Tally, say: Progress
) -> WalkStats:
    """Every range compared, on a pool of ``options.parallel`` threads, into ``tally``."""
    shown = _Throttle(say, tally)
    with ThreadPoolExecutor(options.parallel, thread_name_prefix="canary-tables") as pool:
        try:
            stats = walk(
                _roots(probe, spec, options.segments),
                probe,
                parts=options.segments,
                download_below=options.download_below,
                executor=pool,
                settled=lambda done: tally.add(done.outcome),
                progress=shown,
            )
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    shown(stats, final=True)
    return stats


def _names(
    table: str | None, mysql_table: str | None, pg_table: str | None
) -> tuple[str, str, str]:
    mine = mysql_table or table
    theirs = pg_table or table
    if mine is None or theirs is None:
        raise UsageError("name the table with --table, or both --mysql-table and --pg-table")
    for name in (table, mine, theirs):
        if name is not None and not _NAME.match(name):
            raise UsageError(f"not a table name: {name!r}")
    label = table or (mine if mine == theirs else f"{mine}-{theirs}")
    return label, mine, theirs


def _split(names: Sequence[str] | str, what: str) -> list[str]:
    """Names from a list, each of which may itself be comma-separated."""
    items = [names] if isinstance(names, str) else list(names)
    found = [part.strip() for item in items for part in item.split(",") if part.strip()]
    for name in found:
        if not _NAME.match(name):
            raise UsageError(f"not a {what} name: {name!r}")
    return found


def _spec(
    settings: Settings,
    mine: str,
    theirs: str,
    key: Sequence[str],
    columns: Sequence[str] | None,
    rule: TableRule,
    *,
    need_age: bool,
    need_cut: bool,
    label: str,
) -> Spec:
    connection = mysql.connect(settings.mysql)
    try:
        with mysql.translated(settings.mysql):
            left = checksums.describe_mysql(connection, mine)
    finally:
        connection.close()
    with postgres.connect(settings.postgres) as pg, postgres.translated(settings.postgres):
        right = checksums.describe_postgres(pg, theirs)
    if left is None:
        raise UsageError(
            f"unknown table {mine!r}: MySQL database {settings.mysql.database!r} at "
            f"{settings.mysql.address} has no such table"
        )
    if right is None:
        raise UsageError(
            f"unknown table {theirs!r}: PostgreSQL database {settings.postgres.database!r} at "
            f"{settings.postgres.address} has no such table"
        )
    return build_spec(
        left,
        right,
        key=key,
        columns=columns,
        rule=rule,
        need_age=need_age,
        rule_name=label,
        need_cut=need_cut,
    )


def _roots(probe: TablesProbe, spec: Spec, segments: int) -> list[Range]:
    """The first ranges: equal slices of the key values for an integer key, else the
    whole table (sampled cuts follow only if it differs)."""
    if not spec.integer_key:
        return [Range()]
    with probe.sessions.translated():
        bounds = [
            probe.mysql.key_bounds(probe.sessions.mysql()),
            probe.postgres.key_bounds(probe.sessions.postgres()),
        ]
    lows = [low for low, _ in bounds if low is not None]
    highs = [high for _, high in bounds if high is not None]
    if not lows:
        return [Range()]
    probe.key_span = (min(lows), max(highs))
    return split_at(Range(), [(cut,) for cut in value_cuts(min(lows), max(highs), segments)])


def _recheck(
    probe: TablesProbe,
    first: Tally,
    json_columns: Sequence[str],
    samples: int,
    delay: float,
    say: Progress,
) -> tuple[Tally, Recheck]:
    if first.overflow:
        return first, Recheck(
            enabled=True,
            delay_s=delay,
            candidates=first.total,
            skipped="more differing keys than tables.recheck_limit: first-pass counts stand",
        )
    keys = sorted(set(first.keys()))
    say(f"re-reading {len(keys):,} differing rows after {delay:g} s")
    time.sleep(delay)
    fresh = Tally(json_columns, samples, 0)
    fresh.add(probe.recheck(keys))
    fresh.rows_compared = first.rows_compared
    return fresh, Recheck(
        enabled=True, delay_s=delay, candidates=first.total, cleared=first.total - fresh.total
    )


class _Throttle:
    """Turns walk statistics into a progress line at most every second."""

    def __init__(self, say: Progress, tally: Tally) -> None:
        self._say = say
        self._tally = tally
        self._last = 0.0

    def __call__(self, stats: WalkStats, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < _PROGRESS_EVERY:
            return
        self._last = now
        self._say(
            f"ranges checked {stats.checked:,}: {stats.equal:,} equal, {stats.split:,} split, "
            f"{stats.downloaded:,} downloaded, {stats.streamed:,} streamed (level "
            f"{stats.depth}); {self._tally.rows_compared:,} rows compared, "
            f"{self._tally.total:,} differences so far"
        )
