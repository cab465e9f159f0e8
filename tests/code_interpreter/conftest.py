"""A code interpreter server on the real bubblewrap backend, reached through an MCP client."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_servers.code_interpreter import CodeInterpreterSettings, create_server, load_settings
from promptcraft.runtime import Runtime

OpenClient = Callable[..., AbstractAsyncContextManager[Client]]


def settings_with(**overrides: Any) -> CodeInterpreterSettings:
    """The environment's settings with overrides, validated as the env vars would be."""
    return load_settings(**overrides)


@pytest.fixture
def open_client(runtime: Runtime) -> OpenClient:
    """``async with open_client(max_memory="256M") as client:`` -> a client of a fresh server."""

    @asynccontextmanager
    async def opened(**overrides: Any) -> AsyncIterator[Client]:
        server = create_server(settings_with(**overrides), runtime)
        async with Client(server) as client:
            yield client

    return opened


@pytest.fixture
async def client(open_client: OpenClient) -> AsyncIterator[Client]:
    async with open_client() as opened:
        yield opened


@pytest.fixture
def tag() -> str:
    """A name for the processes a test's program starts, to find leftovers on the host."""
    return "pcci" + secrets.token_hex(5)


def host_processes_named(comm: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def run_cgroups() -> list[Path]:
    """This process's per-run cgroups still on the host (there should be none between runs)."""
    import os

    from mcp_servers.code_interpreter._cgroups import BASE_NAME

    return [
        p for p in Path("/sys/fs/cgroup").glob(f"*/{BASE_NAME}/run-{os.getpid()}-*") if p.is_dir()
    ]


NAME_ME = """
with open("/proc/self/comm", "w") as _handle:
    _handle.write({tag!r})
"""


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def parser_processes() -> list[int]:
    """This process's children that parse a run's sources (``_test_names.py``)."""
    found = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            with contextlib.suppress(OSError):
                if b"_test_names.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
    return found
