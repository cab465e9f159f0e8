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

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from mcp_servers.code_interpreter._protocol import SOLUTION, TEST_FILE
from mcp_servers.code_interpreter._test_names import Names, parse_names
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


@dataclass(frozen=True)
class ParseLimits:
    """What parsing a run's sources may cost: the run's own memory and wall-clock limits."""

    memory_bytes: int
    seconds: float


_PARSER = Path(__file__).with_name("_test_names.py")


async def _parse_elsewhere(sources: list[str], limits: ParseLimits) -> list[Names | None] | str:
    """Large sources: parse them in a memory-limited process of our own (never the sandbox's),
    killed if the call is cancelled. Each source's names, or why they could not be found."""
    why = "the sources could not be parsed outside the sandbox"
    address_space = limits.memory_bytes + _SUBPROCESS_OVERHEAD
    try:
        with anyio.fail_after(limits.seconds):
            done = await anyio.run_process(
                [sys.executable, "-I", "-S", str(_PARSER), str(address_space)],
                input=json.dumps(sources).encode("utf-8", "surrogatepass"),
                env={"PATH": os.environ.get("PATH", "/usr/bin")},
                check=False,
            )
    except TimeoutError:
        return f"{why} within the run's time limit ({limits.seconds:g} s)"
    except OSError as exc:
        return f"{why}: {exc}"
    if done.returncode != 0:
        if b"MemoryError" in done.stderr:
            return f"{why} within the run's memory limit ({limits.memory_bytes} bytes)"
        return f"{why}: the parser's process failed (exit status {done.returncode})"
    return [None if item is None else (item[0], item[1]) for item in json.loads(done.stdout)]


def _in_process(sources: list[str]) -> list[Names | None]:
    return parse_names(sources, pyast.parse)


async def _parsed(sources: list[str], limits: ParseLimits) -> list[Names | None] | str:
    """Each source's names (None: it does not parse), or why they could not be found."""
    if sum(len(s) for s in sources) <= IN_PROCESS_LIMIT:
        return await anyio.to_thread.run_sync(_in_process, sources)
    return await _parse_elsewhere(sources, limits)


async def expected_tests(code: str, tests: str, limits: ParseLimits) -> ExpectedTests:
    """What the report of a run of ``code`` and ``tests`` must match."""
    module = tests if tests.strip() else ""
    parsed = await _parsed([code, module], limits)
    if isinstance(parsed, str):
        return ExpectedTests(unverifiable=parsed)
    return _expected(parsed[0], parsed[1], collects_tests=bool(module))


def _expected(
    code_names: Names | None, test_names: Names | None, *, collects_tests: bool
) -> ExpectedTests:
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
