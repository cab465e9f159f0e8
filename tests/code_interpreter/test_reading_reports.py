"""How the server reads a test run's report: bounded, whatever the report holds."""

from __future__ import annotations

import json
from typing import Any

from mcp_servers.code_interpreter._protocol import RunOutcome
from mcp_servers.code_interpreter._service import (
    MAX_LISTED_TESTS,
    MAX_REPORTED_TESTS,
    read_test_outcome,
)

FILE = "test_solution.py"


def report(records: list[dict[str, Any]]) -> RunOutcome:
    return RunOutcome(exit_code=1, records=[*records, {"t": "end", "exitstatus": 1}])


def test_a_reported_duration_that_is_no_finite_number_reads_as_zero() -> None:
    ids = [f"{FILE}::test_{n}" for n in range(3)]
    durations = [10**400, float("nan"), float("inf")]
    outcome = report(
        [{"t": "collected", "ids": ids}]
        + [
            {"t": "test", "id": i, "outcome": "failed", "duration_ms": d, "message": ""}
            for i, d in zip(ids, durations, strict=True)
        ]
    )
    result = read_test_outcome(outcome, "ok", "", "")
    assert [t.duration_ms for t in result.tests] == [0.0, 0.0, 0.0]
    assert result.failed == 3


def test_a_report_of_more_tests_than_a_run_may_have_is_untrusted_and_read_quickly() -> None:
    ids = [f"{FILE}::test_{n}" for n in range(MAX_REPORTED_TESTS + 1)]
    result = read_test_outcome(report([{"t": "collected", "ids": ids}]), "ok", "", "")
    assert (result.status, result.passed, result.total) == ("error", 0, 1)
    assert f"more than the {MAX_REPORTED_TESTS}" in result.output


def test_skipped_tests_never_push_a_failure_out_of_the_listed_tests() -> None:
    ids = [f"{FILE}::test_{n}" for n in range(MAX_LISTED_TESTS + 200)]
    records: list[dict[str, Any]] = [{"t": "collected", "ids": ids}]
    records += [{"t": "test", "id": i, "outcome": "skipped"} for i in ids[:-1]]
    records.append({"t": "test", "id": ids[-1], "outcome": "failed", "message": "late"})
    result = read_test_outcome(report(records), "ok", "", "")
    assert (result.total, result.failed, len(result.tests)) == (len(ids), 1, MAX_LISTED_TESTS)
    assert result.tests[-1].name == ids[-1] and result.tests[-1].outcome == "failed"


def test_an_untrusted_report_with_many_long_ids_and_reasons_gives_a_small_result() -> None:
    ids = [f"{FILE}::test_" + "x" * 2000 + str(n) for n in range(1500)]
    outcome = report([{"t": "collected", "ids": ids}])
    outcome.records[-1]["tampered"] = ["a reason " + "y" * 1000 for _ in range(30)]
    result = read_test_outcome(outcome, "ok", "", "")
    assert (result.status, result.passed, len(result.tests)) == ("error", 0, MAX_LISTED_TESTS)
    assert len(json.dumps(result.model_dump())) < 1_500_000
    assert "; and 10 more" in result.output


def test_a_test_id_longer_than_a_report_may_hold_is_untrusted() -> None:
    ids = [f"{FILE}::test_" + "x" * 10_000]
    result = read_test_outcome(report([{"t": "collected", "ids": ids}]), "ok", "", "")
    assert (result.status, result.passed) == ("error", 0)
    assert "not text of at most 10000 characters" in result.output
