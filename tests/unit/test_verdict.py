"""The verdict of a stream diff: each threshold, "no limit", and the reasons' wording; and
a failed verdict as the error it raises."""

from __future__ import annotations

import dataclasses
import re

import pytest

from canary.core.join import JoinResult
from canary.core.sketch import LatencySketch
from canary.core.stats import Paired
from canary.core.verdict import Thresholds, failure, judge, require_pass
from canary.errors import EXIT_FAILED, VerificationFailed

NO_LIMITS = Thresholds(
    max_mismatched=-1,
    max_missing_in_ring=-1,
    max_missing_in_legacy=-1,
    max_duplicates=-1,
    max_invalid=-1,
    max_p99_gap_ms=-1.0,
)
NO_PAIRS = Paired(0, 0.0, 0.0, 0.0, (0.0, 0.0))


def result(**counts: object) -> JoinResult:
    """A clean run of 100 records on each path, with ``counts`` overriding fields."""
    fields: dict[str, object] = {
        "records": (100, 100),
        "matched": 100,
        "mismatched": 0,
        "missing_in_ring": 0,
        "missing_in_legacy": 0,
        "duplicates": (0, 0),
        "invalid": 0,
        "sketches": (LatencySketch(), LatencySketch()),
        "paired": [],
        "paired_count": 0,
        "mismatched_samples": [],
        "missing_in_ring_samples": [],
        "missing_in_legacy_samples": [],
    }
    fields.update(counts)
    return JoinResult(**fields)  # type: ignore[arg-type]


def test_clean_run_passes_with_default_limits() -> None:
    assert judge(result(), NO_PAIRS, 0.0, Thresholds()) == ("pass", [])


# (field in the result, value, threshold field, words of the reason)
CASES = [
    ("mismatched", 3, "max_mismatched", "3 mismatched records (limit {limit})"),
    ("missing_in_ring", 4, "max_missing_in_ring", "4 records missing in ring (limit {limit})"),
    (
        "missing_in_legacy",
        5,
        "max_missing_in_legacy",
        "5 records missing in legacy (limit {limit})",
    ),
    ("duplicates", (2, 5), "max_duplicates", "7 duplicate events (limit {limit})"),
    ("invalid", 6, "max_invalid", "6 invalid events (limit {limit})"),
]


@pytest.mark.parametrize(("field", "value", "limit_field", "reason"), CASES)
def test_each_count_threshold(field: str, value: object, limit_field: str, reason: str) -> None:
    counted = result(**{field: value})
    total = sum(value) if isinstance(value, tuple) else value
    assert isinstance(total, int)
    for limit in (0, total - 1):
        limits = dataclasses.replace(NO_LIMITS, **{limit_field: limit})
        assert judge(counted, NO_PAIRS, 0.0, limits) == ("fail", [reason.format(limit=limit)])
    for limit in (total, total + 1, 10**6):
        limits = dataclasses.replace(NO_LIMITS, **{limit_field: limit})
        assert judge(counted, NO_PAIRS, 0.0, limits) == ("pass", [])
    # A negative limit is no limit at all.
    limits = dataclasses.replace(NO_LIMITS, **{limit_field: -1})
    assert judge(counted, NO_PAIRS, 0.0, limits) == ("pass", [])


def test_every_broken_limit_is_a_reason() -> None:
    counted = result(
        mismatched=1, missing_in_ring=2, missing_in_legacy=3, duplicates=(1, 1), invalid=1
    )
    limits = Thresholds(max_duplicates=0, max_invalid=0)
    verdict, reasons = judge(counted, NO_PAIRS, 0.0, limits)
    assert verdict == "fail"
    assert len(reasons) == 5


def test_large_counts_read_with_separators() -> None:
    verdict, reasons = judge(
        result(mismatched=12_345), NO_PAIRS, 0.0, Thresholds(max_mismatched=1_000)
    )
    assert verdict == "fail"
    assert reasons == ["12,345 mismatched records (limit 1,000)"]


def test_default_limits_ignore_duplicates_and_invalid_events() -> None:
    counted = result(duplicates=(500, 700), invalid=9)
    assert judge(counted, NO_PAIRS, 0.0, Thresholds()) == ("pass", [])


def test_zero_records_fail_with_a_reason() -> None:
    empty = result(records=(0, 0), matched=0)
    verdict, reasons = judge(empty, NO_PAIRS, 0.0, NO_LIMITS)
    assert verdict == "fail"
    assert len(reasons) == 1
    assert "nothing was verified" in reasons[0]


def test_records_on_one_path_only_are_not_zero_records() -> None:
    one_sided = result(records=(0, 10), matched=0, missing_in_legacy=10)
    assert judge(one_sided, NO_PAIRS, 0.0, NO_LIMITS) == ("pass", [])


def test_pending_records_are_not_judged() -> None:
    waiting = result(records=(100, 97), matched=97, pending_in_ring=3)
    assert judge(waiting, NO_PAIRS, 0.0, Thresholds()) == ("pass", [])


def test_nothing_but_pending_records_fails_as_nothing_judged() -> None:
    waiting = result(records=(4, 2), matched=0, pending_in_ring=4, pending_in_legacy=2)
    verdict, reasons = judge(waiting, NO_PAIRS, 0.0, NO_LIMITS)
    assert verdict == "fail"
    assert reasons == ["no record could be judged yet: all 6 are still within the grace period"]


# --- the P99 gap -----------------------------------------------------------------------------


def _p99_reason(reasons: list[str]) -> str:
    [reason] = [r for r in reasons if "P99" in r]
    return reason


def test_p99_gap_within_the_limit_passes() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_p99_gap_ms=5.0)
    pairs = Paired(1000, 1.0, 0.4, 5.0, (4.0, 6.0))
    assert judge(result(), pairs, 5.0, limits) == ("pass", [])
    assert judge(result(), pairs, -30.0, limits) == ("pass", [])


def test_p99_gap_with_no_limit_passes() -> None:
    pairs = Paired(1000, 50.0, 0.0, 500.0, (450.0, 550.0))
    assert judge(result(), pairs, 500.0, NO_LIMITS) == ("pass", [])


def test_p99_gap_beyond_the_limit_states_the_ci_and_certainty() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_p99_gap_ms=5.0)
    pairs = Paired(12_000, 3.0, 0.2, 9.26, (7.04, 11.58))
    verdict, reasons = judge(result(), pairs, 9.26, limits)
    assert verdict == "fail"
    reason = _p99_reason(reasons)
    assert "9.3 ms" in reason
    assert "limit 5 ms" in reason
    assert re.search(r"95 % CI 7\.0 to 11\.6 ms", reason), reason
    assert "12,000 records both paths wrote" in reason
    assert "whole 95 % interval is above the limit" in reason


def test_p99_gap_beyond_the_limit_but_within_noise_says_so() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_p99_gap_ms=5.0)
    pairs = Paired(300, 1.0, 0.4, 6.0, (2.5, 9.5))
    verdict, reasons = judge(result(), pairs, 6.0, limits)
    assert verdict == "fail"
    reason = _p99_reason(reasons)
    assert "95 % CI 2.5 to 9.5 ms" in reason
    assert "may be noise" in reason
    assert "whole 95 % interval" not in reason


def test_zero_limit_on_the_gap_fails_any_slower_ring() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_p99_gap_ms=0.0)
    pairs = Paired(100, 0.1, 0.5, 0.1, (0.05, 0.2))
    verdict, reasons = judge(result(), pairs, 0.1, limits)
    assert verdict == "fail"
    assert "whole 95 % interval is above the limit" in _p99_reason(reasons)


# --- a failed verdict as an error -------------------------------------------------------------


def test_a_passing_report_is_no_failure() -> None:
    report = {"verdict": "pass", "reasons": []}
    assert failure(report) is None
    require_pass(report)


def test_a_failed_report_is_a_verification_failure_naming_its_reasons_on_one_line() -> None:
    report = {
        "verdict": "fail",
        "reasons": ["3 mismatched records (limit 0)", "a\nwrapped  reason"],
    }
    error = failure(report)
    assert isinstance(error, VerificationFailed)
    assert error.exit_code == EXIT_FAILED
    assert str(error) == "3 mismatched records (limit 0); a wrapped reason"
    with pytest.raises(VerificationFailed, match=r"^job-1: 3 mismatched records"):
        require_pass(report, subject="job-1")


def test_a_failed_report_without_reasons_names_its_verdict() -> None:
    assert str(failure({"verdict": "fail"})) == "verdict fail"
    assert str(failure({"verdict": "error", "reasons": []}, subject="j")) == "j: verdict error"
