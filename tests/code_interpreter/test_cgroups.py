"""Per-run cgroups: the kernel's limits and kill, on whichever version this host has."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest

from mcp_servers.code_interpreter._cgroups import Cgroups, _cgroup_mounts, _v2_base

pytestmark = pytest.mark.anyio


def mounted() -> set[str]:
    return {
        ("v1:" + c) if t == "cgroup" else "v2"
        for t, _, opts in _cgroup_mounts()
        for c in opts or {""}
    }


async def test_auto_detection_picks_a_version_whose_controllers_are_mounted() -> None:
    cgroups = Cgroups.detect("auto")
    if {"v1:memory", "v1:pids"} <= mounted():
        assert cgroups.mode == "v1"
        assert {"memory", "pids"} <= set(cgroups.bases)
    else:
        assert cgroups.mode in ("v2", "none")


async def test_a_run_cgroup_limits_counts_and_kills_its_processes() -> None:
    cgroups = Cgroups.detect("auto")
    if cgroups.mode == "none":
        pytest.skip("no writable cgroup hierarchy on this host")
    run = cgroups.create(memory_bytes=64 << 20, processes=8)
    assert run is not None
    sleepers = [await anyio.open_process(["sleep", "60"]) for _ in range(2)]
    try:
        for proc in sleepers:
            run.add(proc.pid)
        assert run.pids() == {p.pid for p in sleepers}
        if cgroups.mode == "v1":
            limit = (run.dirs["memory"] / "memory.limit_in_bytes").read_text()
            assert limit.strip() == str(64 << 20)
            assert (run.dirs["pids"] / "pids.max").read_text().strip() == "8"
        await run.kill_all()
        with anyio.fail_after(5):
            for proc in sleepers:
                assert await proc.wait() == -signal.SIGKILL
        assert run.pids() == set()
    finally:
        for proc in sleepers:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        with anyio.fail_after(10):
            await run.remove()
    assert not any(d.exists() for d in run.dirs.values())


async def test_cgroup_none_is_what_the_setting_asks_for() -> None:
    cgroups = Cgroups.detect("none")
    assert cgroups.mode == "none"
    assert cgroups.create(1 << 20, 4) is None


async def test_a_v2_run_group_gets_its_limits_in_the_v2_interface_files(tmp_path: Path) -> None:
    # No cgroup v2 controllers on this host (they are bound to v1): this checks the file
    # protocol the kernel documents, on a directory shaped like a delegated v2 group.
    delegated = tmp_path / "delegated"
    delegated.mkdir()
    (delegated / "cgroup.controllers").write_text("cpu memory pids\n")
    (delegated / "cgroup.subtree_control").write_text("")
    base = _v2_base([("cgroup2", tmp_path, set())], delegated)
    assert base == delegated / "promptcraft-sandbox"
    assert (delegated / "cgroup.subtree_control").read_text() == "+memory +pids"
    run = Cgroups("v2", {"unified": base}).create(memory_bytes=1 << 30, processes=16)
    assert run is not None
    unified = run.dirs["unified"]
    assert (unified / "memory.max").read_text() == str(1 << 30)
    assert (unified / "pids.max").read_text() == "16"


async def test_a_run_cgroup_gets_a_cpu_quota_of_max_cpus_cores() -> None:
    cgroups = Cgroups.detect("auto")
    if not cgroups.limits_cpu or cgroups.mode != "v1":
        pytest.skip("no writable cgroup v1 cpu controller on this host")
    run = cgroups.create(memory_bytes=64 << 20, processes=8, cpus=0.5)
    assert run is not None
    try:
        cpu = run.dirs["cpu"]
        assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    finally:
        with anyio.fail_after(10):
            await run.remove()
    unlimited = cgroups.create(memory_bytes=64 << 20, processes=8)
    assert unlimited is not None
    try:
        assert (unlimited.dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "-1"
    finally:
        with anyio.fail_after(10):
            await unlimited.remove()
