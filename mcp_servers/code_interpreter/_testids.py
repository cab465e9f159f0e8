"""The tests a run_tests call holds, found by parsing its sources here, outside the sandbox.

The tests in ``tests`` run in a process the code under test cannot reach; the tests
written inside ``code`` are run and reported by the code's own process (see the package
README). Either way the server checks the *shape* of the report for itself: every
reported test must be a test function or method that really exists in the file its id
names, and every plain test function the sources define must be reported. Parsing never
runs the code.

The harness collects ``solution.py`` (the code, in the code's process, when no separate
tests came) and ``test_solution.py`` (the tests, with the code's
public names bound as ``from solution import *`` would); the rules below mirror
``_harness.runs_code_tests``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass, field

import anyio

from mcp_servers.code_interpreter._protocol import SOLUTION, TEST_FILE
from promptcraft import pyast

# Larger sources are parsed in a separate interpreter, under the run's own memory and time
# limits (the sandbox has to compile them within those too): ``ast.parse`` holds the GIL
# throughout, and a pathological 64 KiB source already takes the server's loop 0.2 s.
IN_PROCESS_LIMIT = 64 << 10
# The interpreter itself, before it parses anything, beside the run's memory limit.
_SUBPROCESS_OVERHEAD = 256 << 20


@dataclass(frozen=True)
class FileTests:
    """What one collected file may and must report."""

    parsed: bool
    allowed: frozenset[str] = frozenset()  # base names a reported test may have
    required: frozenset[str] = frozenset()  # plain test functions every honest run reports


@dataclass(frozen=True)
class ExpectedTests:
    files: dict[str, FileTests] = field(default_factory=dict)
    # An unparsable source that pytest collects or imports: the run must report a
    # collection error (and no test from that file).
    needs_collect_error: tuple[str, ...] = ()
    unverifiable: str | None = None


def _is_test_name(name: str) -> bool:
    return name.startswith("test") or name == "runTest"


def _plain_decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    """Undecorated, or only ``pytest.mark.*`` / ``mark.*`` marks: pytest still collects it."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = ast.unparse(target)
        if not (text.startswith(("pytest.mark.", "mark."))):
            return False
    return True


def _final_bindings(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The last statement of a block that binds each name (def, class, assignment, import, del)."""
    last: dict[str, ast.stmt] = {}
    for statement in body:
        names: list[str] = []
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [statement.name]
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            names = [(a.asname or a.name).split(".")[0] for a in statement.names]
        else:
            names = [
                n.id
                for n in ast.walk(statement)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)
            ]
        for name in names:
            last[name] = statement
    return last


def _sets_dunder_test(body: list[ast.stmt]) -> bool:
    return "__test__" in _final_bindings(body)


_PLAIN_BASES = {"object", "TestCase", "unittest.TestCase", "IsolatedAsyncioTestCase"}


def _required(tree: ast.Module) -> set[str]:
    """Test functions pytest certainly collects: top-level ``def test*`` and methods of plain
    top-level ``class Test*`` (no ``__init__``, no foreign base), each still bound to its def."""
    if _sets_dunder_test(tree.body):
        return set()
    found: set[str] = set()
    for name, statement in _final_bindings(tree.body).items():
        if (
            isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and name.startswith("test")
            and _plain_decorators(statement)
        ):
            found.add(name)
        elif (
            isinstance(statement, ast.ClassDef)
            and name.startswith("Test")
            and _plain_decorators(statement)
            and all(ast.unparse(base) in _PLAIN_BASES for base in statement.bases)
            and not statement.keywords
        ):
            members = _final_bindings(statement.body)
            if {"__init__", "__new__", "__test__"} & set(members):
                continue
            found |= {
                member
                for member, node in members.items()
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and member.startswith("test")
                and _plain_decorators(node)
            }
    return found


def _allowed(tree: ast.Module) -> set[str]:
    """Every name starting with ``test`` (or ``runTest``) the file binds anywhere."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [node.name]
        elif isinstance(node, ast.alias):
            names = [node.asname or node.name.split(".")[-1], node.name.split(".")[-1]]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names = [node.id]
        found |= {n for n in names if _is_test_name(n)}
    return found


def _parse(source: str) -> tuple[set[str], set[str]] | None:
    try:
        tree = pyast.parse(source)
        # ast.unparse of a decorator recurses as deep as its attribute chain
        return _allowed(tree), _required(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def parse_names(sources: list[str]) -> list[tuple[list[str], list[str]] | None]:
    """(allowed, required) of each source, or None where it does not parse."""
    found: list[tuple[list[str], list[str]] | None] = []
    for source in sources:
        parsed = _parse(source)
        found.append(None if parsed is None else (sorted(parsed[0]), sorted(parsed[1])))
    return found


_CHILD = (
    "import json, sys\n"
    "from mcp_servers.code_interpreter._testids import parse_names\n"
    "sys.stdout.write(json.dumps(parse_names(json.loads(sys.stdin.read()))))\n"
)


@dataclass(frozen=True)
class ParseLimits:
    """What parsing a run's sources may cost: the run's own memory and wall-clock limits."""

    memory_bytes: int
    seconds: float


def _parse_elsewhere(
    sources: list[str], limits: ParseLimits
) -> list[tuple[list[str], list[str]] | None]:
    """Large sources: parse them in a memory-limited interpreter of our own (never the sandbox's)."""
    import os
    import resource
    from pathlib import Path

    address_space = limits.memory_bytes + _SUBPROCESS_OVERHEAD

    def limit_memory() -> None:  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {root!r})\n" + _CHILD],
        input=json.dumps(sources).encode("utf-8", "surrogatepass"),
        capture_output=True,
        timeout=limits.seconds,
        preexec_fn=limit_memory,
        env={"PATH": os.environ.get("PATH", "/usr/bin")},
        check=True,
    )
    result: list[tuple[list[str], list[str]] | None] = [
        None if item is None else (item[0], item[1]) for item in json.loads(done.stdout)
    ]
    return result


def _names(sources: list[str], limits: ParseLimits) -> list[tuple[list[str], list[str]] | None]:
    if sum(len(s) for s in sources) <= IN_PROCESS_LIMIT:
        return parse_names(sources)
    return _parse_elsewhere(sources, limits)


def expected_tests_sync(code: str, tests: str, limits: ParseLimits) -> ExpectedTests:
    module = tests if tests.strip() else ""
    try:
        code_names, test_names = _names([code, module], limits)
    except subprocess.TimeoutExpired:
        return ExpectedTests(
            unverifiable="the sources could not be parsed outside the sandbox within the run's "
            f"time limit ({limits.seconds:g} s)"
        )
    except subprocess.CalledProcessError:
        return ExpectedTests(
            unverifiable="the sources could not be parsed outside the sandbox within the run's "
            f"memory limit ({limits.memory_bytes} bytes)"
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return ExpectedTests(
            unverifiable=f"the sources could not be parsed outside the sandbox: {exc}"
        )
    collects_tests = bool(module)
    collects_code = not collects_tests  # as _harness.runs_code_tests
    files: dict[str, FileTests] = {}
    needs_error: list[str] = []
    if collects_code:
        files[SOLUTION] = (
            FileTests(True, frozenset(code_names[0]), frozenset(code_names[1]))
            if code_names is not None
            else FileTests(False)
        )
        if code_names is None:
            needs_error.append(SOLUTION)
    if collects_tests:
        if test_names is None:
            files[TEST_FILE] = FileTests(False)
            needs_error.append(TEST_FILE)
        else:
            # The code's own test functions are not bound into the tests' module.
            files[TEST_FILE] = FileTests(True, frozenset(test_names[0]), frozenset(test_names[1]))
            if code_names is None:  # the tests' module cannot be built without the code
                needs_error.append(SOLUTION)
    return ExpectedTests(files=files, needs_collect_error=tuple(needs_error))


async def expected_tests(code: str, tests: str, limits: ParseLimits) -> ExpectedTests:
    """The parse runs in a worker thread (and, for large sources, a separate interpreter)."""
    return await anyio.to_thread.run_sync(expected_tests_sync, code, tests, limits)


def brief(value: object, limit: int = 200) -> str:
    """``value`` as text of at most about ``limit`` characters (a report may hold huge ids)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def split_id(nodeid: str) -> tuple[str, str]:
    """``test_solution.py::TestX::test_y[1-::2]`` -> (``test_solution.py``, ``test_y``)."""
    path, _, rest = nodeid.partition("::")
    base = rest.split("[", 1)[0]
    return path, base.rsplit("::", 1)[-1]


def check_report(
    expected: ExpectedTests,
    collected: list[str],
    collect_errors: list[str],
    skipped_files: list[str],
) -> list[str]:
    """What in the reported collection does not match the sources (empty when it does)."""
    if expected.unverifiable:
        return [expected.unverifiable]
    problems: list[str] = []
    errored = {split_id(i)[0] for i in collect_errors}
    if expected.needs_collect_error and not collect_errors:
        problems.append(
            f"{', '.join(expected.needs_collect_error)} does not parse, yet the run reported "
            "no collection error"
        )
    unknown = []
    for nodeid in collected:
        path, base = split_id(nodeid)
        found = expected.files.get(path)
        if found is None or not found.parsed or path in skipped_files or base not in found.allowed:
            unknown.append(nodeid)
    if unknown:
        shown = [brief(i) for i in unknown[:5]]
        problems.append(f"reported tests that the sources do not define: {shown}")
    if "<collection>" in collect_errors or "" in collect_errors:
        return problems
    reported = {split_id(i) for i in collected}
    for path, found in expected.files.items():
        if path in errored or path in skipped_files:
            continue
        missing = sorted(name for name in found.required if (path, name) not in reported)
        if missing:
            shown = [brief(name) for name in missing[:5]]
            problems.append(f"tests defined in {path} were not reported: {shown}")
    return problems
