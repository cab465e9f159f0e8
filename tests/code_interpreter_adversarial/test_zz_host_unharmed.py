"""Runs last (file order): after every program above, the host is as the suite found it."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tests.code_interpreter_adversarial._harness import (
    REPO_ROOT,
    Host,
    cgroup_dirs,
    cgroup_is_empty,
    descendants,
    describe,
    files_named_with_tag,
    kill_processes,
    mount_table,
    process_alive,
    tree_changes,
    tree_snapshot,
    wait_for_no_tagged_processes,
)


def test_no_sandboxed_process_is_left_anywhere_on_the_host(host: Host) -> None:
    left = wait_for_no_tagged_processes(timeout=5)
    kill_processes(left)
    assert not left, f"processes started by sandboxed programs still run: {describe(left)}"
    children = [p for p in descendants(os.getpid()) if p.pid != host.sleeper_pid]
    assert not children, f"the servers left processes behind: {describe(children)}"
    assert process_alive(host.sleeper_pid, host.sleeper_start), "a host process was killed"


def test_no_mount_is_left_in_the_host_namespace(host: Host) -> None:
    added = sorted(mount_table() - host.mounts_before)
    assert not added, f"mounts left on the host: {added}"


def test_no_file_written_by_a_program_is_left_on_the_host(host: Host) -> None:
    roots = [
        Path(p) for p in ("/tmp", "/var/tmp", "/dev/shm", "/root", "/etc", "/usr/local", "/opt")
    ]
    found = files_named_with_tag([*roots, REPO_ROOT, host.tmp_dir], depth=4)
    found += files_named_with_tag([Path("/")], depth=1)
    assert not found, f"files from sandboxed programs on the host: {found}"
    planted = {
        host.repo_canary: "repo_file",
        host.tmp_canary: "tmp_file",
        host.root_canary: "root_file",
        host.ssh_canary: "ssh_key",
    }
    for path, name in planted.items():
        assert path.is_file() and host.canaries[name] in path.read_text(), f"{path} was changed"
    assert sorted(p.name for p in host.tmp_dir.iterdir()) == ["secret.txt"], "host dir written"


def leftover_cgroups(added: list[str]) -> list[str]:
    """New empty cgroups beyond one persistent parent per hierarchy (one per run = a leak)."""
    per_hierarchy: dict[str, list[str]] = {}
    for path in added:
        parts = Path(path).parts  # ('/', 'sys', 'fs', 'cgroup', <controller or first level>, ...)
        per_hierarchy.setdefault("/".join(parts[:5]), []).append(path)
    leaks = []
    for paths in per_hierarchy.values():
        nested = [p for p in paths if any(p != q and p.startswith(q + "/") for q in paths)]
        if len(paths) > 1 or nested:
            leaks.extend(paths)
    return sorted(leaks)


def test_no_per_run_cgroup_is_left_behind(host: Host) -> None:
    deadline = time.monotonic() + 5
    while True:
        added = sorted(d for d in cgroup_dirs() - host.cgroups_before if cgroup_is_empty(d))
        leaks = leftover_cgroups(added)
        if not leaks or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not leaks, f"empty cgroups left behind by sandbox runs: {leaks}"


def test_the_sandbox_environment_on_the_host_is_unchanged(host: Host) -> None:
    assert host.env_dir is not None and host.env_before, "the sandbox environment was not found"
    changes = tree_changes(host.env_before, tree_snapshot(host.env_dir))
    assert not changes, f"the read-only environment changed during the suite: {changes[:20]}"


def test_host_identity_and_kernel_settings_are_unchanged(host: Host) -> None:
    assert socket.gethostname() == host.hostname
    assert Path("/proc/sys/kernel/core_pattern").read_text() == host.core_pattern
