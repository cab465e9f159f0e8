"""The Docker backend's container: specified as strictly as the bubblewrap sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.code_interpreter._docker import container_spec, split_reports
from mcp_servers.code_interpreter._protocol import Job, Limits
from mcp_servers.code_interpreter._sandbox_env import load_env
from tests.code_interpreter.conftest import settings_with

LIMITS = Limits(
    wall_seconds=9.5,
    memory_bytes=256 << 20,
    processes=32,
    open_files=128,
    file_size=8 << 20,
    output_bytes=1 << 20,
    scratch_bytes=64 << 20,
)


def spec() -> dict[str, object]:
    settings = settings_with(backend="docker")
    env = load_env(settings.effective_sandbox_env_dir, settings.allowed_packages)
    return container_spec(
        settings,
        env,
        Job(kind="exec", code="print(1)", limits=LIMITS),
        name="run-1",
        tests_root=Path("/srv/promptcraft-tests-root"),
    )


def test_the_container_has_no_network_a_read_only_root_and_a_small_tmpfs() -> None:
    s = spec()
    assert s["network_mode"] == "none" and s["network_disabled"] is True
    assert s["read_only"] is True
    assert s["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,noexec,size={64 << 20},mode=1777"}
    assert s["working_dir"] == "/tmp"


def test_the_container_is_unprivileged_and_cannot_gain_privileges() -> None:
    s = spec()
    assert s["user"] == "65534:65534"
    assert s["cap_drop"] == ["ALL"]
    assert "cap_add" not in s and "privileged" not in s
    assert s["security_opt"] == ["no-new-privileges:true"]
    assert s["ipc_mode"] == "private"


def test_the_container_has_the_runs_limits() -> None:
    s = spec()
    assert s["mem_limit"] == 256 << 20 and s["memswap_limit"] == 256 << 20
    assert s["pids_limit"] == 32
    assert {u["Name"]: (u["Soft"], u["Hard"]) for u in s["ulimits"]} == {  # type: ignore[attr-defined,index]
        "cpu": (11, 11),
        "fsize": (8 << 20, 8 << 20),
        "nofile": (128, 128),
        "core": (0, 0),
    }
    assert s["log_config"] == {"type": "none", "config": {}}  # output is read live, never stored


def test_the_container_mounts_only_the_packages_the_harness_and_the_tests_root_read_only() -> None:
    volumes = spec()["volumes"]
    assert isinstance(volumes, dict)
    assert all(v["mode"] == "ro" for v in volumes.values())
    assert {v["bind"] for v in volumes.values()} == {
        "/opt/promptcraft/site-packages",
        "/opt/promptcraft/harness.py",
        "/opt/promptcraft/_sandbox_rpc.py",
        "/opt/promptcraft/tests",
    }
    assert not [h for h in volumes if "docker.sock" in h]
    env = spec()["environment"]
    assert isinstance(env, dict) and env["PYTHONPATH"] == "/opt/promptcraft/site-packages"
    assert not [k for k in env if k.startswith(("PROMPTCRAFT", "CODE_INTERPRETER"))]


def test_report_records_are_taken_out_of_stderr_only_with_the_runs_token() -> None:
    stderr = b'user text\n\x00PCR:abc:{"t": "end"}\n\x00PCR:forged:{"t": "test"}\nmore\n'
    kept, records = split_reports(stderr, "abc")
    assert records == [b'{"t": "end"}\n']
    assert kept == b'user text\n\x00PCR:forged:{"t": "test"}\nmore\n'


def _engine_reachable() -> str | None:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:
        return f"no Docker engine here ({type(exc).__name__})"
    return None


@pytest.mark.anyio
@pytest.mark.skipif(_engine_reachable() is not None, reason=str(_engine_reachable()))
async def test_a_live_container_runs_code_and_refuses_the_network(runtime: object) -> None:
    from mcp import Client

    from mcp_servers.code_interpreter import create_server

    server = create_server(settings_with(backend="docker"), runtime)  # type: ignore[arg-type]
    async with Client(server) as client:
        result = await client.call_tool(
            "execute_code",
            {
                "code": "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), 1)\n    print('out')\nexcept OSError:\n    print('blocked')"
            },
        )
    assert result.structured_content is not None
    assert result.structured_content["stdout"] == "blocked\n"


def test_the_container_gets_max_cpus_cores_of_cpu_bandwidth() -> None:
    assert spec()["nano_cpus"] == 1_000_000_000  # the default: one core
