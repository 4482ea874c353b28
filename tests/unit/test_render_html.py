"""The HTML report: one self-contained page, escaped user data, and a chart that matches
the histogram it was drawn from."""

from __future__ import annotations

import copy
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest

from canary.core.events import CompareEvent, PathName, SourceCoord
from canary.core.join import StreamJoin
from canary.core.report import stream_report
from canary.core.verdict import Thresholds
from canary.render.html import render

EVIL = "<script>alert(1)</script>"
VOID = {"meta", "br", "hr", "img", "input", "link"}


class Page(HTMLParser):
    """Every element with its attributes, checking on the way that tags nest properly."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.open: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1:] == [tag], f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def bars(self, path: str) -> list[dict[str, str]]:
        return self.find("rect", class_=f"series-{path}")


def parse(text: str) -> Page:
    page = Page(text)
    assert page.open == [], f"unclosed: {page.open}"
    return page


def _stats(count: int, p99: float) -> dict[str, Any]:
    return {
        "count": count,
        "mean": p99 / 2,
        "p50": p99 / 3,
        "p95": p99 * 0.8,
        "p99": p99,
        "p999": p99 * 1.2,
        "max": p99 * 1.5,
    }


def hand_report() -> dict[str, Any]:
    edges = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    return {
        "kind": "stream",
        "id": "rep-7",
        "run_id": "run-42",
        "created_at": "2024-05-01T12:00:00Z",
        "verdict": "fail",
        "reasons": ["3 mismatched records (limit 0)", "1 records missing in legacy (limit 0)"],
        "records": {"legacy": 1234, "ring": 1230},
        "matched": 1225,
        "mismatched": 3,
        "missing_in_ring": 4,
        "missing_in_legacy": 1,
        "duplicates": {"legacy": 7, "ring": 0},
        "invalid": 2,
        "latency_ms": {
            "legacy": _stats(1234, 48.5),
            "ring": _stats(1230, 12.4),
            "p99_gap": -36.25,
            "paired": {
                "count": 1225,
                "median_diff": -3.5,
                "ring_faster_share": 0.875,
                "p99_gap": -36.0,
                "p99_gap_ci95": [-40.5, -30.25],
            },
            "histogram": {
                "edges": edges,
                "legacy": [0, 10, 30, 400, 700, 94],
                "ring": [50, 600, 500, 70, 10, 0],
            },
        },
        "samples": {
            "mismatched": [
                {
                    "key": "order-77",
                    "src": {"t": "orders", "p": 3, "o": 77},
                    "legacy_sum": "a" * 32,
                    "ring_sum": "b" * 32,
                    "columns": {
                        "amount": {"mysql": "1.50", "postgres": "1.51", "cause": "scale"},
                        "note": {"mysql": None, "postgres": "", "cause": "null vs empty"},
                    },
                },
                {
                    "key": "order-9",
                    "src": {"t": "orders", "p": 0, "o": 9},
                    "rows": "row missing in postgres",
                },
            ],
            "missing_in_ring": [
                {"key": "order-5", "src": {"t": "orders", "p": 1, "o": 5}, "legacy_sum": "c" * 32}
            ],
            "missing_in_legacy": [],
        },
        "thresholds": {"max_mismatched": 0, "max_duplicates": -1, "max_p99_gap_ms": 5.0},
        "causes": {"null vs empty": 1, "scale": 2},
    }


def test_page_is_self_contained_and_well_formed() -> None:
    text = render(hand_report())
    assert text.startswith("<!DOCTYPE html>")
    for forbidden in ("http://", "https://", "<script", "<link", "src=", "url(", "@import"):
        assert forbidden not in text
    page = parse(text)
    assert page.find("meta", charset="utf-8")
    assert page.find("style")


def test_title_banner_and_reasons() -> None:
    text = render(hand_report())
    assert "<title>canary stream report — run run-42, report rep-7</title>" in text
    page = parse(text)
    assert page.find("section", class_="verdict fail")
    assert "FAIL" in page.text
    assert "3 mismatched records (limit 0)" in page.text


def test_pass_banner_says_so() -> None:
    report = hand_report() | {"verdict": "pass", "reasons": []}
    page = parse(render(report))
    assert page.find("section", class_="verdict pass")
    assert "every check is within its limit" in page.text


def test_counts_and_latency_numbers_appear() -> None:
    text = render(hand_report())
    for number in (
        "1,234",
        "1,230",
        "1,225",
        ">3<",
        ">4<",
        ">7<",
        ">2<",
        "48.50",
        "12.40",
        "58.20",
        "72.75",
        "-36.25",
        "[-40.50, -30.25]",
        "87.5 %",
        "-3.50",
        "p99.9",
    ):
        assert number in text, number


def test_chart_has_both_series_and_matching_geometry() -> None:
    report = hand_report()
    page = parse(render(report))
    (svg,) = page.find("svg", id="latency-chart")
    assert svg["role"] == "img"
    assert "legacy" in svg["aria-label"]
    hist = report["latency_ms"]["histogram"]
    for path in ("legacy", "ring"):
        bars = page.bars(path)
        counts = hist[path]
        # One bar per nonempty bin, carrying its bin and count.
        assert [(int(b["data-bin"]), int(b["data-count"])) for b in bars] == [
            (i, c) for i, c in enumerate(counts) if c
        ]
        tallest = max(bars, key=lambda b: float(b["height"]))
        assert int(tallest["data-bin"]) == counts.index(max(counts))
        # Heights are proportional to counts and all bars stand on one baseline.
        per_record = {round(float(b["height"]) / int(b["data-count"]), 2) for b in bars}
        assert len(per_record) == 1
        assert len({round(float(b["y"]) + float(b["height"]), 1) for b in bars}) == 1
        xs = [float(b["x"]) for b in bars]
        assert xs == sorted(xs)
    # Within a bin, legacy's bar stands left of ring's, without overlapping it.
    legacy = {b["data-bin"]: b for b in page.bars("legacy")}
    for ring in page.bars("ring"):
        if ring["data-bin"] in legacy:
            left = legacy[ring["data-bin"]]
            assert float(left["x"]) + float(left["width"]) <= float(ring["x"]) + 0.01


def test_chart_axes_legend_and_markers() -> None:
    page = parse(render(hand_report()))
    labels = set(page.text)
    assert {"1", "2", "5", "10", "20", "50"} <= labels  # 1-2-5 ticks on the log axis
    assert any("ms, log scale" in t for t in labels)
    assert "records per bin" in labels
    assert page.find("rect", class_="swatch-legacy")
    assert page.find("rect", class_="swatch-ring")
    assert "legacy p99 48.5 ms" in labels
    assert "ring p99 12.4 ms" in labels


def test_empty_histogram_shows_a_note_instead_of_a_chart() -> None:
    report = hand_report()
    report["latency_ms"]["histogram"] = {"edges": [], "legacy": [], "ring": []}
    page = parse(render(report))
    assert not page.find("svg")
    assert "no latency data" in page.text


def _mismatch(report: dict[str, Any]) -> dict[str, Any]:
    sample: dict[str, Any] = report["samples"]["mismatched"][0]
    return sample


PLANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "key": lambda r: _mismatch(r).update(key=EVIL),
    "topic": lambda r: _mismatch(r)["src"].update(t=EVIL),
    "column": lambda r: _mismatch(r)["columns"].update({EVIL: {"mysql": 1, "postgres": 2}}),
    "mysql value": lambda r: _mismatch(r)["columns"]["amount"].update(mysql=EVIL),
    "postgres value": lambda r: _mismatch(r)["columns"]["amount"].update(postgres=EVIL),
    "cause": lambda r: _mismatch(r)["columns"]["amount"].update(cause=EVIL),
    "rows note": lambda r: r["samples"]["mismatched"][1].update(rows=EVIL),
    "missing key": lambda r: r["samples"]["missing_in_ring"][0].update(key=EVIL),
    "causes": lambda r: r["causes"].update({EVIL: 5}),
    "reason": lambda r: r["reasons"].append(EVIL),
    "verdict": lambda r: r.update(verdict=EVIL),
    "run id": lambda r: r.update(run_id=EVIL),
    "report id": lambda r: r.update(id=EVIL),
    "created at": lambda r: r.update(created_at=EVIL),
}


@pytest.mark.parametrize("where", PLANTS)
def test_user_data_is_escaped(where: str) -> None:
    report = copy.deepcopy(hand_report())
    PLANTS[where](report)
    text = render(report)
    assert EVIL not in text
    assert "<script" not in text.lower()
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;" in text.lower()
    )  # the banner shows the verdict upper-case
    assert not parse(text).find("script")


def test_attribute_values_cannot_break_out() -> None:
    report = hand_report()
    _mismatch(report)["key"] = '"><img src=x onerror=alert(1)>'
    text = render(report)
    assert "<img" not in text
    assert "&quot;&gt;&lt;img" in text


def test_mismatch_and_missing_tables() -> None:
    text = render(hand_report())
    page = parse(text)
    assert "orders/3@77" in page.text
    assert "amount" in page.text
    assert "1.50" in page.text
    assert "1.51" in page.text
    assert "NULL" in page.text
    assert "empty string" in page.text
    assert "row missing in postgres" in page.text  # the rows note, for no columns
    assert "orders/1@5" in page.text
    assert f"legacy sum {'c' * 32}" in page.text
    assert "Missing in ring: 1 sample of 4, by coordinate" in page.text
    assert "what the other path wrote" in page.text
    assert "Missing in legacy" not in text  # no samples, no table
    assert page.text.index("scale") < page.text.index(
        "null vs empty"
    )  # causes, most frequent first


def test_generic_kind_renders_every_field() -> None:
    report = {
        "kind": "tables",
        "verdict": "fail",
        "reasons": ["3 rows differ"],
        "mysql_table": "orders",
        "key": ["order_id"],
        "only_in_mysql": 1234,
        "samples": {"different": [{"key": 1, "columns": {EVIL: {"mysql": "1", "postgres": "2"}}}]},
    }
    text = render(report)
    page = parse(text)
    assert page.find("section", class_="verdict fail")
    assert "3 rows differ" in page.text
    assert {"mysql_table", "orders", "only_in_mysql", "1,234"} <= set(page.text)
    assert EVIL not in text
    assert "&lt;script&gt;" in text
    assert not page.find("svg")
    bench = parse(render({"kind": "bench", "messages": 10}))  # no verdict at all
    assert not bench.find("section")
    assert "messages" in bench.text


def _event(path: PathName, offset: int, latency: float, digest: str = "0" * 32) -> CompareEvent:
    ts = 1_700_000_000_000 + offset
    src = SourceCoord("orders", offset % 3, offset, ts)
    return CompareEvent("r1", path, f"order-{offset}", src, digest, ts + latency)


def test_report_built_by_the_core() -> None:
    join = StreamJoin("r1")
    for offset in range(30):
        join.add(_event("legacy", offset, 20.0 + offset % 5))
        if offset != 29:  # missing in ring
            join.add(
                _event("ring", offset, 4.0 + offset % 3, "f" * 32 if offset == 3 else "0" * 32)
            )
    join.add(_event("ring", 30, 6.0))  # missing in legacy
    report = stream_report(
        "rep-1", "r1", join.result(), Thresholds(), "2024-05-01T00:00:00Z"
    ).as_json()
    page = parse(render(report))
    assert page.find("section", class_="verdict fail")
    for path in ("legacy", "ring"):
        bars = page.bars(path)
        assert bars, path
        assert sum(int(b["data-count"]) for b in bars) == report["records"][path] == 30
    assert "orders/0@3" in page.text  # the mismatch, shown with both sums
    assert f"ring sum {'f' * 32}" in page.text
    assert "orders/2@29" in page.text
    assert "orders/0@30" in page.text
