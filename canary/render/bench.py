"""A bench report as a few titled tables, shared by the text and the HTML renderers.

Reports stored before a figure existed lack it: a missing figure is an empty cell, and
a table with nothing in it is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PATHS = ("legacy", "ring", "classic_to_postgres", "ring_processes")
SHOWN = frozenset(
    {
        "kind",
        "id",
        "verdict",
        "reasons",
        "throughput_msg_s",
        "limits_msg_s",
        "limits_ratio",
        "latency_ms",
        "latency_points",
        "peak_rss_mb",
        "peak_tree_rss_mb",
        "ring_buffered_peak_bytes",
        "rebalance_stall_ms",
        "rebalance_ms",
    }
)
"""The fields the tables show; a renderer prints any other field (the run's size among
them) as it is, under the title."""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    header: tuple[str, ...]
    rows: list[tuple[object, ...]]
    note: str = ""


def title(report: Mapping[str, Any]) -> str:
    return f"canary bench {report.get('id', '')}".rstrip()


def sections(report: Mapping[str, Any]) -> list[Section]:
    found = [
        _throughput(report),
        _limits(report),
        _latency(report),
        _memory(report),
        _rebalance(report),
    ]
    return [section for section in found if section.rows]


def _get(report: Mapping[str, Any], field: str) -> dict[str, Any]:
    value = report.get(field)
    return value if isinstance(value, dict) else {}


def _throughput(report: Mapping[str, Any]) -> Section:
    rates, shares = _get(report, "throughput_msg_s"), _get(report, "limits_ratio")
    rows: list[tuple[object, ...]] = [
        (path, rates[path], _percent(shares.get(path))) for path in PATHS if path in rates
    ]
    ratio = rates.get("ratio_ring_legacy")
    note = f"ring / legacy: {ratio:,.2f}x" if isinstance(ratio, int | float) else ""
    return Section(
        "throughput, each path alone (msg/s)",
        ("path", "msg/s", "of its database's upsert limit"),
        rows,
        note,
    )


def _percent(share: object) -> str | None:
    return f"{share:.0%}" if isinstance(share, int | float) else None


def _limits(report: Mapping[str, Any]) -> Section:
    limits = _get(report, "limits_msg_s")
    return Section("limits (msg/s)", ("limit", "msg/s"), list(limits.items()))


def _latency(report: Mapping[str, Any]) -> Section:
    header = ("load msg/s", "run", "legacy p50", "legacy p99", "ring p50", "ring p99")
    rows: list[tuple[object, ...]] = []
    for point in report.get("latency_points") or []:
        for run in ("alone", "side_by_side"):
            rows.append((point["load_msg_s"], run.replace("_", " "), *_pairs(point[run])))
    latency = _get(report, "latency_ms")
    loads = {row[0] for row in rows}
    if latency and latency.get("load_msg_s") not in loads:
        rows.append((latency.get("load_msg_s"), "side by side", *_pairs(latency)))
    return Section("latency (ms, source timestamp to commit)", header, rows)


def _pairs(paths: Mapping[str, Any]) -> tuple[object, ...]:
    return tuple(
        (paths.get(path) or {}).get(stat) for path in ("legacy", "ring") for stat in ("p50", "p99")
    )


def _memory(report: Mapping[str, Any]) -> Section:
    rss, tree = _get(report, "peak_rss_mb"), _get(report, "peak_tree_rss_mb")
    buffered = _get(report, "ring_buffered_peak_bytes")
    rows: list[tuple[object, ...]] = [
        (
            path,
            rss.get(path),
            tree.get(path),
            buffered[path] / 1e6 if path in buffered else None,
        )
        for path in ("legacy", "ring", "ring_processes")
        if path in rss or path in tree
    ]
    return Section(
        "peak memory, throughput runs (MB)",
        ("path", "process RSS", "process tree RSS", "ring buffered"),
        rows,
    )


def _rebalance(report: Mapping[str, Any]) -> Section:
    gaps, stall = _get(report, "rebalance_ms"), _get(report, "rebalance_stall_ms")
    rows: list[tuple[object, ...]] = [
        (
            path,
            (gaps.get(path) or {}).get("quiet_gap"),
            (gaps.get(path) or {}).get("join_gap", stall.get(path)),
            (gaps.get(path) or {}).get("leave_gap"),
        )
        for path in ("legacy", "ring")
        if path in gaps or path in stall
    ]
    return Section(
        "rebalance: longest gap of the partitions that did not move (ms)",
        ("path", "quiet", "member joins", "member leaves"),
        rows,
    )
