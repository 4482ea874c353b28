"""`canary verify`'s gate: one verdict and the worst exit code over both checks, the
explanation of how they disagree, and the report as JSON, text and HTML."""

from __future__ import annotations

from typing import Any

import pytest

from canary.core.gate import Check, VerifyReport
from canary.errors import ServiceUnavailable, UsageError, VerificationFailed
from canary.render import html, text


def _stream(verdict: str, **counts: int) -> dict[str, Any]:
    reasons = [f"{n} {name.replace('_', ' ')} (limit 0)" for name, n in counts.items() if n]
    return {
        "kind": "stream",
        "run_id": "r1",
        "verdict": verdict,
        "reasons": reasons if verdict == "fail" else [],
        "mismatched": counts.get("mismatched", 0),
        "missing_in_ring": counts.get("missing_in_ring", 0),
        "missing_in_legacy": counts.get("missing_in_legacy", 0),
    }


def _tables(verdict: str, columns: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "kind": "tables",
        "verdict": verdict,
        "reasons": ["2 rows differ (note: 2)"] if verdict == "fail" else [],
        "different_columns": columns or {},
    }


def _gate(stream: Check, tables: Check) -> VerifyReport:
    return VerifyReport("verify-r1-1", "r1", "2026-01-01T00:00:00+00:00", stream, tables)


@pytest.mark.parametrize(
    ("stream", "tables", "verdict", "code"),
    [
        ("pass", "pass", "pass", 0),
        ("pass", "fail", "fail", 1),
        ("fail", "pass", "fail", 1),
        ("fail", "fail", "fail", 1),
    ],
)
def test_the_gate_passes_only_when_both_checks_pass(
    stream: str, tables: str, verdict: str, code: int
) -> None:
    gate = _gate(
        Check("stream", report=_stream(stream, mismatched=int(stream == "fail"))),
        Check("tables", report=_tables(tables, {"note": 2})),
    )
    assert (gate.verdict, gate.exit_code) == (verdict, code)
    assert gate.worst_error is None
    body = gate.as_json()
    assert (body["kind"], body["verdict"], body["exit_code"]) == ("verify", verdict, code)
    assert body["checks"]["stream"] == {
        "verdict": stream,
        "exit_code": int(stream == "fail"),
        "error": None,
    }
    assert body["stream"]["kind"] == "stream"
    assert body["tables"]["kind"] == "tables"
    expected = [f"stream: {r}" for r in body["stream"]["reasons"]]
    expected += [f"tables: {r}" for r in body["tables"]["reasons"]]
    assert body["reasons"] == expected


def test_the_worst_exit_code_wins_and_names_the_error_behind_it() -> None:
    unreachable = ServiceUnavailable("Kafka", "127.0.0.1:1", "connection refused")
    gate = _gate(Check("stream", error=unreachable), Check("tables", report=_tables("fail")))
    assert (gate.verdict, gate.exit_code) == ("fail", 3)
    assert gate.worst_error is unreachable
    assert gate.reasons == [
        f"stream: could not run: {unreachable}",
        "tables: 2 rows differ (note: 2)",
    ]
    body = gate.as_json()
    assert body["stream"] is None
    assert body["checks"]["stream"] == {
        "verdict": "error",
        "exit_code": 3,
        "error": str(unreachable),
    }

    usage = UsageError("the ring path has never committed on topic 'orders'")
    both = _gate(Check("stream", error=unreachable), Check("tables", error=usage))
    assert (both.verdict, both.exit_code, both.worst_error) == ("error", 3, unreachable)
    only_usage = _gate(Check("stream", report=_stream("pass")), Check("tables", error=usage))
    assert (only_usage.verdict, only_usage.exit_code) == ("error", 2)
    assert "tables check could not run" in only_usage.explanation


def test_the_gate_amounts_to_the_error_of_its_exit_code() -> None:
    unreachable = ServiceUnavailable("PostgreSQL", "127.0.0.1:5432")
    passed = Check("tables", report=_tables("pass"))
    assert _gate(Check("stream", report=_stream("pass")), passed).failure() is None
    assert _gate(Check("stream", error=unreachable), passed).failure() is unreachable
    failed = _gate(Check("stream", report=_stream("fail", mismatched=2)), passed).failure()
    assert isinstance(failed, VerificationFailed)
    assert failed.exit_code == 1
    assert "stream: 2 mismatched (limit 0)" in str(failed)


def test_stream_pass_with_tables_fail_points_at_the_database_side() -> None:
    gate = _gate(
        Check("stream", report=_stream("pass")),
        Check("tables", report=_tables("fail", {"note": 2, "status": 1})),
    )
    explanation = gate.explanation
    assert "database side" in explanation
    for cause in ("trigger", "tie-break", "truncated", "collation"):
        assert cause in explanation
    assert "columns note, status" in explanation
    assert "not at the handlers" in explanation


def test_stream_fail_with_tables_pass_says_the_rows_agree() -> None:
    gate = _gate(
        Check("stream", report=_stream("fail", missing_in_ring=3)),
        Check("tables", report=_tables("pass")),
    )
    assert "3 missing in ring" in gate.explanation
    assert "hold the same rows" in gate.explanation
    latency = {**_stream("pass"), "verdict": "fail", "reasons": ["ring P99 latency exceeds"]}
    slow = _gate(Check("stream", report=latency), Check("tables", report=_tables("pass")))
    assert "ring P99 latency exceeds" in slow.explanation
    assert "not about the data" in slow.explanation


def test_the_verify_report_renders_both_checks() -> None:
    tables = {
        **_tables("fail", {"note": 2}),
        "id": "tables-orders-1",
        "mysql_table": "orders",
        "pg_table": "orders",
        "key": ["order_id"],
        "columns": ["note"],
        "rows": {"mysql": 5, "postgres": 5},
        "only_in_mysql": 0,
        "only_in_postgres": 0,
        "different": 2,
        "cut": {"0": 12, "1": 0},
        "in_flight": 4,
        "consistent": {"topic": "orders"},
        "samples": {"only_in_mysql": [], "only_in_postgres": [], "different": [], "in_flight": [7]},
    }
    unreachable = ServiceUnavailable("Kafka", "127.0.0.1:1")
    body = _gate(Check("stream", error=unreachable), Check("tables", report=tables)).as_json()
    shown = text.render(body)
    assert "canary verify  run r1" in shown
    assert "verdict: FAIL (exit code 3)" in shown
    assert "consistent at the cut of orders (partition:offset): 0:12, 1:0" in shown
    assert "4 keys in flight" in shown
    assert f"error: {unreachable}" in shown
    page = html.render(body)
    assert "canary verify — run r1" in page
    assert "4 keys in flight" in page
    assert "Kafka is not reachable at 127.0.0.1:1" in page
