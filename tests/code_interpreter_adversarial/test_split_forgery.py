"""Code under test cannot forge the results of tests it did not write, even with their real ids.

Every program below is the ``code`` of a ``run_tests`` call whose separate ``tests`` hold
one genuinely passing test (``double(21) == 42``) and one genuinely failing test
(``value() == 42`` where the honest ``value()`` returns 41). Each program really tries to
turn that failure into a pass: it would succeed if the tests and the code shared one
process (the reporter found through ``gc`` or the stack, the report pipe reopened through
``/proc``, the tests' own constant rewritten in memory, ...). Whatever it does, the
failing test must never be reported as passed, at most the genuine pass is counted, and the
run is never ``ok`` with a success rate of 1.0.

The controls at the top prove the counting is exact when nobody cheats, and that an object
whose ``__eq__`` says True still passes (the code's own semantics, not a forgery).

Every step that could harm a host if the sandbox were not isolated (signals to other
processes, writes through other processes' descriptors or memory, a walk of the whole
filesystem) first checks that the program does not share its namespaces with the host.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import COMM, HOST_NS, Host, open_sandbox

pytestmark = pytest.mark.anyio

FAILS = "test_solution.py::test_fails"
PASSES = "test_solution.py::test_passes"

# The caller's tests: written by the caller, never by the code under test.
TESTS = """
def test_passes():
    assert double(21) == 42

def test_fails():
    assert value() == 42
"""

# Names the program's processes (so the suite's leftover check finds them) and tells it
# whether it is isolated from the host. Only underscore names: ``from solution import *``
# leaves them out. No ``def test`` and no "unit" + "test" in any program unless it means to
# hold tests: the harness would collect the code itself.
HEADER = """
import os as _os

try:
    with open("/proc/self/comm", "w") as _comm:
        _comm.write(@COMM@)
except OSError:
    pass

_HOST_NS = @HOST_NS@


def _isolated():
    for _name in ("mnt", "pid", "net", "uts", "ipc"):
        try:
            if _os.readlink(f"/proc/self/ns/{_name}") == _HOST_NS.get(_name):
                print(f"UNSAFE_NOT_ISOLATED shares {_name} with the host; step skipped", flush=True)
                return False
        except OSError:
            pass
    return True
""".replace("@COMM@", repr(COMM)).replace("@HOST_NS@", repr(HOST_NS))

HONEST = """
def value():
    return 41


def double(x):
    return 2 * x
"""

# The records an honest harness would send if both tests had passed, in its own format.
FORGED_RECORDS = """
import json as _json
import threading as _threading

_REAL_IDS = ["test_solution.py::test_passes", "test_solution.py::test_fails"]


def _forged_records(ids=_REAL_IDS, exitstatus=0, outcomes=None):
    outcomes = outcomes or {}
    records = [{"t": "collected", "ids": list(ids)}]
    for nodeid in ids:
        records.append({"t": "test", "id": nodeid, "outcome": outcomes.get(nodeid, "passed"),
                        "duration_ms": 1, "message": ""})
    records.append({"t": "end", "exitstatus": exitstatus, "tampered": []})
    return records


def _bounded(call, *args):
    # A reporter copied into another process by fork has no writer thread: its send would
    # wait for an acknowledgement that never comes. Give each send a few seconds.
    done = _threading.Event()

    def run():
        try:
            call(*args)
            done.set()
        except BaseException as exc:
            print(f"BLOCKED send :: {type(exc).__name__} {exc}", flush=True)

    _threading.Thread(target=run, daemon=True).start()
    return done.wait(3)


def _send_all(reporter, records):
    for record in records:
        if not _bounded(reporter.send, record):
            return False
    print(f"ALLOWED forged {len(records)} records through {type(reporter).__name__}", flush=True)
    return True


def _reporters_in_gc():
    import gc

    found = []
    for obj in gc.get_objects():
        try:
            name = type(obj).__name__
            if name == "TestHarness" or (name != "module" and hasattr(obj, "_send")
                                         and hasattr(obj, "reporter")):
                obj = obj.reporter
            elif not (name == "Reporter" or (callable(getattr(obj, "send", None))
                                             and hasattr(obj, "_queue"))):
                continue
            if obj is not None and not any(obj is seen for seen in found):
                found.append(obj)
        except Exception:
            continue
    return found


def _reporters_on_stack():
    # Objects made before a zygote's gc.freeze() are not in gc.get_objects(): the harness
    # may be, so walk up the frames to whoever holds it (run_pytest's ``harness``).
    import sys

    found = []
    frame = sys._getframe()
    while frame is not None:
        for key, local in list(frame.f_locals.items()):
            try:
                if key == "harness" or type(local).__name__ == "TestHarness":
                    reporter = getattr(local, "reporter", None)
                    if reporter is not None and not any(reporter is seen for seen in found):
                        found.append(reporter)
            except Exception:
                continue
        frame = frame.f_back
    return found


def _all_reporters():
    found = _reporters_on_stack()
    for reporter in _reporters_in_gc():
        if not any(reporter is seen for seen in found):
            found.append(reporter)
    return found
"""


def code_of(*parts: str) -> str:
    return HEADER + "".join(textwrap.dedent(part) for part in parts)


async def run(
    runtime: Runtime, host: Host, code: str, tests: str = TESTS, timeout: float = 10
) -> dict[str, Any]:
    async with open_sandbox(runtime, host) as sandbox:
        return await sandbox.run_tests(code, textwrap.dedent(tests).lstrip(), timeout=timeout)


def brief(result: dict[str, Any]) -> str:
    keys = ("status", "total", "passed", "failed", "errors", "skipped", "success_rate")
    tests = [
        (t.get("name"), t.get("outcome"), str(t.get("message"))[:200]) for t in result["tests"]
    ]
    return f"{ {k: result.get(k) for k in keys} } tests={tests} output[-1500:]={str(result.get('output'))[-1500:]!r}"


def outcomes(result: dict[str, Any]) -> dict[str, str]:
    return {str(t["name"]): str(t["outcome"]) for t in result["tests"]}


def assert_not_forged(
    result: dict[str, Any], failing: tuple[str, ...] = (FAILS,), genuine_passes: int = 1
) -> None:
    """No failing test passed, no more passes than the genuine ones, never a full success."""
    found = outcomes(result)
    for name in failing:
        if name in found:
            assert found[name] in ("failed", "error"), brief(result)
    forged = [n for n, o in found.items() if o == "passed" and n != PASSES]
    assert not forged, f"forged passes {forged}: {brief(result)}"
    assert result["passed"] <= genuine_passes, brief(result)
    assert not (result["status"] == "ok" and result["success_rate"] == 1.0), brief(result)
    assert result["success_rate"] < 1.0, brief(result)


def assert_honest_run(result: dict[str, Any]) -> None:
    """The forgery changed nothing: exactly the genuine pass and the genuine failure."""
    assert_not_forged(result)
    assert outcomes(result) == {PASSES: "passed", FAILS: "failed"}, brief(result)
    assert result["status"] == "ok", brief(result)


# ------------------------------------------------------------------------------ controls


async def test_control_an_honest_split_run_counts_one_pass_and_one_failure(
    secret_runtime: Runtime, host: Host
) -> None:
    result = await run(secret_runtime, host, code_of(HONEST))
    assert result["status"] == "ok", brief(result)
    assert (result["total"], result["passed"], result["failed"], result["errors"]) == (
        2,
        1,
        1,
        0,
    ), brief(result)
    assert result["success_rate"] == 0.5, brief(result)
    assert outcomes(result) == {PASSES: "passed", FAILS: "failed"}, brief(result)
    message = next(t["message"] for t in result["tests"] if t["name"] == FAILS)
    assert "41" in message, brief(result)


async def test_control_an_object_whose_eq_says_true_passes_as_it_would_in_one_process(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        class _AlwaysEqual:
            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            __hash__ = object.__hash__


        def value():
            return _AlwaysEqual()
        """,
    )
    result = await run(secret_runtime, host, code)
    assert result["status"] == "ok", brief(result)
    assert outcomes(result) == {PASSES: "passed", FAILS: "passed"}, brief(result)
    assert (result["passed"], result["success_rate"]) == (2, 1.0), brief(result)


# ----------------------------------------------------------------------------- forgeries


async def test_records_forged_through_a_reporter_found_at_import_are_not_a_pass(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        FORGED_RECORDS,
        """
        _sent = False
        for _reporter in _all_reporters():
            _sent = _send_all(_reporter, _forged_records()) or _sent
        if _sent:
            _os._exit(0)
        print("no reporter found", flush=True)
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result)


async def test_records_forged_from_the_stack_during_the_failing_call_are_not_a_pass(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        FORGED_RECORDS,
        """
        import sys as _sys


        def _from_stack():
            harness = item = None
            frame = _sys._getframe()
            while frame is not None:
                for key, local in list(frame.f_locals.items()):
                    try:
                        if harness is None and (key == "harness" or type(local).__name__ == "TestHarness"):
                            harness = local
                        if item is None and key == "item" and hasattr(local, "nodeid"):
                            item = local
                    except Exception:
                        pass
                frame = frame.f_back
            return harness, item


        def value():
            harness, item = _from_stack()
            reporter = getattr(harness, "reporter", None)
            if reporter is None:
                print("no harness on the stack", flush=True)
                return 41
            # The collection is already reported, so are the tests before this one: forge
            # this test and every one after it, then the end, and leave before pytest goes on.
            ids = [i.nodeid for i in item.session.items] if item is not None else _REAL_IDS
            start = ids.index(item.nodeid) if item is not None and item.nodeid in ids else 0
            records = _forged_records(ids[start:])[1:]
            if _send_all(reporter, records):
                _os._exit(0)
            return 41
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result)


async def test_records_written_to_every_descriptor_of_every_process_are_not_a_pass(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        FORGED_RECORDS,
        """
        import stat as _stat

        _LINES = "".join(_json.dumps(r) + "\\n" for r in _forged_records()).encode()


        def _descriptor_paths():
            pids = {"self", "thread-self", str(_os.getppid())}
            try:
                pids.update(n for n in _os.listdir("/proc") if n.isdigit())
            except OSError:
                pass
            for pid in sorted(pids):
                tables = [f"/proc/{pid}/fd"]
                try:  # a thread with a private descriptor table shows it here
                    tables += [f"/proc/{pid}/task/{t}/fd" for t in _os.listdir(f"/proc/{pid}/task")]
                except OSError:
                    pass
                for table in tables:
                    try:
                        names = _os.listdir(table)
                    except OSError as exc:
                        print(f"BLOCKED list {table} :: {exc}", flush=True)
                        continue
                    for name in names:
                        yield f"{table}/{name}"


        def _write_everywhere():
            seen, written = set(), []

            def write(fd, label):
                try:
                    info = _os.fstat(fd)
                    key = (info.st_dev, info.st_ino, _stat.S_IFMT(info.st_mode))
                    if key in seen:
                        return
                    seen.add(key)
                    _os.write(fd, _LINES)
                    written.append(label)
                except OSError:
                    pass

            for fd in range(1024):  # our own descriptors, sockets included
                write(fd, f"fd {fd}")
            for path in _descriptor_paths():
                try:
                    fd = _os.open(path, _os.O_WRONLY | _os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    write(fd, path)
                finally:
                    _os.close(fd)
            print(f"ALLOWED forged records written to {written}", flush=True)


        if _isolated():
            _write_everywhere()
            _os._exit(0)
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result)


async def test_the_tests_constant_cannot_be_rewritten_through_memory_or_ptrace(
    secret_runtime: Runtime, host: Host
) -> None:
    # The test compares with the interpreter's cached small int 42; a process that can write
    # another's memory makes that 42 hold 41 there (fork keeps the address), and the
    # failing comparison turns true. In one process, /proc/self/mem is enough.
    code = code_of(
        HONEST,
        """
        import ctypes as _ctypes
        import struct as _struct

        _ADDRESS = id(42) + 24  # ob_digit[0] of the small int 42 (CPython 3.11 and 3.12)
        _PATCH = _struct.pack("I", 41)
        _libc = _ctypes.CDLL(None, use_errno=True)


        class _IoVec(_ctypes.Structure):
            _fields_ = [("base", _ctypes.c_void_p), ("len", _ctypes.c_size_t)]


        def _through_mem(pid):
            with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
                mem.seek(_ADDRESS)
                return mem.write(_PATCH)


        def _through_vm_writev(pid):
            buffer = _ctypes.create_string_buffer(_PATCH, len(_PATCH))
            local = _IoVec(_ctypes.cast(buffer, _ctypes.c_void_p), len(_PATCH))
            remote = _IoVec(_ADDRESS, len(_PATCH))
            _libc.process_vm_writev.restype = _ctypes.c_ssize_t
            done = _libc.process_vm_writev(
                pid, _ctypes.byref(local), 1, _ctypes.byref(remote), 1, 0
            )
            if done < 0:
                err = _ctypes.get_errno()
                raise OSError(err, _os.strerror(err))
            return done


        def _through_ptrace(pid):
            ptrace = _libc.ptrace
            ptrace.restype = _ctypes.c_long
            ptrace.argtypes = [_ctypes.c_long, _ctypes.c_long, _ctypes.c_void_p, _ctypes.c_void_p]
            if ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
                err = _ctypes.get_errno()
                raise OSError(err, _os.strerror(err))
            try:
                _os.waitpid(pid, _os.WUNTRACED | 0x40000000)  # __WALL
                _ctypes.set_errno(0)
                word = ptrace(2, pid, _ADDRESS, None)  # PTRACE_PEEKDATA
                if _ctypes.get_errno():
                    raise OSError(_ctypes.get_errno(), "peek")
                raw = _struct.pack("q", word)
                new = _struct.unpack("q", _PATCH + raw[4:])[0]
                if ptrace(5, pid, _ADDRESS, new) != 0:  # PTRACE_POKEDATA
                    raise OSError(_ctypes.get_errno(), "poke")
                return "patched"
            finally:
                ptrace(17, pid, None, None)  # PTRACE_DETACH


        def _attempt(label, action, pid):
            try:
                print(f"ALLOWED {label} {pid} :: {action(pid)!r}", flush=True)
            except BaseException as exc:
                print(f"BLOCKED {label} {pid} :: {type(exc).__name__} {exc}", flush=True)


        def _rewrite_the_tests_constant():
            if not _isolated():
                return
            others = {_os.getppid()}
            try:
                others.update(int(n) for n in _os.listdir("/proc") if n.isdigit())
            except OSError:
                pass
            others.discard(_os.getpid())
            for pid in sorted(others):
                _attempt("mem", _through_mem, pid)
                _attempt("process_vm_writev", _through_vm_writev, pid)
                _attempt("ptrace", _through_ptrace, pid)
            _attempt("mem", _through_mem, "self")  # where the tests share this process


        def value():
            _rewrite_the_tests_constant()
            return 41
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result)


PLANTED_HOOKS = """
import gc, sys

def _forge_reports():
    try:
        import _pytest.reports
    except Exception:
        return
    original = _pytest.reports.TestReport.from_item_and_call.__func__

    def forged(cls, item, call):
        report = original(cls, item, call)
        report.outcome, report.longrepr = "passed", None
        return report

    _pytest.reports.TestReport.from_item_and_call = classmethod(forged)

def pytest_runtest_makereport(item, call):
    pass

def pytest_runtest_logreport(report):
    report.outcome, report.longrepr = "passed", None

def _register_everywhere():
    for candidate in gc.get_objects():
        try:
            if type(candidate).__name__ == "Config" and hasattr(candidate, "pluginmanager"):
                candidate.pluginmanager.register(sys.modules[__name__], "pcadv-planted")
        except Exception:
            pass

_forge_reports()
_register_everywhere()
"""

# A planted pytest or _pytest first steps aside for the real one, then forges.
SHADOW = """
import importlib, sys
_name = __name__
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if p not in ("", ".", "/tmp") and not p.startswith("/tmp/")]
del sys.modules[_name]
try:
    _real = importlib.import_module(_name)
finally:
    sys.path[:] = _saved
sys.modules[_name] = _real
globals().update({k: v for k, v in vars(_real).items() if not k.startswith("__")})
"""


async def test_planted_conftest_init_sitecustomize_and_pytest_modules_do_not_enter_the_tests(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        f"""
        import sys as _sys

        _PLANTS = {{
            "__init__.py": {PLANTED_HOOKS!r},
            "conftest.py": {PLANTED_HOOKS!r},
            "sitecustomize.py": {PLANTED_HOOKS!r},
            "usercustomize.py": {PLANTED_HOOKS!r},
            "test_solution.py": "def test_passes():\\n    pass\\n\\ndef test_fails():\\n    pass\\n",
            "pytest.py": {SHADOW + PLANTED_HOOKS!r},
            "_pytest/__init__.py": {SHADOW + PLANTED_HOOKS!r},
            "pluggy.py": {SHADOW + PLANTED_HOOKS!r},
        }}


        def _plant():
            places = {{"/tmp", _os.getcwd(), _os.path.dirname(_os.path.abspath(__file__))}}
            places.update(p for p in _sys.path if p and p.startswith("/tmp"))
            planted = []
            for place in sorted(places):
                for name, text in _PLANTS.items():
                    path = _os.path.join(place, name)
                    try:
                        _os.makedirs(_os.path.dirname(path), exist_ok=True)
                        with open(path, "w") as handle:
                            handle.write(text)
                        planted.append(path)
                    except OSError as exc:
                        print(f"BLOCKED plant {{path}} :: {{exc}}", flush=True)
            print(f"ALLOWED planted {{planted}}", flush=True)


        _plant()
        """,
    )
    result = await run(secret_runtime, host, code)
    # None of it ever reaches the tests' process: the run is the honest one.
    assert_honest_run(result)


async def test_every_reachable_copy_of_the_tests_file_rewritten_changes_nothing(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        _FORGED_TESTS = "def test_passes():\\n    pass\\n\\ndef test_fails():\\n    pass\\n"
        _SKIP = {"/proc", "/sys", "/dev"}


        def _candidates():
            roots = ["/tmp", f"/proc/{_os.getppid()}/cwd", f"/proc/{_os.getppid()}/root/tmp"]
            try:
                for pid in _os.listdir("/proc"):
                    if pid.isdigit():
                        roots += [f"/proc/{pid}/cwd", f"/proc/{pid}/root/tmp"]
            except OSError:
                pass
            for root in roots:
                yield _os.path.join(root, "test_solution.py")
            for dirpath, dirnames, filenames in _os.walk("/", onerror=lambda _exc: None):
                dirnames[:] = [d for d in dirnames if _os.path.join(dirpath, d) not in _SKIP]
                for name in filenames:
                    if name.startswith("test_solution"):
                        yield _os.path.join(dirpath, name)


        def _rewrite_tests():
            if not _isolated():
                return
            rewritten = []
            for path in _candidates():
                try:
                    if path.endswith(".pyc"):
                        _os.unlink(path)
                    else:
                        with open(path, "w") as handle:
                            handle.write(_FORGED_TESTS)
                    rewritten.append(path)
                except OSError:
                    pass
            print(f"ALLOWED rewrote {rewritten}", flush=True)


        _rewrite_tests()


        def value():
            _rewrite_tests()
            return 41
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_honest_run(result)


async def test_values_whose_eq_and_repr_explode_or_nest_deeply_fail_and_the_run_ends(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        class _Hostile:
            def __eq__(self, other):
                return self == other  # recursion without end

            def __ne__(self, other):
                return self != other

            def __repr__(self):
                raise RuntimeError("no repr for you")

            def __hash__(self):
                raise RuntimeError("no hash either")

            def __bool__(self):
                return bool(self)


        def value():
            return _Hostile()


        def deep():
            nested = []
            for _ in range(100_000):
                nested = [nested]
            return nested
        """,
    )
    tests = (
        TESTS
        + """
def test_deep_fails():
    assert deep() == 42

def test_repr_fails():
    assert repr(value()) == "42"
"""
    )
    result = await run(secret_runtime, host, code, tests)
    deep_fails, repr_fails = (
        "test_solution.py::test_deep_fails",
        "test_solution.py::test_repr_fails",
    )
    assert_not_forged(result, failing=(FAILS, deep_fails, repr_fails))
    assert result["status"] in ("ok", "error"), brief(result)
    assert {deep_fails, repr_fails, FAILS} <= set(outcomes(result)), brief(result)


async def test_killing_the_tests_process_and_everything_else_from_the_code_reaches_nothing(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        import signal as _signal


        def value():
            if _isolated():
                for target in (-1, _os.getppid()):
                    try:
                        _os.kill(target, _signal.SIGKILL)
                        print(f"ALLOWED kill {target}", flush=True)
                    except OSError as exc:
                        print(f"BLOCKED kill {target} :: {exc}", flush=True)
            return 41
        """,
    )
    result = await run(secret_runtime, host, code)
    # The code's process has a pid namespace and a session of its own: its kill(-1) and
    # kill(0) reach only what it started itself, so the run goes on honestly.
    assert_honest_run(result)


async def test_exiting_with_status_zero_inside_the_failing_call_fails_that_test(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        def value():
            _os._exit(0)
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result)
    assert outcomes(result).get(FAILS) in ("failed", "error"), brief(result)
    # The run itself completed: the call that ended the code's process is what failed.
    message = next(t["message"] for t in result["tests"] if t["name"] == FAILS)
    assert "the code's process is gone" in message, brief(result)


async def test_stopping_the_tests_process_reaches_nothing_and_exiting_fails_the_call(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        import signal as _signal


        def value():
            if _isolated():
                try:
                    _os.kill(_os.getppid(), _signal.SIGSTOP)
                    print("ALLOWED stop the parent", flush=True)
                except OSError as exc:
                    print(f"BLOCKED stop the parent :: {exc}", flush=True)
            _os._exit(0)
        """,
    )
    result = await run(secret_runtime, host, code, timeout=5)
    assert_honest_run(result)


async def test_tests_inside_the_code_cannot_speak_for_the_callers_tests(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        FORGED_RECORDS,
        """
        def test_inner():
            assert False


        _ALL_IDS = ["solution.py::test_inner", *_REAL_IDS]
        _sent = False
        for _reporter in _all_reporters():
            _sent = _send_all(
                _reporter,
                _forged_records(_ALL_IDS, 1, {"solution.py::test_inner": "failed"}),
            ) or _sent
        if _sent:
            _os._exit(1)
        print("no reporter found", flush=True)
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result, failing=(FAILS, "solution.py::test_inner"))


@pytest.mark.parametrize("raised", ["SystemExit(0)", "KeyboardInterrupt()"])
async def test_system_exit_or_keyboard_interrupt_from_the_failing_call_is_no_pass(
    secret_runtime: Runtime, host: Host, raised: str
) -> None:
    code = code_of(
        HONEST,
        f"""
        def value():
            raise {raised}
        """,
    )
    result = await run(secret_runtime, host, code)
    assert_not_forged(result)
    assert outcomes(result).get(FAILS) in ("failed", "error"), brief(result)


# ---------------------------------------------------------------- found in review


async def test_the_codes_own_builtins_do_not_replace_the_tests_builtins(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        def len(x):
            return 42

        def sorted(x, *a, **k):
            return 42
        """,
    )
    tests = """
    def test_passes():
        assert double(21) == 42

    def test_fails():
        assert len([value()]) == 42 or sorted([value()]) == 42 or value() == 42
    """
    result = await run(secret_runtime, host, code, tests)
    assert_honest_run(result)


async def test_names_the_code_adds_to_its_module_description_cannot_become_dunders_or_pytest(
    secret_runtime: Runtime, host: Host
) -> None:
    # The code owns its process, so it can rewrite how its module is described: it adds
    # ``__name__``, ``__builtins__``, ``__test__`` and a fake ``pytest`` and ``unittest``.
    code = code_of(
        HONEST,
        """
        import sys as _sys

        class _Anything:
            def __eq__(self, other):
                return True

            def __call__(self, *args, **kwargs):
                return self

            def __getattr__(self, name):
                return self

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return True

        _rpc = _sys.modules["promptcraft_sandbox_rpc"]
        _describe = _rpc.describe_module

        def _forged_description(channel, module):
            description = _describe(channel, module)
            for name in ("__name__", "__builtins__", "__test__", "pytest", "unittest"):
                description["names"][name] = channel.encode(_Anything())
                description["public"].append(name)
            return description

        _rpc.describe_module = _forged_description
        """,
    )
    tests = """
    def test_passes():
        assert double(21) == 42

    def test_fails():
        assert value() == 42
    """
    result = await run(secret_runtime, host, code, tests)
    assert_not_forged(result)
    assert result["passed"] == 0, brief(result)


async def test_the_code_never_holds_the_tests_source(secret_runtime: Runtime, host: Host) -> None:
    # The expected value is only in the tests: a code that finds it could return it.
    code = code_of(
        """
        import gc as _gc
        import re as _re
        import sys as _sys

        def _find_tests():
            frame = _sys._getframe()
            while frame is not None:
                for item in list(frame.f_locals.values()):
                    if isinstance(item, dict) and isinstance(item.get("tests"), str):
                        return item["tests"]
                frame = frame.f_back
            for item in _gc.get_objects():
                if isinstance(item, dict) and isinstance(item.get("tests"), str):
                    return item["tests"]
            return ""

        def value():
            found = _re.search(r"value\\(\\) == (\\d+)", _find_tests())
            return int(found.group(1)) if found else 41

        def double(x):
            return 2 * x
        """
    )
    result = await run(secret_runtime, host, code)
    assert_honest_run(result)


async def test_the_code_cannot_signal_relimit_or_deprioritise_the_tests_process(
    secret_runtime: Runtime, host: Host
) -> None:
    code = code_of(
        HONEST,
        """
        import resource as _resource
        import signal as _signal

        _done = []
        for _pid in list(range(2, 64)) + [_os.getppid()]:
            for _step in (
                lambda p: _resource.prlimit(p, _resource.RLIMIT_NOFILE, (3, 3)),
                lambda p: _resource.prlimit(p, _resource.RLIMIT_CPU, (0, 0)),
                lambda p: _os.setpriority(_os.PRIO_PROCESS, p, 19),
                lambda p: _os.kill(p, _signal.SIGSTOP),
                lambda p: _os.kill(p, _signal.SIGINT),
            ):
                try:
                    if _pid > 0:
                        _step(_pid)
                        _done.append(_pid)
                except OSError:
                    pass
        """,
    )
    tests = """
    import os

    def test_passes():
        handles = [os.open("/dev/null", os.O_RDONLY) for _ in range(16)]
        assert len(handles) == 16 and double(21) == 42

    def test_fails():
        assert value() == 42
    """
    result = await run(secret_runtime, host, code, tests)
    assert_honest_run(result)
