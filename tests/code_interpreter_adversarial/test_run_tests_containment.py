"""The same limits hold inside run_tests, and a caller that hangs up takes its run with it."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import anyio
import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    COMM,
    MARKER,
    Host,
    describe,
    kill_processes,
    open_sandbox,
    program,
    tagged_processes,
)

pytestmark = pytest.mark.anyio

NAME_ITSELF = f"""
try:
    with open("/proc/self/comm", "w") as _comm:
        _comm.write({COMM!r})
except OSError:
    pass
MARKER = {MARKER!r}
"""


def brief(result: dict[str, Any]) -> str:
    keys = ("status", "total", "passed", "failed", "errors", "skipped", "success_rate")
    tests = [
        (t.get("name"), t.get("outcome"), str(t.get("message"))[:300]) for t in result["tests"]
    ]
    return f"{ {k: result.get(k) for k in keys} } tests={tests}"


async def run_tests(
    runtime: Runtime, host: Host, tests: str, timeout: float = 20, **limits: Any
) -> dict[str, Any]:
    async with open_sandbox(runtime, host, **limits) as sandbox:
        return await sandbox.run_tests(
            "VALUE = 1\n", NAME_ITSELF + textwrap.dedent(tests), timeout=timeout
        )


async def test_a_test_that_never_ends_is_stopped_at_the_wall_limit(
    secret_runtime: Runtime, host: Host
) -> None:
    tests = """
        def test_passes():
            assert True

        def test_spins_forever():
            while True:
                pass
    """
    result = await run_tests(secret_runtime, host, tests, timeout=3)
    assert result["status"] == "timeout", brief(result)
    assert result["passed"] <= 1 and result["success_rate"] <= 0.5, brief(result)


async def test_a_fork_bomb_inside_a_test_hits_the_process_limit(
    secret_runtime: Runtime, host: Host
) -> None:
    tests = """
        import os, time

        def test_forks_until_refused():
            n = 0
            try:
                while n < 2000:
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
                    n += 1
            except OSError as exc:
                raise AssertionError(f"LIMIT_HIT count={n} errno={exc.errno}")
            raise AssertionError(f"NO_LIMIT_HIT count={n}")
    """
    result = await run_tests(secret_runtime, host, tests, max_processes=16)
    assert result["passed"] == 0, brief(result)
    messages = " ".join(str(t.get("message")) for t in result["tests"]) + str(result["output"])
    assert "NO_LIMIT_HIT" not in messages, brief(result)
    hit = re.search(r"LIMIT_HIT count=(\d+)", messages)
    assert hit and int(hit.group(1)) < 16, brief(result)


async def test_a_memory_bomb_inside_a_test_ends_in_memory_limit(
    secret_runtime: Runtime, host: Host
) -> None:
    tests = """
        def test_allocates_two_gigabytes():
            blocks = [bytearray(b"\\x01") * (16 << 20) for _ in range(128)]
            assert len(blocks) == 0, "NO_LIMIT_HIT"
    """
    result = await run_tests(secret_runtime, host, tests, max_memory="256M")
    assert result["status"] == "memory_limit", brief(result)
    assert result["passed"] == 0, brief(result)
    assert "NO_LIMIT_HIT" not in str(result), brief(result)


async def test_a_daemon_started_by_a_test_does_not_outlive_the_run(
    secret_runtime: Runtime, host: Host
) -> None:
    tests = """
        import os, sys, time

        def test_leaves_a_daemon():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, [sys.executable, "-c",
                             "import time\\nwhile True: time.sleep(1000)", MARKER])
                os._exit(0)
            os.wait()
            def cmdline(pid):
                try:
                    return open(f"/proc/{pid}/cmdline", "rb").read()
                except OSError:
                    return b""

            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                found = [p for p in os.listdir("/proc") if p.isdigit() and MARKER.encode() in cmdline(p)]
                if found:
                    break
                time.sleep(0.02)
            assert found, "the daemon never started"
    """
    result = await run_tests(secret_runtime, host, tests)
    assert result["passed"] == 1, brief(result)
    with anyio.move_on_after(5):
        while tagged_processes():
            await anyio.sleep(0.1)
    left = tagged_processes()
    kill_processes(left)
    assert not left, f"a daemon outlived run_tests: {describe(left)}"


async def test_host_secrets_do_not_come_back_through_failure_messages(
    secret_runtime: Runtime, host: Host
) -> None:
    paths = [str(p) for p in (host.repo_canary, host.tmp_canary, host.root_canary, host.ssh_canary)]
    paths += ["/proc/1/environ", f"/proc/{host.sleeper_pid}/environ", "/etc/shadow"]
    tests = f"""
        import os
        PATHS = {paths!r}

        def test_reports_whatever_it_can_read():
            found = []
            for path in PATHS:
                try:
                    found.append(open(path, "rb").read().decode(errors="replace"))
                except OSError as exc:
                    found.append(f"{{path}}: {{exc}}")
            found.append(repr(dict(os.environ)))
            raise AssertionError("\\n".join(found))
    """
    # Sandbox.call fails the test if any canary value comes back in any field.
    result = await run_tests(secret_runtime, host, tests)
    assert (result["total"], result["failed"]) == (1, 1), brief(result)
    assert "No such file" in result["tests"][0]["message"], brief(result)


async def test_a_cancelled_call_takes_its_run_and_its_daemons_down(
    secret_runtime: Runtime, host: Host
) -> None:
    body = """
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c",
                         "import time\\nwhile True: time.sleep(1000)", MARKER])
            os._exit(0)
        os.wait()
        print("STARTED", flush=True)
        while True:
            pass
    """
    async with open_sandbox(secret_runtime, host) as sandbox:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await sandbox.client.call_tool(
                    "execute_code", {"code": program(body), "timeout_seconds": 60}
                )

            group.start_soon(call)
            with anyio.fail_after(20):
                while len(tagged_processes()) < 2:  # the busy loop and its daemon
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()
        with anyio.move_on_after(10):
            while tagged_processes():
                await anyio.sleep(0.1)
        left = tagged_processes()
        kill_processes(left)
        assert not left, f"the run outlived its cancelled call: {describe(left)}"
        after = await sandbox.execute("print('still serving')")
    assert after.status == "ok" and "still serving" in after.stdout, after.summary()
