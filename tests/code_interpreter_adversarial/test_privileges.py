"""No privilege to gain: capabilities, devices, namespaces, ptrace, mounts, cgroups, signals.

Steps that would damage the host if they succeeded outside a sandbox (kill(-1), unmounting
/proc) first check, inside the program, that the sandbox has its own namespaces, and print
UNSAFE_NOT_ISOLATED instead of running them: the test fails without hurting the machine.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    HOST_NS,
    MARKER,
    TAG,
    Host,
    Outcome,
    call_bound,
    cgroup_dirs,
    labels,
    lines_with,
    open_sandbox,
    process_alive,
    program,
)

pytestmark = pytest.mark.anyio

NO_CAPS = "0000000000000000"


def remove_cgroups(paths: list[str]) -> None:
    for path in paths:
        Path(path).rmdir()


def read_core_pattern() -> str:
    return Path("/proc/sys/kernel/core_pattern").read_text()


async def run(
    runtime: Runtime, host: Host, body: str, timeout: float = 5, **consts: object
) -> Outcome:
    async with open_sandbox(runtime, host) as sandbox:
        out = await sandbox.execute(program(body, **consts), timeout=timeout)
    assert "UNSAFE_NOT_ISOLATED" not in out.stdout, out.summary()
    assert out.status == "ok" and "DONE" in out.stdout, out.summary()
    return out


async def test_every_namespace_is_private_to_the_sandbox(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import json
        print(f"SHARED {json.dumps(shared_namespaces())}", flush=True)
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    shared = json.loads(lines_with(out.stdout, "SHARED")[0].removeprefix("SHARED "))
    required = {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup"} & set(HOST_NS)
    assert not set(shared) & required, f"namespaces shared with the host: {shared}"


CAPS = """
import json, os, shutil, subprocess, sys, tempfile

def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key.startswith(("Cap", "NoNewPrivs", "Seccomp", "Uid", "Gid")):
            fields[key] = value.strip()
    return fields

print("STATUS " + json.dumps(status()), flush=True)
copy = os.path.join(tempfile.mkdtemp(), "suid-python")
attempt("copy interpreter", lambda: shutil.copy2(os.path.realpath(sys.executable), copy))
attempt("chown root", lambda: os.chown(copy, 0, 0))
attempt("chmod setuid", lambda: os.chmod(copy, 0o6755))
probe = ("import json, os; f = {l.split(':')[0]: l.split(':', 1)[1].strip() for l in open('/proc/self/status')"
         " if l.startswith(('Cap', 'Uid'))}; print('CHILD ' + json.dumps(f))")
attempt("run setuid copy", lambda: subprocess.run([copy, "-c", probe], capture_output=True,
                                                   text=True, timeout=5).stdout.strip())
euid = os.geteuid()
print(f"EUID {euid}", flush=True)
if euid != 0:
    attempt("setuid 0", lambda: os.setuid(0))
    attempt("setresuid 0", lambda: os.setresuid(0, 0, 0))
attempt("setgroups 0", lambda: os.setgroups([0]))
print("DONE", flush=True)
"""


async def test_capabilities_are_dropped_and_a_setuid_copy_gains_none(
    secret_runtime: Runtime, host: Host
) -> None:
    out = await run(secret_runtime, host, CAPS)
    status = json.loads(lines_with(out.stdout, "STATUS")[0].removeprefix("STATUS "))
    for key in ("CapEff", "CapPrm", "CapAmb", "CapInh"):
        assert status.get(key) == NO_CAPS, f"{key}={status.get(key)}: capabilities kept"
    for line in out.stdout.splitlines():
        if "CHILD {" in line:
            child = json.loads(line.split("CHILD ", 1)[1].rstrip("'\""))
            assert child.get("CapEff") == NO_CAPS, f"setuid copy gained capabilities: {child}"
            assert child.get("Uid", "").split() == status.get("Uid", "").split(), child
    gained = [label for label in labels(out.stdout, "ALLOWED") if label.startswith("set")]
    assert not gained, out.summary()


async def test_device_nodes_cannot_be_made_or_opened(secret_runtime: Runtime, host: Host) -> None:
    body = """
        import os, stat, tempfile
        scratch = tempfile.mkdtemp()
        for name, kind, major, minor in (("sda", stat.S_IFBLK, 8, 0), ("vda", stat.S_IFBLK, 254, 0),
                                         ("mem", stat.S_IFCHR, 1, 1), ("kmsg", stat.S_IFCHR, 1, 11)):
            path = os.path.join(scratch, name)
            attempt(f"mknod {name}", lambda p=path, k=kind, a=major, b=minor:
                    os.mknod(p, k | 0o600, os.makedev(a, b)))
            if os.path.exists(path):
                attempt(f"open made {name}", lambda p=path: os.read(os.open(p, os.O_RDONLY), 16))
        for device in ("/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore", "/dev/vda", "/dev/sda",
                       "/dev/nvme0n1", "/dev/kmsg", "/dev/mapper/control", "/dev/kvm",
                       "/dev/net/tun", "/dev/loop-control", "/dev/loop0"):
            attempt(f"open {device}", lambda d=device: os.read(os.open(d, os.O_RDONLY), 16))
        print(f"DEV {sorted(os.listdir('/dev'))}", flush=True)
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    assert labels(out.stdout, "ALLOWED") == [], out.summary()


async def test_nested_namespaces_cannot_be_created_or_entered(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os
        FLAGS = {"user": 0x10000000, "mount": 0x00020000, "net": 0x40000000, "pid": 0x20000000,
                 "uts": 0x04000000, "ipc": 0x08000000, "cgroup": 0x02000000,
                 "user+mount+net": 0x50020000, "time": 0x00000080}

        def in_child(label, action):
            pid = os.fork()
            if pid == 0:
                attempt(label, action)
                os._exit(0)
            os.waitpid(pid, 0)

        for name, flag in FLAGS.items():
            in_child(f"unshare {name}", lambda flag=flag: libc_call("unshare", flag))
        for owner in ("1", str(SLEEPER_PID)):
            for ns in ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup"):
                def enter(owner=owner, ns=ns):
                    fd = os.open(f"/proc/{owner}/ns/{ns}", os.O_RDONLY)
                    return libc_call("setns", fd, 0)
                in_child(f"setns {owner} {ns}", enter)
        try:
            print("MAX_USER_NAMESPACES", open("/proc/sys/user/max_user_namespaces").read().strip())
        except OSError as exc:
            print("MAX_USER_NAMESPACES unreadable", exc)
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body, SLEEPER_PID=host.sleeper_pid)
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
    assert len(labels(out.stdout, "BLOCKED")) == 9 + 14, out.summary()


async def test_ptrace_reaches_no_host_process_and_no_privileged_one(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import ctypes, os
        PTRACE_SEIZE, PTRACE_DETACH = 0x4206, 17

        def cap_eff(pid):
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("CapEff:"):
                    return line.split()[1]

        def seize(pid):
            libc_call("ptrace", ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(pid), None, None)
            try:
                return (f"SEIZED CapEff={cap_eff(pid)} cmdline {sniff(f'/proc/{pid}/cmdline')} "
                        f"environ {sniff(f'/proc/{pid}/environ')}")
            finally:
                libc_call("ptrace", ctypes.c_long(PTRACE_DETACH), ctypes.c_long(pid), None, None)

        targets = {"host sleeper": SLEEPER_PID, "sandbox init": 1}
        if os.getppid() > 1:
            targets["parent"] = os.getppid()
        for name, pid in targets.items():
            attempt(f"ptrace {name}", lambda pid=pid: seize(pid))
            attempt(f"mem {name}", lambda pid=pid: open(f"/proc/{pid}/mem", "rb").close())
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body, SLEEPER_PID=host.sleeper_pid)
    allowed = lines_with(out.stdout, "ALLOWED")
    assert not [line for line in allowed if "host sleeper" in line], out.summary()
    privileged = [line for line in allowed if "SEIZED" in line and f"CapEff={NO_CAPS}" not in line]
    assert not privileged, f"ptrace into a process with capabilities: {privileged}"


async def test_mount_chroot_pivot_root_and_file_handles_are_refused(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import ctypes, os, struct, sys, tempfile
        MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
        scratch = tempfile.mkdtemp().encode()
        interpreter_dir = os.path.dirname(os.path.realpath(sys.executable)).encode()
        attempt("mount tmpfs", lambda: libc_call("mount", b"none", scratch, b"tmpfs", 0, None))
        attempt("mount proc", lambda: libc_call("mount", b"proc", scratch, b"proc", 0, None))
        attempt("bind / into scratch", lambda: libc_call("mount", b"/", scratch, None, MS_BIND | MS_REC, None))
        attempt("remount / read-write", lambda: libc_call("mount", None, b"/", None, MS_REMOUNT | MS_BIND, None))
        attempt("remount interpreter read-write",
                lambda: libc_call("mount", None, interpreter_dir, None, MS_REMOUNT | MS_BIND, None))
        if isolated():
            attempt("umount /proc", lambda: libc_call("umount2", b"/proc", 2))
        attempt("chroot", lambda: os.chroot(scratch))
        attempt("pivot_root", lambda: libc_call("syscall", 155, scratch, scratch))

        def open_by_handle():
            handle = ctypes.create_string_buffer(struct.pack("Ii", 128, 0) + b"\\0" * 128)
            mount_id = ctypes.c_int()
            libc_call("name_to_handle_at", -100, b"/", handle, ctypes.byref(mount_id), 0)
            root = os.open("/", os.O_RDONLY)
            return libc_call("open_by_handle_at", root, handle, os.O_RDONLY)
        attempt("open_by_handle_at", open_by_handle)
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
    assert len(labels(out.stdout, "BLOCKED")) == 9, out.summary()


async def test_cgroups_cannot_be_joined_raised_or_created(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os
        print("CGROUP", open("/proc/self/cgroup").read().replace("\\n", " | "), flush=True)

        def write(path, value):
            with open(path, "w") as handle:
                handle.write(value)
            return "WRITTEN"

        def write_back(path):
            with open(path) as handle:
                value = handle.read()
            return write(path, value)

        roots = ["/sys/fs/cgroup"] + [f"/sys/fs/cgroup/{c}" for c in
                                      ("pids", "memory", "freezer", "cpu", "unified", "systemd")]
        for root in roots:
            attempt(f"join {root}", lambda r=root: write(f"{r}/cgroup.procs", str(os.getpid())))
            attempt(f"mkdir {root}", lambda r=root: os.mkdir(f"{r}/pcadv-{MARKER}"))
            attempt(f"release_agent {root}", lambda r=root: write_back(f"{r}/release_agent"))
        for line in open("/proc/self/cgroup"):
            _, controllers, path = line.strip().split(":", 2)
            for controller in controllers.split(",") if controllers else ["unified", ""]:
                base = f"/sys/fs/cgroup/{controller}{path}".replace("//", "/")
                for knob, value in (("pids.max", "max"), ("memory.limit_in_bytes", "-1"),
                                    ("memory.max", "max"), ("freezer.state", "THAWED")):
                    if os.path.exists(f"{base}/{knob}"):
                        attempt(f"raise {base}/{knob}", lambda p=f"{base}/{knob}", v=value: write(p, v))
        print("DONE", flush=True)
    """
    out = await run(secret_runtime, host, body)
    assert labels(out.stdout, "ALLOWED") == [], out.summary()
    made = [path for path in cgroup_dirs() if TAG in path]
    remove_cgroups(made)
    assert not made, f"cgroups created on the host: {made}"


async def test_kernel_knobs_and_the_hostname_stay_untouched(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import socket

        def write_back(path):
            with open(path) as handle:
                value = handle.read()
            with open(path, "w") as handle:
                handle.write(value)
            return "WRITTEN BACK"

        def sysrq_help():
            with open("/proc/sysrq-trigger", "w") as handle:
                handle.write("h")  # prints help to the kernel log: harmless, needs privilege
            return "TRIGGERED"

        attempt("sysrq-trigger", sysrq_help)
        for knob in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                     "/proc/sys/vm/overcommit_memory", "/sys/kernel/uevent_helper"):
            attempt(f"write {knob}", lambda k=knob: write_back(k))
        attempt("sethostname", lambda: socket.sethostname(MARKER))
        attempt("write /proc/sys/kernel/hostname",
                lambda: open("/proc/sys/kernel/hostname", "w").write(MARKER))
        print("DONE", flush=True)
    """
    try:
        out = await run(secret_runtime, host, body)
    finally:
        hostname, core = socket.gethostname(), read_core_pattern()
        if hostname != host.hostname:
            socket.sethostname(host.hostname)
    assert hostname == host.hostname, "the sandbox renamed the host"
    assert core == host.core_pattern, "the sandbox changed the host's core_pattern"
    # Renaming its own (private) UTS namespace harms nothing; the host check above decides.
    allowed = [label for label in labels(out.stdout, "ALLOWED") if "hostname" not in label]
    assert not allowed, f"kernel settings writable from the sandbox: {allowed}"


async def test_kill_minus_one_and_kill_by_host_pid_harm_nothing_outside(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os, signal, time
        attempt("kill host sleeper", lambda: os.kill(SLEEPER_PID, signal.SIGKILL))
        attempt("kill host server", lambda: os.kill(SERVER_PID, 0))
        if isolated():
            children = []
            for _ in range(3):
                pid = os.fork()
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                children.append(pid)
            os.kill(-1, signal.SIGKILL)
            killed = sum(os.WIFSIGNALED(os.waitpid(pid, 0)[1]) for pid in children)
            print(f"SURVIVED kill(-1), which killed {killed} of its 3 children", flush=True)
        print("DONE", flush=True)
    """
    code = program(body, SLEEPER_PID=host.sleeper_pid, SERVER_PID=os.getpid())
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(code, timeout=3)
        after = await sandbox.execute("print('still serving')")
    assert "UNSAFE_NOT_ISOLATED" not in out.stdout, out.summary()
    assert process_alive(host.sleeper_pid, host.sleeper_start), "kill(-1) reached a host process"
    assert not [line for line in lines_with(out.stdout, "ALLOWED") if "host" in line], out.summary()
    # kill(-1) spares the caller; a supervisor inside the sandbox may die with it, so the
    # run may also end killed or in error, but it must end and leave the server serving.
    assert out.status in {"ok", "killed", "error"}, out.summary()
    if out.status == "ok":
        assert "which killed 3 of its 3 children" in out.stdout, out.summary()
    assert out.elapsed < call_bound(3), out.summary()
    assert after.status == "ok" and "still serving" in after.stdout, after.summary()


async def test_killing_or_stopping_the_parent_and_init_leaves_the_server_serving(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os, signal, time
        parent = os.getppid()
        print(f"PPID {parent}", flush=True)
        if isolated():
            for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
                if parent > 0:
                    attempt(f"signal parent {sig.name}", lambda s=sig: os.kill(parent, s))
                attempt(f"signal init {sig.name}", lambda s=sig: os.kill(1, s))
            time.sleep(0.2)
            print("ALIVE", flush=True)
        print("DONE", flush=True)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body), timeout=3)
        after = await sandbox.execute("print('still serving')")
    assert "UNSAFE_NOT_ISOLATED" not in out.stdout, out.summary()
    assert "PPID" in out.stdout, out.summary()
    # Signals to the sandbox's init are ignored by the kernel; if the parent is a supervisor
    # the run may end as killed, error or timeout — but it ends within its bound.
    assert out.status in {"ok", "killed", "error", "timeout"}, out.summary()
    assert out.elapsed < call_bound(3), out.summary()
    assert after.status == "ok" and "still serving" in after.stdout, after.summary()
    assert MARKER not in after.stdout


async def test_a_signal_the_sandboxs_init_would_handle_does_not_end_the_run_early(
    secret_runtime: Runtime, host: Host
) -> None:
    # Pid 1 receives from inside only the signals it handles; Python handles SIGINT, so
    # unless init ignores it the program could end init and the report of its own end.
    body = """
        import os, signal, sys, time
        if isolated():
            attempt("interrupt init", lambda: os.kill(1, signal.SIGINT))
            time.sleep(0.3)
        print("DONE", flush=True)
        sys.exit(3)
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(body), timeout=3)
    assert "UNSAFE_NOT_ISOLATED" not in out.stdout, out.summary()
    assert "DONE" in out.stdout, out.summary()
    assert (out.status, out.exit_code) == ("error", 3), out.summary()
