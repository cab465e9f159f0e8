"""The bubblewrap backend: two warm zygotes, one single-use set of namespaces per run.

Each zygote is one ``bwrap`` sandbox, started as an unprivileged user (when the server
is root) with an empty environment, every namespace unshared, user namespaces
disabled inside, a new session, death with its parent, and nothing from the host
but the read-only package environment (``/usr``, ``/etc``) and the harness. Its
root, ``/dev`` and ``/proc/sys`` are read-only; it has no writable place at all.
It keeps CAP_SYS_ADMIN and CAP_SETPCAP *inside its own user namespace* so it can
give every run fresh namespaces; runs drop every capability before user code starts.
See ``_harness.py`` for the protocol.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.abc

from mcp_servers.code_interpreter._cgroups import Cgroups, CgroupStats, RunCgroup
from mcp_servers.code_interpreter._fdio import (
    OutputCollector,
    OwnedFds,
    RecordReader,
    nonblocking,
    pump,
    pump_records,
    recv_message,
    send_fds,
    send_message,
    seqpacket_pair,
    write_all,
)
from mcp_servers.code_interpreter._protocol import (
    HARNESS_SOURCE_PATH,
    RPC_SOURCE_PATH,
    SANDBOX_ENVIRONMENT,
    SANDBOX_TMP,
    SOLUTION,
    TEST_FILE,
    TESTS_ROOT,
    EventCallback,
    Job,
    RunOutcome,
)
from mcp_servers.code_interpreter._sandbox_env import SandboxEnv
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings
from mcp_servers.code_interpreter.errors import (
    IsolationCheckError,
    SandboxCrashedError,
    SandboxUnavailableError,
)

logger = logging.getLogger(__name__)

HARNESS_IN_SANDBOX = "/opt/promptcraft/harness.py"
RPC_IN_SANDBOX = "/opt/promptcraft/_sandbox_rpc.py"
SANDBOX_UID = 1000  # the uid runs have inside their user namespace
_MIN_BWRAP = (0, 8, 0)  # --disable-userns
_SPAWN_TIMEOUT = 60.0
_HANDSHAKE_TIMEOUT = 30.0
_DRAIN_TIMEOUT = 5.0
_PROGRESS_EVERY = 2.0


def find_bwrap(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        raise SandboxUnavailableError(
            f"bubblewrap ({path}) is not installed: run `make setup` (apt-get install bubblewrap), "
            "set CODE_INTERPRETER_BWRAP_PATH, or choose another CODE_INTERPRETER_BACKEND"
        )
    out = subprocess.run(  # noqa: S603 - our configured bwrap, no user input
        [found, "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    version = tuple(int(x) for x in match.groups()) if match else (0, 0, 0)
    if version < _MIN_BWRAP:
        raise SandboxUnavailableError(
            f"{found} is bubblewrap {'.'.join(map(str, version))}; the sandbox needs 0.8.0 or newer "
            "(for --disable-userns)"
        )
    return found


class _Zygote:
    """One warm interpreter in its own bwrap sandbox, forking each run's pid 1."""

    def __init__(
        self, kind: str, process: anyio.abc.Process, control: socket.socket, log: IO[bytes]
    ) -> None:
        self.kind = kind
        self.process = process
        self.control = control
        self.log = log

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            self.log.seek(0)
            data = self.log.read()
        except (OSError, ValueError):
            return ""
        return data[-limit:].decode("utf-8", "replace").strip()

    async def stop(self) -> None:
        self.control.close()  # the zygote leaves its loop at end of stream
        with anyio.move_on_after(5):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            with anyio.CancelScope(shield=True):
                await self.process.wait()
        self.log.close()


class BubblewrapBackend:
    """Settings checked, tools found; ``session()`` runs the zygotes and the warm pools."""

    name = "bubblewrap"
    isolated = True

    def __init__(self, settings: CodeInterpreterSettings, env: SandboxEnv) -> None:
        self.settings = settings
        self.env = env
        self.bwrap = find_bwrap(settings.bwrap_path)
        try:
            self.cgroups = Cgroups.detect(settings.cgroup, settings.cgroup_root)
        except OSError as exc:
            raise SandboxUnavailableError(
                f"CODE_INTERPRETER_CGROUP={settings.cgroup}: {exc}"
            ) from exc
        if self.cgroups.mode == "none":
            logger.warning(
                "no usable cgroups: memory and process limits fall back to rlimits (RLIMIT_AS per "
                "process, RLIMIT_NPROC shared by all runs of the sandbox user)"
            )
        self.host_uid = settings.sandbox_uid if os.geteuid() == 0 else None
        self.harness_source = HARNESS_SOURCE_PATH.read_bytes()
        self.rpc_source = RPC_SOURCE_PATH.read_bytes()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "bwrap": self.bwrap,
            "cgroups": self.cgroups.describe(),
            "host_uid": self.host_uid if self.host_uid is not None else os.geteuid(),
        }

    @asynccontextmanager
    async def session(self) -> AsyncIterator[BubblewrapSession]:
        """Zygotes up, isolation proven, warm sandboxes filling; everything gone afterwards."""
        from mcp_servers.code_interpreter._probe import check_isolation

        session = BubblewrapSession(self)
        try:
            async with anyio.create_task_group() as tasks:
                for kind in KINDS:
                    await session.zygote(kind)
                session.check_host_side()
                for kind in KINDS:
                    tasks.start_soon(session.fill, kind)
                session.probe_report = await check_isolation(session, self.settings)
                try:
                    yield session
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await session.close()

    def argv(self, kind: str, control_fd: int, harness_fds: Sequence[int]) -> list[str]:
        env = self.env
        args = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID),
            "--hostname", "sandbox",
            "--die-with-parent",
            "--new-session",
            "--cap-add", "CAP_SYS_ADMIN",
            "--cap-add", "CAP_SETPCAP",
            "--ro-bind", str(env.usr), "/usr",
            "--ro-bind", str(env.etc), "/etc",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--proc", "/proc",
            "--dev", "/dev",
            "--remount-ro", "/dev",
            "--dir", "/tmp",  # noqa: S108 - inside the sandbox; each run mounts its own tmpfs here
            "--ro-bind-data", str(harness_fds[0]), HARNESS_IN_SANDBOX,
            "--ro-bind-data", str(harness_fds[1]), RPC_IN_SANDBOX,
            # The tests' read-only collection root: the test file's name (its source comes
            # from the job) and the code, which lives in the run's scratch.
            "--ro-bind-data", str(harness_fds[2]), f"{TESTS_ROOT}/{TEST_FILE}",
            "--symlink", f"{SANDBOX_TMP}/{SOLUTION}", f"{TESTS_ROOT}/{SOLUTION}",
            "--remount-ro", "/",
            "--clearenv",
        ]  # fmt: skip
        for key, value in SANDBOX_ENVIRONMENT.items():
            args += ["--setenv", key, value]
        args += [
            "--chdir", "/",
            "--", env.sandbox_python, "-I", "-B", HARNESS_IN_SANDBOX,
            "zygote", "--kind", kind, "--control-fd", str(control_fd),
            "--scratch", str(self.settings.max_scratch),
        ]  # fmt: skip
        return args

    def job_limits(self, job: Job) -> dict[str, Any]:
        limits = job.limits
        fallback = self.cgroups.mode == "none"
        overhead = 8 + 3 * (self.settings.max_concurrent_runs + self.settings.warm_sandboxes)
        return {
            "cpu_seconds": limits.cpu_seconds,
            "file_size": limits.file_size,
            "open_files": limits.open_files,
            "processes": limits.processes + overhead if fallback else None,
            "address_space": limits.memory_bytes if fallback else None,
        }


KINDS = ("exec", "tests")


class BubblewrapSession:
    """The running part: one zygote and one pool of pre-started sandboxes per kind of job."""

    def __init__(self, backend: BubblewrapBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.isolated = True
        self.probe_report: dict[str, Any] = {}
        self._zygotes: dict[str, _Zygote] = {}
        self._spawn_lock = anyio.Lock()
        self._closing = False
        size = max(backend.settings.warm_sandboxes, 1)
        self._pools = {
            kind: anyio.create_memory_object_stream[_Sandbox](size - 1) for kind in KINDS
        }

    def describe(self) -> dict[str, Any]:
        return {
            **self.backend.describe(),
            "zygotes": {k: z.process.pid for k, z in self._zygotes.items() if z.alive},
        }

    async def close(self) -> None:
        self._closing = True
        for send, receive in self._pools.values():
            send.close()
            while True:
                try:
                    sandbox = receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                await sandbox.destroy()
            receive.close()
        zygotes, self._zygotes = list(self._zygotes.values()), {}
        for zygote in zygotes:
            await zygote.stop()

    def check_host_side(self) -> None:
        """What the probe cannot see from inside: who the sandbox runs as on the host."""
        for zygote in self._zygotes.values():
            status = _read_text(f"/proc/{zygote.process.pid}/status")
            match = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.M)
            if (
                match
                and os.geteuid() == 0
                and (int(match.group(1)) == 0 or int(match.group(2)) == 0)
            ):
                raise IsolationCheckError(
                    "the sandbox runs as root on the host; set CODE_INTERPRETER_SANDBOX_UID to an unused uid"
                )

    # ------------------------------------------------------------------- zygotes

    async def zygote(self, kind: str) -> _Zygote:
        zygote = self._zygotes.get(kind)
        if zygote is not None and zygote.alive:
            return zygote
        async with self._spawn_lock:
            zygote = self._zygotes.get(kind)
            if zygote is None or not zygote.alive:
                if self._closing:
                    raise SandboxCrashedError("the sandbox backend is shutting down")
                if zygote is not None:
                    logger.warning(
                        "the %s zygote died (%s); starting a new one", kind, zygote.log_tail(500)
                    )
                    await zygote.stop()
                zygote = self._zygotes[kind] = await self._spawn(kind)
            return zygote

    async def _spawn(self, kind: str) -> _Zygote:
        backend = self.backend
        host, child = seqpacket_pair()
        files = [
            _memfd("harness.py", backend.harness_source),
            _memfd("rpc.py", backend.rpc_source),
            _memfd("test_solution.py", b""),
        ]
        log, log_fd = _zygote_log()
        try:
            process = await anyio.open_process(
                backend.argv(kind, child.fileno(), files),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                env={},  # bwrap's own pid 1 would otherwise show the host's environment
                pass_fds=[child.fileno(), *files],
                user=backend.host_uid,
                group=backend.host_uid,
                extra_groups=[] if backend.host_uid is not None else None,
            )
        finally:
            child.close()
            for fd in files:
                os.close(fd)
            os.close(log_fd)
        zygote = _Zygote(kind, process, host, log)
        ready: dict[str, Any] | None = None
        with anyio.move_on_after(_SPAWN_TIMEOUT):
            ready, _ = await recv_message(host)
        if not ready or ready.get("event") != "ready":
            tail = zygote.log_tail()
            await zygote.stop()
            hint = ""
            if "Permission denied" in tail and backend.host_uid is not None:
                hint = (
                    f" (the sandbox user, uid {backend.host_uid}, must be able to read "
                    f"{backend.env.directory} and every directory above it; or set "
                    "CODE_INTERPRETER_SANDBOX_ENV_DIR)"
                )
            raise SandboxUnavailableError(
                f"the {kind} sandbox did not start: {tail or 'no output'}{hint}"
            )
        return zygote

    # ------------------------------------------------------------- warm sandboxes

    async def fill(self, kind: str) -> None:
        """Keep pre-started sandboxes waiting for their job; each is used once."""
        send, _ = self._pools[kind]
        delay = 0.05
        while True:
            try:
                sandbox = await self.prepare(kind)
            except (SandboxCrashedError, SandboxUnavailableError, OSError) as exc:
                logger.warning(
                    "could not pre-start a %s sandbox (%s); retrying in %.1fs", kind, exc, delay
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            try:
                await send.send(sandbox)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await sandbox.destroy()
                raise

    async def _take(self, kind: str) -> _Sandbox:
        _, receive = self._pools[kind]
        with anyio.move_on_after(_SPAWN_TIMEOUT):
            while True:
                sandbox = await receive.receive()
                if sandbox.alive():
                    return sandbox
                await sandbox.destroy()
        zygote = self._zygotes.get(kind)
        raise SandboxCrashedError(
            f"no {kind} sandbox could be started: {zygote.log_tail(800) if zygote else 'no zygote'}"
        )

    async def prepare(self, kind: str) -> _Sandbox:
        """One sandbox up to the point where its worker waits for the job."""
        zygote = await self.zygote(kind)
        settings = self.backend.settings
        try:
            cgroup = self.backend.cgroups.create(
                settings.max_memory, settings.max_processes, settings.max_cpus
            )
        except OSError as exc:
            raise SandboxCrashedError(f"could not create a run cgroup: {exc}") from exc
        sandbox = _Sandbox(zygote, cgroup)
        try:
            await sandbox.start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await sandbox.destroy()
            raise
        return sandbox

    async def run(self, job: Job, on_event: EventCallback | None = None) -> RunOutcome:
        sandbox = await self._take(job.kind)
        return await _Run(sandbox, job, self.backend.job_limits(job), on_event).execute()


class _Sandbox:
    """A pre-started, single-use sandbox: fresh namespaces and cgroup, a worker waiting for a job."""

    def __init__(self, zygote: _Zygote, cgroup: RunCgroup | None) -> None:
        self.zygote = zygote
        self.cgroup = cgroup
        self.status, status_child = seqpacket_pair()
        job_r, self.job_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self.fds = OwnedFds(
            nonblocking(self.job_w),
            nonblocking(self.out_r),
            nonblocking(self.err_r),
            nonblocking(self.rep_r),
        )
        self._status_child: socket.socket | None = status_child
        self._child_pipes = [job_r, out_w, err_w, rep_w]
        self.pidfd: int | None = None
        self.destroyed = False

    async def start(self) -> None:
        status_child, pipes = self._status_child, self._child_pipes
        assert status_child is not None, "a sandbox starts once"
        try:
            await send_fds(self.zygote.control, b"{}", [status_child.fileno(), *pipes])
        except OSError as exc:
            raise SandboxCrashedError(f"the {self.zygote.kind} zygote is gone: {exc}") from exc
        finally:
            status_child.close()
            for fd in pipes:
                os.close(fd)
            self._status_child, self._child_pipes = None, []
        hello: dict[str, Any] | None = None
        with anyio.move_on_after(_HANDSHAKE_TIMEOUT):
            hello, init_pid = await recv_message(self.status)
        if hello and hello.get("event") == "error":
            raise SandboxCrashedError(f"the sandbox could not be made: {hello.get('message')}")
        if not hello or hello.get("event") != "hello" or not init_pid:
            raise SandboxCrashedError(f"the sandbox did not start: {self.zygote.log_tail(1000)}")
        self.pidfd = self.fds.add(os.pidfd_open(init_pid))
        if self.cgroup is not None:
            try:
                # Before it forks anything: all its descendants follow. In a thread: the kernel
                # makes each move wait for an RCU grace period (milliseconds), which must not
                # stall the event loop and every other run with it.
                await anyio.to_thread.run_sync(self.cgroup.add, init_pid)
            except OSError as exc:
                raise SandboxCrashedError(
                    f"could not move the sandbox into its cgroup: {exc}"
                ) from exc
        await send_message(self.status, b"go")

    def alive(self) -> bool:
        if self.pidfd is None or self.destroyed:
            return False
        return not select.select([self.pidfd], [], [], 0)[0]  # a pidfd turns readable at exit

    def kill(self) -> None:
        """SIGKILL the sandbox's pid 1: the kernel then kills everything in its pid namespace."""
        if (
            self.pidfd is not None and self.pidfd in self.fds
        ):  # a pidfd never reaches a recycled pid
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    async def destroy(self) -> CgroupStats | None:
        """Kill whatever is left, remove the cgroup, close everything. Idempotent."""
        if self.destroyed:
            return None
        self.destroyed = True
        self.kill()
        stats = None
        if self.cgroup is not None:
            await self.cgroup.kill_all()
            stats = self.cgroup.stats()
            await self.cgroup.remove()
        self.fds.close_all()
        self.status.close()
        return stats


class _Run:
    """One job in one pre-started sandbox, with every limit enforced from outside."""

    def __init__(
        self, sandbox: _Sandbox, job: Job, limits: dict[str, Any], on_event: EventCallback | None
    ) -> None:
        self.sandbox = sandbox
        self.job = job
        self.limits = limits
        self.on_event = on_event
        self.outcome = RunOutcome()

    def _on_output_limit(self) -> None:
        self.outcome.output_limited = True
        self.sandbox.kill()

    async def execute(self) -> RunOutcome:
        try:
            await self._supervise()
            return self.outcome
        except anyio.get_cancelled_exc_class():
            self.outcome.cancelled = True
            raise
        finally:
            with anyio.CancelScope(shield=True):
                stats = await self.sandbox.destroy()
                if stats is not None:
                    self.outcome.memory_limited = self.outcome.memory_limited or stats.oom_kills > 0
                    if stats.peak_memory_bytes is not None:
                        self.outcome.peak_memory_bytes = stats.peak_memory_bytes

    async def _supervise(self) -> None:
        sandbox, job, outcome = self.sandbox, self.job, self.outcome
        collector = OutputCollector(job.limits.output_bytes, self._on_output_limit)
        reader = RecordReader(self._on_record)
        payload = json.dumps(job.payload(limits=self.limits)).encode()
        start = time.monotonic()
        done: dict[str, Any] | None = None
        drained = anyio.Event()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._drain, collector, reader, drained)
            tasks.start_soon(self._feed, payload)
            tasks.start_soon(self._tick, start)
            oom_fd = sandbox.cgroup.oom_events() if sandbox.cgroup is not None else None
            if oom_fd is not None:
                tasks.start_soon(self._watch_oom, sandbox.fds.add(oom_fd))
            with anyio.move_on_after(job.limits.wall_seconds) as deadline:
                done, _ = await recv_message(sandbox.status)
            if deadline.cancelled_caught:
                outcome.timed_out = True
                sandbox.kill()
                with anyio.move_on_after(_HANDSHAKE_TIMEOUT):
                    done, _ = await recv_message(sandbox.status)
            outcome.duration_s = time.monotonic() - start
            with anyio.move_on_after(_DRAIN_TIMEOUT):
                await drained.wait()
            if not drained.is_set() and sandbox.cgroup is not None:
                await sandbox.cgroup.kill_all()
            tasks.cancel_scope.cancel()
        outcome.stdout, outcome.stderr = bytes(collector.stdout), bytes(collector.stderr)
        outcome.truncated = collector.truncated
        outcome.records, outcome.bad_records = reader.records, reader.bad
        self._interpret(done or {})

    async def _on_record(self, record: dict[str, Any]) -> None:
        if self.on_event is not None:
            await self.on_event(record)

    async def _drain(
        self, collector: OutputCollector, reader: RecordReader, drained: anyio.Event
    ) -> None:
        sandbox = self.sandbox
        async with anyio.create_task_group() as pumps:
            pumps.start_soon(pump, sandbox.out_r, lambda chunk: collector.add("stdout", chunk))
            pumps.start_soon(pump, sandbox.err_r, lambda chunk: collector.add("stderr", chunk))
            pumps.start_soon(pump_records, sandbox.rep_r, reader)
        drained.set()

    async def _feed(self, payload: bytes) -> None:
        await write_all(self.sandbox.job_w, payload)
        self.sandbox.fds.close(self.sandbox.job_w)

    async def _tick(self, start: float) -> None:
        while True:
            await anyio.sleep(_PROGRESS_EVERY)
            if self.on_event is not None:
                await self.on_event({"t": "tick", "elapsed": time.monotonic() - start})

    async def _watch_oom(self, efd: int) -> None:
        # The run ends at its first OOM, as a container does: a bomb split across children
        # cannot go on after the kernel killed one of them.
        await anyio.wait_readable(efd)
        self.outcome.memory_limited = True
        self.sandbox.kill()

    def _interpret(self, done: dict[str, Any]) -> None:
        outcome = self.outcome
        if done.get("setup_error"):
            outcome.setup_error = str(done["setup_error"])
        wait_status = done.get("wait_status")
        if isinstance(wait_status, int) and wait_status >= 0:
            code = os.waitstatus_to_exitcode(wait_status)
            if code < 0:
                outcome.term_signal = -code
            outcome.exit_code = code
        if outcome.peak_memory_bytes is None and isinstance(done.get("maxrss_kb"), int):
            outcome.peak_memory_bytes = int(done["maxrss_kb"]) * 1024
        cpu = done.get("cpu_seconds")
        if outcome.term_signal == signal.SIGXCPU or (
            outcome.term_signal == signal.SIGKILL
            and isinstance(cpu, int | float)
            and cpu >= self.job.limits.cpu_seconds - 0.5
        ):
            outcome.cpu_limited = True


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _zygote_log() -> tuple[IO[bytes], int]:
    """A file for a zygote's stdout and stderr: ours to read, its write-only (append).

    A run that somehow inherited the zygote's copy could add to it, never read it.
    """
    fd, name = tempfile.mkstemp(prefix="promptcraft-zygote-")
    try:
        child = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    finally:
        Path(name).unlink()
    return os.fdopen(fd, "rb"), child
