# A standalone program for the sandbox, written against os-level calls on purpose (it
# manages descriptors one by one) and talking on its own stderr.
# ruff: noqa: PTH100, PTH102, PTH103, PTH109, PTH110, PTH118, PTH120, PTH123, PTH208, T201, S606
"""The program that runs inside the sandbox. Standard library only (plus pytest for test runs).

The server never imports this module: it hands its source to the sandbox read-only
(bubblewrap ``--ro-bind-data``, a docker bind mount, or a file for the unsafe backend)
and runs it with the sandbox's own interpreter.

Modes
-----
``zygote --kind exec|tests --control-fd N`` (bubblewrap)
    A warm interpreter (for ``tests``: pytest imported, configured and its session
    started) that never runs user code itself; it is pid 1 of a pid namespace of its own.
    For each job the server sends over the control socket, it forks the run's *init* I
    straight into a fresh pid namespace (pid 1 there). I unshares fresh mount, network,
    ipc, uts and time namespaces, mounts a fresh size-limited tmpfs on ``/tmp`` (the only
    writable place; ``/dev/shm`` is bound into it) and a fresh ``/proc``, tells the server
    its pid (the kernel translates it, SCM_CREDENTIALS), waits while the server moves it
    into the run's cgroup, unshares a cgroup namespace rooted there, and then forks the
    *worker* W, which reads the job, drops every capability, sets no_new_privs, rlimits and
    a seccomp filter, and runs the user's code. When W exits, I reports how and exits, and
    the kernel kills whatever W left behind in that pid namespace; the zygote reaps I and
    reports its end too. Nothing is shared between runs: each is a fresh fork of the
    pristine zygote in namespaces of its own, destroyed afterwards.

``oneshot --job-fd N [--report-fd M]`` (unsafe backend; docker reads the job from stdin)
    Reads one job, applies the rlimits, runs it in this process.

Test runs have no separate W: their init I is the *tests' process* (pytest over the
``tests`` source compiled in memory, the reporter). Before its job exists, it turns
non-dumpable and forks the *code's process* into a pid namespace and session of its own;
that process receives only the code, imports it as ``solution`` — after running the code's
own tests, when no separate tests came — and serves the tests' calls on it
(``_sandbox_rpc.py``).

Test results travel as JSON lines over a pipe (never a file the code could overwrite):
``collected`` with the node ids, one ``test`` record per finished test, and ``end``. Only
the tests' process holds that pipe; the code's process never has it and relays the
records of its own tests over its socket, which the tests' process checks before passing
them on.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import json
import math
import os
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any

# Captured now, before any user code could replace them.
_write = os.write
_dumps = json.dumps
_monotonic = time.monotonic

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, each with its lock, and KEEP_CAPS_LOCKED.
SECUREBITS_LOCKED_DOWN = 0b11101111

SANDBOX_TMP = "/tmp"  # noqa: S108 - inside the sandbox: a fresh tmpfs per run
SOLUTION = "solution.py"
TEST_FILE = "test_solution.py"
MAIN = "main.py"
# Read-only, made by the backend: an empty TEST_FILE (its source is compiled from the job,
# never read from disk) and SOLUTION, a symbolic link to the code in the run's scratch.
TESTS_ROOT = "/opt/promptcraft/tests"


def _load_rpc() -> Any:
    """``_sandbox_rpc.py`` from beside this file (``-I`` keeps the script's directory off sys.path)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_rpc.py")
    spec = importlib.util.spec_from_file_location("promptcraft_sandbox_rpc", path)
    if spec is None or spec.loader is None:
        raise SetupError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class SetupError(Exception):
    """The sandbox could not be set up; the run never started."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        ),
        f"prctl({option})",
    )


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


# ----------------------------------------------------------------------------- seccomp

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Syscalls no sandboxed program needs and that widen the kernel surface or reach other
# processes: debugging and memory of others, namespaces and mounts, keyrings (shared by
# uid, so a channel between runs), BPF, perf, io_uring, modules, reboot, swap, accounting;
# inotify, whose instances count against one quota that every run's uid shares.
# name, x86_64 number, aarch64 number ("-": the architecture has no such call)
_DENIED = """
ptrace 101 117
process_vm_readv 310 270
process_vm_writev 311 271
kcmp 312 272
pidfd_getfd 438 438
mount 165 40
umount2 166 39
pivot_root 155 41
chroot 161 51
unshare 272 97
setns 308 268
keyctl 250 219
add_key 248 217
request_key 249 218
bpf 321 280
perf_event_open 298 241
userfaultfd 323 282
kexec_load 246 104
kexec_file_load 320 294
init_module 175 105
finit_module 313 273
delete_module 176 106
reboot 169 142
swapon 167 224
swapoff 168 225
acct 163 89
quotactl 179 60
syslog 103 116
open_by_handle_at 304 265
name_to_handle_at 303 264
lookup_dcookie 212 18
io_uring_setup 425 425
io_uring_enter 426 426
io_uring_register 427 427
open_tree 428 428
move_mount 429 429
fsopen 430 430
fsconfig 431 431
fsmount 432 432
fspick 433 433
mount_setattr 442 442
personality 135 92
vhangup 153 58
inotify_init 253 -
inotify_init1 294 26
"""
_SYSCALLS = {
    machine: {
        line.split()[0]: int(line.split()[column])
        for line in _DENIED.strip().splitlines()
        if line.split()[column] != "-"
    }
    for machine, column in (("x86_64", 1), ("aarch64", 2))
}


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """A classic-BPF deny-list: EPERM for the calls in ``_DENIED``, kill for a foreign ABI, allow the rest."""
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    kill, allow, eperm = 0x80000000, 0x7FFF0000, 0x00050000 | 1
    table = _SYSCALLS[machine]
    prog = [
        (ld_abs, 0, 0, 4),
        (jeq, 1, 0, AUDIT_ARCH[machine]),
        (ret, 0, 0, kill),
        (ld_abs, 0, 0, 0),
    ]
    if machine == "x86_64":  # the x32 ABI numbers its syscalls from 0x40000000
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]
    for number in table.values():
        prog += [(jeq, 0, 1, number), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    return prog


def _compiled_seccomp() -> Any:
    machine = os.uname().machine
    if machine not in _SYSCALLS:
        return None
    prog = seccomp_program(machine)
    filters = (_SockFilter * len(prog))(*(_SockFilter(*ins) for ins in prog))
    return _SockFprog(len(prog), filters), filters


_SECCOMP = _compiled_seccomp()  # built once in the zygote; workers only install it


def install_seccomp() -> None:
    if _SECCOMP is None:
        raise SetupError(f"no seccomp syscall table for {os.uname().machine}")
    fprog, _ = _SECCOMP
    _check(
        _libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0),
        "seccomp",
    )


# ------------------------------------------------------------------------- capabilities


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _cap_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except OSError:
        return 63


_CAP_LAST = _cap_last_cap()


def lock_exec_capabilities() -> None:
    """Empty the bounding set and lock the securebits, once, in the zygote.

    Both only govern what an ``execve`` could gain (the zygote never execs, and keeps its
    effective capabilities to make each run's namespaces); every run inherits them.
    """
    if _has_capability(8):  # CAP_SETPCAP: needed to shrink the bounding set and lock securebits
        for cap in range(_CAP_LAST + 1):
            _prctl(PR_CAPBSET_DROP, cap)
        _prctl(PR_SET_SECUREBITS, SECUREBITS_LOCKED_DOWN)


def drop_capabilities() -> None:
    """Empty the ambient, effective, permitted and inheritable sets, for good."""
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _has_capability(cap: int) -> bool:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


# --------------------------------------------------------------------------------- jobs


def _close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _set_rlimits(limits: dict[str, Any]) -> None:
    def lower(kind: int, value: int) -> None:
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))

    lower(resource.RLIMIT_CORE, 0)
    # Queued signals and POSIX message queues count against quotas of the uid that every
    # run shares: any allowance one run used up would be missing from another. kill(),
    # alarms and SIGCHLD are still delivered; mq_open(), timer_create() and real-time
    # sigqueue()/pthread_kill() fail (the package README lists what else changes).
    lower(resource.RLIMIT_SIGPENDING, 0)
    lower(resource.RLIMIT_MSGQUEUE, 0)
    if limits.get("cpu_seconds"):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        lower(
            resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime) + int(limits["cpu_seconds"])
        )
    if limits.get("file_size"):
        lower(resource.RLIMIT_FSIZE, int(limits["file_size"]))
    if limits.get("open_files"):
        lower(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    if limits.get("processes"):
        lower(resource.RLIMIT_NPROC, int(limits["processes"]))
    if limits.get("address_space"):
        lower(resource.RLIMIT_AS, int(limits["address_space"]))


def _stdin_fd(data: str) -> int:
    """The run's stdin: a sealed-off anonymous file with the given text, read from the start."""
    raw = data.encode()
    try:
        fd = os.memfd_create("stdin")
    except (AttributeError, OSError):
        rfd, wfd = os.pipe()
        if len(raw) <= 65536:
            os.write(wfd, raw)
            os.close(wfd)
            return rfd
        os.close(rfd)
        os.close(wfd)
        fd = os.open(SANDBOX_TMP, os.O_TMPFILE | os.O_RDWR, 0o600)
    view = memoryview(raw)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _write_files(workdir: str, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = os.path.normpath(os.path.join(workdir, rel))
        if not path.startswith(workdir + os.sep):
            raise SetupError(f"file path {rel!r} leaves the working directory")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)


_OLD_STREAMS: list[Any] = []


def _reset_streams(*, output: bool) -> None:
    """Fresh sys.stdin (and, for ``output``, stdout/stderr) on fds 0-2, as a plain ``python`` has them.

    The replaced objects are kept alive: they own fds 0-2 and would close them when collected.
    """
    import io

    _OLD_STREAMS.extend(
        [sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__]
    )
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    streams: dict[str, io.TextIOWrapper[Any]] = {
        "stdin": io.TextIOWrapper(
            io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8"
        )
    }
    if output:
        streams["stdout"] = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
            encoding="utf-8",
            line_buffering=True,
        )
        streams["stderr"] = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def harden() -> None:
    """In a pre-started worker, before any job exists: give up everything for good."""
    os.chdir(SANDBOX_TMP)
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")  # the run, not the zygote, is what the OOM killer takes
        finally:
            os.close(fd)
    except OSError:
        pass
    drop_capabilities()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    install_seccomp()


def read_job(fd: int) -> dict[str, Any]:
    job = json.loads(_read_all(fd))
    os.close(fd)
    if not isinstance(job, dict):
        raise SetupError("the job is not an object")
    return job


def apply_job(job: dict[str, Any], workdir: str) -> None:
    """The job's files, stdin and limits: the last step before its code runs."""
    if job["kind"] == "exec":
        _write_files(workdir, {**job.get("files", {}), MAIN: job["code"]})
    else:
        _write_files(workdir, {SOLUTION: job["code"]})
    _apply_process_limits(job, workdir, output=job["kind"] == "exec")
    sys.argv = [MAIN if job["kind"] == "exec" else "pytest"]
    sys.path.insert(0, workdir)


def _apply_process_limits(job: dict[str, Any], workdir: str, *, output: bool) -> None:
    stdin = _stdin_fd(job.get("stdin", ""))
    os.dup2(stdin, 0)
    os.close(stdin)
    os.chdir(workdir)
    _reset_streams(output=output)
    _set_rlimits(job.get("limits", {}))


def runs_code_tests(job: dict[str, Any]) -> bool:
    """The code's own tests run only when no separate tests came: those are what the run is for,
    and the code's process could report its own tests however it liked."""
    return not job.get("tests", "").strip()


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):  # the exit status is what matters now
        print(code, file=sys.stderr)
    return 1


def finish_process(code: int, last: Any = None) -> None:
    """End the process as the interpreter would: join threads, run atexit, flush, exit.

    ``last(code)`` runs just before the exit: a test run's ``end`` record is sent there, so
    that it is the process's last act and carries the status the process exits with.
    """
    import atexit

    with contextlib.suppress(BaseException):  # whatever the threads do, the process ends
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__, *_OLD_STREAMS):
        with contextlib.suppress(BaseException):
            stream.flush()
    if last is not None:
        with contextlib.suppress(BaseException):  # no end record: the server says so
            last(code)
    os._exit(code)


def run_exec(job: dict[str, Any]) -> None:
    """Run ``code`` as ``python main.py`` would, then exit with its status."""
    import builtins
    import types

    path = os.path.join(os.getcwd(), MAIN)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    code = 0
    try:
        compiled = compile(job["code"], path, "exec")
        exec(compiled, main.__dict__)  # noqa: S102 - running the user's code is the point
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        kind, value, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next  # the traceback starts in the user's code, as with `python main.py`
        if value is not None:
            value.__traceback__ = tb
        with contextlib.suppress(BaseException):
            sys.excepthook(kind, value, tb)  # type: ignore[arg-type]
        code = 1
    finish_process(code)


# ------------------------------------------------------------------------- test runs


class Reporter:
    """Writes each record to the server's pipe, as one JSON line, before returning.

    Only the tests' process holds the pipe: the code's process is forked without it, or
    closes its copy first. Writing before returning matters: a test that ends the process
    (``os._exit``) must not take the records of the tests before it along.
    """

    def __init__(self, fd: int, *, token: str | None = None) -> None:
        self.fd = fd
        self._token = token

    def send(self, record: dict[str, Any]) -> None:
        line = _dumps(record, default=str) + "\n"
        if self._token:
            line = f"\x00PCR:{self._token}:{line}"
        view = memoryview(line.encode())
        with contextlib.suppress(OSError):  # the reader is gone; the server counts what it got
            while view:
                view = view[_write(self.fd, view) :]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class _Relay:
    """In the code's process: its own tests' records go to the tests' process, which checks them."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel  # None: the code's own tests do not run, nothing is relayed

    def send(self, record: dict[str, Any]) -> None:
        if self.channel is None:
            return
        with contextlib.suppress(Exception):  # the tests' process is gone: nothing to tell
            self.channel.send({"op": "record", "record": record})

    def close(self) -> None:
        pass


def serve_code(channel: Any) -> None:
    """The code's process: import the code (if its tests did not), describe it, serve, exit."""
    import importlib
    import io

    rpc = sys.modules["promptcraft_sandbox_rpc"]
    for stream in (sys.stdout, sys.stderr):  # the code's own tests' report, if any
        with contextlib.suppress(Exception):
            stream.flush()
    # What the code prints at import goes nowhere, as pytest's capture drops it at collection.
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module = sys.modules.get("solution") or importlib.import_module("solution")
        message = {"op": "ready", "description": rpc.describe_module(channel, module)}
    except BaseException as exc:
        message = {"op": "import_error", "error": channel.encode_error(exc)}
    with contextlib.suppress(Exception):
        channel.send(message)
        rpc.serve(channel)
    os._exit(0)


_RELAYED_OUTCOMES = ("passed", "failed", "error", "skipped")
# Names pytest reads from a test module (and the unittest plugin from sys.modules).
_PYTEST_MODULE_NAMES = frozenset(
    {
        "pytestmark", "pytest_plugins", "setup_module", "teardown_module", "setup_function",
        "teardown_function", "setUpModule", "tearDownModule", "setup", "teardown", "collect_ignore",
        "collect_ignore_glob", "unittest", "pytest",
    }
)  # fmt: skip
# pytest calls a test module's pytest_* functions (pytest_generate_tests) as its hooks.
_PYTEST_HOOK_PREFIX = "pytest_"


def _finite(value: Any) -> float:
    """A number the code's process reported, as a finite float (else 0)."""
    try:
        number = float(value) if isinstance(value, int | float) else 0.0
    except OverflowError:
        return 0.0
    return number if math.isfinite(number) else 0.0


class TestsSide:
    """In the tests' process: the code's process, its module proxy, and its relayed records.

    The code's process may speak only for tests of its own file: anything else it sends
    becomes a collection error of ``solution.py``, never a result of the tests' file.
    """

    def __init__(self, rpc: Any, channel: Any, *, code_tests: bool) -> None:
        self.code_tests = code_tests
        self.rpc = rpc
        self.channel = channel
        self.solution: Any = None
        self.import_error = ""
        self.code_ids: list[str] = []
        self.code_records: list[dict[str, Any]] = []
        self._code_results: dict[str, str] = {}
        self._code_collected = False

    def wait_for_code(self) -> None:
        while True:
            try:
                message = self.channel.receive()
            except self.rpc.RemoteError as exc:
                self.import_error = f"the code's process ended before it was ready ({exc})"
                self._distrust("the code's process ended before it finished its own tests")
                return
            op = message.get("op")
            if op == "record" and self.code_tests:
                self._relay(message.get("record"))
            elif op == "ready":
                try:
                    self.solution = self.rpc.load_proxy_module(
                        self.channel, message.get("description") or {}
                    )
                except Exception as exc:
                    self.import_error = f"the code's process described its module wrongly: {exc}"
                    self.solution = None
                    return
                sys.modules["solution"] = self.solution
                return
            elif op == "import_error":
                error = self.channel.decode_error(message.get("error"))
                notes = "\n".join(getattr(error, "__notes__", []))
                self.import_error = f"{type(error).__name__}: {error}\n{notes}".strip()
                return
            else:
                self._bad(f"an unexpected message {str(op)[:80]!r}")
                return

    def _distrust(self, why: str) -> None:
        """Whatever the code's process reported about its own tests: an error, not a result."""
        for record in self.code_records:
            if record["t"] == "test" and record["outcome"] != "error":
                record.update(outcome="error", message=f"{why}, so its report is not trusted")
                self._code_results[record["id"]] = "error"

    def _bad(self, what: str) -> None:
        self._distrust(f"the code's process sent {what}")
        self.code_records.append(
            {
                "t": "collect_error",
                "id": SOLUTION,
                "message": f"the code's process sent {what}; its tests' results are not trusted",
            }
        )

    def _relay(self, record: Any) -> None:
        if not isinstance(record, dict):
            self._bad("a malformed record")
            return
        kind, nodeid = record.get("t"), record.get("id")
        own = isinstance(nodeid, str) and (nodeid == SOLUTION or nodeid.startswith(SOLUTION + "::"))
        if kind == "collected" and not self._code_collected:
            ids = record.get("ids")
            if not isinstance(ids, list) or not all(
                isinstance(i, str) and i.startswith(SOLUTION + "::") for i in ids
            ):
                self._bad("tests that are not its own")
                return
            self.code_ids, self._code_collected = list(dict.fromkeys(ids)), True
        elif kind == "test" and own and nodeid in self._code_results:
            self._bad(f"a second result for {nodeid}")
        elif kind == "test" and own and nodeid in self.code_ids:
            outcome = record.get("outcome")
            outcome = outcome if outcome in _RELAYED_OUTCOMES else "error"
            self._code_results[nodeid] = outcome
            duration = record.get("duration_ms")
            self.code_records.append(
                {
                    "t": "test",
                    "id": nodeid,
                    "outcome": outcome,
                    "duration_ms": _finite(duration),
                    "message": _text(str(record.get("message") or "")),
                }
            )
        elif kind == "collect_error":
            self.code_records.append(
                {
                    "t": "collect_error",
                    "id": nodeid if own else SOLUTION,
                    "message": _text(str(record.get("message") or "")),
                }
            )
        elif kind == "collect_skipped" and own:
            self.code_records.append({"t": "collect_skipped", "id": SOLUTION})
        else:
            self._bad(f"a record it may not send ({str(kind)[:40]!r} for {str(nodeid)[:120]!r})")

    def star_names(self) -> dict[str, Any]:
        """What ``from solution import *`` binds, less what would let the code steer the tests.

        Left out: names of builtins (a ``len`` of the code would answer the tests' own
        ``len``), modules (the tests import their own ``pytest``, not the code's), names
        pytest gives a meaning to in a test module, and the code's test functions. The
        tests reach all of them as ``solution.<name>``.
        """
        import builtins

        module = self.solution
        names = {}
        for name in getattr(module, "__all__", []):
            value = getattr(module, name, None)
            if (
                name.startswith("_")
                or name in builtins.__dict__
                or name in _PYTEST_MODULE_NAMES
                or name.startswith(_PYTEST_HOOK_PREFIX)
                or self.rpc.is_remote_module(value)
                or name.lower().startswith("test")
            ):
                continue
            names[name] = value
        return names

    def combined_status(self, own: int) -> int:
        """As one pytest session over both files would exit."""
        errors = any(r["t"] == "collect_error" for r in self.code_records)
        failed = any(o in ("failed", "error") for o in self._code_results.values()) or len(
            self._code_results
        ) < len(self.code_ids)
        if own in (2, 3, 4):
            return own
        if errors:
            return 2
        if own == 5:
            return (1 if failed else 0) if self.code_ids else 5
        return 1 if failed else own

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.send({"op": "bye", "n": 0})


_ARGS = [
    "-p", "no:cacheprovider", "-p", "no:faulthandler", "-p", "no:pastebin", "-p", "no:stepwise",
    "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:junitxml",
    "-p", "no:doctest", "-p", "no:setuponly", "-p", "no:setupplan",
    "-c", os.devnull, "--rootdir", TESTS_ROOT, "--noconftest", "--capture=sys", "-q", "--no-header",
    "--tb=short", "-rfE", "-o", "console_output_style=classic", TESTS_ROOT,
]  # fmt: skip


def pytest_args(tests_root: str) -> list[str]:
    args = list(_ARGS[:-1])
    args[args.index("--rootdir") + 1] = tests_root
    return [*args, tests_root]


def _critical_functions() -> dict[str, object]:
    """The pytest internals a forged pass would have to replace, by identity."""
    import _pytest.python
    import _pytest.reports
    import _pytest.runner
    import pluggy

    found: dict[str, object] = {}
    owners: tuple[tuple[Any, tuple[str, ...]], ...] = (
        (
            _pytest.runner,
            (
                "call_and_report",
                "runtestprotocol",
                "call_runtest_hook",
                "check_interactive_exception",
            ),
        ),
        (_pytest.runner.CallInfo, ("from_call",)),
        (_pytest.reports.TestReport, ("from_item_and_call", "__init__")),
        (_pytest.python.Function, ("runtest",)),
        (_pytest.python, ("pytest_pyfunc_call",)),
        (pluggy.HookCaller, ("__call__",)),
        (pluggy.PluginManager, ("_hookexec",)),
    )
    for owner, names in owners:
        for name in names:
            value = (
                owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
            )
            if value is not None:
                found[f"{owner.__name__}.{name}"] = value
    return found


def _text(value: str, limit: int = 4000) -> str:
    return value if len(value) <= limit else value[: limit - 20] + "\n[... message cut ...]"


def _outcome(reports: list[Any]) -> tuple[str, str]:
    """One outcome per test from its setup/call/teardown reports."""
    if not reports:
        return "error", "the test produced no report"
    for report in reports:
        if report.failed:
            kind = "failed" if report.when == "call" else "error"
            return kind, _text(report.longreprtext)
    for report in reports:
        if report.skipped:
            if hasattr(report, "wasxfail"):
                return "skipped", _text(f"xfail: {report.wasxfail}")
            longrepr = report.longrepr
            reason = (
                longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
            )
            return "skipped", _text(str(reason).removeprefix("Skipped: "))
    return "passed", ""


_HARNESS_METHODS = ("finish", "_send", "_tamper", "_check_integrity")


def make_test_harness(control_fd: int | None, job: dict[str, Any] | None = None) -> Any:
    """The pytest plugin that waits for a job (in the zygote), reports outcomes, notices tampering.

    ``control_fd`` set: the plugin's ``pytest_collection`` runs the zygote loop, so pytest
    is configured and its session started before any job exists. ``job`` set (oneshot):
    the job is already prepared.
    """
    import _pytest.timing
    import pytest

    class TestHarness:
        def __init__(self) -> None:
            self.reporter: Reporter | None = None
            self.frozen = False
            self.tampered: list[str] = []
            self.critical: dict[str, object] = {}
            self.phases: dict[str, list[Any]] = {}
            self.config: Any = None
            self.own_hooks: dict[str, object] = {}
            self.tests: TestsSide | None = None  # in the tests' process: the code's process
            self.code_channel: Any = None  # in the code's process: the channel to the tests
            self.sources: dict[str, str] = {}

        def pytest_configure(self, config: Any) -> None:
            self.config = config

        @pytest.hookimpl(tryfirst=True)
        def pytest_collection(self, session: Any) -> Any:
            if self.reporter is not None:
                return None
            if control_fd is not None:
                job_fd, report_fd = serve(control_fd, "tests")  # returns in a worker only
                # Before the job exists: the code's process never holds the tests' source.
                code_end = self.fork_code(session, privileged=True, close=(job_fd, report_fd))
                if code_end is None:
                    return None  # the code's process: pytest goes on with the code's own tests
                harden()
                self.begin(session.config, Reporter(report_fd))
                work, workdir = read_job(job_fd), SANDBOX_TMP  # the job arrives only now
            else:
                assert job is not None
                reporter = Reporter(job["_report_fd"], token=job.get("report_token"))
                self.begin(session.config, reporter)
                work, workdir = job, os.getcwd()
                code_end = self.fork_code(session, privileged=False, close=(reporter.fd,))
                if code_end is None:
                    return None
            self.split(session, work, workdir, code_end)
            self.start_clock(session.config)
            return None

        def fork_code(self, session: Any, *, privileged: bool, close: tuple[int, ...]) -> Any:
            """Fork the code's process; in this one (the tests'), return the socket to it.

            This process turns non-dumpable first, so that the code's process (same uid)
            cannot open its memory or descriptors through /proc. Where it may (``privileged``:
            still holding the sandbox's capabilities), the code's process also gets a pid
            namespace of its own, so it cannot signal this one or change its limits or
            scheduling either. In the code's process, returns None once it is set up.
            """
            rpc = sys.modules.get("promptcraft_sandbox_rpc") or _load_rpc()
            tests_end, code_end = socket.socketpair()
            _prctl(PR_SET_DUMPABLE, 0)
            own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if privileged else -1
            if privileged:
                _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
            pid = os.fork()
            if pid == 0:
                tests_end.close()
                for fd in (*close, own_pid_ns):
                    if fd >= 0:
                        os.close(fd)
                _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                os.setsid()  # kill(0, ...) by the code reaches its own group only
                if privileged:
                    harden()
                channel = rpc.Channel(code_end, "code")
                try:
                    message = channel.receive()
                except rpc.RemoteError:
                    os._exit(0)  # the tests' process is gone
                work, workdir = message.get("job") or {}, str(message.get("workdir"))
                self.become_code(session, work, workdir, str(message.get("root")), channel)
                return None
            if privileged:
                # This process's own later children (the tests' subprocesses) stay beside it.
                _check(_libc.setns(own_pid_ns, CLONE_NEWPID), "setns(CLONE_NEWPID)")
                os.close(own_pid_ns)
            code_end.close()
            return tests_end

        def split(self, session: Any, work: dict[str, Any], workdir: str, code_end: Any) -> None:
            """Hand the code (only the code) to its process; keep the tests and the report pipe."""
            rpc = sys.modules["promptcraft_sandbox_rpc"]
            root = str(work.get("tests_root") or TESTS_ROOT)
            channel = rpc.Channel(code_end, "tests")
            code_job: dict[str, Any] = {
                k: work[k] for k in ("kind", "code", "stdin", "limits") if k in work
            }
            code_job["run_code_tests"] = runs_code_tests(work)
            channel.send({"op": "job", "job": code_job, "workdir": workdir, "root": root})
            _apply_process_limits(work, workdir, output=False)
            sys.argv = ["pytest"]
            self.tests = TestsSide(rpc, channel, code_tests=runs_code_tests(work))
            self.tests.wait_for_code()
            source = work.get("tests", "")
            self.sources = {os.path.join(root, TEST_FILE): source} if source.strip() else {}
            session.config.args = list(self.sources)
            if not self.sources:
                # Only the code's own tests: their report is the run's; this process adds nothing.
                self.pytest_collection_finish(session)
                finish_process(self.exit_status(5), self.finish)

        def become_code(
            self, session: Any, work: dict[str, Any], workdir: str, root: str, channel: Any
        ) -> None:
            """The code's process: run the code's own tests (if any), then serve the tests' calls."""
            code_tests = bool(work.get("run_code_tests"))
            self.reporter = _Relay(channel if code_tests else None)  # type: ignore[assignment]
            self.frozen = False  # this process's records are relayed and checked by the tests' one
            self.code_channel = channel
            apply_job(work, workdir)
            if code_tests:
                session.config.args = [os.path.join(root, SOLUTION)]
                return  # pytest collects and runs them here; run_pytest then calls serve_code
            self.serve_code()

        def serve_code(self) -> None:
            serve_code(self.code_channel)

        @pytest.hookimpl(tryfirst=True)
        def pytest_pycollect_makemodule(self, module_path: Any, parent: Any) -> Any:
            source = self.sources.get(str(module_path))
            if source is None:
                return None
            harness = self

            text: str = source

            class InMemoryModule(pytest.Module):
                def _getobj(self) -> Any:
                    return harness.tests_module(str(self.path), text, self)

            return InMemoryModule.from_parent(parent, path=module_path)

        def tests_module(self, path: str, source: str, node: Any) -> Any:
            """The tests, compiled from the job (asserts rewritten as pytest does), never from disk."""
            import ast
            import builtins
            import linecache
            import types

            from _pytest.assertion.rewrite import rewrite_asserts

            if self.tests is None or self.tests.solution is None:
                error = self.tests.import_error if self.tests is not None else "no code process"
                raise node.CollectError(f"the code under test could not be imported:\n{error}")
            try:
                tree = ast.parse(source, filename=path)
                if node.config.getoption("assertmode") == "rewrite":
                    rewrite_asserts(tree, source.encode(), path, node.config)
                compiled = compile(tree, path, "exec", dont_inherit=True)
            except SyntaxError as exc:
                where = path if exc.lineno is None else f"{path}:{exc.lineno}"
                raise node.CollectError(f"{where}: {exc.msg}\n{exc.text or ''}") from None
            linecache.cache[path] = (len(source), None, source.splitlines(True), path)
            module = types.ModuleType(TEST_FILE[:-3])
            module.__dict__.update(self.tests.star_names())
            module.__dict__.update(__name__=TEST_FILE[:-3], __file__=path, __builtins__=builtins)
            sys.modules[TEST_FILE[:-3]] = module
            exec(compiled, module.__dict__)  # noqa: S102 - the caller's tests, in this process
            return module

        def begin(self, config: Any, reporter: Reporter) -> None:
            """Freeze: from here on no plugin may join, and pytest's internals must stay as they are.

            Output is captured at the sys level (configured in the zygote): in-memory buffers,
            copied into each worker by fork, so no descriptor is shared between runs.
            """
            self.reporter = reporter
            self.critical = _critical_functions()
            self.own_hooks = {
                n: getattr(TestHarness, n)
                for n in dir(TestHarness)
                if n.startswith("pytest_") or n in _HARNESS_METHODS
            }
            self.frozen = True

        def start_clock(self, config: Any) -> None:
            """pytest's "passed in Ns" counts from the job, not from the zygote's start."""
            terminal = config.pluginmanager.get_plugin("terminalreporter")
            if terminal is not None and hasattr(terminal, "_session_start"):
                terminal._session_start = _pytest.timing.Instant()

        def _check_integrity(self) -> None:
            if not self.frozen:
                return
            now = _critical_functions()
            for name, value in self.critical.items():
                if now.get(name) is not value:
                    self._tamper(f"{name} was replaced")
            for name, value in self.own_hooks.items():
                if getattr(TestHarness, name, None) is not value or name in self.__dict__:
                    self._tamper(f"the harness hook {name} was replaced")
            if self.config is not None and not self.config.pluginmanager.is_registered(self):
                self._tamper("the harness plugin was unregistered")

        def _tamper(self, why: str) -> None:
            if why not in self.tampered:
                self.tampered.append(why)

        def _send(self, record: dict[str, Any]) -> None:
            if self.reporter is not None:
                self.reporter.send(record)

        def pytest_plugin_registered(self, plugin: Any, manager: Any) -> None:
            if self.frozen:
                self._tamper(
                    f"a pytest plugin was registered during the run: {manager.get_name(plugin) or plugin!r}"
                )

        def pytest_collectreport(self, report: Any) -> None:
            if report.skipped and report.nodeid:
                # A module-level skip: its file reports no tests (and must not).
                self._send({"t": "collect_skipped", "id": report.nodeid})
            if report.failed:
                self._send(
                    {
                        "t": "collect_error",
                        "id": report.nodeid or "<collection>",
                        "message": _text(report.longreprtext),
                    }
                )

        def pytest_collection_finish(self, session: Any) -> None:
            self._check_integrity()
            own = [item.nodeid for item in session.items]
            if self.tests is None:
                self._send({"t": "collected", "ids": own})
                return
            self._send({"t": "collected", "ids": [*self.tests.code_ids, *own]})
            for record in self.tests.code_records:
                self._send(record)

        def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
            self.phases[nodeid] = []

        @pytest.hookimpl(wrapper=True, tryfirst=True)
        def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
            report = yield
            if call.when == "call" and report.passed and call.excinfo is not None:
                self._tamper(
                    f"{item.nodeid} raised {call.excinfo.typename} but was reported as passed"
                )
            return report

        def pytest_runtest_logreport(self, report: Any) -> None:
            self.phases.setdefault(report.nodeid, []).append(report)

        def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
            self._check_integrity()
            reports = self.phases.pop(nodeid, [])
            outcome, message = _outcome(reports)
            duration = sum(float(getattr(r, "duration", 0.0)) for r in reports)
            self._send(
                {
                    "t": "test",
                    "id": nodeid,
                    "outcome": outcome,
                    "duration_ms": round(duration * 1000, 3),
                    "message": message,
                }
            )

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
            self._check_integrity()

        def exit_status(self, own: int) -> int:
            """pytest's status for this process's tests, combined with the code's own tests."""
            return own if self.tests is None else self.tests.combined_status(own)

        def finish(self, code: int) -> None:
            """The end record, sent by ``finish_process`` right before ``os._exit(code)``."""
            if self.tests is not None:
                self.tests.close()
            self._check_integrity()
            self._send({"t": "end", "exitstatus": code, "tampered": list(self.tampered)})
            if self.reporter is not None:
                self.reporter.close()

    return TestHarness()


def _pytest_environment() -> None:
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        os.environ.pop(name, None)


def run_pytest(args: list[str], harness: Any) -> None:
    import pytest

    code = int(pytest.main(args, plugins=[harness]))
    # In the zygote, only a worker gets here (the zygote itself never leaves its loop).
    if harness.code_channel is not None:
        harness.serve_code()  # the code's process, after its own tests: never returns
    finish_process(harness.exit_status(code), harness.finish)


# ---------------------------------------------------------------------------- zygote


def _receive_fds(control: socket.socket) -> list[int] | None:
    """The descriptors of the next run the server sends (None: interrupted, try again)."""
    fds = array.array("i")
    try:
        msg, ancdata, _, _ = control.recvmsg(4096, socket.CMSG_SPACE(8 * fds.itemsize))
    except InterruptedError:
        return None
    if not msg:
        os._exit(0)  # the server went away
    for level, ctype, data in ancdata:
        if level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)


def _reap(runs: dict[int, socket.socket]) -> None:
    """Reap finished runs and tell the server how each one's pid 1 ended."""
    while True:
        try:
            pid, wait_status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        status = runs.pop(pid, None)
        if status is None:
            continue
        record = {
            "event": "done",
            "wait_status": wait_status,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
        }
        with contextlib.suppress(OSError):  # the server gave up on the run: nothing to tell
            status.send(_dumps(record).encode(), socket.MSG_DONTWAIT)
        status.close()


def _send_creds(sock: socket.socket, record: dict[str, Any], pid: int) -> None:
    creds = struct.pack("iII", pid, os.getuid(), os.getgid())
    sock.sendmsg([_dumps(record).encode()], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])


def _recv_word(sock: socket.socket) -> bytes:
    return sock.recv(64)


def _undo_zygote_signals() -> None:
    """The zygote's only own signal set-up is its SIGCHLD wake-up; the rest is Python's default."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


_ZYGOTE_FDS: set[int] = set()


def _settle(*own_fds: int) -> None:
    """Before the first fork: note the zygote's descriptors, freeze its objects."""
    sys.stdout.flush()
    sys.stderr.flush()
    # The zygote's own descriptors (e.g. pytest's log handler on /dev/null) stay open in the
    # workers: closing them under their Python owners would close reused numbers later.
    _ZYGOTE_FDS.update(int(n) for n in os.listdir("/proc/self/fd"))
    _ZYGOTE_FDS.difference_update(own_fds)
    _ZYGOTE_FDS.intersection_update(int(n) for n in os.listdir("/proc/self/fd"))
    # Every object so far is the zygote's: keep the collector away from them, so workers do
    # not copy the whole heap page by page (copy-on-write) the first time they collect.
    import gc

    gc.collect()
    gc.freeze()


def serve(control_fd: int, kind: str) -> tuple[int, int]:
    """The zygote's loop. Returns only in a (pre-started) run's pid 1: its job fd and report fd.

    For each run the server sends, the zygote forks the run's pid 1 straight into a fresh pid
    namespace (``unshare(CLONE_NEWPID)`` applies to children only, and ``setns`` puts the
    zygote's next children back in its own), keeps the run's status socket, and reports
    there how that pid 1 ended once it reaps it.
    """
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    control = socket.socket(fileno=control_fd)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    runs: dict[int, socket.socket] = {}
    _settle(control_fd, wake_r, wake_w, own_pid_ns)
    control.send(_dumps({"event": "ready", "kind": kind}).encode())
    while True:
        watched: list[Any] = [control, wake_r]
        readable, _, _ = select.select(watched, [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        _reap(runs)
        if control not in readable:
            continue
        received = _receive_fds(control)
        if received is None:
            continue
        if len(received) != 5:
            for fd in received:
                os.close(fd)
            continue
        status = socket.socket(fileno=received[0])
        pid, failure = _fork_into_new_pid_namespace(own_pid_ns)
        if pid == 0:
            _undo_zygote_signals()
            for fd in (wake_r, wake_w, own_pid_ns, control.detach()):
                os.close(fd)
            for other in runs.values():  # other runs' sockets: detached first, closed once
                os.close(other.detach())
            return init(status, *received[1:], is_worker=kind == "tests")
        if failure is None:
            runs[pid] = status
        else:
            with contextlib.suppress(OSError):
                status.send(_dumps({"event": "error", "message": failure}).encode())
            status.close()
        for fd in received[1:]:
            os.close(fd)


def _fork_into_new_pid_namespace(own_pid_ns: int) -> tuple[int, str | None]:
    """Fork a child as pid 1 of a fresh pid namespace: (0, None) in the child, else (pid, why not).

    The zygote's next children go back into its own namespace whether or not the fork
    worked: while another namespace is pending for them, the kernel refuses every further
    ``unshare(CLONE_NEWPID)``, so one failed fork (a pids limit, ENOMEM) would otherwise
    leave the zygote unable to start any run. A zygote that cannot go back must not go on.
    """
    try:
        _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    except SetupError as exc:
        return -1, str(exc)
    try:
        pid, failure = os.fork(), None
    except OSError as exc:
        pid, failure = -1, f"fork: {exc}"
    if pid != 0:
        _check(_libc.setns(own_pid_ns, CLONE_NEWPID), "setns(CLONE_NEWPID)")
    return pid, failure


def _mount_run_filesystems() -> None:
    """A fresh size-limited /tmp (with /dev/shm in it), /proc, ptys; /proc's knobs read-only."""
    _mount(
        "tmpfs",
        SANDBOX_TMP,
        "tmpfs",
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        f"size={_SCRATCH[0]},mode=1777",
    )
    os.mkdir(os.path.join(SANDBOX_TMP, ".shm"), 0o1777)
    _mount(os.path.join(SANDBOX_TMP, ".shm"), "/dev/shm", None, MS_BIND)  # noqa: S108
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # Ptys of its own: the zygote's devpts instance would be shared by concurrent runs.
    _mount(
        "devpts",
        "/dev/pts",
        "devpts",
        MS_NOSUID | MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620",
    )
    for path in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"):
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(
                None,
                path,
                None,
                MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            )


def _make_run_namespaces() -> None:
    """Fresh mount, network, ipc, uts and (where the kernel has them, 5.6+) time namespaces.

    The time namespace applies to this process's children: the code's, for test runs.
    """
    namespaces = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if _libc.unshare(namespaces | CLONE_NEWTIME) != 0:
        _check(_libc.unshare(namespaces), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount_run_filesystems()


def init(
    status: socket.socket,
    job_fd: int,
    stdout_fd: int,
    stderr_fd: int,
    report_fd: int,
    *,
    is_worker: bool,
) -> tuple[int, int]:
    """I: pid 1 of the run. Its namespaces, /tmp and /proc; into the cgroup; then the worker.

    ``is_worker`` (test runs): I is the worker itself, the tests' process, whose code runs
    in a process of its own anyway. Otherwise I forks the worker W (a user's program expects
    signals to work as for any process, which pid 1 of a namespace does not give it), waits,
    and reports W's end; the zygote reports I's.
    """
    _close_fds_except(_ZYGOTE_FDS | {status.fileno(), job_fd, stdout_fd, stderr_fd, report_fd})
    try:
        _make_run_namespaces()
    except (SetupError, OSError) as exc:
        with contextlib.suppress(OSError):
            status.send(_dumps({"event": "error", "message": str(exc)}).encode())
        os._exit(1)
    # Our own pid (1 here): the kernel tells the server who we are in its namespace. The
    # server moves us into the run's cgroup, before we fork anything, and holds a pidfd.
    _send_creds(status, {"event": "hello"}, os.getpid())
    if _recv_word(status) != b"go":
        os._exit(0)
    try:
        _check(_libc.unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP)")  # rooted at the run's
        worker = 0 if is_worker else os.fork()
    except (SetupError, OSError) as exc:
        with contextlib.suppress(OSError):
            status.send(_dumps({"event": "done", "setup_error": str(exc)}).encode())
        os._exit(1)
    if worker == 0:
        status.close()
        # A session (and process group) of its own: kill(0, ...) from inside must not reach
        # the zygote's group (pid 1 of a namespace is not a session leader by that alone).
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        _close_fds_except(_ZYGOTE_FDS | {report_fd, job_fd})
        return job_fd, report_fd
    for fd in (job_fd, stdout_fd, stderr_fd, report_fd):
        os.close(fd)
    # The worker can signal its pid 1, which receives only the signals it handles: Python's
    # SIGINT handler would let it end I (and the report of its own end) with a KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            pid, wait_status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            wait_status, usage = -1, None
            break
        if pid == worker:
            break
    record: dict[str, Any] = {"event": "done", "wait_status": wait_status}
    if usage is not None:
        record.update(cpu_seconds=usage.ru_utime + usage.ru_stime, maxrss_kb=usage.ru_maxrss)
    with contextlib.suppress(OSError):
        status.send(_dumps(record).encode())
    os._exit(0)  # pid 1 leaving takes every process still in this namespace with it


_SCRATCH = [64 * 2**20]


def _become_namespace_init(control_fd: int) -> None:
    """Go on as pid 1 of a pid namespace of our own; this process waits and mirrors the end.

    bwrap's pid namespace belongs to the user namespace outside the one ``--disable-userns``
    makes, where the zygote holds no capability: having made a run's pid namespace, it could
    not put its next children back into bwrap's. Into one of its own it can. Being that
    namespace's pid 1 also means nothing a run leaves outlives the zygote.
    """
    alive_r, alive_w = os.pipe()
    _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if select.select([alive_r], [], [], 0)[0]:  # the parent died before we set the signal
            os._exit(1)
        os.close(alive_r)
        return
    os.close(alive_r)
    os.close(control_fd)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def zygote_main(kind: str, control_fd: int, scratch: int) -> None:
    _SCRATCH[0] = scratch
    _become_namespace_init(control_fd)
    lock_exec_capabilities()
    # pytest shows paths relative to where it started: the tests' root gives "test_solution.py".
    os.chdir(TESTS_ROOT if kind == "tests" else "/")
    if kind == "exec":
        job_fd, report_fd = serve(control_fd, kind)
        os.close(report_fd)
        harden()
        job = read_job(job_fd)  # a pre-started worker waits here for its job
        apply_job(job, SANDBOX_TMP)
        run_exec(job)
        return
    _pytest_environment()
    _load_rpc()  # compiled once here, not in every run
    run_pytest(list(_ARGS), make_test_harness(control_fd))


def oneshot_main(job_fd: int | None, report_fd: int | None) -> None:
    """Unsafe and docker backends: one job, this process, no namespaces of our own."""
    job = json.loads(_read_all(job_fd if job_fd is not None else 0))
    if job_fd is not None:
        os.close(job_fd)
    os.chdir(job.get("workdir") or os.getcwd())
    if job["kind"] == "exec":
        if report_fd is not None:
            os.close(report_fd)
        apply_job(job, os.getcwd())
        run_exec(job)
        return
    _pytest_environment()
    job["_report_fd"] = report_fd if report_fd is not None else os.dup(2)
    run_pytest(pytest_args(job.get("tests_root") or TESTS_ROOT), make_test_harness(None, job))


def main(argv: list[str]) -> None:
    mode = argv[0] if argv else ""
    opts = dict(zip(argv[1::2], argv[2::2], strict=False))
    if mode == "zygote":
        if "--environment" not in opts:
            # bwrap always gives its command PWD, and /proc/<pid>/environ shows a process's
            # *initial* environment forever: start again from an empty one, so that every
            # run's pid 1 (a fork of this process) has nothing in /proc/1/environ. The
            # variables the runs should see are handed over as an argument and put into
            # os.environ (the C environ) only.
            wanted = {k: v for k, v in os.environ.items() if k != "PWD"}
            os.execve(
                sys.executable,
                [
                    sys.executable,
                    "-I",
                    "-B",
                    os.path.abspath(__file__),
                    *argv,
                    "--environment",
                    _dumps(wanted),
                ],
                {},
            )
        os.environ.clear()
        os.environ.update(json.loads(opts["--environment"]))
        zygote_main(
            opts["--kind"], int(opts["--control-fd"]), int(opts.get("--scratch", _SCRATCH[0]))
        )
    elif mode == "oneshot":
        job_fd = int(opts["--job-fd"]) if "--job-fd" in opts else None
        report_fd = int(opts["--report-fd"]) if "--report-fd" in opts else None
        oneshot_main(job_fd, report_fd)
    else:
        print(
            "usage: harness.py zygote --kind exec|tests --control-fd N | oneshot ...",
            file=sys.stderr,
        )
        raise SystemExit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
