"""Bench reports as text and HTML: every figure shown once, old reports still readable."""

from __future__ import annotations

from typing import Any

from canary.render import html, text
from canary.render.bench import sections


def _paths(p50: float, p99: float) -> dict[str, dict[str, float]]:
    return {"legacy": {"p50": p50, "p99": p99}, "ring": {"p50": p50 / 2, "p99": p99 / 2}}


REPORT: dict[str, Any] = {
    "kind": "bench",
    "id": "bench-1",
    "verdict": "pass",
    "messages": 5000,
    "partitions": 6,
    "throughput_msg_s": {
        "legacy": 1000.0,
        "ring": 12000.0,
        "classic_to_postgres": 1300.0,
        "ring_processes": 5000.0,
        "ratio_ring_legacy": 12.0,
    },
    "limits_msg_s": {"consume_only": 9e5, "postgres_upsert": 40000.0, "mysql_upsert": 25000.0},
    "limits_ratio": {"ring": 0.3, "ring_processes": 0.125, "legacy": 0.04},
    "latency_ms": {**_paths(8.0, 60.0), "load_msg_s": 300.0},
    "latency_points": [
        {"load_msg_s": 300.0, "alone": _paths(7.0, 50.0), "side_by_side": _paths(8.0, 60.0)},
        {"load_msg_s": 600.0, "alone": _paths(9.0, 70.0), "side_by_side": _paths(11.0, 80.0)},
    ],
    "peak_rss_mb": {"legacy": 90.0, "ring": 91.0},
    "peak_tree_rss_mb": {"legacy": 65.0, "ring": 75.0, "ring_processes": 316.0},
    "ring_buffered_peak_bytes": {"ring": 4_000_000, "ring_processes": 8_000_000},
    "rebalance_stall_ms": {"legacy": 120.0, "ring": 40.0},
    "rebalance_ms": {
        "legacy": {"join_gap": 120.0, "leave_gap": 110.0, "quiet_gap": 20.0},
        "ring": {"join_gap": 40.0, "leave_gap": 35.0, "quiet_gap": 15.0},
    },
}


def test_text_shows_each_new_figure_in_a_table() -> None:
    out = text.render(REPORT)
    assert "12,000.00" in out
    assert "30%" in out
    assert "ring / legacy: 12.00x" in out
    assert "side by side" in out
    assert "alone" in out
    assert "80.00" in out
    assert "316.00" in out
    assert "8.00" in out  # tree RSS, ring_processes' buffered MB
    rebalance = out[out.index("rebalance") :]
    assert "member joins" in rebalance
    assert "110.00" in rebalance
    assert "15.00" in rebalance
    assert "peak_rss_mb:" not in out  # shown in a table, not again as a raw field


def test_the_side_by_side_run_at_load_is_not_shown_twice() -> None:
    latency = next(s for s in sections(REPORT) if s.title.startswith("latency"))
    assert len(latency.rows) == 4
    alone_only = {**REPORT, "latency_ms": {**_paths(1.0, 2.0), "load_msg_s": 1000.0}}
    latency = next(s for s in sections(alone_only) if s.title.startswith("latency"))
    assert latency.rows[-1][:2] == (1000.0, "side by side")


def test_a_report_from_before_the_new_figures_still_renders() -> None:
    old = {
        key: REPORT[key]
        for key in ("kind", "messages", "partitions", "throughput_msg_s", "latency_ms")
    }
    old["rebalance_stall_ms"] = {"legacy": 51.0, "ring": 114.0}
    old["something_new"] = 7
    out = text.render(old)
    assert "114.00" in out
    assert "something_new: 7" in out
    page = html.render(old)
    assert "114.00" in page
    assert "something_new" in page


def test_html_has_one_table_per_kind_of_figure() -> None:
    page = html.render(REPORT)
    assert page.count("<table>") == 5
    assert "process tree RSS" in page
    assert "member leaves" in page
