"""The server's own parse of a run's sources, used to check what the harness reported."""

from __future__ import annotations

from mcp_servers.code_interpreter._testids import (
    IN_PROCESS_LIMIT,
    SOLUTION,
    TEST_FILE,
    ParseLimits,
    check_report,
    expected_tests_sync,
)

LIMITS = ParseLimits(memory_bytes=512 << 20, seconds=60)


def test_large_sources_are_parsed_in_a_separate_interpreter_with_the_same_result() -> None:
    code = "# padding\n" * (IN_PROCESS_LIMIT // 10 + 1) + "def test_x():\n    assert False\n"
    expected = expected_tests_sync(code, "", LIMITS)
    assert expected.unverifiable is None
    assert expected.files[SOLUTION].required == {"test_x"}
    assert check_report(expected, ["solution.py::test_x"], [], []) == []
    assert check_report(expected, ["solution.py::test_y"], [], [])


def test_a_skipped_or_broken_file_must_report_no_tests_but_need_not_report_its_own() -> None:
    expected = expected_tests_sync(
        "def add(a, b):\n    return a + b\n", "def test_add():\n    pass\n", LIMITS
    )
    assert expected.files[TEST_FILE].required == {"test_add"}
    assert check_report(expected, [], [], [TEST_FILE]) == []
    assert check_report(expected, [], ["test_solution.py"], []) == []
    assert check_report(expected, ["test_solution.py::test_add"], [], [TEST_FILE])
    assert check_report(expected, [], [], [])  # silently missing: untrusted


def test_a_source_that_cannot_be_parsed_within_the_runs_memory_limit_verifies_no_report() -> None:
    code = "x = [" + "1," * 1_000_000 + "]\ndef test_x():\n    pass\n"
    expected = expected_tests_sync(code, "", ParseLimits(memory_bytes=32 << 20, seconds=60))
    assert expected.unverifiable is not None or not expected.files[SOLUTION].parsed
    assert check_report(expected, ["solution.py::test_x"], [], [])


def test_a_parse_that_outlasts_the_runs_time_limit_verifies_no_report() -> None:
    code = "# padding\n" * (IN_PROCESS_LIMIT // 10 + 1) + "def test_x():\n    pass\n"
    expected = expected_tests_sync(code, "", ParseLimits(memory_bytes=512 << 20, seconds=0.001))
    assert expected.unverifiable is not None
    assert "time limit" in expected.unverifiable
    assert check_report(expected, ["solution.py::test_x"], [], [])


def test_a_decorator_too_deep_to_unparse_leaves_its_file_unparsed_instead_of_raising() -> None:
    tests = "import pytest\n@" + "pytest." * 400 + "mark\ndef test_a():\n    pass\n"
    expected = expected_tests_sync("def add(a, b):\n    return a + b\n", tests, LIMITS)
    assert not expected.files[TEST_FILE].parsed
    assert expected.needs_collect_error == (TEST_FILE,)
