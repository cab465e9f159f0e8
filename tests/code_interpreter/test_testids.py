"""The server's own parse of a run's sources, used to check what the harness reported."""

from __future__ import annotations

from mcp_servers.code_interpreter._testids import (
    IN_PROCESS_LIMIT,
    SOLUTION,
    TEST_FILE,
    check_report,
    expected_tests_sync,
)


def test_large_sources_are_parsed_in_a_separate_interpreter_with_the_same_result() -> None:
    code = "# padding\n" * (IN_PROCESS_LIMIT // 10 + 1) + "def test_x():\n    assert False\n"
    expected = expected_tests_sync(code, "")
    assert expected.unverifiable is None
    assert expected.files[SOLUTION].required == {"test_x"}
    assert check_report(expected, ["solution.py::test_x"], [], []) == []
    assert check_report(expected, ["solution.py::test_y"], [], [])


def test_a_skipped_or_broken_file_must_report_no_tests_but_need_not_report_its_own() -> None:
    expected = expected_tests_sync(
        "def add(a, b):\n    return a + b\n", "def test_add():\n    pass\n"
    )
    assert expected.files[TEST_FILE].required == {"test_add"}
    assert check_report(expected, [], [], [TEST_FILE]) == []
    assert check_report(expected, [], ["test_solution.py"], []) == []
    assert check_report(expected, ["test_solution.py::test_add"], [], [TEST_FILE])
    assert check_report(expected, [], [], [])  # silently missing: untrusted
