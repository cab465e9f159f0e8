"""Serving: start-up refusal, the unsafe backend's loud name, concurrency, progress, cancellation."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_servers.code_interpreter import create_server
from mcp_servers.code_interpreter._probe import verify
from mcp_servers.code_interpreter._protocol import SANDBOX_ENVIRONMENT
from mcp_servers.code_interpreter._server import MOUNT_PATH
from mcp_servers.code_interpreter.errors import (
    IsolationCheckError,
    SandboxEnvironmentError,
    SandboxUnavailableError,
)
from promptcraft.mcp_host import streamable_app
from promptcraft.runtime import Runtime
from tests.code_interpreter.conftest import (
    NAME_ME,
    OpenClient,
    call,
    host_processes_named,
    parser_processes,
    run_cgroups,
    settings_with,
)
from tests.support.asgi_server import serve_asgi
from tests.support.mcp_client import http_client

pytestmark = [pytest.mark.anyio, pytest.mark.bwrap]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def leaky_bwrap() -> Iterator[Path]:
    """A bubblewrap that also shows the sandbox the host's /root.

    The runs' own namespaces would make up for a missing network or pid namespace, but
    not for a host directory mounted into the sandbox. /root rather than the checkout:
    a checkout under /tmp would be hidden again by each run's own /tmp. The script lives
    where the unprivileged sandbox user can run it (pytest's tmp dirs are 0700).
    """
    directory = Path(tempfile.mkdtemp(prefix="pcci-bwrap-"))
    directory.chmod(0o755)
    script = directory / "bwrap"
    script.write_text(
        '#!/bin/bash\nargs=()\nfor a in "$@"; do args+=("$a"); '
        "[[ $a == --unshare-all ]] && args+=(--ro-bind /root /root); done\n"
        'exec /usr/bin/bwrap "${args[@]}"\n'
    )
    script.chmod(0o755)
    try:
        yield script
    finally:
        shutil.rmtree(directory)


def flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [e for inner in exc.exceptions for e in flatten(inner)]
    return [exc]


async def test_the_server_refuses_to_start_when_the_sandbox_does_not_isolate(
    runtime: Runtime, leaky_bwrap: Path
) -> None:
    server = create_server(settings_with(bwrap_path=str(leaky_bwrap)), runtime)
    with pytest.raises(BaseException) as caught:
        async with Client(server):
            pass
    errors = [e for e in flatten(caught.value) if isinstance(e, IsolationCheckError)]
    assert errors, caught.value
    assert "host paths are visible: ['/root']" in str(errors[0])
    assert "will not run any" in str(errors[0])


def test_the_standalone_server_exits_instead_of_serving_an_unisolated_sandbox(
    tmp_path: Path, leaky_bwrap: Path
) -> None:
    env = {
        **os.environ,
        "CODE_INTERPRETER_BWRAP_PATH": str(leaky_bwrap),
        "PROMPTCRAFT_DATA_DIR": str(tmp_path / "data"),
        "PROMPTCRAFT_MCP_REQUIRE_AUTH": "false",
    }
    from tests.support.ports import free_port

    proc = subprocess.run(
        [sys.executable, "-m", "mcp_servers.code_interpreter", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "does not isolate" in proc.stderr


async def test_a_missing_bubblewrap_is_refused_not_replaced_by_an_unsandboxed_run(
    runtime: Runtime,
) -> None:
    with pytest.raises(SandboxUnavailableError, match="CODE_INTERPRETER_BWRAP_PATH"):
        create_server(settings_with(bwrap_path="/nonexistent/bwrap"), runtime)


async def test_a_missing_package_environment_names_the_setup_script(
    runtime: Runtime, tmp_path: Path
) -> None:
    with pytest.raises(SandboxEnvironmentError, match=r"setup_sandbox_env\.sh"):
        create_server(settings_with(sandbox_env_dir=tmp_path), runtime)


async def test_allowed_packages_that_differ_from_the_built_environment_are_refused(
    runtime: Runtime,
) -> None:
    with pytest.raises(SandboxEnvironmentError, match="CODE_INTERPRETER_ALLOWED_PACKAGES"):
        create_server(settings_with(allowed_packages="numpy,torch"), runtime)


def test_the_probe_names_every_kind_of_leak() -> None:
    leaky = {
        "CapEff": "0000000000200000",
        "NoNewPrivs": "0",
        "Seccomp": "0",
        "environ": ["PATH", "AWS_SECRET_ACCESS_KEY"],
        "pid1_environ": ["HOME"],
        "visible": ["/root"],
        "writable": ["/usr"],
        "scratch_writable": True,
        "egress": True,
        "loopback_to_host": True,
        "interfaces": ["lo", "eth0"],
        "userns": True,
        "mount": True,
        "uid": 0,
    }
    failures = " | ".join(verify(leaky, {}))
    for words in (
        "CapEff",
        "no_new_privs",
        "seccomp",
        "AWS_SECRET_ACCESS_KEY",
        "/proc/1/environ",
        "/root",
        "/usr",
        "egress",
        "loopback",
        "eth0",
        "user namespaces",
        "mounted",
        "root inside",
    ):
        assert words in failures


async def test_the_unsafe_backend_exists_only_under_its_loud_name(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings_with().backend == "bubblewrap"
    caplog.set_level(logging.WARNING)
    server = create_server(settings_with(backend="unsafe-unsandboxed"), runtime)
    assert "WITHOUT ANY SANDBOX" in caplog.text
    async with Client(server) as client:
        packages = await call(client, "list_packages")
        seen = await call(
            client, "execute_code", code=f"import os\nprint(os.path.exists({str(REPO)!r}))"
        )
        tests = await call(
            client,
            "run_tests",
            code="def f():\n    return 2\n",
            tests="def test_f():\n    assert f() == 2\n",
        )
    assert packages["backend"] == "unsafe-unsandboxed"
    assert seen["stdout"] == "True\n"  # nothing is hidden from it: that is why it is named so
    assert (tests["status"], tests["passed"]) == ("ok", 1)


async def test_runs_beyond_the_concurrency_bound_wait_their_turn(open_client: OpenClient) -> None:
    code = "import time\nstart = time.monotonic()\ntime.sleep(0.4)\nprint(start, time.monotonic())"
    spans: list[tuple[float, float]] = []
    async with open_client(max_concurrent_runs=1) as client:

        async def one() -> None:
            result = await call(client, "execute_code", code=code)
            start, end = map(float, result["stdout"].split())
            spans.append((start, end))

        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(one)
    spans.sort()
    assert len(spans) == 3
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))


async def test_a_test_run_waiting_for_a_free_sandbox_does_not_parse_its_sources_yet(
    open_client: OpenClient,
) -> None:
    # Parsing a large source costs the server memory and CPU: it is part of the run, so it
    # waits for the run's turn like the rest.
    # 5 MB in a million literals: a parse of a few tenths of a second in its own process.
    code = "text = (" + '"ab" ' * 1_000_000 + ")\ndef size():\n    return len(text)\n"
    tests = "def test_size():\n    assert size() == 2_000_000\n"
    results: dict[str, dict[str, object]] = {}
    async with open_client(max_concurrent_runs=1) as client:

        async def hold_the_slot() -> None:
            results["held"] = await call(
                client, "execute_code", code="import time\nprint('held')\ntime.sleep(3)"
            )

        async def run_tests() -> None:
            results["tests"] = await call(client, "run_tests", code=code, tests=tests)

        seen: list[int] = []
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(hold_the_slot)
            await anyio.sleep(0.5)
            tasks.start_soon(run_tests)
            # Until well before the holder's sleep can end (3 s after it started).
            with anyio.move_on_after(2.0):
                while True:
                    seen += parser_processes()
                    await anyio.sleep(0.01)
    assert seen == [], "the sources were parsed while the run waited for its turn"
    assert (results["tests"]["status"], results["tests"]["passed"]) == ("ok", 1), results["tests"]


async def test_long_runs_send_progress_notifications(client: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool(
        "execute_code",
        {"code": "import time\ntime.sleep(4.5)", "timeout_seconds": 20},
        progress_callback=on_progress,
    )
    assert not result.is_error
    assert len(seen) >= 2
    assert all(total == 20 for _, total, _ in seen)
    assert [p for p, _, _ in seen] == sorted({p for p, _, _ in seen})  # strictly increasing

    tests = "import time\n" + "".join(f"def test_{i}():\n    time.sleep(0.2)\n" for i in range(3))
    seen.clear()
    await client.call_tool("run_tests", {"code": "", "tests": tests}, progress_callback=on_progress)
    assert any(message == "3 of 3 tests done" for _, _, message in seen), seen


async def test_cancelling_the_request_kills_the_run(runtime: Runtime, tag: str) -> None:
    await runtime.users.add("ada", "correct horse battery", ("user",))
    token = runtime.tokens.issue("ada").token
    server = create_server(settings_with(), runtime)
    code = (
        NAME_ME.format(tag=tag)
        + "import os\nos.fork()\nprint('running', flush=True)\nwhile True:\n    pass\n"
    )
    started = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async def run(client: Client) -> None:
        arguments = {"code": code, "timeout_seconds": 120}
        await client.call_tool("execute_code", arguments, progress_callback=on_progress)

    app = streamable_app(server, runtime.settings, MOUNT_PATH)
    async with serve_asgi(app) as base, http_client(f"{base}{MOUNT_PATH}", token) as client:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run, client)
            with anyio.fail_after(30):
                await started.wait()
                while not host_processes_named(tag):
                    await anyio.sleep(0.05)
            assert len(host_processes_named(tag)) == 2
            tasks.cancel_scope.cancel()
        with anyio.fail_after(10):
            while host_processes_named(tag):
                await anyio.sleep(0.05)
        after = await call(client, "execute_code", code="print('next')")  # still serving
    assert after["stdout"] == "next\n"
    assert run_cgroups() == []


async def test_the_server_answers_over_stdio(tmp_path: Path) -> None:
    from mcp import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_servers.code_interpreter", "--stdio"],
        env={**os.environ, "PROMPTCRAFT_DATA_DIR": str(tmp_path / "data")},
        cwd=str(REPO),
    )
    started = time.monotonic()
    async with Client(params) as client:
        result = await call(
            client, "execute_code", code="print(json.dumps(1))".replace("json.dumps", "str")
        )
    assert result["stdout"] == "1\n"
    assert time.monotonic() - started < 60
    assert json.dumps(result)


async def test_promptcraft_serve_mounts_it_at_mcp_code_interpreter(runtime: Runtime) -> None:
    from gateway.app import create_app
    from gateway.mcp_mounts import MCP_MOUNTS

    mount = next(m for m in MCP_MOUNTS if m.module == "mcp_servers.code_interpreter")
    assert mount.path == MOUNT_PATH
    await runtime.users.add("ada", "correct horse battery", ("user",))
    token = runtime.tokens.issue("ada").token
    async with (
        serve_asgi(create_app(runtime, (mount,))) as base,
        http_client(f"{base}{MOUNT_PATH}", token) as client,
    ):
        result = await call(client, "execute_code", code="print(2 + 2)")
    assert result["stdout"] == "4\n"


async def test_the_start_up_probe_checks_test_runs_as_strictly_as_code_runs() -> None:
    from mcp_servers.code_interpreter._backends import create_backend
    from mcp_servers.code_interpreter._probe import TEST_RUN_ENVIRONMENT

    backend, _ = create_backend(settings_with())
    async with backend.session() as runner:
        report = getattr(runner, "probe_report", {})
    test_run = report.get("test_run")
    assert isinstance(test_run, dict), report
    # The tests zygote's worker: seccomp, no_new_privs, no capabilities, a clean environment.
    assert test_run["Seccomp"] == "2" and test_run["NoNewPrivs"] == "1", test_run
    assert test_run["CapEff"] == test_run["CapBnd"] == "0000000000000000", test_run
    assert not test_run["pid1_environ"] and not test_run["visible"], test_run
    assert set(test_run["environ"]) <= {*SANDBOX_ENVIRONMENT, *TEST_RUN_ENVIRONMENT}, test_run
    # What the test-run check tolerates beyond the sandbox's environment is pytest's own.
    leaky = {**test_run, "environ": [*test_run["environ"], "PYTEST_ADDOPTS"]}
    assert any("PYTEST_ADDOPTS" in f for f in verify(leaky, {}, TEST_RUN_ENVIRONMENT))
