"""What every sandbox backend takes and gives back, and the interface they share."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

JobKind = Literal["exec", "tests"]

# The whole environment a sandboxed program sees (bwrap --clearenv, then these).
SANDBOX_ENVIRONMENT: Mapping[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin",
    "HOME": "/tmp",  # noqa: S108 - the run's own tmpfs
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    "LANG": "C.UTF-8",
    "LC_CTYPE": "C.UTF-8",
    # One thread per BLAS: threads count against the process limit and the host has few cores.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

HARNESS_SOURCE_PATH = Path(__file__).with_name("_harness.py")
RPC_SOURCE_PATH = Path(__file__).with_name(
    "_sandbox_rpc.py"
)  # loaded by the harness from beside it

# Paths inside a sandbox, as ``_harness.py`` names them (it cannot import this module).
SANDBOX_TMP = "/tmp"  # noqa: S108 - the run's own tmpfs
SOLUTION = "solution.py"
TEST_FILE = "test_solution.py"
TESTS_ROOT = "/opt/promptcraft/tests"


def make_tests_root(directory: Path, solution: str) -> Path:
    """The tests' collection root for backends that cannot build it in the sandbox.

    An empty ``TEST_FILE`` (the harness compiles the tests from the job, not from it) and
    ``SOLUTION``, a link to the code at ``solution``; read-only, so that nothing the code
    plants (an ``__init__.py``, a ``conftest.py``) can enter the tests' collection.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # a sandbox's unprivileged user reads it
    root = directory / "tests"
    root.mkdir(mode=0o755)
    (root / TEST_FILE).write_bytes(b"")
    (root / SOLUTION).symlink_to(solution)
    root.chmod(0o555)
    return root


@dataclass(frozen=True)
class Limits:
    """The limits of one run, resolved from the settings and the call."""

    wall_seconds: float
    memory_bytes: int
    processes: int
    open_files: int
    file_size: int
    output_bytes: int
    scratch_bytes: int

    @property
    def cpu_seconds(self) -> int:
        return math.ceil(self.wall_seconds) + 1


@dataclass(frozen=True)
class Job:
    kind: JobKind
    code: str
    limits: Limits
    tests: str = ""
    stdin: str = ""
    files: Mapping[str, str] = field(default_factory=dict)

    def payload(self, **extra: Any) -> dict[str, Any]:
        """The JSON the harness reads."""
        return {
            "kind": self.kind,
            "code": self.code,
            "tests": self.tests,
            "stdin": self.stdin,
            "files": dict(self.files),
            **extra,
        }


@dataclass
class RunOutcome:
    """What happened, as the host saw it (never as the sandboxed code claims)."""

    stdout: bytes = b""
    stderr: bytes = b""
    truncated: bool = False
    exit_code: int | None = None
    term_signal: int | None = None
    timed_out: bool = False
    output_limited: bool = False
    memory_limited: bool = False
    cpu_limited: bool = False
    cancelled: bool = False
    duration_s: float = 0.0
    peak_memory_bytes: int | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    bad_records: list[str] = field(default_factory=list)
    setup_error: str | None = None


# Called with each test record as it arrives, and with {"t": "tick"} now and then.
EventCallback = Callable[[dict[str, Any]], Awaitable[None]]


class SandboxRunner(Protocol):
    """A started backend: runs jobs until its session ends."""

    name: str
    isolated: bool

    async def run(self, job: Job, on_event: EventCallback | None = None) -> RunOutcome: ...

    def describe(self) -> dict[str, Any]: ...


class SandboxBackend(Protocol):
    """A configured backend. ``session()`` starts it, proves its isolation (raising when it
    does not hold) and yields the runner; leaving the session stops everything it started."""

    name: str
    isolated: bool

    def session(self) -> AbstractAsyncContextManager[SandboxRunner]: ...

    def describe(self) -> dict[str, Any]: ...
