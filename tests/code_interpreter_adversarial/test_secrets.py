"""Host secrets stay out of reach: environment, other processes, home, /etc, our own files.

Every result of every call is also checked for every canary value (see Sandbox.call), so
a secret that leaks through an unexpected path fails the test that caused it.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    REPO_ROOT,
    Host,
    Outcome,
    labels,
    lines_with,
    open_sandbox,
    program,
)

pytestmark = pytest.mark.anyio


def allowed_lines(out: Outcome, prefix: str = "") -> list[str]:
    return [line for line in lines_with(out.stdout, "ALLOWED") if line[8:].startswith(prefix)]


async def run(
    runtime: Runtime, host: Host, body: str, timeout: float = 5, **consts: object
) -> Outcome:
    async with open_sandbox(runtime, host) as sandbox:
        out = await sandbox.execute(program(body, **consts), timeout=timeout)
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    return out


async def test_proc_1_environ_and_every_visible_environ_hold_no_host_variable(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os
        def names(path):
            data = read_bytes(path)
            keys = sorted(item.split(b"=", 1)[0].decode("ascii", "replace") for item in data.split(b"\\0") if item)
            return f"{len(data)} bytes, names {keys}, tokens {canary_tokens(data)}"
        for path in ("/proc/1/environ", "/proc/self/environ", f"/proc/{os.getppid()}/environ"):
            attempt(path, lambda path=path: names(path))
        for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
            attempt(f"pid {pid} environ", lambda pid=pid: sniff(f"/proc/{pid}/environ"))
        attempt("host sleeper environ", lambda: sniff(f"/proc/{SLEEPER_PID}/environ"))
        attempt("host server environ", lambda: sniff(f"/proc/{SERVER_PID}/environ"))
        print("DONE", flush=True)
    """
    out = await run(
        secret_runtime, host, body, SLEEPER_PID=host.sleeper_pid, SERVER_PID=os.getpid()
    )
    pid1 = [line for line in lines_with(out.stdout, "ALLOWED") if "/proc/1/environ" in line]
    assert all(":: '0 bytes" in line for line in pid1), f"PID 1 has an environment: {pid1}"
    assert not allowed_lines(out, "host "), out.summary()


# Values a sandbox sets for itself; equal to the host's by coincidence, not inheritance.
GENERIC_ENV = {
    *("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "SHELL", "PWD", "TMPDIR"),
    *("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONUTF8"),
    *("PYTHONNOUSERSITE", "PYTHONSAFEPATH", "PYTHONHASHSEED"),
}


async def test_os_environ_carries_nothing_from_the_host(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import hashlib, json, os
        digests = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()}
        print("ENV " + json.dumps(digests), flush=True)
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    env = json.loads(lines_with(out.stdout, "ENV")[0].removeprefix("ENV "))
    ours = [k for k in env if k.startswith(("PC_ADV", "PROMPTCRAFT_", "CODE_INTERPRETER_"))]
    assert not ours, f"server configuration reached the sandbox: {ours}"
    host_env = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()}
    same = [k for k, v in env.items() if host_env.get(k) == v and k not in GENERIC_ENV]
    assert not same, f"host environment variables inherited: {same}"


async def test_host_processes_are_invisible(secret_runtime: Runtime, host: Host) -> None:
    body = """
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(f"PIDS {len(pids)}", flush=True)
        for pid in pids:
            try:
                print(f"CMDLINE {pid} {read_bytes(f'/proc/{pid}/cmdline')!r}", flush=True)
            except OSError as exc:
                print(f"CMDLINE {pid} unreadable {exc}", flush=True)
        attempt("host sleeper cmdline", lambda: read_bytes(f"/proc/{SLEEPER_PID}/cmdline"))
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body, SLEEPER_PID=host.sleeper_pid)
    count = int(lines_with(out.stdout, "PIDS")[0].split()[1])
    assert count <= 10, f"{count} processes visible: the PID namespace is not private"
    assert "pytest" not in out.stdout, "the server's own process is visible"


async def test_ssh_keys_and_root_home_are_invisible(secret_runtime: Runtime, host: Host) -> None:
    body = """
        import glob, os
        home = os.path.expanduser("~")
        print(f"HOME {home}", flush=True)
        for directory in ("/root", "/home", home):
            attempt(f"list {directory}", lambda d=directory: sorted(os.listdir(d)))
        for directory in ("/root/.ssh", os.path.join(home, ".ssh")):
            attempt(f"hidden list {directory}", lambda d=directory: sorted(os.listdir(d)))
        keys = glob.glob("/root/.ssh/*") + glob.glob("/home/*/.ssh/*") + glob.glob(home + "/.ssh/*")
        for path in sorted(set(keys)):
            attempt(f"hidden read {path}", lambda p=path: sniff(p))
        attempt("hidden read ssh canary", lambda: sniff(SSH_CANARY))
        attempt("hidden read root canary", lambda: sniff(ROOT_CANARY))
        print("DONE", flush=True)
    """
    out = await run(
        secret_runtime,
        host,
        body,
        SSH_CANARY=str(host.ssh_canary),
        ROOT_CANARY=str(host.root_canary),
    )
    assert not allowed_lines(out, "hidden "), out.summary()
    listings = "\n".join(allowed_lines(out, "list "))
    assert host.root_canary.name not in listings, "the host's /root is listed in the sandbox"
    assert host.ssh_canary.name not in listings, "the host's ~/.ssh is listed in the sandbox"


async def test_etc_shadow_and_host_keys_are_unreadable(secret_runtime: Runtime, host: Host) -> None:
    body = """
        paths = ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/shadow-",
                 "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]
        for path in paths:
            attempt(path, lambda p=path: sniff(p))
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    readable = [line for line in lines_with(out.stdout, "ALLOWED") if "'0 bytes" not in line]
    assert not readable, f"host secrets readable: {labels(out.stdout, 'ALLOWED')}"
    assert len(labels(out.stdout, "BLOCKED")) + len(labels(out.stdout, "ALLOWED")) == 6


async def test_the_servers_own_files_and_database_are_unreadable(
    secret_runtime: Runtime, host: Host
) -> None:
    data_dir = secret_runtime.settings.data_dir
    paths = [
        str(host.repo_canary),
        str(REPO_ROOT / "pyproject.toml"),
        str(REPO_ROOT / "mcp_servers" / "code_interpreter" / "__init__.py"),
        str(REPO_ROOT / "promptcraft" / "settings.py"),
        str(REPO_ROOT / ".git" / "config"),
        str(REPO_ROOT / ".venv" / "pyvenv.cfg"),
        str(data_dir / "jwt_secret"),
        str(data_dir / "promptcraft.db"),
        str(data_dir / "promptcraft.db-wal"),
    ]
    body = """
        import os
        for path in PATHS:
            attempt(f"read {path}", lambda p=path: sniff(p))
        attempt(f"list {DATA_DIR}", lambda: sorted(os.listdir(DATA_DIR)))
        attempt(f"list {REPO}/promptcraft", lambda: sorted(os.listdir(REPO + "/promptcraft")))
        print("DONE", flush=True)
    """
    out = await run(
        secret_runtime, host, body, PATHS=paths, DATA_DIR=str(data_dir), REPO=str(REPO_ROOT)
    )
    assert labels(out.stdout, "ALLOWED") == [], out.summary()


async def test_proc_root_and_cwd_links_lead_nowhere_on_the_host(
    secret_runtime: Runtime, host: Host
) -> None:
    targets = [
        str(p) for p in (host.repo_canary, host.tmp_canary, host.root_canary, host.ssh_canary)
    ]
    body = """
        import os
        bases = ["/proc/1/root", "/proc/self/root", f"/proc/{os.getppid()}/root",
                 f"/proc/{SLEEPER_PID}/root", f"/proc/{SERVER_PID}/root",
                 "/proc/self/root/../../..", "/proc/1/root/proc/1/root"]
        for base in bases:
            for target in TARGETS:
                attempt(f"read {base}{target}", lambda p=base + target: sniff(p))
        for link in ("/proc/1/cwd", f"/proc/{SERVER_PID}/cwd", f"/proc/{SLEEPER_PID}/cwd"):
            attempt(f"read {link} listing", lambda l=link: sorted(os.listdir(l)))
        print("DONE", flush=True)
    """
    out = await run(
        secret_runtime,
        host,
        body,
        TARGETS=targets,
        SLEEPER_PID=host.sleeper_pid,
        SERVER_PID=os.getpid(),
    )
    reads = [label for label in labels(out.stdout, "ALLOWED") if label.startswith("read /proc/")]
    host_cwd = [label for label in reads if "listing" in label and "/proc/1/" not in label]
    assert not [r for r in reads if "listing" not in r], out.summary()
    assert not host_cwd, out.summary()


async def test_no_file_descriptor_of_the_server_is_inherited(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os, stat
        for fd in sorted(int(x) for x in os.listdir("/proc/self/fd")):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                kind = stat.S_IFMT(os.fstat(fd).st_mode)
            except OSError as exc:
                continue
            print(f"FD {fd} kind={kind:o} -> {target}", flush=True)
            if fd > 2 and stat.S_ISREG(os.fstat(fd).st_mode):
                attempt(f"read fd {fd}", lambda fd=fd: os.pread(fd, 1 << 20, 0)[:200])
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    fds = lines_with(out.stdout, "FD")
    host_paths = (str(REPO_ROOT), str(secret_runtime.settings.data_dir), str(host.tmp_dir), "/root")
    leaked = [line for line in fds if any(p in line.split("-> ", 1)[1] for p in host_paths)]
    assert not leaked, f"server file descriptors inherited: {leaked}"
    assert not [line for line in fds if "socket:" in line and int(line.split()[1]) > 2], fds


async def test_a_walk_of_the_whole_sandbox_filesystem_finds_no_canary(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os, time
        deadline = time.monotonic() + 10
        found, files, partial = set(), 0, False
        for top in sorted(os.listdir("/")):
            if top in ("proc", "sys", "dev") or partial:
                continue
            for dirpath, dirnames, filenames in os.walk("/" + top):
                if time.monotonic() > deadline:
                    partial = True
                    break
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    try:
                        if os.path.islink(path) or os.path.getsize(path) > (256 << 10):
                            continue
                        with open(path, "rb") as handle:
                            found.update(canary_tokens(handle.read()))
                        files += 1
                    except OSError:
                        pass
        print(f"TOPLEVEL {sorted(os.listdir('/'))}", flush=True)
        print(f"FILES {files} partial={partial}", flush=True)
        print(f"FOUND {sorted(found)}", flush=True)
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body, timeout=15)
    assert "FOUND []" in out.stdout, "canaries found on the sandbox's filesystem"
    files = int(lines_with(out.stdout, "FILES")[0].split()[1])
    assert files > 0, out.summary()


async def test_a_test_runs_processes_hold_no_descriptor_of_another_run(
    secret_runtime: Runtime, host: Host
) -> None:
    # The zygote holds every pending run's status socket when it forks a run; the run must
    # keep only its own channels: the tests' process the report pipe and the socket to the
    # code's process, the code's process that socket alone.
    describe = """
import os, stat

def sockets_and_pipes():
    found = []
    for fd in sorted(int(x) for x in os.listdir("/proc/self/fd")):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if fd > 2 and (stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode)):
            found.append("socket" if stat.S_ISSOCK(mode) else "pipe")
    return found
"""
    tests = (
        describe.replace("sockets_and_pipes", "own_sockets_and_pipes")
        + """

def test_each_process_holds_only_its_own_channels():
    assert sorted(own_sockets_and_pipes()) == ["pipe", "socket"]
    assert sockets_and_pipes() == ["socket"]
"""
    )
    async with open_sandbox(secret_runtime, host, warm_sandboxes=3) as sandbox:
        await sandbox.execute("print('the pools are filling')")
        result = await sandbox.run_tests(describe, tests, timeout=10)
    assert (result["status"], result["passed"], result["total"]) == ("ok", 1, 1), result
