"""Reports as aligned plain-text tables, for terminals and CI logs."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from canary.render import bench as bench_tables


def table(rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> list[str]:
    """Columns padded to their widest cell; columns of numbers right-aligned."""
    if not rows:
        return []
    count = len(rows[0])
    numeric = [
        all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows)
        for i in range(count)
    ]
    cells = [[_cell(value) for value in row] for row in rows]
    everything = ([list(header)] if header else []) + cells
    widths = [max(len(row[i]) for row in everything) for i in range(count)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()

    head = [line(header), "  ".join("-" * width for width in widths)] if header else []
    return head + [line(row) for row in cells]


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def stream(report: dict[str, Any]) -> str:
    lines = [
        f"canary stream diff  run {report['run_id']}  report {report.get('id', '-')}",
        f"verdict: {report['verdict'].upper()}",
    ]
    lines += [f"  - {reason}" for reason in report["reasons"]]
    lines.append("")
    records, duplicates = report["records"], report["duplicates"]
    lines += table(
        [
            ("records (distinct coordinates)", records["legacy"], records["ring"]),
            ("duplicates (redeliveries)", duplicates["legacy"], duplicates["ring"]),
        ],
        header=("", "legacy", "ring"),
    )
    lines.append("")
    lines += table(
        [
            ("matched", report["matched"]),
            ("mismatched", report["mismatched"]),
            ("missing in ring", report["missing_in_ring"]),
            ("missing in legacy", report["missing_in_legacy"]),
            ("invalid events", report["invalid"]),
        ]
    )
    latency = report["latency_ms"]
    lines += ["", "latency (ms, source timestamp to commit)"]
    lines += table(
        [
            (
                path,
                *(
                    latency[path][field]
                    for field in ("count", "mean", "p50", "p95", "p99", "p999", "max")
                ),
            )
            for path in ("legacy", "ring")
        ],
        header=("path", "count", "mean", "p50", "p95", "p99", "p99.9", "max"),
    )
    paired = latency.get("paired")
    gap = f"p99 gap (ring - legacy): {latency['p99_gap']:+.2f} ms"
    if paired and paired["count"]:
        low, high = paired["p99_gap_ci95"]
        gap += (
            f"  95 % CI [{low:+.2f}, {high:+.2f}] over {paired['count']:,} paired records;"
            f" ring faster on {100 * paired['ring_faster_share']:.1f} % of them,"
            f" median difference {paired['median_diff']:+.2f} ms"
        )
    lines.append(gap)
    for label in ("mismatched", "missing_in_ring", "missing_in_legacy"):
        samples = report["samples"][label]
        if samples:
            lines += ["", f"{label.replace('_', ' ')} (first {len(samples)} by coordinate)"]
            lines += _samples(samples)
    return "\n".join(lines)


def _samples(samples: Sequence[dict[str, Any]]) -> list[str]:
    rows: list[tuple[object, ...]] = []
    for sample in samples:
        src = sample["src"]
        where = f"{src['t']}/{src['p']}@{src['o']}"
        columns = sample.get("columns") or {}
        if not columns:
            rows.append((sample["key"], where, "", "", "", sample.get("rows", "")))
        for column, diff in columns.items():
            rows.append(
                (
                    sample["key"],
                    where,
                    column,
                    _short(diff["mysql"]),
                    _short(diff["postgres"]),
                    diff["cause"],
                )
            )
    return table(rows, header=("key", "source", "column", "mysql", "postgres", "cause / rows"))


def _short(value: object, width: int = 32) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _literal(value: object, width: int = 32) -> str:
    """A value as a JSON literal (quotes show spaces and empty strings), NULL for None."""
    if value is None:
        return "NULL"
    return _short(json.dumps(value, ensure_ascii=False, separators=(",", ":")), width)


def _key(key: object) -> str:
    if isinstance(key, list):
        return "(" + ", ".join(_short(part, 24) for part in key) + ")"
    return _short(key, 40)


def tables(report: dict[str, Any]) -> str:
    """A tables report: verdict, row counts, differences by kind, then the samples."""
    key = ", ".join(report["key"])
    lines = [
        f"canary tables diff  MySQL {report['mysql_table']} vs PostgreSQL {report['pg_table']}"
        f"  key ({key})  report {report.get('id', '-')}",
        f"verdict: {report['verdict'].upper()}",
    ]
    lines += [f"  - {reason}" for reason in report["reasons"]]
    lines.append("")
    rows = report["rows"]
    lines += table(
        [
            ("rows", rows["mysql"], rows["postgres"]),
            ("only in this table", report["only_in_mysql"], report["only_in_postgres"]),
        ],
        header=("", "mysql", "postgres"),
    )
    lines.append(f"rows in both that differ: {report['different']:,}")
    if "cut" in report:
        lines += _cut(report)
    columns = report.get("columns") or []
    lines += ["", f"columns compared ({len(columns)}): {', '.join(columns) or '-'}"]
    lines += [f"  {name}: {rule}" for name, rule in (report.get("rules") or {}).items()]
    if report.get("ignored"):
        lines.append(f"ignored: {', '.join(report['ignored'])}")
    if report.get("older_than") is not None:
        lines.append(f"only rows older than {report['older_than']:g} s")
    recheck = report.get("recheck") or {}
    if recheck.get("enabled") and recheck.get("candidates"):
        moved = " (or past the cut)" if "cut" in report else ""
        note = recheck.get("skipped") or (
            f"{recheck['cleared']:,} of {recheck['candidates']:,} differing rows were equal"
            f"{moved} when read again after {recheck['delay_s']:g} s"
        )
        lines.append(f"recheck: {note}")
    stats = report.get("stats") or {}
    if stats:
        lines.append(
            f"{stats['seconds']:,.2f} s, {stats['rows_per_s']:,.0f} rows/s; "
            f"{stats['ranges_checked']:,} key ranges checksummed, "
            f"{stats['ranges_downloaded']:,} downloaded, {stats['ranges_streamed']:,} "
            f"streamed; {stats['rows_compared']:,} rows compared one by one"
        )
    causes = report.get("causes") or {}
    if causes:
        lines += ["", "likely causes of the differing values"]
        lines += table(list(causes.items()))
    samples = report["samples"]
    for label, engine in (("only_in_mysql", "MySQL"), ("only_in_postgres", "PostgreSQL")):
        if samples[label]:
            lines += ["", f"only in {engine} (first {len(samples[label])} of {report[label]:,})"]
            lines += [f"  {_key(k)}" for k in samples[label]]
    if samples["different"]:
        shown = len(samples["different"])
        lines += ["", f"different (first {shown} of {report['different']:,})"]
        rows_out: list[tuple[object, ...]] = []
        for sample in samples["different"]:
            for column, diff in sample["columns"].items():
                rows_out.append(
                    (
                        _key(sample["key"]),
                        column,
                        _literal(diff["mysql"]),
                        _literal(diff["postgres"]),
                        diff.get("cause", ""),
                    )
                )
        lines += table(rows_out, header=("key", "column", "mysql", "postgres", "cause"))
    return "\n".join(lines)


def _cut(report: dict[str, Any]) -> list[str]:
    """A consistent diff's cut and what it left in flight."""
    consistent = report.get("consistent") or {}
    cut = ", ".join(f"{p}:{o:,}" for p, o in report["cut"].items()) or "-"
    topic = consistent.get("topic", "the source topic")
    lines = [
        f"consistent at the cut of {topic} (partition:offset): {cut}",
        f"  (rows counted above are the rows below the cut; {report['in_flight']:,} keys "
        "in flight at or past it were not compared)",
    ]
    flying = (report.get("samples") or {}).get("in_flight") or []
    if flying:
        lines.append(f"  in flight, first {len(flying)}: {', '.join(_key(k) for k in flying)}")
    return lines


def verify(report: dict[str, Any]) -> str:
    """A verify report: the gate's verdict and what it means, then both checks in full."""
    lines = [
        f"canary verify  run {report['run_id']}  report {report.get('id', '-')}",
        f"verdict: {report['verdict'].upper()} (exit code {report.get('exit_code', '-')})",
    ]
    lines += [f"  - {reason}" for reason in report["reasons"]]
    checks = report.get("checks") or {}
    lines += [
        "",
        *table(
            [(name, c["verdict"].upper(), c["exit_code"]) for name, c in checks.items()],
            header=("check", "verdict", "exit"),
        ),
    ]
    lines += ["", textwrap.fill(report.get("explanation", ""), width=88)]
    for name in ("stream", "tables"):
        body = report.get(name)
        error = (checks.get(name) or {}).get("error")
        lines += ["", f"=== {name} check ===", render(body) if body else f"error: {error}"]
    return "\n".join(lines)


def bench(report: dict[str, Any]) -> str:
    """A bench report: one small table per kind of figure, then any other field."""
    lines = [bench_tables.title(report)]
    lines += [f"{key}: {value}" for key, value in report.items() if key not in bench_tables.SHOWN]
    for section in bench_tables.sections(report):
        lines += ["", section.title, *table(section.rows, header=section.header)]
        lines += [f"  {section.note}"] if section.note else []
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    """Any stored report as text."""
    kind = report.get("kind")
    if kind == "stream":
        return stream(report)
    if kind == "tables":
        return tables(report)
    if kind == "verify":
        return verify(report)
    if kind == "bench":
        return bench(report)
    return "\n".join(f"{key}: {value}" for key, value in report.items())
