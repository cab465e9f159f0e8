"""The Docker backend: one throw-away container per run, with the same limits as bubblewrap.

No network, read-only root, a size-limited tmpfs on /tmp as the only writable place,
memory (swap included) and pid limits, an unprivileged user, no-new-privileges, every
capability dropped, rlimits for CPU time, file size and open files. The allowed packages
come from the same read-only environment the bubblewrap backend uses, bind-mounted
read-only; the harness file likewise. The host's Docker socket is never mounted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from mcp_servers.code_interpreter._fdio import OutputCollector
from mcp_servers.code_interpreter._protocol import (
    HARNESS_SOURCE_PATH,
    RPC_SOURCE_PATH,
    SANDBOX_ENVIRONMENT,
    SANDBOX_TMP,
    SOLUTION,
    TESTS_ROOT,
    EventCallback,
    Job,
    RunOutcome,
    make_tests_root,
)
from mcp_servers.code_interpreter._sandbox_env import SandboxEnv
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings
from mcp_servers.code_interpreter.errors import SandboxCrashedError, SandboxUnavailableError

logger = logging.getLogger(__name__)

SITE_IN_CONTAINER = "/opt/promptcraft/site-packages"
HARNESS_IN_CONTAINER = "/opt/promptcraft/harness.py"
RPC_IN_CONTAINER = "/opt/promptcraft/_sandbox_rpc.py"
NOBODY = "65534:65534"
LABEL = "promptcraft.code-interpreter"


def container_spec(
    settings: CodeInterpreterSettings, env: SandboxEnv, job: Job, *, name: str, tests_root: Path
) -> dict[str, Any]:
    """Keyword arguments for ``docker.client.containers.create`` (pure: unit-tested)."""
    limits = job.limits
    ulimits = [
        {"Name": "cpu", "Soft": limits.cpu_seconds, "Hard": limits.cpu_seconds},
        {"Name": "fsize", "Soft": limits.file_size, "Hard": limits.file_size},
        {"Name": "nofile", "Soft": limits.open_files, "Hard": limits.open_files},
        {"Name": "core", "Soft": 0, "Hard": 0},
    ]
    return {
        "image": settings.docker_image,
        "name": name,
        "command": ["python3", "-I", "-B", HARNESS_IN_CONTAINER, "oneshot"],
        "user": NOBODY,
        "working_dir": "/tmp",  # noqa: S108 - the container's own tmpfs
        "environment": {**SANDBOX_ENVIRONMENT, "PYTHONPATH": SITE_IN_CONTAINER},
        "network_mode": "none",
        "network_disabled": True,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={limits.scratch_bytes},mode=1777"},  # noqa: S108
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "pids_limit": limits.processes,
        "nano_cpus": round(settings.max_cpus * 1e9),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "ulimits": ulimits,
        "ipc_mode": "private",
        "hostname": "sandbox",
        "volumes": {
            str(env.site_packages): {"bind": SITE_IN_CONTAINER, "mode": "ro"},
            str(HARNESS_SOURCE_PATH): {"bind": HARNESS_IN_CONTAINER, "mode": "ro"},
            str(RPC_SOURCE_PATH): {"bind": RPC_IN_CONTAINER, "mode": "ro"},
            str(tests_root): {"bind": TESTS_ROOT, "mode": "ro"},
        },
        "labels": {LABEL: "run"},
        "stdin_open": True,
        "stop_signal": "SIGKILL",
        "log_config": {"type": "none", "config": {}},
        "detach": True,
    }


def job_payload(job: Job, token: str) -> bytes:
    limits = job.limits
    return json.dumps(
        job.payload(
            workdir="/tmp",  # noqa: S108 - the container's own tmpfs
            report_token=token,
            limits={
                "cpu_seconds": limits.cpu_seconds,
                "file_size": limits.file_size,
                "open_files": limits.open_files,
            },
        )
    ).encode()


def split_reports(stderr: bytes, token: str) -> tuple[bytes, list[bytes]]:
    """The harness writes test records to stderr behind a per-run token; take them out."""
    prefix = f"\x00PCR:{token}:".encode()
    kept, records = [], []
    for line in stderr.splitlines(keepends=True):
        if line.startswith(prefix):
            records.append(line[len(prefix) :])
        else:
            kept.append(line)
    return b"".join(kept), records


class DockerBackend:
    name = "docker"
    isolated = True

    def __init__(self, settings: CodeInterpreterSettings, env: SandboxEnv) -> None:
        self._settings = settings
        self._env = env
        self._tests_root = Path(TESTS_ROOT)  # replaced by a host directory in session()
        try:
            import docker

            self._client = docker.from_env(timeout=30)
            self._client.ping()
        except Exception as exc:
            raise SandboxUnavailableError(
                f"no Docker engine is reachable ({exc}); start one, or set CODE_INTERPRETER_BACKEND=bubblewrap"
            ) from exc

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "image": self._settings.docker_image}

    @asynccontextmanager
    async def session(self) -> AsyncIterator[DockerBackend]:
        from mcp_servers.code_interpreter._probe import check_isolation

        with tempfile.TemporaryDirectory(prefix="promptcraft-docker-") as directory:
            self._tests_root = make_tests_root(Path(directory), f"{SANDBOX_TMP}/{SOLUTION}")
            try:
                await check_isolation(self, self._settings)
                yield self
            finally:
                self._tests_root.chmod(0o755)  # so that the directory can be removed

    async def run(self, job: Job, on_event: EventCallback | None = None) -> RunOutcome:
        token = secrets.token_hex(16)
        name = f"promptcraft-run-{secrets.token_hex(6)}"
        spec = container_spec(
            self._settings, self._env, job, name=name, tests_root=self._tests_root
        )
        try:
            outcome = await anyio.to_thread.run_sync(
                self._run_blocking, spec, job, token, abandon_on_cancel=True
            )
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._remove, name)
            raise
        if on_event is not None:
            for record in outcome.records:
                await on_event(record)
        return outcome

    def _remove(self, name: str) -> None:
        with contextlib.suppress(Exception):  # already gone
            self._client.containers.get(name).remove(force=True)

    def _run_blocking(self, spec: dict[str, Any], job: Job, token: str) -> RunOutcome:
        import docker.types

        spec = dict(spec)
        spec["ulimits"] = [
            docker.types.Ulimit(name=u["Name"], soft=u["Soft"], hard=u["Hard"])
            for u in spec["ulimits"]
        ]
        try:
            container = self._client.containers.create(**spec)
        except Exception as exc:
            raise SandboxCrashedError(f"docker could not create the container: {exc}") from exc
        try:
            return self._supervise(container, job, token)
        finally:
            with contextlib.suppress(Exception):  # already gone
                container.remove(force=True)

    def _supervise(self, container: Any, job: Job, token: str) -> RunOutcome:
        outcome = RunOutcome()
        stdin = container.attach_socket(params={"stdin": 1, "stream": 1})
        output = container.attach(stdout=True, stderr=True, stream=True, demux=True, logs=True)

        def on_limit() -> None:
            outcome.output_limited = True
            container.kill()

        # Report records travel on stderr too: leave room for them beyond the output limit.
        collector = OutputCollector(job.limits.output_bytes + 2**20, on_limit)

        def read() -> None:
            for out, err in output:
                collector.add("stdout", out or b"")
                collector.add("stderr", err or b"")
                if collector.truncated:
                    return

        reader = threading.Thread(target=read, daemon=True)
        container.start()
        reader.start()
        raw: socket.socket = stdin._sock  # docker-py's documented way to write a container's stdin
        raw.sendall(job_payload(job, token))
        raw.shutdown(socket.SHUT_WR)
        start = time.monotonic()
        try:
            code = int(container.wait(timeout=job.limits.wall_seconds).get("StatusCode", -1))
        except Exception:
            outcome.timed_out = True
            container.kill()
            code = 128 + 9
        outcome.duration_s = time.monotonic() - start
        reader.join(timeout=5)
        container.reload()
        outcome.memory_limited = bool(container.attrs.get("State", {}).get("OOMKilled"))
        stderr, records = split_reports(bytes(collector.stderr), token)
        outcome.stdout = bytes(collector.stdout[: job.limits.output_bytes])
        outcome.stderr = stderr[: max(job.limits.output_bytes - len(outcome.stdout), 0)]
        outcome.truncated = outcome.output_limited
        for line in records:
            try:
                record = json.loads(line)
            except ValueError:
                outcome.bad_records.append(line[:200].decode("utf-8", "replace"))
                continue
            if isinstance(record, dict):
                outcome.records.append(record)
        # Docker reports death by signal N as 128 + N.
        outcome.exit_code = -(code - 128) if 128 < code <= 128 + 64 else code
        if outcome.exit_code < 0:
            outcome.term_signal = -outcome.exit_code
        return outcome
