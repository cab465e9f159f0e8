"""The start-up check: run a program in the sandbox that reports what it can see and do.

The server serves code only when every check passes; otherwise it refuses to start
with the list of what leaked.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from mcp_servers.code_interpreter._protocol import SANDBOX_ENVIRONMENT, Job, Limits, SandboxRunner
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings
from mcp_servers.code_interpreter.errors import IsolationCheckError

_REPO_ROOT = Path(__file__).resolve().parents[2]

# What a run can see and do, as a function: the code probe prints it, the test probe
# (run by the tests zygote) writes it to its stdout from inside a test.
PROBE_FUNCTION = r"""
import ctypes, json, os, socket, sys
def probe(given):
    seen = {}
    status = open("/proc/self/status").read()
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
            seen[key] = value.strip()
    seen["environ"] = sorted(os.environ)
    try:
        seen["pid1_environ"] = sorted(
            e.split("=", 1)[0] for e in open("/proc/1/environ", "rb").read().decode("utf-8", "replace").split("\0") if e
        )
    except OSError as exc:
        seen["pid1_environ"] = []
    seen["visible"] = [p for p in given["invisible"] if os.path.lexists(p)]
    writable = []
    for directory in given["read_only"]:
        try:
            with open(os.path.join(directory, ".probe"), "w") as handle:
                handle.write("x")
            writable.append(directory)
        except OSError:
            pass
    seen["writable"] = writable
    try:
        with open("/tmp/.probe", "w") as handle:
            handle.write("x")
        seen["scratch_writable"] = True
    except OSError:
        seen["scratch_writable"] = False
    def connects(host, port):
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    seen["egress"] = connects("1.1.1.1", 53)
    seen["loopback_to_host"] = connects("127.0.0.1", given["host_port"])
    seen["interfaces"] = [name for _, name in socket.if_nameindex()]
    libc = ctypes.CDLL(None, use_errno=True)
    seen["userns"] = libc.unshare(0x10000000) == 0
    seen["mount"] = libc.mount(b"tmpfs", b"/mnt", b"tmpfs", 0, None) == 0 if os.path.isdir("/mnt") else libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == 0
    seen["pid"] = os.getpid()
    seen["uid"] = os.getuid()
    return seen
"""

PROBE = PROBE_FUNCTION + "print(json.dumps(probe(json.loads(sys.stdin.read()))))\n"


REPORT_PREFIX = "PROMPTCRAFT-PROBE-REPORT "
# Variables pytest itself sets in a test run, beyond the sandbox's environment.
TEST_RUN_ENVIRONMENT = frozenset(
    {"PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_CURRENT_TEST", "PYTEST_VERSION"}
)

TEST_PROBE = (
    PROBE_FUNCTION
    + r"""

def test_runs_with_the_isolation_of_code_runs():
    with open(0, closefd=False) as stdin:
        seen = probe(json.loads(stdin.read()))
    os.write(1, ("\n" + """
    + repr(REPORT_PREFIX)
    + r""" + json.dumps(seen) + "\n").encode())
    caps = {l.split(":")[0]: l.split()[1] for l in open("/proc/self/status") if l.startswith("Cap")}
    assert set(caps.values()) == {"0000000000000000"}, caps
    assert not os.path.exists("/root") and not os.path.exists("/home")
"""
)


def invisible_paths() -> list[str]:
    """Host paths no run may see: homes, secrets, this project, its data."""
    paths = {
        "/root",
        "/home",
        "/etc/shadow",
        "/etc/ssh",
        "/var",
        "/run",
        "/sys",
        "/srv",
        "/mnt/host",
        str(_REPO_ROOT),
    }
    for var in ("PROMPTCRAFT_DATA_DIR", "HOME"):
        if os.environ.get(var):
            paths.add(os.environ[var])
    paths.add(str(Path.home() / ".local" / "share" / "promptcraft"))
    paths.add(str(Path.cwd()))
    inside = ("/", "/tmp", "/usr", "/etc", "/dev", "/proc")  # noqa: S108 - the sandbox's own
    return sorted(p for p in paths if p not in inside)


def _limits(settings: CodeInterpreterSettings) -> Limits:
    return Limits(
        wall_seconds=60,
        memory_bytes=settings.max_memory,
        processes=settings.max_processes,
        open_files=settings.max_open_files,
        file_size=settings.max_file_size,
        output_bytes=1_000_000,
        scratch_bytes=settings.max_scratch,
    )


async def check_isolation(
    backend: SandboxRunner, settings: CodeInterpreterSettings
) -> dict[str, Any]:
    """Run the probes; raise IsolationCheckError naming every failed check."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        given = {
            "invisible": invisible_paths(),
            "read_only": ["/", "/usr", "/usr/local/lib", "/etc", "/dev", "/opt", "/proc"],
            "host_port": listener.getsockname()[1],
        }
        outcome = await backend.run(
            Job(kind="exec", code=PROBE, stdin=json.dumps(given), limits=_limits(settings))
        )
    finally:
        listener.close()
    if outcome.exit_code != 0:
        raise IsolationCheckError(
            "the isolation probe did not run: "
            + (
                outcome.setup_error
                or outcome.stderr.decode("utf-8", "replace")[-2000:]
                or f"exit {outcome.exit_code}"
            )
        )
    try:
        seen: dict[str, Any] = json.loads(outcome.stdout)
    except ValueError as exc:
        raise IsolationCheckError(
            f"the isolation probe printed no report: {outcome.stdout[:500]!r}"
        ) from exc
    failures = verify(seen, given)
    tests = await backend.run(
        Job(
            kind="tests",
            code="",
            tests=TEST_PROBE,
            stdin=json.dumps(given),
            limits=_limits(settings),
        )
    )
    results = [r for r in tests.records if r.get("t") == "test"]
    if len(results) != 1 or results[0].get("outcome") != "passed":
        failures.append(
            "the test-run probe did not pass: "
            + (
                tests.setup_error
                or json.dumps(results)[:1000]
                or tests.stdout.decode("utf-8", "replace")[-1000:]
            )
        )
    # The same checks in the tests zygote's runs: its worker is set up by other code paths.
    test_seen = test_probe_report(tests.stdout)
    if test_seen is None:
        failures.append("the test-run probe printed no report")
    else:
        failures += [
            f"in test runs: {failure}"
            for failure in verify(test_seen, given, extra_environ=TEST_RUN_ENVIRONMENT)
        ]
        seen["test_run"] = test_seen
    if failures:
        raise IsolationCheckError(
            "the sandbox does not isolate code, so this server will not run any: "
            + "; ".join(failures)
            + ". Check CODE_INTERPRETER_BACKEND and CODE_INTERPRETER_BWRAP_PATH."
        )
    return seen


def test_probe_report(stdout: bytes) -> dict[str, Any] | None:
    """The report line the test probe wrote among pytest's output, or None."""
    for line in stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(REPORT_PREFIX):
            try:
                found = json.loads(line[len(REPORT_PREFIX) :])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def verify(
    seen: dict[str, Any], given: dict[str, Any], extra_environ: frozenset[str] = frozenset()
) -> list[str]:
    failures = []
    zero = "0000000000000000"
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if seen.get(key, zero) != zero:
            failures.append(f"{key} is {seen.get(key)} (capabilities were not all dropped)")
    if seen.get("NoNewPrivs") != "1":
        failures.append("no_new_privs is not set")
    if seen.get("Seccomp") != "2":
        failures.append("no seccomp filter")
    extra = set(seen.get("environ", [])) - set(SANDBOX_ENVIRONMENT) - extra_environ
    if extra:
        failures.append(f"the environment has {sorted(extra)[:10]} beyond the sandbox's own")
    if seen.get("pid1_environ"):
        failures.append(f"/proc/1/environ is not empty: {seen['pid1_environ'][:10]}")
    if seen.get("visible"):
        failures.append(f"host paths are visible: {seen['visible']}")
    if seen.get("writable"):
        failures.append(f"writable outside the scratch: {seen['writable']}")
    if not seen.get("scratch_writable"):
        failures.append("the scratch /tmp is not writable")
    if seen.get("egress"):
        failures.append("network egress works")
    if seen.get("loopback_to_host"):
        failures.append("the host's loopback is reachable")
    if set(seen.get("interfaces", [])) - {"lo"}:
        failures.append(f"network interfaces: {seen['interfaces']}")
    if seen.get("userns"):
        failures.append("user namespaces can be created")
    if seen.get("mount"):
        failures.append("filesystems can be mounted")
    if seen.get("uid") == 0:
        failures.append("the run is root inside the sandbox")
    return failures
