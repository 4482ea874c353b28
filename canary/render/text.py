"""Reports as aligned plain-text tables, for terminals and CI logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


def render(report: dict[str, Any]) -> str:
    """Any stored report as text."""
    if report.get("kind") == "stream":
        return stream(report)
    return "\n".join(f"{key}: {value}" for key, value in report.items())
