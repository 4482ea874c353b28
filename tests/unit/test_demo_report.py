"""What the demo knows beyond the gate: the injection's footprint, judged against what the
diffs found, and the demo's part of the report page."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from canary.core.checksum import row_checksum
from canary.core.gate import Check, VerifyReport
from canary.core.orders import generate_orders
from canary.core.pace import Pace
from canary.demo.report import DemoReport, Injection, MidRunCheck, Point, Production
from canary.handlers import divergent
from canary.handlers.orders import to_row
from canary.render.html import render
from tests.unit.test_render_html import Page

RATE = 0.05


def _events(count: int = 4000) -> list[tuple[bytes | None, bytes | None]]:
    return [(e.key, e.value) for e in generate_orders(count, count // 10, 1)]


def test_the_footprint_counts_what_the_divergent_handler_really_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against the handler itself, record by record and key by key."""
    monkeypatch.setenv(divergent.RATE_VARIABLE, str(RATE))
    events = _events()
    changed = dropped = 0
    last: dict[bytes | None, str | None] = {}  # key -> "differs", "dropped" or None
    for key, value in events:
        normal = row_checksum(to_row(key, value))
        try:
            ring = row_checksum(divergent.to_row(key, value))
        except divergent.HandlerError:
            dropped += 1
            last[key] = "dropped"
            continue
        changed += ring != normal
        last[key] = "differs" if ring != normal else None
    kinds = Counter(last.values())
    found = divergent.footprint(events, RATE)
    assert found.records == len(events)
    assert (found.mismatched, found.dropped) == (changed, dropped)
    assert (found.different_keys, found.missing_keys) == (kinds["differs"], kinds["dropped"])
    assert found.stream == changed + dropped
    assert found.tables == kinds["differs"] + kinds["dropped"]
    # Every kind happens, and some rounding changes nothing (an amount at one decimal).
    assert changed
    assert dropped
    assert found.touched > changed + dropped


def test_no_injection_has_no_footprint() -> None:
    found = divergent.footprint(_events(500), 0.0)
    assert (found.records, found.touched, found.stream, found.tables) == (500, 0, 0, 0)


def test_records_both_handlers_refuse_count_for_neither() -> None:
    found = divergent.footprint([(b"1", b"not json"), (None, None)], 1.0)
    assert found.records == found.touched == found.stream == found.tables == 0


def _gate(stream: dict[str, Any], tables: dict[str, Any]) -> VerifyReport:
    return VerifyReport(
        "v1", "r1", "2026-01-01T00:00:00+00:00", Check("stream", stream), Check("tables", tables)
    )


def _stream(mismatched: int, missing: int, keys: list[str]) -> dict[str, Any]:
    fail = bool(mismatched or missing)
    return {
        "kind": "stream",
        "verdict": "fail" if fail else "pass",
        "reasons": ["x"] if fail else [],
        "mismatched": mismatched,
        "missing_in_ring": missing,
        "missing_in_legacy": 0,
        "samples": {"mismatched": [{"key": k} for k in keys], "missing_in_ring": []},
    }


def _tables(different: int, only: int, keys: list[int]) -> dict[str, Any]:
    fail = bool(different or only)
    return {
        "kind": "tables",
        "verdict": "fail" if fail else "pass",
        "reasons": ["y"] if fail else [],
        "different": different,
        "only_in_mysql": only,
        "only_in_postgres": 0,
        "samples": {"different": [], "only_in_mysql": keys, "only_in_postgres": []},
    }


EXPECTED = divergent.Footprint(
    records=100, touched=6, mismatched=3, dropped=2, different_keys=2, missing_keys=1
)


def _chosen(key: bytes) -> bool:
    return key in (b"7", b"9")


def test_exactly_the_injected_records_is_exact() -> None:
    gate = _gate(_stream(3, 2, ["7"]), _tables(2, 1, [9]))
    injection = Injection.judge(RATE, EXPECTED, gate, _chosen)
    assert injection.exact
    assert (injection.stream_found, injection.tables_found) == (5, 3)
    assert injection.lines()[-1].endswith("both found exactly the injected records")


@pytest.mark.parametrize(
    ("stream", "tables", "strangers"),
    [
        (_stream(4, 2, ["7"]), _tables(2, 1, [9]), []),  # one record too many
        (_stream(3, 2, ["7"]), _tables(2, 0, []), []),  # a key the table diff missed
        (_stream(3, 2, ["7", "8"]), _tables(2, 1, [9]), ["8"]),  # right count, wrong key
    ],
)
def test_anything_else_is_not_exact(
    stream: dict[str, Any], tables: dict[str, Any], strangers: list[str]
) -> None:
    injection = Injection.judge(RATE, EXPECTED, _gate(stream, tables), _chosen)
    assert not injection.exact
    assert injection.strangers == strangers
    assert "NOT exactly" in injection.lines()[-1]


def test_a_check_that_could_not_run_found_nothing() -> None:
    gate = VerifyReport(
        "v1", "r1", "t", Check("stream", _stream(3, 2, [])), Check("tables", error=None)
    )
    injection = Injection.judge(RATE, EXPECTED, gate, _chosen)
    assert injection.tables_found is None
    assert not injection.exact
    assert "could not run" in injection.lines()[-1]


def test_the_demo_report_is_the_gates_with_the_demo_part_and_renders_it() -> None:
    gate = _gate(_stream(3, 2, ["7"]), _tables(2, 1, [9]))
    report = DemoReport(
        gate,
        Production(Pace(2000, 100, 2, 4), 20.0),
        [Point(0, 0, 0, 0), Point(3, 300, 120, 4), Point(6, 900, 40, 0)],
        [MidRunCheck(3.0, "pass", 17, (50, 50), 0, 0.4)],
        Injection.judge(RATE, EXPECTED, gate, _chosen),
    )
    body = report.as_json()
    assert body["kind"] == "verify"
    assert body["verdict"] == "fail"
    assert report.failure() is not None
    demo = body["demo"]
    assert demo["production"]["burst"] == {
        "messages": 800,
        "rate_msg_s": 400.0,
        "from_s": 6.0,
        "to_s": 8.0,
    }
    assert [p["behind"]["legacy"] for p in demo["timeline"]] == [0, 120, 40]
    assert demo["mid_run_checks"][0]["in_flight"] == 17
    assert demo["injection"]["found"] == {"stream_records": 5, "table_keys": 3}
    assert demo["injection"]["exact"] is True

    # The checks' own parts are the verify page's (tested there); here only the demo's.
    page = Page(render({**body, "stream": None, "tables": None}))
    classes = [attrs.get("class", "") for _, attrs in page.elements]
    assert "backlog-legacy" in classes
    assert "backlog-ring" in classes
    text = " ".join(page.text)
    assert "What the demo saw" in text
    assert "Both diffs found exactly the injected records" in text
    # The legacy line climbs to the top of the chart and comes back down.
    points = next(a["points"] for t, a in page.elements if a.get("class") == "backlog-legacy")
    heights = [float(pair.split(",")[1]) for pair in points.split()]
    assert heights[1] < heights[0]
    assert heights[1] < heights[2]
