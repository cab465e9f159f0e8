"""The sandbox's call channel between the tests' process and the code's process (``_sandbox_rpc``).

Every test runs two real processes joined by a socket pair: a forked child that imports the
code as ``solution`` and serves it (``describe_module`` + ``serve``), and this process, which
drives it through the proxy module ``load_proxy_module`` builds. The hostile variant forks a
child that speaks the wire format by hand (4-byte big-endian length + JSON) to check what the
tests' side does with replies an untrusted code process can forge.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import socket
import sys
import textwrap
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_servers.code_interpreter import _sandbox_rpc as rpc

# Lives only in this (the tests') process; the code must never get to read it.
_SECRET = "tests-side-secret-5b1f0c9e"

CALL_TIMEOUT = 15.0  # a hung peer fails the test instead of hanging the run
REAP_TIMEOUT = 5.0

LoadSolution = Callable[[str], types.ModuleType]
Script = Callable[[rpc.Channel], None]
HostileSolution = Callable[[Script], tuple[types.ModuleType, rpc.Channel]]


# --------------------------------------------------------------------------- processes


def _fork(child: Callable[[socket.socket], None]) -> tuple[int, socket.socket]:
    """Fork a child running ``child(its_socket)``; it never returns into pytest."""
    parent_sock, child_sock = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            parent_sock.close()
            child(child_sock)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    child_sock.close()
    parent_sock.settimeout(CALL_TIMEOUT)
    return pid, parent_sock


def _reap(pid: int) -> int:
    """Wait (bounded) for the child to end, killing it on timeout; its wait status."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], REAP_TIMEOUT)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        return os.waitpid(pid, 0)[1]
    finally:
        os.close(pidfd)


def _stop(pid: int, channel: rpc.Channel) -> int:
    with contextlib.suppress(rpc.RemoteError):  # the child may already be gone
        channel.send({"op": "bye", "n": 0})
    channel.sock.close()
    return _reap(pid)


def _serve_code(source: str, path: Path) -> Callable[[socket.socket], None]:
    """The honest code process: import ``source`` as ``solution`` and serve it."""

    def child(sock: socket.socket) -> None:
        module = types.ModuleType("solution")
        module.__file__ = str(path)
        sys.modules["solution"] = module
        exec(compile(source, str(path), "exec"), module.__dict__)
        channel = rpc.Channel(sock, "code")
        channel.send({"op": "ready", "description": rpc.describe_module(channel, module)})
        rpc.serve(channel)

    return child


class Processes:
    def __init__(self) -> None:
        self.started: list[tuple[int, rpc.Channel]] = []
        self.statuses: dict[int, int] = {}

    def stop_all(self) -> None:
        for pid, channel in self.started:
            if pid not in self.statuses:
                self.statuses[pid] = _stop(pid, channel)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


@pytest.fixture
def load_solution(processes: Processes, tmp_path: Path) -> LoadSolution:
    """``load_solution(code)`` -> the tests' ``solution`` proxy of a forked code process."""

    def load(source: str) -> types.ModuleType:
        path = tmp_path / "solution.py"
        path.write_text(textwrap.dedent(source))
        pid, sock = _fork(_serve_code(path.read_text(), path))
        channel = rpc.Channel(sock, "tests")
        processes.started.append((pid, channel))
        message = channel.receive()
        assert message["op"] == "ready"
        return rpc.load_proxy_module(channel, message["description"])

    return load


# The hostile child announces one function ``f`` (code-side reference 1), then runs a script.
_HOSTILE_DESCRIPTION = {
    "names": {"f": {"$": "ref", "side": "code", "id": 1, "kind": "callable", "name": "f"}},
    "public": ["f"],
    "module": 2,
}


def _linger(channel: rpc.Channel) -> None:
    """Keep the hostile child alive until the tests say bye or close."""
    while True:
        try:
            if channel.receive().get("op") == "bye":
                return
        except (rpc.ChannelClosedError, OSError):
            return
        except Exception:
            continue


@pytest.fixture
def hostile(processes: Processes) -> HostileSolution:
    """``hostile(script)`` -> (``solution``, tests' channel) of a child that runs ``script``."""

    def start(script: Script) -> tuple[types.ModuleType, rpc.Channel]:
        def child(sock: socket.socket) -> None:
            channel = rpc.Channel(sock, "code")
            channel.send({"op": "ready", "description": _HOSTILE_DESCRIPTION})
            script(channel)
            _linger(channel)

        pid, sock = _fork(child)
        channel = rpc.Channel(sock, "tests")
        processes.started.append((pid, channel))
        message = channel.receive()
        return rpc.load_proxy_module(channel, message["description"]), channel

    return start


def _frame(message: Any) -> bytes:
    data = json.dumps(message).encode()
    return len(data).to_bytes(4, "big") + data


def _raw(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _reply_with(build: Callable[[int], bytes]) -> Script:
    """A script that answers the tests' first request with the bytes ``build(request_number)``."""

    def script(channel: rpc.Channel) -> None:
        request = channel.receive()
        channel.sock.sendall(build(request["n"]))

    return script


def _call(function: Callable[[], Any]) -> BaseException | None:
    """Whatever ``function`` raised, caught wide so that a SystemExit can't end the run."""
    try:
        function()
    except BaseException as exc:  # the point is to see its exact type
        return exc
    return None


# --------------------------------------------------------------------------- plain data


ROUND_TRIP_VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**53,
    2**80,
    -(2**80),
    1.5,
    -0.0,
    math.inf,
    -math.inf,
    3 + 4j,
    complex(-0.0, math.inf),
    "",
    "snow \u2603, nul \x00, lone surrogate \ud800",
    b"\x00\xffbytes",
    bytearray(b"\x01\x02"),
    [1, [2, [3, []]]],
    (1, (2, "two"), ()),
    {(1, "a"): [1, (2, 3), {"x": b"\x00"}], "s": frozenset({1, 2}), 3: None},
    {1, "a", (2, 3)},
    frozenset({1.5, "b"}),
    range(1, 10, 3),
    range(0),
    Ellipsis,
]


def _same(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down (tuple stays tuple, -0.0 keeps its sign)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or (a != a and b != b))
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_plain_data_returns_from_the_code_as_an_exact_copy_of_the_same_types(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        def echo(value):
            return value

        def type_name(value):
            return type(value).__name__
        """
    )
    for value in ROUND_TRIP_VALUES:
        back = solution.echo(value)
        assert _same(back, value), (value, back)
        assert solution.type_name(value) == type(value).__name__
    nan = solution.echo(math.nan)
    assert type(nan) is float and math.isnan(nan)


def test_plain_data_is_copied_so_the_tests_get_values_not_references(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        TABLE = {"k": [1, 2]}
        def table():
            return TABLE
        """
    )
    first = solution.table()
    first["k"].append(3)
    assert solution.table() == {"k": [1, 2]}
    assert solution.TABLE == {"k": [1, 2]}
    assert not isinstance(first, rpc.RemoteObject)


def test_numpy_arrays_and_scalars_cross_by_copy_with_their_dtype_and_shape(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        import numpy as np

        def echo(value):
            return value

        def describe(value):
            return (type(value).__name__, value.dtype.str, list(np.shape(value)))

        def doubled(array):
            return array * 2

        def objects():
            return np.array([1, "a"], dtype=object)
        """
    )
    arrays: list[np.ndarray[Any, Any]] = [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2],  # not contiguous
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        np.array([True, False]),
        np.array([1 + 2j, 3j], dtype=np.complex128),
        np.array([1, 2], dtype=">i4"),
        np.zeros((0, 3)),
        np.array(5.5),
    ]
    for array in arrays:
        back = solution.echo(array)
        assert type(back) is np.ndarray
        assert back.dtype == array.dtype and back.dtype.str == array.dtype.str
        assert back.shape == array.shape
        assert np.array_equal(back, array)
        assert solution.describe(array) == ("ndarray", array.dtype.str, list(array.shape))
    doubled = solution.doubled(np.array([[1, 2], [3, 4]], dtype=np.uint8))
    assert doubled.dtype == np.uint8 and doubled.tolist() == [[2, 4], [6, 8]]
    for scalar in [np.int64(7), np.float32(1.5), np.bool_(True), np.complex64(2 - 1j)]:
        back = solution.echo(scalar)
        assert type(back) is type(scalar) and back == scalar
    assert isinstance(solution.objects(), rpc.RemoteObject)  # object arrays are references


# --------------------------------------------------------------------------- functions


def test_functions_of_the_code_take_positional_and_keyword_arguments(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        def combine(a, b=10, *rest, scale=1, **extra):
            return {"sum": (a + b + sum(rest)) * scale, "extra": extra}
        """
    )
    assert solution.combine(1) == {"sum": 11, "extra": {}}
    assert solution.combine(1, 2, 3, 4, scale=2, tag="x") == {"sum": 20, "extra": {"tag": "x"}}
    assert solution.combine(a=5, b=5) == {"sum": 10, "extra": {}}
    with pytest.raises(TypeError):
        solution.combine()


def test_what_a_function_prints_arrives_in_the_callers_stdout_and_stderr(
    load_solution: LoadSolution, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = load_solution(
        """
        import sys

        def chatty(name):
            print("hello", name)
            print("warning", file=sys.stderr)
            return len(name)
        """
    )
    capsys.readouterr()
    assert solution.chatty("ada") == 3
    captured = capsys.readouterr()
    assert captured.out == "hello ada\n"
    assert captured.err == "warning\n"


def test_what_a_function_prints_before_raising_still_arrives(
    load_solution: LoadSolution, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = load_solution(
        """
        def noisy_failure():
            print("about to fail")
            raise ValueError("failed")
        """
    )
    capsys.readouterr()
    with pytest.raises(ValueError, match="failed"):
        solution.noisy_failure()
    assert capsys.readouterr().out == "about to fail\n"


def test_lists_dicts_sets_and_bytearrays_passed_to_the_code_are_updated_in_place(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        def mutate(items, table, seen, buffer, *, extra):
            items.append(4)
            items[0] = "first"
            table["new"] = 1
            del table["old"]
            seen.add(9)
            seen.discard(1)
            buffer[0] = ord("z")
            buffer.extend(b"!")
            extra.append("kw")
            return "done"

        def mutate_then_fail(items):
            items.clear()
            raise RuntimeError("after the change")
        """
    )
    items, table, seen = [1, 2, 3], {"old": 0}, {1, 2}
    buffer, extra = bytearray(b"abc"), ["start"]
    assert solution.mutate(items, table, seen, buffer, extra=extra) == "done"
    assert items == ["first", 2, 3, 4]
    assert table == {"new": 1}
    assert seen == {2, 9}
    assert buffer == bytearray(b"zbc!")
    assert extra == ["start", "kw"]

    doomed = [1, 2]
    with pytest.raises(RuntimeError, match="after the change"):
        solution.mutate_then_fail(doomed)
    assert doomed == []


# --------------------------------------------------------------------------- classes


CLASSES = """
class Stack:
    kind = "lifo"

    def __init__(self, items=()):
        self.items = list(items)

    def push(self, item):
        self.items.append(item)
        return self

    def pop(self):
        return self.items.pop()

    def __len__(self):
        return len(self.items)

    def __eq__(self, other):
        return isinstance(other, Stack) and self.items == other.items

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, index):
        return self.items[index]

    def __repr__(self):
        return f"Stack({self.items!r})"


class Other:
    pass
"""


def test_classes_of_the_code_are_constructed_and_driven_through_their_methods(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(CLASSES)
    stack = solution.Stack()
    stack.push(1).push(2)
    stack.push([3])
    assert len(stack) == 3
    assert list(stack) == [1, 2, [3]]
    assert stack[0] == 1 and stack[-1] == [3]
    assert stack.items == [1, 2, [3]]
    assert stack.pop() == [3]
    assert repr(stack) == "Stack([1, 2])"
    assert solution.Stack.kind == "lifo" and stack.kind == "lifo"
    stack.label = "mine"
    assert stack.label == "mine"
    with pytest.raises(AttributeError):
        _ = stack.missing


def test_code_objects_compare_with_the_codes_eq_and_pass_isinstance_against_its_classes(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(CLASSES)
    stack = solution.Stack([1, 2])
    assert stack == solution.Stack([1, 2])
    assert stack != solution.Stack([1])
    assert stack != [1, 2]
    assert isinstance(stack, solution.Stack)
    assert not isinstance(stack, solution.Other)
    assert not isinstance([1, 2], solution.Stack)


def test_subclassing_a_class_of_the_code_raises_type_error_saying_what_to_do(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(CLASSES)
    with pytest.raises(TypeError) as raised:

        class MyStack(solution.Stack):  # type: ignore[misc, name-defined]
            pass

    message = str(raised.value)
    assert "cannot subclass" in message
    assert "another process" in message
    assert "define the base class in the tests instead" in message


def test_membership_on_a_code_object_that_only_iterates_is_decided_by_its_items(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        class Bag:
            def __init__(self, *items):
                self.items = list(items)

            def __iter__(self):
                return iter(self.items)
        """
    )
    bag = solution.Bag(1, 2, 3)
    assert 2 in bag
    assert 7 not in bag  # in one process: False, found by iterating the bag


def test_an_operator_the_codes_class_lacks_raises_type_error_instead_of_returning_a_value(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution("class Plain:\n    pass\n")
    plain = solution.Plain()
    with pytest.raises(TypeError):
        _ = plain[0]  # one process: 'Plain' object is not subscriptable
    with pytest.raises(TypeError):
        _ = -plain  # one process: bad operand type for unary -


def test_subclasses_of_the_code_are_subclasses_of_its_classes_in_the_tests(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution("class Base:\n    pass\n\nclass Sub(Base):\n    pass\n")
    assert isinstance(solution.Sub(), solution.Base)
    assert issubclass(solution.Sub, solution.Base)  # one process: True


def test_a_context_manager_of_the_code_sees_the_exception_raised_in_its_with_block(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        class Transaction:
            outcome = None

            def __enter__(self):
                return self

            def __exit__(self, kind, value, tb):
                Transaction.outcome = "rolled back" if kind else "committed"
                return False

        def outcome():
            return Transaction.outcome
        """
    )
    with solution.Transaction():
        pass
    assert solution.outcome() == "committed"
    with pytest.raises(ZeroDivisionError), solution.Transaction():
        _ = 1 / 0
    assert solution.outcome() == "rolled back"  # one process: __exit__ got ZeroDivisionError


# --------------------------------------------------------------------------- exceptions


EXCEPTIONS = """
import sys

class MyError(ValueError):
    pass

class AppError(Exception):
    pass

class NotFound(AppError):
    def __init__(self, key):
        super().__init__(f"no {key}")
        self.key = key

def raise_value_error():
    raise ValueError("bad", 3)

def raise_key_error():
    return {}["missing"]

def raise_my_error():
    raise MyError("boom")

def raise_not_found():
    raise NotFound("alice")

def exit_with(code):
    sys.exit(code)

def interrupt():
    raise KeyboardInterrupt("stop")

class ExitsOnLen:
    def __len__(self):
        raise SystemExit(4)

def still_alive():
    return "yes"
"""


def test_builtin_exceptions_of_the_code_are_raised_as_themselves_with_their_args(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(EXCEPTIONS)
    with pytest.raises(ValueError) as value_error:
        solution.raise_value_error()
    assert type(value_error.value) is ValueError
    assert value_error.value.args == ("bad", 3)
    with pytest.raises(KeyError) as key_error:
        solution.raise_key_error()
    assert type(key_error.value) is KeyError
    assert key_error.value.args == ("missing",)


def test_an_exception_class_of_the_code_is_caught_as_itself_and_as_its_builtin_base(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(EXCEPTIONS)
    with pytest.raises(solution.MyError, match="boom") as raised:
        solution.raise_my_error()
    assert type(raised.value) is solution.MyError
    assert raised.value.args == ("boom",)
    with pytest.raises(ValueError):
        solution.raise_my_error()


def test_an_exception_of_the_code_carries_the_codes_traceback_as_a_note(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(EXCEPTIONS)
    with pytest.raises(solution.MyError) as raised:
        solution.raise_my_error()
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "raised in the code under test" in notes
    assert "solution.py" in notes and "raise_my_error" in notes
    assert 'raise MyError("boom")' in notes
    assert "_sandbox_rpc.py" not in notes


def test_an_exception_subclass_of_the_code_is_caught_as_the_codes_base_exception_class(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(EXCEPTIONS)
    with pytest.raises(solution.AppError):  # one process: NotFound is an AppError
        solution.raise_not_found()


def test_an_exception_of_the_code_keeps_the_attributes_its_constructor_set(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(EXCEPTIONS)
    with pytest.raises(solution.NotFound, match="no alice") as raised:
        solution.raise_not_found()
    assert raised.value.key == "alice"  # one process: set by NotFound.__init__


def test_an_exception_of_the_code_reads_as_the_codes_own_str(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        class Rejected(Exception):
            def __str__(self):
                return "rejected: " + ", ".join(map(str, self.args))

        def reject():
            raise Rejected(1, 2)
        """
    )
    with pytest.raises(solution.Rejected) as raised:
        solution.reject()
    assert str(raised.value) == "rejected: 1, 2"  # one process: the class's own __str__


def test_system_exit_and_keyboard_interrupt_in_the_code_arrive_as_remote_error(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(EXCEPTIONS)
    exited = _call(lambda: solution.exit_with(3))
    assert type(exited) is rpc.RemoteError
    assert "SystemExit(3)" in str(exited)
    interrupted = _call(solution.interrupt)
    assert type(interrupted) is rpc.RemoteError
    assert "KeyboardInterrupt" in str(interrupted)
    in_an_operator = _call(lambda: len(solution.ExitsOnLen()))
    assert type(in_an_operator) is rpc.RemoteError
    assert "SystemExit" in str(in_an_operator)
    assert solution.still_alive() == "yes"  # the code's process kept serving


# --------------------------------------------------------------------------- iteration


def test_generators_of_the_code_run_lazily_one_item_per_next_and_stop_at_their_end(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        produced = []

        def naturals():
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1

        def produced_count():
            return len(produced)

        def three():
            yield from ("a", "b", "c")
        """
    )
    numbers = solution.naturals()  # endless: only a lazy iteration can finish
    assert solution.produced_count() == 0
    assert next(numbers) == 0
    assert next(numbers) == 1
    assert solution.produced_count() == 2
    for number in numbers:
        if number == 5:
            break
    assert solution.produced_count() == 6

    letters = solution.three()
    assert iter(letters) is letters
    assert list(letters) == ["a", "b", "c"]
    with pytest.raises(StopIteration):
        next(letters)
    assert [x for x in solution.three()] == ["a", "b", "c"]


def test_what_a_generator_prints_while_it_is_iterated_arrives_in_the_callers_stdout(
    load_solution: LoadSolution, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = load_solution(
        """
        def lines():
            print("making a")
            yield "a"
            print("making b")
            yield "b"
        """
    )
    capsys.readouterr()
    assert list(solution.lines()) == ["a", "b"]
    assert capsys.readouterr().out == "making a\nmaking b\n"


# --------------------------------------------------------------------------- callbacks


CALLBACKS = """
def sort_by(items, key):
    return sorted(items, key=key)

def apply_twice(f, x):
    return f(f(x))

def peek(f, name):
    return getattr(f, name)

def probe(f):
    found = {}
    for name in ("__globals__", "__code__", "__closure__", "__dict__", "x"):
        try:
            found[name] = repr(getattr(f, name))
        except BaseException as exc:
            found[name] = f"{type(exc).__name__}: {exc}"
    return found
"""


def _key_using_the_secret(x: int) -> int:
    return -x if _SECRET else x


def test_functions_of_the_tests_are_called_by_the_code_as_callbacks(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(CALLBACKS)
    assert solution.sort_by([3, 1, 2], key=lambda x: -x) == [3, 2, 1]
    assert solution.sort_by(["bb", "a", "ccc"], key=len) == ["a", "bb", "ccc"]
    assert solution.apply_twice(lambda x: x * 10, 2) == 200


def test_the_code_cannot_read_attributes_of_a_function_the_tests_pass_it(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(CALLBACKS)
    for name in ("__globals__", "__code__", "__closure__", "x"):
        with pytest.raises(AttributeError) as raised:
            solution.peek(_key_using_the_secret, name)
        assert _SECRET not in str(raised.value)
        assert _SECRET not in "\n".join(getattr(raised.value, "__notes__", []))
    found = solution.probe(_key_using_the_secret)
    assert set(found) == {"__globals__", "__code__", "__closure__", "__dict__", "x"}
    for name, outcome in found.items():
        assert outcome.startswith("AttributeError"), (name, outcome)
    assert _SECRET not in repr(found)
    assert solution.sort_by([1, 2], key=_key_using_the_secret) == [2, 1]  # still callable


def test_raw_requests_from_the_code_for_attributes_of_a_tests_function_are_refused(
    hostile: HostileSolution,
) -> None:
    """Even speaking the protocol by hand, the code only gets calls and a few operators."""

    def script(channel: rpc.Channel) -> None:
        request = channel.receive()
        callback = request["args"][0]["id"]
        attempts: list[dict[str, Any]] = [
            {"op": "getattr", "name": "__globals__"},
            {"op": "setattr", "name": "x", "value": 1},
            {"op": "isinstance", "cls": callback},
            {"op": "op", "name": "__getattribute__", "args": ["__globals__"]},
            {"op": "op", "name": "__reduce_ex__", "args": [2]},
            {"op": "op", "name": "__delattr__", "args": ["__code__"]},
            {"op": "call_method", "name": "__dir__"},
        ]
        answers = []
        for number, attempt in enumerate(attempts, start=100):
            channel.send({"n": number, "ref": callback, **attempt})
            answers.append(json.dumps(channel.receive()))
        channel.send(
            {"re": request["n"], "ok": channel.encode({"value": answers, "out": "", "err": ""})}
        )

    solution, _ = hostile(script)
    answers = solution.f(_key_using_the_secret)
    assert len(answers) == 7
    for answer in answers:
        reply = json.loads(answer)
        assert "ok" not in reply and reply["err"]["type"] == "PermissionError", answer
    assert _SECRET not in "".join(answers)
    assert callable(_key_using_the_secret) and _key_using_the_secret.__code__ is not None


def test_a_module_cannot_be_passed_to_the_code(load_solution: LoadSolution) -> None:
    solution = load_solution("def echo(value):\n    return value\n")
    with pytest.raises(rpc.RemoteError, match="module"):
        solution.echo(os)
    with pytest.raises(rpc.RemoteError, match="module"):
        solution.echo([1, {"nested": sys}])
    assert solution.echo(1) == 1


def test_monkeypatching_a_name_of_solution_is_seen_by_the_codes_other_functions(
    load_solution: LoadSolution, monkeypatch: pytest.MonkeyPatch
) -> None:
    solution = load_solution(
        """
        LIMIT = 3

        def helper():
            return 1

        def main():
            return helper() + 1

        def limit():
            return LIMIT
        """
    )
    assert solution.main() == 2
    monkeypatch.setattr(solution, "helper", lambda: 41)
    monkeypatch.setattr(solution, "LIMIT", 99)
    assert solution.main() == 42
    assert solution.limit() == 99
    monkeypatch.undo()
    assert solution.main() == 2
    assert solution.limit() == 3


def test_the_same_object_of_the_code_is_the_same_proxy_every_time_it_crosses(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        class Box:
            pass

        _box = Box()

        def get_obj():
            return _box

        def fresh():
            return Box()

        def is_the_box(value):
            return value is _box
        """
    )
    assert solution.get_obj() is solution.get_obj()
    assert solution.fresh() is not solution.fresh()
    assert solution.is_the_box(solution.get_obj()) is True
    assert solution.is_the_box(solution.fresh()) is False


# --------------------------------------------------------------------------- process ends


def test_a_code_process_that_dies_during_a_call_raises_channel_closed_error(
    load_solution: LoadSolution,
) -> None:
    solution = load_solution(
        """
        import os

        def die():
            os._exit(0)
        """
    )
    with pytest.raises(rpc.ChannelClosedError, match="the code's process is gone"):
        solution.die()
    with pytest.raises(rpc.ChannelClosedError):
        solution.die()


def test_the_code_process_ends_by_itself_when_the_tests_say_bye(
    load_solution: LoadSolution, processes: Processes
) -> None:
    solution = load_solution("def one():\n    return 1\n")
    assert solution.one() == 1
    processes.stop_all()
    [(pid, _)] = processes.started
    status = processes.statuses[pid]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


# --------------------------------------------------------------------------- hostile replies


def _deep(n: int) -> bytes:
    return _raw(b'{"re":%d,"ok":' % n + b"[" * 100_000 + b"]" * 100_000 + b"}")


def _deep_call_reply(n: int) -> bytes:
    """A well-formed call reply whose value is a list nested 50000 levels deep."""
    depth = 50_000
    value = b'{"$":"list","v":[' * depth + b"1" + b"]}" * depth
    return _raw(b'{"re":%d,"ok":{"$":"dict","v":[["value",' % n + value + b"]]}}")


def _call_reply(value: Any) -> Any:
    return {"$": "dict", "v": [["value", None], *value]}


_SYSTEM_EXIT = {"type": "SystemExit", "module": "builtins", "args": {"$": "list", "v": [0]}}

HOSTILE_REPLIES = [
    pytest.param(
        lambda n: _frame({"re": n, "ok": {"$": "os.system", "v": "echo pwned"}}),
        rpc.ProtocolError,
        id="an unknown tag",
    ),
    pytest.param(
        lambda n: _frame({"re": n, "ok": {"$": "ref", "side": "tests", "id": 4242}}),
        rpc.ProtocolError,
        id="a ref to an object the tests never exported",
    ),
    pytest.param(
        lambda n: _frame({"re": n, "ok": {"$": "ref", "side": "tests", "id": True}}),
        rpc.ProtocolError,
        id="a ref whose id is not an integer",
    ),
    pytest.param(
        lambda n: _frame({"re": n, "ok": [1, 2]}),
        rpc.ProtocolError,
        id="an untagged list",
    ),
    pytest.param(
        lambda n: _frame([n, "ok"]),
        rpc.ProtocolError,
        id="a message that is not an object",
    ),
    pytest.param(
        lambda n: _frame({"re": n + 7, "ok": None}),
        rpc.ProtocolError,
        id="a reply to another request number",
    ),
    pytest.param(
        lambda n: (rpc.MAX_MESSAGE + 1).to_bytes(4, "big"),
        rpc.ProtocolError,
        id="a length above MAX_MESSAGE",
    ),
    pytest.param(_deep, Exception, id="JSON nested 100000 levels"),
    pytest.param(_deep_call_reply, Exception, id="a call reply nested 50000 levels"),
    pytest.param(lambda n: _raw(b"\xff{not json"), Exception, id="bytes that are not JSON"),
    pytest.param(
        lambda n: _frame({"re": n, "ok": {"$": "list", "v": []}}),
        rpc.ProtocolError,
        id="a call reply without a value",
    ),
    pytest.param(
        lambda n: _frame({"re": n, "err": _SYSTEM_EXIT}),
        rpc.RemoteError,
        id="an error claiming to be SystemExit",
    ),
    pytest.param(
        lambda n: _frame(
            {"re": n, "err": {**_SYSTEM_EXIT, "type": "KeyboardInterrupt", "args": None}}
        ),
        rpc.RemoteError,
        id="an error claiming to be KeyboardInterrupt",
    ),
    pytest.param(
        lambda n: _frame(
            {"re": n, "ok": _call_reply([["raised", {"$": "error", "v": _SYSTEM_EXIT}]])}
        ),
        rpc.RemoteError,
        id="a call reply raising SystemExit",
    ),
    pytest.param(
        lambda n: _frame(
            {
                "re": n,
                "err": {
                    "type": "Boom",
                    "module": "evil",
                    "args": {"$": "list", "v": []},
                    "class": {
                        "$": "ref",
                        "side": "code",
                        "id": 77,
                        "kind": "class",
                        "name": "Boom",
                        "exception": "SystemExit",
                    },
                },
            }
        ),
        Exception,
        id="an error class based on SystemExit",
    ),
    pytest.param(
        lambda n: _frame({"re": n, "ok": _call_reply([["raised", 5]])}),
        Exception,
        id="a call reply raising a non-exception",
    ),
]


@pytest.mark.parametrize(("build", "expected"), HOSTILE_REPLIES)
def test_a_forged_reply_raises_an_ordinary_exception_and_builds_nothing_on_the_tests_side(
    hostile: HostileSolution, build: Callable[[int], bytes], expected: type[Exception]
) -> None:
    solution, channel = hostile(_reply_with(build))
    proxies_before = dict(channel.proxies)
    raised = _call(lambda: solution.f(1, "two"))
    assert isinstance(raised, expected), repr(raised)
    assert isinstance(raised, Exception), repr(raised)
    assert not isinstance(raised, SystemExit | KeyboardInterrupt)
    assert channel.objects == {}  # nothing of the tests was handed out
    assert channel.proxies == proxies_before


def test_a_forged_error_naming_an_importable_class_builds_no_instance_of_it(
    hostile: HostileSolution, tmp_path: Path
) -> None:
    marker = tmp_path / "created-by-the-reply"
    forged = {
        "type": "Popen",
        "module": "subprocess",
        "args": {"$": "list", "v": [{"$": "list", "v": ["touch", str(marker)]}]},
        "class": {"$": "ref", "side": "tests", "id": 1},
    }
    solution, _ = hostile(_reply_with(lambda n: _frame({"re": n, "err": forged})))
    raised = _call(solution.f)
    assert type(raised) is rpc.RemoteError
    assert "Popen" in str(raised)
    assert not marker.exists()


def test_a_truncated_frame_then_close_raises_channel_closed_error_saying_the_code_is_gone(
    hostile: HostileSolution,
) -> None:
    def script(channel: rpc.Channel) -> None:
        channel.receive()
        channel.sock.sendall((100).to_bytes(4, "big") + b'{"re":1,')
        channel.sock.close()

    solution, _ = hostile(script)
    with pytest.raises(rpc.ChannelClosedError, match="the code's process is gone"):
        solution.f()
