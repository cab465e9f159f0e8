"""Every limit holds for root's sandbox too, and the host keeps nothing of a run."""

from __future__ import annotations

import time

import anyio
import pytest

from tests.code_interpreter.conftest import (
    NAME_ME,
    OpenClient,
    call,
    host_processes_named,
    run_cgroups,
)

pytestmark = [pytest.mark.anyio, pytest.mark.bwrap]

FORK_BOMB = """
import os, time
n = 0
try:
    while n < 500:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as exc:
    print(f"LIMIT_HIT {n} errno={exc.errno}", flush=True)
    os._exit(3)
print(f"NO_LIMIT {n}", flush=True)
"""


async def test_a_busy_loop_that_ignores_signals_ends_in_timeout_with_its_output_kept(
    open_client: OpenClient,
) -> None:
    code = (
        "import signal\n"
        "for s in signal.valid_signals():\n"
        "    try: signal.signal(s, signal.SIG_IGN)\n"
        "    except (OSError, ValueError, RuntimeError): pass\n"
        "print('started', flush=True)\n"
        "while True: pass\n"
    )
    async with open_client() as client:
        started = time.monotonic()
        result = await call(client, "execute_code", code=code, timeout_seconds=1.5)
        elapsed = time.monotonic() - started
    assert result["status"] == "timeout"
    assert result["stdout"] == "started\n"
    assert "wall-clock limit" in result["stderr"]
    assert elapsed < 15


async def test_the_cpu_time_limit_is_set_for_every_process_of_the_run(
    open_client: OpenClient,
) -> None:
    code = "import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU))"
    async with open_client() as client:
        result = await call(client, "execute_code", code=code, timeout_seconds=4)
    assert result["stdout"] == "(5, 5)\n"  # the wall limit, rounded up, plus one second


async def test_a_memory_bomb_ends_in_memory_limit_with_the_peak_at_the_limit(
    open_client: OpenClient,
) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n"
    async with open_client(max_memory="128M") as client:
        result = await call(client, "execute_code", code=code, timeout_seconds=20)
    assert result["status"] == "memory_limit"
    assert 64 << 20 < result["peak_memory_bytes"] <= 128 << 20
    assert "memory limit" in result["stderr"]


async def test_an_output_flood_is_stopped_and_truncated_with_a_marker(
    open_client: OpenClient,
) -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    async with open_client(max_output_bytes=100_000) as client:
        result = await call(client, "execute_code", code=code, timeout_seconds=20)
    assert result["status"] == "output_limit"
    assert result["truncated"] is True
    body, marker = result["stdout"][:100_000], result["stdout"][100_000:]
    assert set(body) == {"x"}
    assert "output truncated" in marker and len(marker) < 200


async def test_a_fork_bomb_stops_at_the_process_limit_of_the_runs_cgroup(
    open_client: OpenClient,
) -> None:
    async with open_client(max_processes=12, cgroup="auto") as client:
        result = await call(client, "execute_code", code=FORK_BOMB, timeout_seconds=10)
    assert result["status"] == "error", result
    assert result["exit_code"] == 3
    assert "LIMIT_HIT" in result["stdout"]
    assert int(result["stdout"].split()[1]) < 12


async def test_without_cgroups_the_process_limit_falls_back_to_rlimit_nproc(
    open_client: OpenClient,
) -> None:
    # The sandbox runs as an unprivileged host uid, so RLIMIT_NPROC holds even for root's
    # server; it counts all processes of the sandbox user, so it gets some headroom.
    async with open_client(max_processes=12, cgroup="none") as client:
        result = await call(client, "execute_code", code=FORK_BOMB, timeout_seconds=10)
        limit = await call(
            client,
            "execute_code",
            code="import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC)[0])",
        )
    assert "LIMIT_HIT" in result["stdout"], result
    hit = int(result["stdout"].split()[1])
    assert hit < int(limit["stdout"]) < 100


async def test_without_cgroups_memory_falls_back_to_rlimit_as(open_client: OpenClient) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n"
    async with open_client(max_memory="256M", cgroup="none") as client:
        result = await call(client, "execute_code", code=code, timeout_seconds=20)
    assert result["status"] == "memory_limit"
    assert "MemoryError" in result["stderr"]


async def test_a_file_larger_than_the_limit_cannot_be_written(open_client: OpenClient) -> None:
    code = "with open('big', 'wb') as f:\n    f.write(b'x' * (3 << 20))\n"
    async with open_client(max_file_size="1M") as client:
        result = await call(client, "execute_code", code=code)
    assert result["status"] == "error"
    assert "File too large" in result["stderr"]


async def test_open_files_are_limited(open_client: OpenClient) -> None:
    code = (
        "import os\nfds = []\ntry:\n    while True: fds.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError as e:\n    print(len(fds) < 64, e.errno)\n"
    )
    async with open_client(max_open_files=64) as client:
        result = await call(client, "execute_code", code=code)
    assert result["stdout"] == "True 24\n"  # EMFILE


async def test_filling_the_scratch_stops_at_its_size(open_client: OpenClient) -> None:
    code = (
        "n = 0\ntry:\n    with open('fill', 'wb') as f:\n        while True:\n"
        "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\n"
        "except OSError as e:\n    print(n, e.strerror)\n"
    )
    async with open_client(max_scratch="32M", max_memory="512M", max_file_size="1G") as client:
        result = await call(client, "execute_code", code=code)
    written, reason = result["stdout"].split(" ", 1)
    assert int(written) <= 32
    assert reason.strip() == "No space left on device"


async def test_daemons_do_not_outlive_their_run(open_client: OpenClient, tag: str) -> None:
    code = NAME_ME.format(tag=tag) + (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        import signal\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "print('parent done')\n"
    )
    async with open_client() as client:
        result = await call(client, "execute_code", code=code)
        assert (result["status"], result["stdout"]) == ("ok", "parent done\n")
        with anyio.fail_after(5):
            while host_processes_named(tag):
                await anyio.sleep(0.05)


async def test_a_run_leaves_no_cgroup_behind(open_client: OpenClient) -> None:
    async with open_client() as client:
        await call(client, "execute_code", code="print(1)")
        await call(client, "run_tests", code="def test_x(): pass")
    assert run_cgroups() == []


BUSY_CHILDREN = """
import os, resource, signal, time
children = []
start = time.monotonic()
for _ in range({n}):
    pid = os.fork()
    if pid == 0:
        while True:
            pass
    children.append(pid)
time.sleep({seconds})
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"CPU {{usage.ru_utime + usage.ru_stime:.3f}} WALL {{wall:.3f}}", flush=True)
"""


async def test_a_run_with_several_busy_processes_gets_at_most_max_cpus_of_cpu(
    open_client: OpenClient,
) -> None:
    from mcp_servers.code_interpreter._cgroups import Cgroups

    if not Cgroups.detect("auto").limits_cpu:
        pytest.skip("no writable cpu cgroup controller on this host")
    # Three processes that never yield, for a fixed 3 s of wall time: the kernel's own
    # accounting of their CPU time (rusage of the reaped children) over that wall time is
    # the share of cores the run got. The quota allows half a core; unlimited they could
    # take both cores of this machine. The bound is generous: this only checks a ceiling.
    async with open_client(max_cpus=0.5, max_processes=16) as client:
        result = await call(
            client, "execute_code", code=BUSY_CHILDREN.format(n=3, seconds=3), timeout_seconds=30
        )
    assert result["status"] == "ok", result
    words = result["stdout"].split()
    cpu, wall = float(words[1]), float(words[3])
    assert wall >= 3
    assert 0 < cpu / wall <= 0.5 + 0.3, result["stdout"]
