"""The stream report's ``pending`` addition: what a read to the topic's end left unjudged."""

from __future__ import annotations

from canary.core.events import CompareEvent, PathName, SourceCoord
from canary.core.join import Horizon, StreamJoin
from canary.core.report import stream_report
from canary.core.verdict import Thresholds

TS = 1_800_000_000_000
SUM = "c" * 32


def _join() -> StreamJoin:
    """A pair at offset 0; offset 1 only on legacy, offset 2 only on ring."""
    join = StreamJoin("r1")
    events: list[tuple[int, PathName]] = [(0, "legacy"), (0, "ring"), (1, "legacy"), (2, "ring")]
    for offset, path in events:
        src = SourceCoord(t="t", p=0, o=offset, ts=TS)
        join.add(CompareEvent("r1", path, f"k{offset}", src, SUM, TS + 10.0 * offset))
    return join


def test_pending_records_are_reported_by_the_path_still_to_write_them() -> None:
    horizon = Horizon(as_of_ms=TS + 1500.0, grace_ms=5000.0)
    report = stream_report("rep", "r1", _join().result(horizon), Thresholds(), "now").as_json()
    assert report["verdict"] == "pass", report["reasons"]
    assert (report["matched"], report["missing_in_ring"], report["missing_in_legacy"]) == (1, 0, 0)
    assert report["pending"] == {
        "in_ring": 1,
        "in_legacy": 1,
        "grace_s": 5.0,
        "samples": {
            "in_ring": [{"key": "k1", "src": {"t": "t", "p": 0, "o": 1}, "legacy_sum": SUM}],
            "in_legacy": [{"key": "k2", "src": {"t": "t", "p": 0, "o": 2}, "ring_sum": SUM}],
        },
    }


def test_a_read_that_waited_has_nothing_pending() -> None:
    report = stream_report("rep", "r1", _join().result(), Thresholds(), "now").as_json()
    assert report["verdict"] == "fail"
    assert (report["missing_in_ring"], report["missing_in_legacy"]) == (1, 1)
    assert report["pending"] == {
        "in_ring": 0,
        "in_legacy": 0,
        "grace_s": None,
        "samples": {"in_ring": [], "in_legacy": []},
    }
