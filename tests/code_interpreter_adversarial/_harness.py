"""Machinery of the adversarial suite: canaries, the sandbox client, and host probes.

Every program sent to the sandbox starts with PRELUDE, which names its processes
``COMM`` (inherited by forks) so that anything left behind on the host can be found;
programs that exec put ``MARKER`` in argv for the same reason. Canary *values* never
appear in program text: programs are told only where secrets live, and the host checks
that no value came back in any field of any result.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import signal
import socket
import struct
import textwrap
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from promptcraft.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
TAG = secrets.token_hex(4)
MARKER = f"pcadv-{TAG}"  # argv and file names of everything the programs create
COMM = f"pcadv{TAG}"  # process name (15 bytes max) the prelude gives every sandboxed process
CANARY_PREFIX = "PCADV-CANARY-"

# Limits every server in the suite gets unless a test says otherwise.
SUITE_LIMITS: dict[str, Any] = {
    "timeout_seconds": 30,
    "max_memory": "256M",
    "max_output_bytes": 1 << 20,
    "max_processes": 32,
}
MEMORY_LIMIT_BYTES = 256 << 20


def host_namespaces() -> dict[str, str]:
    """The namespaces of this (host) process, e.g. {"pid": "pid:[4026531836]"}."""
    found = {}
    for name in ("mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"):
        with contextlib.suppress(OSError):
            found[name] = str(Path(f"/proc/self/ns/{name}").readlink())
    return found


HOST_NS = host_namespaces()


def new_canary() -> str:
    return CANARY_PREFIX + secrets.token_hex(16)


def call_bound(timeout: float) -> float:
    """How long a call with this wall limit may take before we call it a hang (generous)."""
    return max(20.0, timeout * 3 + 15)


PRELUDE = '''\
import os as _pc_os
try:
    with open("/proc/self/comm", "w") as _pc_comm:
        _pc_comm.write(COMM)
except OSError:
    pass


def _attempt_here(label, action):
    try:
        result = action()
    except BaseException as exc:  # the attack failing is the expected case
        print(f"BLOCKED {label} :: {type(exc).__name__} errno={getattr(exc, 'errno', None)} {exc}", flush=True)
        return
    print(f"ALLOWED {label} :: {result!r}"[:4000], flush=True)


def attempt(label, action):
    """Run one attack step in a child; print BLOCKED or ALLOWED with what it returned.

    The child keeps one step's fate (a seccomp kill, say) from ending the whole program.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = _pc_os.fork()
    except OSError:
        return _attempt_here(label, action)
    if pid == 0:
        try:
            _attempt_here(label, action)
        finally:
            sys.stdout.flush()
            _pc_os._exit(0)
    _, status = _pc_os.waitpid(pid, 0)
    if _pc_os.WIFSIGNALED(status):
        print(f"BLOCKED {label} :: killed by signal {_pc_os.WTERMSIG(status)} errno=None", flush=True)


def libc_call(name, *args):
    """A raw libc call that raises OSError on -1 (ctypes may be absent in a tight sandbox)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    result = getattr(libc, name)(*args)
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, _pc_os.strerror(err))
    return result


def shared_namespaces():
    """Namespaces this sandbox shares with the host (HOST_NS is the host's view)."""
    shared = []
    for name, host_ns in HOST_NS.items():
        try:
            if _pc_os.readlink(f"/proc/self/ns/{name}") == host_ns:
                shared.append(name)
        except OSError:
            pass
    return shared


def isolated():
    """Guard before a step that would harm the host if the sandbox were not isolated."""
    shared = [n for n in shared_namespaces() if n in ("mnt", "pid", "net", "uts", "ipc")]
    if shared:
        print(f"UNSAFE_NOT_ISOLATED shares {shared} with the host; step not attempted", flush=True)
        return False
    return True


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read(1 << 16)


def canary_tokens(data):
    import re

    return sorted(set(re.findall(CANARY_PREFIX.encode() + rb"[0-9a-f]{32}", data)))


def sniff(path):
    """Read a file whole (16 MiB at most); tell its size and any canary-shaped token in it."""
    with open(path, "rb") as handle:
        data = handle.read(16 << 20)
    return f"{len(data)} bytes, tokens {canary_tokens(data)}"
'''


def program(body: str, **constants: object) -> str:
    """Program text: constants (paths, ports, never canary values), the prelude, the body."""
    header = [
        f"MARKER = {MARKER!r}",
        f"COMM = {COMM!r}",
        f"CANARY_PREFIX = {CANARY_PREFIX!r}",
        f"HOST_NS = {HOST_NS!r}",
    ]
    header += [f"{name} = {value!r}" for name, value in constants.items()]
    return "\n".join(header) + "\n" + PRELUDE + "\n" + textwrap.dedent(body)


def lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(word + " ")]


def labels(text: str, word: str) -> list[str]:
    """Labels of the ``ALLOWED label :: ...`` / ``BLOCKED label :: ...`` lines."""
    return [line.split(" :: ", 1)[0].removeprefix(word + " ") for line in lines_with(text, word)]


# --------------------------------------------------------------------------- host facts


@dataclass
class Host:
    """What the session planted and measured on the host before the first program ran."""

    canaries: dict[str, str]
    repo_canary: Path
    tmp_dir: Path
    tmp_canary: Path
    root_canary: Path
    ssh_canary: Path
    sleeper_pid: int
    sleeper_start: str
    mounts_before: set[tuple[str, str, str]]
    cgroups_before: set[str]
    hostname: str
    core_pattern: str
    env_dir: Path | None
    env_before: dict[str, tuple[int, int, int]]
    extra_canaries: dict[str, str] = field(default_factory=dict)

    def all_canaries(self) -> dict[str, str]:
        return {**self.canaries, **self.extra_canaries}

    def fingerprint(self, path: Path) -> tuple[str, int, int]:
        stat = path.stat()
        return (hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mode, stat.st_mtime_ns)


def sandbox_env_dir() -> Path | None:
    """The host directory of the read-only environment the sandbox mounts, if the server says."""
    from mcp_servers.code_interpreter import load_settings

    found = getattr(load_settings(), "effective_sandbox_env_dir", None)
    return Path(found) if found else None


def tree_snapshot(root: Path | None) -> dict[str, tuple[int, int, int]]:
    """(size, mtime, mode) of every entry under root: any write into the tree shows."""
    snapshot: dict[str, tuple[int, int, int]] = {}
    if root is None or not root.is_dir():
        return snapshot
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            with contextlib.suppress(OSError):
                stat = path.lstat()
                snapshot[str(path)] = (stat.st_size, stat.st_mtime_ns, stat.st_mode)
    return snapshot


def tree_changes(before: Mapping[str, object], after: Mapping[str, object]) -> list[str]:
    added = [f"added {p}" for p in after.keys() - before.keys()]
    removed = [f"removed {p}" for p in before.keys() - after.keys()]
    changed = [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(added + removed + changed)


def leaked_canaries(text: str, canaries: Mapping[str, str]) -> list[str]:
    """Names (never values) of canaries present in the text."""
    return [name for name, value in canaries.items() if value in text]


def process_start_time(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start_time: str) -> bool:
    try:
        return process_start_time(pid) == start_time
    except OSError:
        return False


def mount_table() -> set[tuple[str, str, str]]:
    entries = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, source = [*right.split(), "", ""][:2]
        entries.add((fields[4], fstype, source))
    return entries


def cgroup_dirs() -> set[str]:
    """Every cgroup directory (v1 controllers and the v2 hierarchy), to spot leftovers."""
    found: set[str] = set()
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        if "cgroup.procs" in filenames:
            found.add(dirpath)
        if dirpath.count("/") > 8:
            dirnames.clear()
    return found


def cgroup_is_empty(path: str) -> bool:
    try:
        return not Path(path, "cgroup.procs").read_text().strip()
    except OSError:
        return True


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    state: str
    comm: str
    cmdline: bytes


def processes() -> list[ProcInfo]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
            comm = Path(entry.path, "comm").read_text().strip()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        found.append(ProcInfo(int(entry.name), int(rest[1]), rest[0], comm, cmdline))
    return found


def tagged_processes() -> list[ProcInfo]:
    """Processes a sandboxed program of this session started (by name or argv marker)."""
    mine = os.getpid()
    return [
        proc
        for proc in processes()
        if proc.pid != mine and (proc.comm == COMM or MARKER.encode() in proc.cmdline)
    ]


def descendants(root: int) -> list[ProcInfo]:
    table = processes()
    children: dict[int, list[ProcInfo]] = {}
    for proc in table:
        children.setdefault(proc.ppid, []).append(proc)
    found: list[ProcInfo] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


def describe(procs: Iterable[ProcInfo]) -> list[str]:
    return [f"pid={p.pid} ppid={p.ppid} state={p.state} comm={p.comm}" for p in procs]


def wait_for_no_tagged_processes(timeout: float) -> list[ProcInfo]:
    """Tagged processes still present after a bounded grace (kill delivery and reaping)."""
    deadline = time.monotonic() + timeout
    while True:
        left = tagged_processes()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def kill_processes(procs: Iterable[ProcInfo]) -> None:
    """Clean up after a failed containment: only the processes our programs started."""
    for proc in procs:
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)


BULKY_DIRS = {
    ".git",
    ".venv",
    "node_modules",
    ".rustup",
    ".cargo",
    ".pyenv",
    ".npm",
    ".m2",
    ".cache",
    ".tools",
    ".mypy_cache",
    ".ruff_cache",
}


def files_named_with_tag(roots: Iterable[Path], depth: int = 3) -> list[str]:
    """Paths under the roots whose name carries this session's tag (our programs' files)."""
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        base_depth = str(root).rstrip("/").count("/")
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda _: None):
            for name in dirnames + filenames:
                if TAG in name:
                    found.append(str(Path(dirpath, name)))
            if dirpath.count("/") - base_depth >= depth:
                dirnames.clear()
            dirnames[:] = [d for d in dirnames if d not in BULKY_DIRS]
    return found


def interface_addresses() -> tuple[list[str], list[str]]:
    """The host's non-loopback IPv4 and global IPv6 addresses."""
    v4: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            if name == "lo":
                continue
            try:
                packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            v4.append(socket.inet_ntoa(packed[20:24]))
    v6: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw, _, _, scope, _, name = line.split()
            if name != "lo" and scope == "00":
                v6.append(str(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(raw))))
    return v4, v6


# ------------------------------------------------------------------------- the sandbox


class ToolRejectedError(Exception):
    """The server answered with a tool error (is_error) instead of a result."""


@dataclass
class Outcome:
    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    peak_memory_bytes: int | None
    truncated: bool
    elapsed: float
    raw: dict[str, Any]

    def summary(self) -> str:
        """Status and the tail of the output, for assertion messages (no canary values)."""
        return (
            f"status={self.status} exit_code={self.exit_code} elapsed={self.elapsed:.1f}s "
            f"stdout[-600:]={self.stdout[-600:]!r} stderr[-600:]={self.stderr[-600:]!r}"
        )


class Sandbox:
    """One server with its limits, reached through the MCP client as a real caller would."""

    def __init__(self, client: Client, host: Host, limits: Mapping[str, Any]) -> None:
        self.client = client
        self.host = host
        self.limits = dict(limits)

    def _check_no_canary(self, payload: str) -> None:
        leaked = leaked_canaries(payload, self.host.all_canaries())
        assert not leaked, f"secret canaries reached the caller: {leaked}"

    async def call(self, tool: str, arguments: dict[str, Any], bound: float) -> Any:
        started = time.monotonic()
        with anyio.fail_after(bound):
            result = await self.client.call_tool(tool, arguments)
        elapsed = time.monotonic() - started
        text = "".join(getattr(block, "text", "") for block in result.content)
        self._check_no_canary(text + repr(result.structured_content))
        if result.is_error:
            raise ToolRejectedError(text)
        assert isinstance(result.structured_content, dict), f"no structured content: {text!r}"
        return result.structured_content, elapsed

    async def execute(
        self,
        code: str,
        *,
        timeout: float = 2,
        files: Mapping[str, str] | None = None,
        stdin: str = "",
    ) -> Outcome:
        arguments: dict[str, Any] = {"code": code, "timeout_seconds": timeout}
        if files:
            arguments["files"] = dict(files)
        if stdin:
            arguments["stdin"] = stdin
        data, elapsed = await self.call("execute_code", arguments, call_bound(timeout))
        return Outcome(
            status=data["status"],
            exit_code=data.get("exit_code"),
            stdout=data.get("stdout") or "",
            stderr=data.get("stderr") or "",
            duration_ms=data.get("duration_ms") or 0,
            peak_memory_bytes=data.get("peak_memory_bytes"),
            truncated=bool(data.get("truncated")),
            elapsed=elapsed,
            raw=data,
        )

    async def run_tests(self, code: str, tests: str, *, timeout: float = 30) -> dict[str, Any]:
        arguments = {
            "code": code,
            "tests": tests,
            "framework": "pytest",
            "timeout_seconds": timeout,
        }
        data, _ = await self.call("run_tests", arguments, call_bound(timeout))
        assert isinstance(data, dict)
        return data


def size_in_bytes(value: object) -> object:
    """ "256M" -> 268435456 (model_copy does not run the settings' own validators)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if isinstance(value, str) and value[-1:].upper() in units:
        return int(float(value[:-1]) * units[value[-1].upper()])
    return value


def load_suite_settings(**limits: Any) -> Any:
    from mcp_servers.code_interpreter import load_settings

    limits = {key: size_in_bytes(value) for key, value in {**SUITE_LIMITS, **limits}.items()}
    settings = load_settings()
    backend = str(getattr(settings, "backend", "")).lower()
    assert "bwrap" in backend or "bubblewrap" in backend, (
        f"the adversarial suite must run on the bubblewrap backend, default is {backend!r}"
    )
    return settings.model_copy(update=limits)


@contextlib.asynccontextmanager
async def open_sandbox(runtime: Runtime, host: Host, **limits: Any) -> AsyncIterator[Sandbox]:
    from mcp_servers.code_interpreter import create_server

    settings = load_suite_settings(**limits)
    server = create_server(settings, runtime)
    async with Client(server) as client:
        yield Sandbox(client, host, {**SUITE_LIMITS, **limits})
