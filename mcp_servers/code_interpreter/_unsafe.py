"""UNSAFE: runs code as a plain child process of this server, with rlimits and nothing else.

Only behind ``CODE_INTERPRETER_BACKEND=unsafe-unsandboxed``, for a developer's own code on
a machine without bubblewrap or Docker. The code can read every file this server can,
reach the network, and leave processes behind that escape its process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from mcp_servers.code_interpreter._fdio import (
    OutputCollector,
    OwnedFds,
    RecordReader,
    nonblocking,
    pump_records,
    write_all,
)
from mcp_servers.code_interpreter._protocol import (
    HARNESS_SOURCE_PATH,
    SANDBOX_ENVIRONMENT,
    SOLUTION,
    EventCallback,
    Job,
    RunOutcome,
    make_tests_root,
)
from mcp_servers.code_interpreter._sandbox_env import SandboxEnv
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings

logger = logging.getLogger(__name__)

WARNING = (
    "CODE_INTERPRETER_BACKEND=unsafe-unsandboxed: code runs WITHOUT ANY SANDBOX as this server's "
    "user (files, network, processes are all reachable). Use it only for code you wrote yourself."
)


class UnsafeUnsandboxedBackend:
    name = "unsafe-unsandboxed"
    isolated = False

    def __init__(self, settings: CodeInterpreterSettings, env: SandboxEnv | None) -> None:
        self._settings = settings
        self._python = str(env.host_python) if env is not None else sys.executable
        logger.warning(WARNING)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "python": self._python, "warning": WARNING}

    @asynccontextmanager
    async def session(self) -> AsyncIterator[UnsafeUnsandboxedBackend]:
        logger.warning(WARNING)
        yield self

    async def run(self, job: Job, on_event: EventCallback | None = None) -> RunOutcome:
        workdir = tempfile.mkdtemp(prefix="promptcraft-unsafe-")
        try:
            return await self._run_in(workdir, job, on_event)
        finally:
            _remove_workdir(workdir)

    async def _run_in(self, workdir: str, job: Job, on_event: EventCallback | None) -> RunOutcome:
        outcome = RunOutcome()
        limits = job.limits
        tests_root = make_tests_root(Path(workdir) / ".promptcraft", f"{workdir}/{SOLUTION}")
        payload = job.payload(
            workdir=workdir,
            tests_root=str(tests_root),
            limits={
                "cpu_seconds": limits.cpu_seconds,
                "file_size": limits.file_size,
                "open_files": limits.open_files,
                "address_space": limits.memory_bytes,
            },
        )
        job_r, job_w = os.pipe()
        rep_r, rep_w = os.pipe()
        process = await anyio.open_process(
            [
                self._python,
                *("-I", "-B", str(HARNESS_SOURCE_PATH), "oneshot"),
                *("--job-fd", str(job_r), "--report-fd", str(rep_w)),
            ],
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env={**SANDBOX_ENVIRONMENT, "HOME": workdir, "TMPDIR": workdir},
            pass_fds=[job_r, rep_w],
            start_new_session=True,
        )
        os.close(job_r)
        os.close(rep_w)
        fds = OwnedFds(nonblocking(job_w), nonblocking(rep_r))

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

        def on_limit() -> None:
            outcome.output_limited = True
            kill()

        async def on_record(record: dict[str, Any]) -> None:
            if on_event is not None:
                await on_event(record)

        collector = OutputCollector(limits.output_bytes, on_limit)
        reader = RecordReader(on_record)
        try:
            await self._supervise(
                process,
                outcome=outcome,
                collector=collector,
                reader=reader,
                fds=fds,
                job_w=job_w,
                rep_r=rep_r,
                payload=json.dumps(payload).encode(),
                kill=kill,
                wall_seconds=limits.wall_seconds,
            )
        except anyio.get_cancelled_exc_class():
            outcome.cancelled = True
            raise
        finally:
            with anyio.CancelScope(shield=True):
                kill()
                if process.returncode is None:
                    await process.wait()
                fds.close_all()
        code = process.returncode
        outcome.exit_code = code
        if code is not None and code < 0:
            outcome.term_signal = -code
            outcome.cpu_limited = -code == signal.SIGXCPU
        outcome.stdout, outcome.stderr = bytes(collector.stdout), bytes(collector.stderr)
        outcome.truncated = collector.truncated
        outcome.records, outcome.bad_records = reader.records, reader.bad
        return outcome

    @staticmethod
    async def _supervise(
        process: Process,
        *,
        outcome: RunOutcome,
        collector: OutputCollector,
        reader: RecordReader,
        fds: OwnedFds,
        job_w: int,
        rep_r: int,
        payload: bytes,
        kill: Callable[[], None],
        wall_seconds: float,
    ) -> None:
        assert process.stdout is not None and process.stderr is not None

        async def read_stream(stream: Any, name: str) -> None:
            async for chunk in stream:
                collector.add(name, chunk)

        async def feed() -> None:
            await write_all(job_w, payload)
            fds.close(job_w)

        start = time.monotonic()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read_stream, process.stdout, "stdout")
            tasks.start_soon(read_stream, process.stderr, "stderr")
            tasks.start_soon(pump_records, rep_r, reader)
            tasks.start_soon(feed)
            with anyio.move_on_after(wall_seconds) as deadline:
                await process.wait()
            if deadline.cancelled_caught:
                outcome.timed_out = True
                kill()
                await process.wait()
            outcome.duration_s = time.monotonic() - start
            kill()  # whatever it left in its process group


def _remove_workdir(workdir: str) -> None:
    with contextlib.suppress(OSError):
        Path(workdir, ".promptcraft", "tests").chmod(0o755)  # read-only during the run
    shutil.rmtree(workdir, ignore_errors=True)
