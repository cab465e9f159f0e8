"""The tools' results (structured content with an output schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

RunStatus = Literal["ok", "error", "timeout", "memory_limit", "output_limit", "killed"]
TestOutcome = Literal["passed", "failed", "error", "skipped"]


class ExecutionResult(BaseModel):
    status: RunStatus = Field(
        description=(
            "ok: exited 0. error: non-zero exit, an uncaught exception or a crash. timeout: wall "
            "clock or CPU time limit. memory_limit: the memory limit was hit. output_limit: "
            "stdout and stderr passed the output limit (the run was stopped). killed: ended by "
            "a signal that no limit explains."
        )
    )
    exit_code: int | None = Field(description="Exit status; negative: the signal that ended it.")
    stdout: str
    stderr: str
    duration_ms: float = Field(description="Wall-clock time of the run itself.")
    peak_memory_bytes: int = Field(description="Most memory the run's processes used at once.")
    truncated: bool = Field(description="Output was cut at the limit; a marker line says so.")


class TestCaseResult(BaseModel):
    name: str = Field(description="pytest node id, e.g. test_solution.py::test_add.")
    outcome: TestOutcome
    duration_ms: float
    message: str = Field(
        description="Failure or error report, or the skip reason; empty when passed."
    )


class TestRunResult(BaseModel):
    status: RunStatus = Field(
        description=(
            "ok: the session ran to its end and collected at least one test (failures are in "
            "the counts). error: nothing collected, a collection error, a session that did not "
            "finish, or a tampered harness. timeout, memory_limit, output_limit, killed: as for "
            "execute_code; tests that did not finish count as errors."
        )
    )
    total: int
    passed: int
    failed: int
    errors: int
    skipped: int
    success_rate: float = Field(description="passed / (total - skipped); 0.0 when nothing ran.")
    tests: list[TestCaseResult]
    output: str = Field(description="pytest's own report and anything the code printed.")


class PackageInfo(BaseModel):
    name: str
    version: str
    import_names: list[str]
    requested: bool = Field(
        description="Listed in CODE_INTERPRETER_ALLOWED_PACKAGES (else a dependency)."
    )


class PackageList(BaseModel):
    python_version: str
    backend: str
    packages: list[PackageInfo]
    note: str
