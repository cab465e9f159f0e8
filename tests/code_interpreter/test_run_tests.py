from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from mcp_servers.code_interpreter._harness import TESTS_ROOT
from mcp_servers.code_interpreter._service import MAX_LISTED_TESTS
from tests.code_interpreter.conftest import OpenClient, call

pytestmark = [pytest.mark.anyio, pytest.mark.bwrap]

CODE = "def add(a, b):\n    return a + b\n"


def outcomes(result: dict[str, Any]) -> dict[str, str]:
    return {t["name"].split("::")[-1]: t["outcome"] for t in result["tests"]}


async def test_each_test_is_counted_with_its_outcome_and_message(client: Client) -> None:
    tests = (
        "import pytest\n"
        "def test_adds():\n    assert add(2, 3) == 5\n"
        "def test_wrong():\n    assert add(2, 2) == 5\n"
        "@pytest.mark.skip(reason='not today')\ndef test_skipped():\n    pass\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('fixture broke')\n"
        "def test_errors(broken):\n    pass\n"
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_param(n):\n    assert add(n, 0) == n\n"
    )
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert result["status"] == "ok"
    assert (
        result["total"],
        result["passed"],
        result["failed"],
        result["errors"],
        result["skipped"],
    ) == (
        6,
        3,
        1,
        1,
        1,
    )
    assert result["success_rate"] == pytest.approx(3 / 5)
    assert outcomes(result) == {
        "test_adds": "passed",
        "test_wrong": "failed",
        "test_skipped": "skipped",
        "test_errors": "error",
        "test_param[1]": "passed",
        "test_param[2]": "passed",
    }
    by_name = {t["name"].split("::")[-1]: t for t in result["tests"]}
    assert "assert 4 == 5" in by_name["test_wrong"]["message"]
    assert "fixture broke" in by_name["test_errors"]["message"]
    assert by_name["test_skipped"]["message"] == "not today"
    assert by_name["test_adds"]["name"] == "test_solution.py::test_adds"
    assert "1 failed, 3 passed, 1 skipped, 1 error" in result["output"]


async def test_tests_may_live_in_the_code_itself(client: Client) -> None:
    result = await call(
        client, "run_tests", code=CODE + "def test_inline():\n    assert add(1, 1) == 2\n"
    )
    assert (result["status"], result["total"], result["passed"], result["success_rate"]) == (
        "ok",
        1,
        1,
        1.0,
    )
    assert result["tests"][0]["name"] == "solution.py::test_inline"


async def test_unittest_test_cases_run_too(client: Client) -> None:
    tests = "import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
    result = await call(client, "run_tests", code=CODE, tests=tests, framework="unittest")
    assert (result["status"], result["passed"]) == ("ok", 1)


async def test_zero_tests_collected_is_an_error_never_a_success(client: Client) -> None:
    result = await call(client, "run_tests", code=CODE, tests="def helper():\n    return 1\n")
    assert (result["status"], result["total"], result["success_rate"]) == ("error", 0, 0.0)
    assert "no tests were collected" in result["output"]


async def test_a_collection_error_is_an_error(client: Client) -> None:
    result = await call(
        client, "run_tests", code="def broken(:\n", tests="def test_x():\n    pass\n"
    )
    assert result["status"] == "error"
    assert result["passed"] == 0
    assert any("SyntaxError" in t["message"] for t in result["tests"] if t["outcome"] == "error")


async def test_a_process_exit_mid_run_counts_the_unreported_tests_as_errors(client: Client) -> None:
    tests = (
        "import os\n"
        "def test_a():\n    pass\n"
        "def test_b():\n    assert False\n"
        "def test_c():\n    os._exit(0)\n"
        "def test_d():\n    pass\n"
    )
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert result["status"] == "error"
    assert outcomes(result) == {
        "test_a": "passed",
        "test_b": "failed",
        "test_c": "error",
        "test_d": "error",
    }
    assert (result["passed"], result["success_rate"]) == (1, 0.25)
    assert "did not finish" in result["tests"][2]["message"]


async def test_a_conftest_written_by_the_code_is_ignored(client: Client) -> None:
    code = (
        "import os\n"
        "open(os.path.join(os.path.dirname(__file__), 'conftest.py'), 'w').write(\n"
        "    'import pytest\\n'\n"
        "    '@pytest.hookimpl(hookwrapper=True)\\n'\n"
        "    'def pytest_runtest_makereport(item, call):\\n'\n"
        "    '    outcome = yield\\n'\n"
        "    '    outcome.get_result().outcome = \"passed\"\\n')\n"
    )
    result = await call(
        client, "run_tests", code=code, tests="def test_fails():\n    assert False\n"
    )
    assert (result["passed"], result["failed"]) == (0, 1)


async def test_a_plugin_registered_by_the_code_makes_every_result_untrusted(client: Client) -> None:
    tests = (
        "import pytest, types\n"
        "forger = types.ModuleType('forger')\n"
        "exec('import pytest\\n@pytest.hookimpl(wrapper=True)\\ndef pytest_runtest_makereport(item, call):\\n"
        '    report = yield\\n    report.outcome = "passed"\\n    return report\\n\', forger.__dict__)\n'
        "def test_a_registers(request):\n    request.config.pluginmanager.register(forger, 'forger')\n"
        "def test_b_fails():\n    assert False\n"
    )
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert (result["status"], result["passed"], result["errors"]) == ("error", 0, 2)
    assert "plugin was registered during the run: 'forger'" in result["output"]
    assert all("not trusted" in t["message"] for t in result["tests"])


async def test_code_that_replaces_pytest_internals_cannot_change_the_tests_outcome(
    client: Client,
) -> None:
    code = (
        "import _pytest.reports\n"
        "original = _pytest.reports.TestReport.from_item_and_call.__func__\n"
        "def forged(cls, item, call):\n"
        "    report = original(cls, item, call)\n"
        "    report.outcome, report.longrepr = 'passed', None\n"
        "    return report\n"
        "_pytest.reports.TestReport.from_item_and_call = classmethod(forged)\n"
    )
    result = await call(
        client, "run_tests", code=code, tests="def test_fails():\n    assert False\n"
    )
    # The code runs in its own process: its pytest is not the one running the tests.
    assert (result["passed"], result["failed"]) == (0, 1)
    assert [t["outcome"] for t in result["tests"]] == ["failed"]


async def test_a_test_run_that_hangs_ends_in_timeout_with_the_rest_as_errors(
    open_client: OpenClient,
) -> None:
    tests = "import time\ndef test_quick():\n    pass\ndef test_hangs():\n    time.sleep(60)\ndef test_after():\n    pass\n"
    async with open_client() as client:
        result = await call(client, "run_tests", code=CODE, tests=tests, timeout_seconds=2)
    assert result["status"] == "timeout"
    assert outcomes(result) == {
        "test_quick": "passed",
        "test_hangs": "error",
        "test_after": "error",
    }
    assert "time limit" in result["tests"][1]["message"]


async def test_only_pytest_is_accepted(client: Client) -> None:
    result = await client.call_tool("run_tests", {"code": CODE, "framework": "nose"})
    assert result.is_error
    assert "pytest" in str(result.content)


async def test_honest_runs_of_every_test_shape_match_the_tests_parsed_from_the_sources(
    client: Client,
) -> None:
    # The server cross-checks the reported tests against its own parse of code and tests:
    # classes, parametrisation, unittest cases, inherited and imported tests, tests in the
    # code and a module-level skip must all still count as an honest run.
    code = (
        "import unittest\n"
        "def add(a, b):\n    return a + b\n"
        "def test_in_the_code():\n    assert add(1, 1) == 2\n"
        "class CaseFromCode(unittest.TestCase):\n"
        "    def test_case(self):\n        self.assertEqual(add(1, 2), 3)\n"
    )
    tests = (
        "import pytest\n"
        "class Base:\n    def test_inherited(self):\n        assert add(2, 2) == 4\n"
        "class TestClass:\n"
        "    @pytest.mark.parametrize('n', [1, 2, 'a::b[c]'])\n"
        "    def test_param(self, n):\n        assert n\n"
        "    class TestNested:\n        def test_deep(self):\n            assert True\n"
        "class TestChild(Base):\n    pass\n"
        "def test_made():\n    assert True\n"
        "test_alias = test_made\n"
    )
    result = await call(client, "run_tests", code=code, tests=tests)
    assert result["status"] == "ok", result["output"]
    assert result["failed"] == result["errors"] == 0, result["output"]
    assert result["passed"] == result["total"] == 7, result["output"]
    # With tests given, the run is about them: the code's own tests are not collected.
    assert {t["name"].split("::")[0] for t in result["tests"]} == {"test_solution.py"}
    assert "tampered" not in result["output"]

    own = await call(client, "run_tests", code=code, tests="")
    assert own["status"] == "ok", own["output"]
    assert {t["name"] for t in own["tests"]} == {
        "solution.py::test_in_the_code",
        "solution.py::CaseFromCode::test_case",
    }, own["output"]
    assert own["passed"] == own["total"] == 2, own["output"]

    skipping = "import pytest\npytest.skip('later', allow_module_level=True)\n"
    skipped = await call(
        client, "run_tests", code=code, tests=skipping + "def test_x():\n    pass\n"
    )
    assert "tampered" not in skipped["output"], skipped["output"]
    assert "trusted" not in skipped["output"], skipped["output"]
    assert skipped["passed"] == skipped["failed"] == 0, skipped["output"]


async def test_a_syntax_error_is_reported_as_a_collection_error_not_as_tampering(
    client: Client,
) -> None:
    result = await call(client, "run_tests", code=CODE, tests="def test_x(:\n    pass\n")
    assert result["status"] == "error"
    assert result["passed"] == 0
    assert "tampered" not in result["output"], result["output"]
    [error] = [t for t in result["tests"] if t["outcome"] == "error"]
    assert error["message"].startswith(f"{TESTS_ROOT}/test_solution.py:1: "), error


async def test_a_null_byte_in_the_tests_is_a_collection_error_of_the_tests_file(
    client: Client,
) -> None:
    result = await call(client, "run_tests", code=CODE, tests="def test_x():\n    pass\n\0\n")
    assert (result["status"], result["passed"]) == ("error", 0), result["output"]
    [error] = [t for t in result["tests"] if t["outcome"] == "error"]
    assert error["message"].startswith(f"{TESTS_ROOT}/test_solution.py: "), error
    assert "null bytes" in error["message"], error


async def test_tests_too_deeply_nested_to_compile_are_a_collection_error_not_tampering(
    client: Client,
) -> None:
    tests = "def test_x():\n    assert " + "+".join(["1"] * 20_000) + "\n"
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert (result["status"], result["passed"]) == ("error", 0), result["output"]
    assert "tampered" not in result["output"], result["output"]
    assert "RecursionError" in result["output"], result["output"]


async def test_an_assertion_that_is_always_true_gets_pytests_warning(client: Client) -> None:
    tests = "def test_x():\n    assert (1 == 2, 'never checked')\n"
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert (result["status"], result["passed"]) == ("ok", 1), result["output"]
    assert "PytestAssertRewriteWarning: assertion is always true" in result["output"]


async def test_a_run_of_more_tests_than_a_result_lists_counts_them_all_and_lists_every_failure(
    client: Client,
) -> None:
    tests = (
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(1200))\n"
        "def test_n(n):\n    assert n % 400 != 7\n"
    )
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert (result["status"], result["total"], result["passed"], result["failed"]) == (
        "ok",
        1200,
        1197,
        3,
    ), result["output"][-2000:]
    listed = [
        t["name"].removeprefix("test_solution.py::test_n[").rstrip("]") for t in result["tests"]
    ]
    assert len(listed) == MAX_LISTED_TESTS
    failures = [t["name"] for t in result["tests"] if t["outcome"] == "failed"]
    assert failures == [f"test_solution.py::test_n[{n}]" for n in (7, 407, 807)]
    assert [int(n) for n in listed] == sorted(int(n) for n in listed), "listed in run order"
    assert "1200 tests ran; the result lists 1000 of them" in result["output"]


async def test_a_forged_report_of_many_long_test_ids_gives_a_bounded_result(
    client: Client,
) -> None:
    # The code's own tests are reported by the code's process: a hostile one can claim any
    # ids. The result must stay small however many and however long they are.
    code = (
        "import gc, sys\n"
        "rpc = sys.modules['promptcraft_sandbox_rpc']\n"
        "channel = [o for o in gc.get_objects() if isinstance(o, rpc.Channel)][0]\n"
        "ids = ['solution.py::' + 'L' * 5_000 + str(i) for i in range(3)]\n"
        "ids += ['solution.py::s%d' % i for i in range(1500)]\n"
        "channel.send({'op': 'record', 'record': {'t': 'collected', 'ids': ids}})\n"
        "def test_ok():\n    pass\n"
    )
    result = await call(client, "run_tests", code=code, tests="")
    assert (result["status"], result["passed"]) == ("error", 0), result["output"][-2000:]
    assert result["total"] >= 1503
    assert len(result["tests"]) == MAX_LISTED_TESTS
    assert max(len(t["name"]) for t in result["tests"]) <= 1001
    assert max(len(t["message"]) for t in result["tests"]) <= 4001
    assert "tampered" in result["tests"][0]["message"]
    assert len(json.dumps(result)) < 5_000_000


async def test_a_pytest_hook_defined_by_the_code_is_not_called_by_the_tests_collection(
    client: Client,
) -> None:
    code = (
        "CALLS = []\n"
        "def pytest_generate_tests(*args):\n    CALLS.append(len(args))\n"
        "def calls():\n    return list(CALLS)\n"
    )
    tests = "def test_the_hook_was_not_called():\n    assert calls() == []\n"
    result = await call(client, "run_tests", code=code, tests=tests)
    assert (result["status"], result["passed"]) == ("ok", 1), result["output"]


async def test_tests_with_a_decorator_too_deep_for_the_servers_own_parse_still_get_a_result(
    client: Client,
) -> None:
    tests = (
        "import pytest\n@" + "pytest." * 400 + "mark\ndef test_a():\n    assert add(1, 1) == 2\n"
    )
    result = await call(client, "run_tests", code=CODE, tests=tests)
    assert (result["status"], result["passed"]) == ("error", 0), result["output"]
