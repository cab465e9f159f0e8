"""Fork bombs, runaway CPU, ignored signals and daemons: each is stopped and leaves nothing."""

from __future__ import annotations

import re
import textwrap

import anyio
import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    Host,
    Outcome,
    call_bound,
    describe,
    kill_processes,
    open_sandbox,
    program,
    tagged_processes,
)

pytestmark = pytest.mark.anyio

# ----------------------------------------------------------------------------- bombs
# Each counted bomb stops by itself at CAP (far above the limit) so that a sandbox
# without a process limit fails the test without taking the host down.

COUNTED_BOMBS = {
    "fork_bomb_os_fork": """
        import os, time
        n = 0
        try:
            while n < CAP:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
        except OSError as exc:
            print(f"LIMIT_HIT count={n} errno={exc.errno}", flush=True)
            os._exit(3)
        print(f"NO_LIMIT_HIT count={n}", flush=True)
        os._exit(4)
    """,
    "fork_bomb_multiprocessing": """
        import multiprocessing, os, time
        procs = []
        try:
            while len(procs) < CAP:
                proc = multiprocessing.Process(target=time.sleep, args=(60,))
                proc.start()
                procs.append(proc)
        except OSError as exc:
            print(f"LIMIT_HIT count={len(procs)} errno={exc.errno}", flush=True)
            os._exit(3)  # not sys.exit: multiprocessing would join the sleepers
        print(f"NO_LIMIT_HIT count={len(procs)}", flush=True)
        os._exit(4)
    """,
    "fork_bomb_subprocess": """
        import os, subprocess, sys
        procs = []
        try:
            while len(procs) < CAP:
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", "import time; time.sleep(60)", MARKER]))
        except OSError as exc:
            print(f"LIMIT_HIT count={len(procs)} errno={exc.errno}", flush=True)
            os._exit(3)
        print(f"NO_LIMIT_HIT count={len(procs)}", flush=True)
        os._exit(4)
    """,
    "fork_bomb_threads": """
        import os, threading, time
        threads = []
        try:
            while len(threads) < CAP:
                thread = threading.Thread(target=time.sleep, args=(60,), daemon=True)
                thread.start()
                threads.append(thread)
        except (RuntimeError, OSError) as exc:
            print(f"LIMIT_HIT count={len(threads)} errno={getattr(exc, 'errno', None)}", flush=True)
            os._exit(3)
        print(f"NO_LIMIT_HIT count={len(threads)}", flush=True)
        os._exit(4)
    """,
}
BOMB_PROCESSES = 16


def assert_process_limit_hit(out: Outcome, max_processes: int) -> None:
    assert out.status in {"error", "killed"}, out.summary()
    assert "NO_LIMIT_HIT" not in out.stdout, f"no process limit: {out.summary()}"
    if out.status == "error":
        hit = re.search(r"LIMIT_HIT count=(\d+)", out.stdout)
        assert hit, f"the program did not report hitting the limit: {out.summary()}"
        assert int(hit.group(1)) < max_processes, out.summary()
        assert out.exit_code == 3, out.summary()
    assert out.elapsed < call_bound(3), out.summary()


@pytest.mark.parametrize("name", list(COUNTED_BOMBS), ids=list(COUNTED_BOMBS))
async def test_a_process_bomb_hits_the_process_limit_and_its_sleepers_die_with_it(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    limits = {"max_processes": BOMB_PROCESSES, "max_memory": "512M"}
    async with open_sandbox(secret_runtime, host, **limits) as sandbox:
        out = await sandbox.execute(program(COUNTED_BOMBS[name], CAP=2000), timeout=3)
    assert_process_limit_hit(out, BOMB_PROCESSES)


CLASSIC_BOMBS = {
    "fork_bomb_classic": """
        import os
        print("STARTED", flush=True)
        while True:
            os.fork()
    """,
    "fork_bomb_retrying_forever": """
        import os
        print("STARTED", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """,
}


@pytest.mark.parametrize("name", list(CLASSIC_BOMBS), ids=list(CLASSIC_BOMBS))
async def test_an_unbounded_fork_bomb_is_contained_and_the_call_returns(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    async with open_sandbox(secret_runtime, host, max_processes=BOMB_PROCESSES) as sandbox:
        # Safety first: only unleash an unbounded bomb once a bounded one proved the limit.
        probe = await sandbox.execute(program(COUNTED_BOMBS["fork_bomb_os_fork"], CAP=500))
        assert_process_limit_hit(probe, BOMB_PROCESSES)
        out = await sandbox.execute(program(CLASSIC_BOMBS[name]), timeout=2)
    assert "STARTED" in out.stdout, out.summary()
    if name == "fork_bomb_classic":
        # The first failed fork raises in the main process: an error, or killed outright.
        assert out.status in {"error", "killed"}, out.summary()
        if out.status == "error":
            assert "BlockingIOError" in out.stderr or "temporarily unavailable" in out.stderr
    else:
        # It never stops by itself: the wall limit must end it, whole tree included.
        assert out.status in {"timeout", "killed"}, out.summary()
    assert out.elapsed < call_bound(2), out.summary()


# ---------------------------------------------------------------------- runaway time

RUNAWAYS = {
    "busy_loop": """
        print("STARTED", flush=True)
        while True:
            pass
    """,
    "c_level_bigint_10_pow_10_pow_8": """
        print("STARTED", flush=True)
        x = 10 ** 10 ** 8
        print("FINISHED", len(str(x)))
    """,
    "sleep_forever_uses_no_cpu": """
        import time
        print("STARTED", flush=True)
        time.sleep(3600)
    """,
    "every_catchable_signal_ignored": """
        import signal
        for sig in signal.valid_signals():
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (OSError, ValueError, RuntimeError):
                pass
        print("STARTED", flush=True)
        while True:
            pass
    """,
    "sigterm_handler_respawns": """
        import os, signal
        def respawn(*_):
            if os.fork() == 0:
                while True:
                    pass
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGALRM):
            signal.signal(sig, respawn)
        print("STARTED", flush=True)
        while True:
            pass
    """,
    "numpy_blas_loop_in_c": """
        import numpy as np
        a = np.random.rand(800, 800)
        print("STARTED", flush=True)
        while True:
            a = (a @ a) / 800.0
    """,
    "alarm_and_sigxcpu_handlers_resume": """
        import signal, time
        signal.signal(signal.SIGXCPU, lambda *_: print("XCPU ignored", flush=True))
        signal.signal(signal.SIGALRM, lambda *_: None)
        print("STARTED", flush=True)
        while True:
            time.sleep(0.001)
            sum(range(10000))
    """,
}


@pytest.mark.parametrize("name", list(RUNAWAYS), ids=list(RUNAWAYS))
async def test_a_runaway_program_ends_in_timeout_within_its_wall_limit(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    async with open_sandbox(secret_runtime, host, max_memory="512M") as sandbox:
        out = await sandbox.execute(program(RUNAWAYS[name]), timeout=2)
    assert out.status == "timeout", out.summary()
    assert "STARTED" in out.stdout, f"output before the kill is lost: {out.summary()}"
    assert "FINISHED" not in out.stdout
    assert out.elapsed < call_bound(2), out.summary()


# --------------------------------------------------------------------------- daemons

DAEMONIZE = """
import os, sys, time

SLEEPER = (
    "import signal, time\\n"
    "for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):\\n"
    "    signal.signal(s, signal.SIG_IGN)\\n"
    "while True:\\n"
    "    time.sleep(1000)\\n"
)


def daemonize(detach_stdio):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            if detach_stdio:
                try:
                    null = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                except OSError:
                    for fd in (0, 1, 2):
                        os.close(fd)
            os.execv(sys.executable, [sys.executable, "-c", SLEEPER, MARKER])
        os._exit(0)
    os.wait()


def running_daemons():
    found = 0
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and MARKER.encode() in read_bytes(f"/proc/{pid}/cmdline"):
                found += 1
        except OSError:
            pass
    return found


def wait_for_daemons(count):
    deadline = time.monotonic() + 5
    while running_daemons() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    print(f"DAEMONS_RUNNING {running_daemons()}", flush=True)
"""

DAEMONS = {
    "double_fork_daemon_after_a_clean_exit": (
        """
        daemonize(detach_stdio=True)
        wait_for_daemons(1)
        print("PARENT_EXITING", flush=True)
        """,
        "ok",
    ),
    "double_fork_daemon_holding_stdout_open": (
        """
        daemonize(detach_stdio=False)
        wait_for_daemons(1)
        print("PARENT_EXITING", flush=True)
        """,
        "ok",
    ),
    "three_daemons_then_a_timeout": (
        """
        for _ in range(3):
            daemonize(detach_stdio=True)
        wait_for_daemons(3)
        while True:
            pass
        """,
        "timeout",
    ),
    "pid_hopping_daemon": (
        """
        if os.fork() == 0:
            os.setsid()
            while True:
                if os.fork():
                    os._exit(0)
                time.sleep(0.01)
        time.sleep(0.3)
        print("DAEMONS_RUNNING hopping", flush=True)
        print("PARENT_EXITING", flush=True)
        """,
        "ok",
    ),
    "cpu_hog_child_ignoring_signals": (
        """
        import signal
        if os.fork() == 0:
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            while True:
                pass
        print("DAEMONS_RUNNING hog", flush=True)
        print("PARENT_EXITING", flush=True)
        """,
        "ok",
    ),
}


async def wait_until_no_tagged_processes(limit: float = 5.0) -> list[str]:
    """Bounded grace for kill delivery; whatever is left is killed and named."""
    with anyio.move_on_after(limit):
        while tagged_processes():
            await anyio.sleep(0.1)
    left = tagged_processes()
    kill_processes(left)
    return describe(left)


@pytest.mark.parametrize("name", list(DAEMONS), ids=list(DAEMONS))
async def test_a_daemon_does_not_outlive_the_call(
    secret_runtime: Runtime, host: Host, name: str
) -> None:
    body, expected = DAEMONS[name]
    async with open_sandbox(secret_runtime, host) as sandbox:
        out = await sandbox.execute(program(DAEMONIZE + textwrap.dedent(body)), timeout=2)
    assert re.search(r"DAEMONS_RUNNING [1-9a-z]", out.stdout), f"never started: {out.summary()}"
    assert out.status == expected, out.summary()
    if expected == "ok":
        assert out.exit_code == 0 and "PARENT_EXITING" in out.stdout, out.summary()
    assert out.elapsed < call_bound(2), out.summary()
    left = await wait_until_no_tagged_processes()
    assert not left, f"processes outlived the call: {left}"
