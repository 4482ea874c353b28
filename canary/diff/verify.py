"""`canary verify`: the stream diff of a run and the consistent diff of its tables, one gate.

The composition root of the gate (and of scheduled verify jobs): it runs both checks,
lets neither one's error stop the other, and judges them together
(``canary.core.gate``). Only the gate's report is stored; it holds both checks' reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from canary.config import Settings
from canary.core.gate import Check, VerifyReport
from canary.core.report import Reported
from canary.core.schema import KEY
from canary.diff.run import diff_stream
from canary.diff.tables.run import Progress, diff_tables
from canary.errors import CanaryError
from sinks import checksums


def verify_run(
    settings: Settings,
    *,
    run_id: str,
    grace: float | None = None,
    until_idle: float | None = None,
    drill_down: bool = True,
    checkpoints: bool = True,
    table: str | None = None,
    mysql_table: str | None = None,
    pg_table: str | None = None,
    key: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    max_samples: int | None = None,
    older_than: float | None = None,
    recheck: bool | None = None,
    topic: str | None = None,
    legacy_group: str | None = None,
    ring_group: str | None = None,
    progress: Progress | None = None,
    store: bool = True,
) -> VerifyReport:
    """Both checks of ``run_id`` and their verdict, stored when ``store``.

    The tables default to the configured sink tables (``mysql.table`` and
    ``postgres.table``) and their key ``order_id``; the other options are those of
    ``diff_stream`` and of ``diff_tables`` with ``consistent``. An error of one check
    (UsageError, ServiceUnavailable) becomes that check's outcome; only storing the
    gate's report can raise."""
    say = progress or (lambda _line: None)
    if table is None and mysql_table is None and pg_table is None:
        mysql_table, pg_table = settings.mysql.table, settings.postgres.table
    say(f"stream diff of run {run_id}")
    stream = _check(
        "stream",
        lambda: diff_stream(
            settings,
            run_id=run_id,
            grace=grace,
            until_idle=until_idle,
            drill_down=drill_down,
            checkpoints=checkpoints,
            store=False,
        ),
    )
    say(f"stream: {stream.verdict.upper()}; consistent table diff")
    tables = _check(
        "tables",
        lambda: diff_tables(
            settings,
            table=table,
            mysql_table=mysql_table,
            pg_table=pg_table,
            key=list(key) if key else [KEY],
            columns=columns,
            max_samples=max_samples,
            older_than=older_than,
            recheck=recheck,
            consistent=True,
            topic=topic,
            legacy_group=legacy_group,
            ring_group=ring_group,
            progress=progress,
            store=False,
        ),
    )
    now = datetime.now(UTC)
    report = VerifyReport(
        id=f"verify-{run_id}-{now:%Y%m%dT%H%M%S%f}",
        run_id=run_id,
        created_at=now.isoformat(timespec="seconds"),
        stream=stream,
        tables=tables,
    )
    if store:
        checksums.save_report(settings.postgres, report.as_json())
    return report


def _check(name: str, run: Callable[[], Reported]) -> Check:
    try:
        return Check(name, report=run())
    except CanaryError as exc:
        return Check(name, error=exc)
