"""Canaries planted on the host before the first program, and a leftover check after each."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from promptcraft.runtime import Runtime
from tests.code_interpreter_adversarial._harness import (
    REPO_ROOT,
    Host,
    cgroup_dirs,
    describe,
    kill_processes,
    mount_table,
    new_canary,
    process_start_time,
    sandbox_env_dir,
    tree_snapshot,
    wait_for_no_tagged_processes,
)

ENV_CANARIES = {"PC_ADV_CANARY": "env", "PC_ADV_API_TOKEN": "env_secret_name"}
SSH_DIR_MARKER = ".created-by-pcadv-suite"


@pytest.fixture(scope="session", autouse=True)
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """Plant canaries where the sandbox must not reach; remove them all afterwards."""
    names = ("env", "env_secret_name", "repo_file", "tmp_file", "root_file", "ssh_key")
    canaries = {name: new_canary() for name in (*names, "sleeper_argv", "sleeper_env")}
    saved_env = {key: os.environ.get(key) for key in ENV_CANARIES}
    for key, name in ENV_CANARIES.items():
        os.environ[key] = canaries[name]

    suffix = secrets.token_hex(4)
    repo_canary = REPO_ROOT / f".pcadv-canary-{suffix}.env"
    repo_canary.write_text(f"API_TOKEN={canaries['repo_file']}\n")
    tmp_dir = tmp_path_factory.mktemp("pcadv-host")
    tmp_canary = tmp_dir / "secret.txt"
    tmp_canary.write_text(canaries["tmp_file"])
    root_canary = Path("/root") / f".pcadv-canary-{suffix}"
    root_canary.write_text(canaries["root_file"])
    ssh_dir = Path("/root/.ssh")
    if not ssh_dir.exists():
        # Created for the suite: the marker lets the last of several concurrent sessions
        # remove it again, whichever session made it.
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / SSH_DIR_MARKER).touch()
    ssh_canary = ssh_dir / f"id_pcadv_{suffix}"
    ssh_canary.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{canaries['ssh_key']}\n")
    ssh_canary.chmod(0o600)

    # A host process holding secrets in argv and environment: invisible to the sandbox.
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(3600)", canaries["sleeper_argv"]],
        env={"PATH": os.environ.get("PATH", "/usr/bin"), "PC_ADV_SLEEPER": canaries["sleeper_env"]},
        start_new_session=True,
    )
    try:
        env_dir = sandbox_env_dir()
        facts = Host(
            canaries=canaries,
            repo_canary=repo_canary,
            tmp_dir=tmp_dir,
            tmp_canary=tmp_canary,
            root_canary=root_canary,
            ssh_canary=ssh_canary,
            sleeper_pid=sleeper.pid,
            sleeper_start=process_start_time(sleeper.pid),
            mounts_before=mount_table(),
            cgroups_before=cgroup_dirs(),
            hostname=socket.gethostname(),
            core_pattern=Path("/proc/sys/kernel/core_pattern").read_text(),
            env_dir=env_dir,
            env_before=tree_snapshot(env_dir),
        )
        yield facts
    finally:
        kill_processes(wait_for_no_tagged_processes(timeout=0))
        with contextlib.suppress(ProcessLookupError):
            os.kill(sleeper.pid, signal.SIGCONT)  # in case a ptrace attempt left it stopped
        sleeper.kill()
        sleeper.wait()
        for path in (repo_canary, root_canary, ssh_canary):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            if sorted(p.name for p in ssh_dir.iterdir()) == [SSH_DIR_MARKER]:
                (ssh_dir / SSH_DIR_MARKER).unlink()
                ssh_dir.rmdir()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def no_process_outlives_its_program(host: Host) -> Iterator[None]:
    """After every program: nothing it started is still running anywhere on the host."""
    yield
    left = wait_for_no_tagged_processes(timeout=5)
    if left:
        kill_processes(left)
        pytest.fail(f"sandboxed processes outlived their call: {describe(left)}")


@pytest.fixture
async def secret_runtime(runtime: Runtime, host: Host) -> AsyncIterator[Runtime]:
    """The runtime, with a secret in its store and its generated JWT secret as canaries."""
    store_canary = new_canary()
    await runtime.store.create("pcadv", "secret", {"token": store_canary})
    host.extra_canaries = {"store_record": store_canary}
    secret_file = runtime.settings.data_dir / "jwt_secret"
    if secret_file.exists() and len(secret_file.read_text().strip()) >= 16:
        host.extra_canaries["jwt_secret"] = secret_file.read_text().strip()
    try:
        yield runtime
    finally:
        host.extra_canaries = {}
