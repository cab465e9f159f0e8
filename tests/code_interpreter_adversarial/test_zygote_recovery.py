"""One failed fork in a zygote does not disable its kind of sandbox.

For each run the zygote calls ``unshare(CLONE_NEWPID)`` and then ``fork()``, and puts its
own next children back with ``setns``. Were the ``setns`` skipped when the fork fails
(EAGAIN from a pids limit or RLIMIT_NPROC that runs share with the zygote, ENOMEM), the
zygote's pid namespace for children would stay pointing at a namespace nobody entered, the
kernel would refuse every later ``unshare(CLONE_NEWPID)`` with EINVAL, and since the zygote
stays alive the server would never start a new one: every later run of that kind would fail.

The fork failure is injected from the host (the zygote is put for a moment into a pids
cgroup with room for itself only); in production it comes from whatever budget the zygote
shares with the runs, which a run can exhaust where such a budget exists.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import Host, open_sandbox, program

pytestmark = pytest.mark.anyio


def _forking_zygote(kind: str) -> int | None:
    """The host pid of the zygote that forks the runs of ``kind``.

    bwrap runs the harness, which re-executes itself and forks the zygote (pid 1 of a pid
    namespace of its own): the zygote is the harness whose parent is the harness and whose
    grandparent is not.
    """
    argv: dict[int, list[bytes]] = {}
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue

    def harness(pid: int) -> bool:
        args = argv.get(pid, [])
        return bool(args) and b"python" in args[0] and b"zygote" in args and kind.encode() in args

    found = [
        pid
        for pid in argv
        if harness(pid) and harness(parent.get(pid, 0)) and not harness(parent.get(parent[pid], 0))
    ]
    return found[0] if len(found) == 1 else None


@contextlib.contextmanager
def _pids_cage(pid: int) -> Iterator[Path]:
    """``pid`` in a pids cgroup of its own with room for itself only (cgroup v1 or v2)."""
    procs = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    v1 = next((line.split(":", 2)[2] for line in procs if line.split(":")[1] == "pids"), None)
    if v1 is not None:
        root = Path("/sys/fs/cgroup/pids")
        home = root / v1.lstrip("/")
    else:
        root = Path("/sys/fs/cgroup")
        v2 = next((line[3:] for line in procs if line.startswith("0::")), None)
        if v2 is None or "pids" not in (root / "cgroup.subtree_control").read_text().split():
            pytest.skip("no pids controller to cage the zygote in")
        home = root / v2.lstrip("/")
    cage = root / f"pcreview-cage-{os.getpid()}"
    try:
        cage.mkdir()
        (cage / "pids.max").write_text("1")
        (cage / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        with contextlib.suppress(OSError):
            cage.rmdir()
        pytest.skip(f"cannot cage the zygote in a pids cgroup: {exc}")
    try:
        yield cage
    finally:
        with contextlib.suppress(OSError):
            (home / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            cage.rmdir()


def _live_children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _refused_forks(cage: Path) -> int:
    for line in (cage / "pids.events").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "max":
            return int(value)
    return 0


PRINT_OK = program("print('ok')")


async def test_one_failed_fork_in_the_zygote_does_not_disable_its_kind_of_sandbox(
    runtime: Runtime, host: Host
) -> None:
    async with open_sandbox(runtime, host, warm_sandboxes=1) as sandbox:
        first = await sandbox.execute(PRINT_OK, timeout=5)
        assert first.status == "ok", first.summary()
        zygote = _forking_zygote("exec")
        assert zygote is not None, "the exec zygote was not found among the host's processes"
        with _pids_cage(zygote) as cage:
            # Taking the warm sandbox makes the server ask the zygote for the next one.
            taken = await sandbox.execute(PRINT_OK, timeout=5)
            assert taken.status == "ok", taken.summary()
            with anyio.move_on_after(10):
                while _refused_forks(cage) == 0:
                    await anyio.sleep(0.05)
            assert _refused_forks(cage) > 0, (
                "taking the warm sandbox did not make the zygote fork a new one within 10 s"
            )
            dying = _live_children(zygote)  # the taken run's pid 1, if not reaped yet
        # The limit is gone: one retry's back-off (at most 5 s) later, the server has a new
        # sandbox from the zygote, a pid 1 forked after this point.
        fresh: set[int] = set()
        with anyio.move_on_after(20):
            while not (fresh := _live_children(zygote) - dying):
                await anyio.sleep(0.1)
        assert fresh, (
            "20 s after one refused fork the exec zygote still forks nothing: it is wedged "
            "(every later unshare(CLONE_NEWPID) fails with EINVAL), so no run of its kind starts"
        )
        after = await sandbox.execute(PRINT_OK, timeout=5)
        assert after.status == "ok", after.summary()
