"""The tools' logic: validate the call, wait for a slot, run, and read the outcome honestly."""

from __future__ import annotations

import contextlib
import math
import posixpath
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import anyio
from mcp.server.mcpserver.exceptions import ToolError

from mcp_servers.code_interpreter._fdio import TRUNCATION_MARKER
from mcp_servers.code_interpreter._models import (
    ExecutionResult,
    PackageInfo,
    PackageList,
    RunStatus,
    TestCaseResult,
    TestOutcome,
    TestRunResult,
)
from mcp_servers.code_interpreter._protocol import (
    Job,
    Limits,
    RunOutcome,
    SandboxBackend,
    SandboxRunner,
)
from mcp_servers.code_interpreter._sandbox_env import SandboxEnv
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings
from mcp_servers.code_interpreter._testids import (
    ExpectedTests,
    ParseLimits,
    brief,
    check_report,
    expected_tests,
    split_id,
)
from mcp_servers.code_interpreter.errors import SandboxCrashedError

# (progress, total, message)
Progress = Callable[[float, float | None, str], Awaitable[None]]

_LANGUAGES = {"python", "python3", "py"}
_FRAMEWORKS = {"pytest", "unittest"}
_RESERVED = {"main.py"}  # the code itself
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")


class CodeInterpreter:
    def __init__(
        self, settings: CodeInterpreterSettings, backend: SandboxBackend, env: SandboxEnv | None
    ) -> None:
        self.settings = settings
        self.backend = backend  # configured; each serving session starts its own runner
        self.env = env
        self.limiter = anyio.CapacityLimiter(settings.max_concurrent_runs)
        self._importable = set(env.import_names) if env else set()

    # ----------------------------------------------------------------- validation

    def limits(self, timeout_seconds: float) -> Limits:
        cap = self.settings.max_timeout_seconds
        if not 0 < timeout_seconds <= cap:
            raise ToolError(
                f"timeout_seconds must be more than 0 and at most {cap:g} "
                "(CODE_INTERPRETER_MAX_TIMEOUT_SECONDS); ask for less"
            )
        s = self.settings
        return Limits(
            wall_seconds=timeout_seconds,
            memory_bytes=s.max_memory,
            processes=s.max_processes,
            open_files=s.max_open_files,
            file_size=s.max_file_size,
            output_bytes=s.max_output_bytes,
            scratch_bytes=s.max_scratch,
        )

    def _check_size(self, *parts: str) -> None:
        size = sum(len(p.encode("utf-8", "surrogatepass")) for p in parts)
        if size > self.settings.max_scratch // 2:
            raise ToolError(
                f"code, tests, stdin and files come to {size} bytes; the limit is "
                f"{self.settings.max_scratch // 2} (half of CODE_INTERPRETER_MAX_SCRATCH): send less"
            )

    @staticmethod
    def _check_files(files: dict[str, str]) -> None:
        for path in files:
            norm = posixpath.normpath(path)
            if not path or path.startswith("/") or norm.startswith("..") or "\0" in path:
                raise ToolError(
                    f"files: {path!r} must be a relative path inside the working directory (like data/input.csv)"
                )
            if norm in _RESERVED:
                raise ToolError(
                    f"files: {path!r} is reserved for the code itself; choose another name"
                )

    # ---------------------------------------------------------------------- runs

    async def _run(
        self,
        runner: SandboxRunner,
        job: Job,
        progress: Progress | None,
        describe: Callable[[], str],
        watch: Callable[[dict[str, Any]], None] | None = None,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> RunOutcome:
        """Run ``job`` once a slot is free; ``before`` is work of the run's own, in its slot."""
        start = time.monotonic()
        last = [0.0]

        async def report(message: str) -> None:
            if progress is None:
                return
            value = max(time.monotonic() - start, last[0] + 1e-3)
            last[0] = value
            # A client that stopped listening does not stop the run.
            with contextlib.suppress(Exception):
                await progress(round(value, 3), job.limits.wall_seconds, message)

        async def on_event(record: dict[str, Any]) -> None:
            if watch is not None:
                watch(record)
            await report(describe())

        if self.limiter.available_tokens < 1:
            await report(
                f"waiting for a free sandbox ({self.limiter.borrowed_tokens} runs in progress)"
            )
        async with self.limiter:
            start = time.monotonic()
            if before is not None:
                await before()
            try:
                return await runner.run(job, on_event if progress or watch else None)
            except SandboxCrashedError as exc:
                raise ToolError(
                    f"the sandbox failed before the code ran ({exc}); try again"
                ) from exc

    async def execute(
        self,
        runner: SandboxRunner,
        code: str,
        *,
        language: str,
        timeout_seconds: float,
        stdin: str,
        files: dict[str, str],
        progress: Progress | None = None,
    ) -> ExecutionResult:
        if language.strip().lower() not in _LANGUAGES:
            raise ToolError(f"language {language!r} is not supported; only python runs here")
        self._check_files(files)
        self._check_size(code, stdin, *files.values(), *files)
        job = Job(
            kind="exec", code=code, stdin=stdin, files=files, limits=self.limits(timeout_seconds)
        )
        started = time.monotonic()
        outcome = await self._run(
            runner, job, progress, lambda: f"running for {time.monotonic() - started:.0f}s"
        )
        return self.execution_result(outcome, job)

    async def run_tests(
        self,
        runner: SandboxRunner,
        code: str,
        *,
        tests: str,
        framework: str,
        timeout_seconds: float,
        progress: Progress | None = None,
    ) -> TestRunResult:
        if framework.strip().lower() not in _FRAMEWORKS:
            raise ToolError(
                f"framework {framework!r} is not supported; use pytest (it also runs unittest.TestCase tests)"
            )
        self._check_size(code, tests)
        job = Job(kind="tests", code=code, tests=tests, limits=self.limits(timeout_seconds))
        seen: dict[str, int] = {"collected": 0, "done": 0}

        def describe() -> str:
            return f"{seen['done']} of {seen['collected']} tests done"

        def watch(record: dict[str, Any]) -> None:
            if record.get("t") == "collected" and isinstance(record.get("ids"), list):
                seen["collected"] = len(record["ids"])
            elif record.get("t") == "test":
                seen["done"] += 1

        found: list[ExpectedTests] = []

        async def parse() -> None:
            # The tests the sources define, found here (outside the sandbox) to check the
            # report; in the run's slot and within its limits, as the sandbox's own compile.
            limits = ParseLimits(job.limits.memory_bytes, job.limits.wall_seconds)
            found.append(await expected_tests(code, tests, limits))

        outcome = await self._run(
            runner, job, progress, describe, watch if progress else None, before=parse
        )
        if _report_size(outcome) > _RECORDS_READ_IN_LOOP:
            # Reading a long report takes a while: off the event loop, which serves other runs.
            return await anyio.to_thread.run_sync(self.test_result, outcome, job, found[0])
        return self.test_result(outcome, job, found[0])

    def packages(self) -> PackageList:
        env = self.env
        return PackageList(
            python_version=env.python_version if env else sys.version.split()[0],
            backend=self.backend.name,
            packages=[
                PackageInfo(
                    name=p.name,
                    version=p.version,
                    import_names=list(p.import_names),
                    requested=p.requested,
                )
                for p in (env.packages if env else ())
            ],
            note=(
                "Code may import the standard library and these packages only. Nothing can be "
                "installed at run time and the sandbox has no network; the list is set by "
                "CODE_INTERPRETER_ALLOWED_PACKAGES when the server is set up."
            ),
        )

    # ----------------------------------------------------------- reading outcomes

    def _status(self, outcome: RunOutcome) -> RunStatus:
        if outcome.output_limited:
            return "output_limit"
        if outcome.timed_out or outcome.cpu_limited:
            return "timeout"
        if outcome.memory_limited or self._memory_error(outcome):
            return "memory_limit"
        if outcome.setup_error or outcome.exit_code is None:
            return "error"
        if outcome.term_signal is not None and outcome.term_signal not in _CRASH_SIGNALS:
            return "killed"
        return "ok" if outcome.exit_code == 0 else "error"

    def _memory_error(self, outcome: RunOutcome) -> bool:
        """Without cgroups the limit is RLIMIT_AS, which Python reports as MemoryError."""
        tail = outcome.stderr[-400:].decode("utf-8", "replace").rstrip().splitlines()
        return bool(tail) and tail[-1].startswith("MemoryError") and outcome.exit_code != 0

    def _texts(self, outcome: RunOutcome) -> tuple[str, str]:
        stdout = outcome.stdout.decode("utf-8", "replace")
        stderr = outcome.stderr.decode("utf-8", "replace")
        if outcome.setup_error:
            stderr += f"\n[sandbox] the run could not be set up: {outcome.setup_error}\n"
        stderr += self._import_hint(stderr)
        if outcome.truncated:
            marker = TRUNCATION_MARKER.format(limit=self.settings.max_output_bytes)
            if len(outcome.stderr) > len(outcome.stdout):
                stderr += marker
            else:
                stdout += marker
        if outcome.timed_out:
            stderr += f"\n[sandbox] stopped after {outcome.duration_s:.1f}s: the wall-clock limit was reached\n"
        elif outcome.cpu_limited:
            stderr += "\n[sandbox] stopped: the CPU time limit was reached\n"
        if outcome.memory_limited:
            stderr += (
                f"\n[sandbox] the memory limit ({self.settings.max_memory} bytes) was reached\n"
            )
        return stdout, stderr

    def _import_hint(self, text: str) -> str:
        missing = sorted(
            {
                m.split(".")[0]
                for m in _MISSING_MODULE.findall(text)
                if m.split(".")[0] not in self._importable
                and m.split(".")[0] not in sys.stdlib_module_names
            }
        )
        if not missing or self.env is None:
            return ""
        allowed = ", ".join(sorted({p.name for p in self.env.packages if p.requested}))
        return (
            f"\n[sandbox] {', '.join(missing)} is not available: code here can import the standard "
            f"library and {allowed} (CODE_INTERPRETER_ALLOWED_PACKAGES). Nothing can be installed "
            "at run time and there is no network; rewrite the code without it.\n"
        )

    def execution_result(self, outcome: RunOutcome, job: Job) -> ExecutionResult:
        stdout, stderr = self._texts(outcome)
        return ExecutionResult(
            status=self._status(outcome),
            exit_code=outcome.exit_code,
            stdout=stdout,
            stderr=stderr,
            duration_ms=round(outcome.duration_s * 1000, 3),
            peak_memory_bytes=outcome.peak_memory_bytes or 0,
            truncated=outcome.truncated,
        )

    def test_result(
        self, outcome: RunOutcome, job: Job, expected: ExpectedTests | None = None
    ) -> TestRunResult:
        return read_test_outcome(
            outcome, self._test_status(outcome), *self._texts(outcome), expected=expected
        )

    @staticmethod
    def _test_status(outcome: RunOutcome) -> RunStatus:
        """The run's status; the session's own verdict is read from its records afterwards."""
        if outcome.output_limited:
            return "output_limit"
        if outcome.timed_out or outcome.cpu_limited:
            return "timeout"
        if outcome.memory_limited:
            return "memory_limit"
        if outcome.setup_error or outcome.exit_code is None:
            return "error"
        if outcome.term_signal is not None and outcome.term_signal not in _CRASH_SIGNALS:
            return "killed"
        return "ok"


# Reports with more records and collected ids than this are read in a worker thread.
_RECORDS_READ_IN_LOOP = 2000
# A result lists at most this many tests (failures and errors first); its counts cover all.
MAX_LISTED_TESTS = 1000
# More tests than this in one run, or a longer test id, is not a report the server reads.
MAX_REPORTED_TESTS = 100_000
_MAX_ID = 10_000
_MAX_NAME = 1000  # characters of a test's name in a result
_MAX_PROBLEMS = 20  # an untrusted report's reasons that are spelled out
_UNTRUSTED = "not trusted: the run tampered with the test harness (the output says how)"


def _report_size(outcome: RunOutcome) -> int:
    ids = (r.get("ids") for r in outcome.records if r.get("t") == "collected")
    return len(outcome.records) + sum(len(i) for i in ids if isinstance(i, list))


def _duration(value: object) -> float:
    """A reported duration in ms: a finite number, else 0 (as ``_harness._finite``, which
    the sandbox runs on its own)."""
    if not isinstance(value, int | float):
        return 0.0
    try:
        duration = float(value)
    except OverflowError:
        return 0.0
    return duration if math.isfinite(duration) else 0.0


_CRASH_SIGNALS = {
    signal.SIGSEGV,
    signal.SIGABRT,
    signal.SIGBUS,
    signal.SIGFPE,
    signal.SIGILL,
    signal.SIGXFSZ,
}


@dataclass
class _Records:
    """What the harness reported, checked against itself."""

    collected: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    collect_errors: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0  # beyond _MAX_PROBLEMS: counted, not spelled out
    skipped_files: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(brief(text, 400))
        else:
            self.more_problems += 1

    @classmethod
    def read(cls, outcome: RunOutcome, expected: ExpectedTests | None = None) -> _Records:
        """The records in order, with every inconsistency a problem.

        The harness reports exactly one ``collected`` before any test, one ``test`` per
        collected id, and one ``end`` as the process's last act, carrying the status the
        process then exits with. Anything else is another writer on the pipe.
        """
        found = cls()
        for bad in outcome.bad_records[:5]:
            found.problem(f"malformed report record: {brief(repr(bad))}")
        seen_collected = False
        for record in outcome.records:
            kind = record.get("t")
            if kind == "tick":
                continue
            if found.end is not None:
                found.problem(f"a report record arrived after the end: {brief(record)}")
                break
            if kind == "collected" and isinstance(record.get("ids"), list):
                if seen_collected:
                    found.problem("the collected tests were reported more than once")
                    continue
                seen_collected = True
                ids = record["ids"]
                if len(ids) > MAX_REPORTED_TESTS:
                    found.problem(
                        f"the run reported {len(ids)} tests, more than the {MAX_REPORTED_TESTS} "
                        "one run may have; split them over several runs"
                    )
                elif any(not isinstance(i, str) or len(i) > _MAX_ID for i in ids):
                    found.problem(f"a reported test id is not text of at most {_MAX_ID} characters")
                else:
                    found.collected = ids
            elif kind == "test" and isinstance(record.get("id"), str):
                if not seen_collected:
                    found.problem(f"{brief(record['id'])} was reported before collection ended")
                if record["id"] in found.results:
                    found.problem(f"{brief(record['id'])} was reported twice")
                found.results[record["id"]] = record
            elif kind == "collect_error":
                found.collect_errors.append(record)
            elif kind == "collect_skipped" and isinstance(record.get("id"), str):
                found.skipped_files.append(split_id(record["id"])[0])
            elif kind == "end":
                found.end = record
            else:
                found.problem(f"unexpected report record {brief(record)}")
        if found.end is not None:
            tampered = found.end.get("tampered", [])
            for flag in tampered if isinstance(tampered, list) else [tampered]:
                found.problem(str(flag))
            if outcome.exit_code != found.end.get("exitstatus"):
                found.problem(
                    f"the report ended with status {found.end.get('exitstatus')!r} but the test "
                    f"process exited with {outcome.exit_code!r}"
                )
        collected = set(found.collected)
        stray = [brief(name) for name in found.results if name not in collected]
        if stray:
            found.problem(f"results for tests that were never collected: {stray[:5]}")
        if expected is not None and (seen_collected or found.end is not None):
            for problem in check_report(
                expected,
                found.collected,
                [str(e.get("id", "<collection>")) for e in found.collect_errors],
                found.skipped_files,
            ):
                found.problem(problem)
        return found

    def cases(self, unfinished: str) -> list[_Case]:
        """Every test as (name, outcome, duration_ms, message), collection errors first."""
        cases = [
            _Case(str(error.get("id", "<collection>")), "error", 0.0, str(error.get("message", "")))
            for error in self.collect_errors
        ]
        for name in self.collected:
            record = self.results.get(name)
            if record is None:
                cases.append(_Case(name, "error", 0.0, unfinished))
                continue
            outcome = record.get("outcome")
            duration = record.get("duration_ms")
            cases.append(
                _Case(
                    name,
                    outcome if outcome in ("passed", "failed", "error", "skipped") else "error",
                    _duration(duration),
                    str(record.get("message") or ""),
                )
            )
        return cases


class _Case(NamedTuple):
    name: str
    outcome: TestOutcome
    duration_ms: float
    message: str

    def result(self, message: str | None = None) -> TestCaseResult:
        return TestCaseResult(
            name=brief(self.name, _MAX_NAME),
            outcome=self.outcome,
            duration_ms=self.duration_ms,
            message=brief(self.message if message is None else message, 4000),
        )


def _listed(cases: list[_Case]) -> list[_Case]:
    """At most MAX_LISTED_TESTS of them, in run order: failures and errors first, then skips,
    then passes."""
    if len(cases) <= MAX_LISTED_TESTS:
        return cases
    chosen: list[int] = []
    for kinds in (("failed", "error"), ("skipped",), ("passed",)):
        room = MAX_LISTED_TESTS - len(chosen)
        chosen += [i for i, c in enumerate(cases) if c.outcome in kinds][:room]
    return [cases[i] for i in sorted(chosen)]


_UNFINISHED = {
    "timeout": "did not finish: the run's time limit was reached",
    "memory_limit": "did not finish: the run's memory limit was reached",
    "output_limit": "did not finish: the run's output limit was reached",
    "killed": "did not finish: the run was killed",
}


def read_test_outcome(
    outcome: RunOutcome,
    status: RunStatus,
    stdout: str,
    stderr: str,
    expected: ExpectedTests | None = None,
) -> TestRunResult:
    """Counts from the harness's records only; whatever did not report is an error.

    The records arrive over a pipe the code cannot reach (see ``_harness.py``); they are
    cross-checked: a test reported but never collected, a malformed record, or the
    harness's own tamper flags make the whole run an error with nothing passed. So does a
    report whose tests are not the ones ``expected`` (parsed from the sources here), or whose
    end disagrees with how the process exited.
    """
    records = _Records.read(outcome, expected)
    unfinished = _UNFINISHED.get(
        status,
        "did not finish: the test run ended before this test reported (os._exit, a crash, or pytest.exit)",
    )
    cases = records.cases(unfinished)
    note = ""
    if records.problems:
        more = f"; and {records.more_problems} more" if records.more_problems else ""
        note = (
            "the run tampered with the test harness, so no result is trusted: "
            + "; ".join(records.problems)
            + more
        )
        cases = [c._replace(outcome="error") for c in cases] or [
            _Case("<harness>", "error", 0.0, note)
        ]
        stderr += f"\n[sandbox] {note}\n"
    counts = dict.fromkeys(("passed", "failed", "error", "skipped"), 0)
    for case in cases:
        counts[case.outcome] += 1
    total = len(cases)
    listed = _listed(cases)
    if len(listed) < total:
        stderr += (
            f"\n[sandbox] {total} tests ran; the result lists {len(listed)} of them (every "
            "failure and error first, then passes), and its counts cover all\n"
        )
    ran = total - counts["skipped"]
    if status == "ok":
        exitstatus = records.end.get("exitstatus") if records.end else None
        if (
            records.problems
            or records.end is None
            or not records.collected
            or records.collect_errors
            or exitstatus in (2, 3, 4, 5)
        ):
            status = "error"
    output = stdout + (
        ("\n" if stdout and not stdout.endswith("\n") else "") + stderr if stderr.strip() else ""
    )
    if total == 0:
        output += "\n[sandbox] no tests were collected: name test functions test_* (in tests, or in code)\n"
        status = "error" if status == "ok" else status
    return TestRunResult(
        status=status,
        total=total,
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        success_rate=round(counts["passed"] / ran, 6) if ran > 0 else 0.0,
        tests=[case.result(_UNTRUSTED if note else None) for case in listed],
        output=output,
    )
