"""The server's own parse of a run's sources, used to check what the harness reported."""

from __future__ import annotations

import anyio
import pytest

from mcp_servers.code_interpreter._testids import (
    IN_PROCESS_LIMIT,
    SOLUTION,
    TEST_FILE,
    ParseLimits,
    check_report,
    expected_tests,
)
from tests.code_interpreter.conftest import parser_processes

pytestmark = pytest.mark.anyio

LIMITS = ParseLimits(memory_bytes=512 << 20, seconds=60)


async def test_large_sources_are_parsed_in_a_separate_interpreter_with_the_same_result() -> None:
    code = "# padding\n" * (IN_PROCESS_LIMIT // 10 + 1) + "def test_x():\n    assert False\n"
    expected = await expected_tests(code, "", LIMITS)
    assert expected.unverifiable is None
    assert expected.files[SOLUTION].required == {"test_x"}
    assert check_report(expected, ["solution.py::test_x"], [], []) == []
    assert check_report(expected, ["solution.py::test_y"], [], [])


async def test_a_skipped_or_broken_file_must_report_no_tests_but_need_not_report_its_own() -> None:
    expected = await expected_tests(
        "def add(a, b):\n    return a + b\n", "def test_add():\n    pass\n", LIMITS
    )
    assert expected.files[TEST_FILE].required == {"test_add"}
    assert check_report(expected, [], [], [TEST_FILE]) == []
    assert check_report(expected, [], ["test_solution.py"], []) == []
    assert check_report(expected, ["test_solution.py::test_add"], [], [TEST_FILE])
    assert check_report(expected, [], [], [])  # silently missing: untrusted


async def test_a_source_that_cannot_be_parsed_within_the_runs_memory_limit_verifies_no_report() -> (
    None
):
    code = "x = [" + "1," * 1_000_000 + "]\ndef test_x():\n    pass\n"
    expected = await expected_tests(code, "", ParseLimits(memory_bytes=32 << 20, seconds=60))
    assert expected.unverifiable is not None or not expected.files[SOLUTION].parsed
    assert check_report(expected, ["solution.py::test_x"], [], [])


async def test_a_parse_that_outlasts_the_runs_time_limit_verifies_no_report() -> None:
    code = "# padding\n" * (IN_PROCESS_LIMIT // 10 + 1) + "def test_x():\n    pass\n"
    expected = await expected_tests(code, "", ParseLimits(memory_bytes=512 << 20, seconds=0.001))
    assert expected.unverifiable is not None
    assert "time limit" in expected.unverifiable
    assert check_report(expected, ["solution.py::test_x"], [], [])


async def test_a_decorator_too_deep_to_unparse_leaves_its_file_unparsed_instead_of_raising() -> (
    None
):
    tests = "import pytest\n@" + "pytest." * 400 + "mark\ndef test_a():\n    pass\n"
    expected = await expected_tests("def add(a, b):\n    return a + b\n", tests, LIMITS)
    assert not expected.files[TEST_FILE].parsed
    assert expected.needs_collect_error == (TEST_FILE,)


async def test_an_honest_large_source_is_verified_well_within_a_second() -> None:
    code = "# padding\n" * (IN_PROCESS_LIMIT // 10 + 1) + "def test_x():\n    pass\n"
    expected = await expected_tests(code, "", ParseLimits(memory_bytes=512 << 20, seconds=1.0))
    assert expected.unverifiable is None
    assert expected.files[SOLUTION].required == {"test_x"}


async def test_a_parse_cancelled_with_its_call_leaves_no_parser_process_behind() -> None:
    # A million literals: a parse of a few tenths of a second in the parser's process.
    code = "text = (" + '"ab" ' * 1_000_000 + ")\n"
    with anyio.move_on_after(0.15):
        await expected_tests(code, "", LIMITS)
    assert parser_processes() == []
