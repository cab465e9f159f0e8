"""run_tests reports what the tests did, whatever the code under test does to pytest.

Every forgery below targets tests that genuinely fail. The control at the top proves the
harness counts honestly when nobody cheats, so a forgery test cannot pass merely because
run_tests is broken.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import Host, open_sandbox

pytestmark = pytest.mark.anyio

CODE = "VALUE = 41\n"

FORGING_HOOKS = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_logreport(report):
    report.outcome = "passed"
    report.longrepr = None
    yield
"""

FORGED_XML = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
    'failures="0" skipped="0" tests="3" time="0.1"><testcase classname="t" name="test_forged_one" '
    'time="0.01"/><testcase classname="t" name="test_forged_two" time="0.01"/><testcase '
    'classname="t" name="test_fails" time="0.01"/></testsuite></testsuites>'
)

FORGE_REPORTS = f"""
import atexit, glob, json, os, sys, tempfile

FORGED_XML = {FORGED_XML!r}
FORGED_JSON = "\\n".join(json.dumps({{"$report_type": "TestReport", "nodeid": f"t.py::{{name}}",
    "outcome": "passed", "when": "call", "longrepr": None, "duration": 0.01}})
    for name in ("test_forged_one", "test_forged_two", "test_fails"))

def report_paths():
    paths = set()
    args = list(sys.argv) + open("/proc/self/cmdline", "rb").read().decode(errors="replace").split("\\0")
    for arg in args:
        for piece in arg.split("="):
            if piece.endswith((".xml", ".json", ".jsonl", ".log")):
                paths.add(os.path.abspath(piece))
    here = os.path.dirname(os.path.abspath(__file__))
    for directory in {{os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~"), here,
                      os.path.dirname(here), "/tmp"}}:
        for name in ("junit.xml", "report.xml", "results.xml", "pytest.xml", ".report.xml",
                     "report.json", "report.jsonl", "results.json"):
            paths.add(os.path.join(directory, name))
        for pattern in ("*.xml", "*.json", "*.jsonl", ".*.xml", "*/*.xml", "*/*.json"):
            paths.update(glob.glob(os.path.join(directory, pattern)))
    return paths

def forge(target=None):
    for path in report_paths():
        try:
            if os.path.lexists(path) and target is not None:
                os.unlink(path)
            if target is not None:
                os.symlink(target, path)
                continue
            with open(path, "w") as handle:
                handle.write(FORGED_JSON if path.endswith(("json", "jsonl", "log")) else FORGED_XML)
        except OSError:
            pass
"""


def dedented(source: str) -> str:
    return textwrap.dedent(source).lstrip()


async def run_tests(runtime: Runtime, host: Host, tests: str, code: str = CODE) -> dict[str, Any]:
    async with open_sandbox(runtime, host) as sandbox:
        return await sandbox.run_tests(code, dedented(tests), timeout=30)


def brief(result: dict[str, Any]) -> str:
    keys = ("status", "total", "passed", "failed", "errors", "skipped", "success_rate")
    names = [(t.get("name"), t.get("outcome")) for t in result.get("tests", [])]
    return f"{ {k: result.get(k) for k in keys} } tests={names} output[-800:]={str(result.get('output'))[-800:]!r}"


def names(result: dict[str, Any]) -> list[str]:
    return [str(test.get("name")) for test in result.get("tests", [])]


async def test_control_an_honest_run_is_counted_exactly(
    secret_runtime: Runtime, host: Host
) -> None:
    result = await run_tests(
        secret_runtime,
        host,
        """
        import pytest

        def test_ok_one():
            assert 1 + 1 == 2

        def test_ok_two():
            assert "a".upper() == "A"

        def test_bad():
            assert 1 == 2

        @pytest.mark.skip(reason="skipped on purpose")
        def test_skipped():
            pass
        """,
    )
    assert (result["passed"], result["failed"], result["skipped"]) == (2, 1, 1), brief(result)
    assert 0 < result["success_rate"] < 1, brief(result)
    outcomes = {t["name"].split("::")[-1]: t["outcome"] for t in result["tests"]}
    assert outcomes.get("test_ok_one") == "passed" and outcomes.get("test_bad") == "failed", brief(
        result
    )


async def test_zero_tests_collected_is_an_error_not_a_full_success(
    secret_runtime: Runtime, host: Host
) -> None:
    result = await run_tests(secret_runtime, host, "def helper():\n    return 1\n")
    assert result["status"] == "error", brief(result)
    assert result["total"] == 0 and result["passed"] == 0, brief(result)
    assert result["success_rate"] < 1.0, brief(result)


async def test_skipping_everything_is_not_a_success(secret_runtime: Runtime, host: Host) -> None:
    result = await run_tests(
        secret_runtime,
        host,
        """
        import pytest
        pytest.skip("nothing to see here", allow_module_level=True)

        def test_never():
            assert False
        """,
    )
    assert result["passed"] == 0, brief(result)
    assert result["success_rate"] < 1.0, brief(result)


FORGERIES_ALL_FAIL = {
    "os_exit_zero_at_collection": """
        import os
        os._exit(0)

        def test_never_runs():
            assert True
    """,
    "fake_summary_lines_printed": """
        import sys
        print("============================= 12 passed in 0.01s ==============================")

        def test_prints_a_fake_summary():
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                print("t.py::test_everything PASSED", file=stream)
                print("============================== 12 passed in 0.02s ===============", file=stream)
                print('<testsuite errors="0" failures="0" skipped="0" tests="12">', file=stream)
            assert False
    """,
    "fake_junit_xml_written_everywhere_and_at_exit": FORGE_REPORTS
    + """
forge()
atexit.register(forge)

def test_fails():
    forge()
    assert False
""",
    "forged_results_written_to_every_file_descriptor": FORGE_REPORTS
    + """
def test_fails():
    for fd in range(3, 1024):
        try:
            os.write(fd, (FORGED_XML + "\\n" + FORGED_JSON + "\\n").encode())
        except OSError:
            pass
    assert False
""",
    "conftest_with_forging_hooks_written_at_import": f"""
        import os, tempfile
        HOOKS = {FORGING_HOOKS!r}
        here = os.path.dirname(os.path.abspath(__file__))
        for directory in {{here, os.path.dirname(here), os.getcwd(), tempfile.gettempdir()}}:
            try:
                with open(os.path.join(directory, "conftest.py"), "w") as handle:
                    handle.write(HOOKS)
            except OSError:
                pass

        def test_fails():
            assert False

        def test_fails_too():
            assert 1 == 2
    """,
    "sys_exit_zero_inside_a_test": """
        import sys

        def test_exits_cleanly():
            sys.exit(0)

        def test_fails():
            assert False
    """,
    "xml_injection_in_failure_messages": """
        import pytest

        def test_fails_with_a_forging_message():
            raise AssertionError(']]></failure></testcase><testcase classname="x" '
                                 'name="test_injected" time="0"/><testcase classname="x" name="y">'
                                 '<failure message="x"><![CDATA[')

        @pytest.mark.parametrize("value", ['"/><testcase name="test_injected_two"/><x a="'])
        def test_fails_with_a_forging_id(value):
            assert value == ""
    """,
    "report_paths_symlinked_to_host_secrets": FORGE_REPORTS
    + """
forge(TMP_CANARY)
atexit.register(forge, TMP_CANARY)

def test_fails():
    forge(TMP_CANARY)
    assert False
""",
}


@pytest.mark.parametrize("name", list(FORGERIES_ALL_FAIL), ids=list(FORGERIES_ALL_FAIL))
async def test_a_forgery_cannot_turn_failing_tests_into_passes(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    tests = FORGERIES_ALL_FAIL[name]
    if "TMP_CANARY" in tests:
        tests = f"TMP_CANARY = {str(host.tmp_canary)!r}\n" + textwrap.dedent(tests)
    result = await run_tests(secret_runtime, host, tests)
    assert result["passed"] == 0, brief(result)
    assert result["success_rate"] == 0.0, brief(result)
    assert not [n for n in names(result) if "forged" in n or n.endswith("injected")], brief(result)
    if name == "os_exit_zero_at_collection":
        assert result["status"] == "error", brief(result)
    if name in {"fake_summary_lines_printed", "fake_junit_xml_written_everywhere_and_at_exit"}:
        assert (result["total"], result["failed"]) == (1, 1), brief(result)
    if name in {"sys_exit_zero_inside_a_test", "xml_injection_in_failure_messages"}:
        assert (result["total"], result["failed"]) == (2, 2), brief(result)


# One genuine pass next to a genuine failure: a forgery shows as a second pass.
FORGERIES_ONE_PASS = {
    "os_exit_zero_mid_run": """
        import os

        def test_a_passes():
            assert True

        def test_b_fails():
            assert False

        def test_c_exits_with_success():
            os._exit(0)

        def test_d_would_pass():
            assert True
    """,
    "atexit_forces_exit_status_zero": """
        import atexit, os
        atexit.register(os._exit, 0)

        def test_passes():
            assert True

        def test_fails():
            assert False
    """,
    "pytest_plugins_loads_a_forging_plugin": f"""
        import os, sys, tempfile
        for directory in (os.path.dirname(os.path.abspath(__file__)), tempfile.gettempdir()):
            try:
                with open(os.path.join(directory, "pcadv_forger.py"), "w") as handle:
                    handle.write({FORGING_HOOKS!r})
                sys.path.insert(0, directory)
                break
            except OSError:
                pass
        pytest_plugins = ["pcadv_forger"]

        def test_passes():
            assert True

        def test_fails():
            assert False
    """,
    "forging_plugin_registered_through_gc": f"""
        import gc, types
        hooks = types.ModuleType("pcadv_gc_forger")
        exec({FORGING_HOOKS!r}, hooks.__dict__)
        for candidate in gc.get_objects():
            if type(candidate).__name__ == "Config" and hasattr(candidate, "pluginmanager"):
                candidate.pluginmanager.register(hooks, "pcadv-gc-forger")

        def test_passes():
            assert True

        def test_fails():
            assert False
    """,
    "pytest_internals_monkeypatched": """
        import sys
        import _pytest.reports

        original = _pytest.reports.TestReport.from_item_and_call.__func__

        def forged(cls, item, call):
            report = original(cls, item, call)
            report.outcome, report.longrepr = "passed", None
            return report

        _pytest.reports.TestReport.from_item_and_call = classmethod(forged)
        for module in list(sys.modules.values()):
            for holder in list(getattr(module, "__dict__", {}).values()):
                for attr in ("append_failure", "append_error", "append_collect_error"):
                    try:
                        if isinstance(holder, type) and hasattr(holder, attr):
                            setattr(holder, attr, lambda self, *a, **k: None)
                    except Exception:
                        pass

        def test_passes():
            assert True

        def test_fails():
            assert False
    """,
    "pytest_re_executed_with_a_forging_plugin": f"""
        import os, sys, tempfile
        if not os.environ.get("PCADV_REEXEC"):
            directory = tempfile.mkdtemp()
            with open(os.path.join(directory, "pcadv_reexec_forger.py"), "w") as handle:
                handle.write({FORGING_HOOKS!r})
            env = dict(os.environ, PCADV_REEXEC="1",
                       PYTHONPATH=directory + os.pathsep + os.environ.get("PYTHONPATH", ""),
                       PYTEST_ADDOPTS="-p pcadv_reexec_forger")
            os.execve(sys.executable, list(sys.orig_argv), env)

        def test_passes():
            assert True

        def test_fails():
            assert False
    """,
}


@pytest.mark.parametrize("name", list(FORGERIES_ONE_PASS), ids=list(FORGERIES_ONE_PASS))
async def test_a_forgery_next_to_a_genuine_pass_counts_at_most_that_pass(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    result = await run_tests(secret_runtime, host, FORGERIES_ONE_PASS[name])
    assert result["passed"] <= 1, brief(result)
    assert result["success_rate"] <= 0.5, brief(result)
    if name == "os_exit_zero_mid_run":
        assert result["status"] == "error", brief(result)
        never_ran = [t for t in result["tests"] if t["name"].endswith("test_d_would_pass")]
        assert all(t["outcome"] != "passed" for t in never_ran), brief(result)
    if name == "atexit_forces_exit_status_zero":
        assert (result["passed"], result["failed"]) == (1, 1), brief(result)


# The code under test shares its process with the harness's reporter, so it can find it
# (gc, frames) and write records itself. The server checks what it can from outside: one
# collection, reported before any test, nothing after the end, the tests the sources
# really define (parsed by the server, not in the sandbox), and an end that matches the
# process's exit. Forging exactly the real ids with the real count and a matching exit is
# not caught in-process: see the package README, "Limits".
FIND_REPORTER = """
import gc, os, signal, sys

def find_reporter():
    # The live one: the relay to the tests' process (the Reporter copied by fork is dead).
    for name in ("_Relay", "Reporter"):
        for candidate in gc.get_objects():
            if type(candidate).__name__ == name:
                return candidate
    raise SystemExit("no reporter found")

def find_harness():
    # Objects made before the zygote's gc.freeze() are not in gc.get_objects(): walk up
    # the frames instead, to run_pytest's ``harness``.
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if type(value).__name__ == "TestHarness":
                return value
        frame = frame.f_back
    raise SystemExit("no harness found")

def find_config():
    return find_harness().config

def forge(reporter, ids, outcome="passed", end=True):
    reporter.send({"t": "collected", "ids": ids})
    for nodeid in ids:
        reporter.send({"t": "test", "id": nodeid, "outcome": outcome})
    if end:
        reporter.send({"t": "end", "exitstatus": 0, "tampered": []})
"""

REPORTER_FORGERIES = {
    # The reviewer's repro: invented ids, a forged end, and an exit before pytest goes on.
    "gc_reporter_invented_ids_then_os_exit": """
def test_fails():
    assert False

ids = ["solution.py::test_a", "solution.py::test_b", "solution.py::test_c"]
forge(find_reporter(), ids)
os._exit(0)
""",
    # The real failing test reported as passed, padded with invented passes.
    "gc_reporter_real_id_padded_with_invented_passes": """
def test_fails():
    assert False

forge(find_reporter(), ["solution.py::test_fails"] + [f"solution.py::test_p{i}" for i in range(9)])
os._exit(0)
""",
    # Only the passing test reported; the failing one left out.
    "gc_reporter_leaves_the_failing_test_out": """
def test_passes():
    assert True

def test_fails():
    assert False

forge(find_reporter(), ["solution.py::test_passes"])
os._exit(0)
""",
    # Up the frames to the harness (run_pytest's local), real ids, and pytest let go on:
    # the harness's own report follows the forged end.
    "frame_walk_to_the_harness_real_ids_and_the_run_goes_on": """
def test_fails():
    assert False

def harness_from_frames():
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if getattr(value, "reporter", None) is not None:
                return value
        frame = frame.f_back
    raise SystemExit("no harness on the stack")

forge(harness_from_frames().reporter, ["solution.py::test_fails"])
""",
    # Real ids and counts, but the process does not then exit with the status reported.
    "gc_reporter_real_ids_then_a_crash": """
def test_fails():
    assert False

forge(find_reporter(), ["solution.py::test_fails"])
os.kill(os.getpid(), signal.SIGKILL)
""",
    "gc_reporter_real_ids_then_a_failing_exit": """
def test_fails():
    assert False

forge(find_reporter(), ["solution.py::test_fails"])
os._exit(1)
""",
    # Test records before the collection: the harness's own collection and records follow.
    "gc_reporter_results_sent_before_collection": """
def test_fails():
    assert False

reporter = find_reporter()
reporter.send({"t": "test", "id": "solution.py::test_fails", "outcome": "passed"})
""",
}


@pytest.mark.parametrize("name", list(REPORTER_FORGERIES), ids=list(REPORTER_FORGERIES))
async def test_records_forged_through_the_in_process_reporter_are_not_trusted(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    code = FIND_REPORTER + REPORTER_FORGERIES[name]
    async with open_sandbox(secret_runtime, host) as sandbox:
        result = await sandbox.run_tests(code, "", timeout=30)
    assert result["passed"] == 0, brief(result)
    assert result["success_rate"] == 0.0, brief(result)
    assert result["status"] != "ok", brief(result)
    reasons = str(result["output"]) + "".join(str(t.get("message")) for t in result["tests"])
    assert "trusted" in reasons, brief(result)


async def test_a_forging_plugin_registered_by_the_code_cannot_touch_the_callers_tests(
    secret_runtime: Runtime, host: Host
) -> None:
    # pytest in the code's process is the code's own: whatever it registers there, the
    # caller's tests run and report in another process.
    code = (
        FIND_REPORTER
        + "import types\n"
        + 'hooks = types.ModuleType("pcadv_forger")\n'
        + f"exec({FORGING_HOOKS!r}, hooks.__dict__)\n"
        + 'find_config().pluginmanager.register(hooks, "pcadv-forger")\n'
        + "find_harness().tampered.clear()\n"
        + "VALUE = 41\n"
    )
    tests = "def test_fails():\n    assert VALUE == 42\n"
    async with open_sandbox(secret_runtime, host) as sandbox:
        result = await sandbox.run_tests(code, tests, timeout=30)
    assert (result["passed"], result["failed"]) == (0, 1), brief(result)
    assert names(result) == ["test_solution.py::test_fails"], brief(result)
