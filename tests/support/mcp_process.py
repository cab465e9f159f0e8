"""Run an MCP server as its own process over streamable HTTP, for boundary tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port, wait_for_port


@contextmanager
def serve_module(
    module: str, data_dir: Path, env: Mapping[str, str] | None = None, *, require_auth: bool = False
) -> Iterator[str]:
    """Start ``python -m <module> --port P`` and yield its MCP URL; stop it afterwards."""
    port = free_port()
    full_env = {
        **os.environ,
        "PROMPTCRAFT_DATA_DIR": str(data_dir),
        "PROMPTCRAFT_MCP_REQUIRE_AUTH": "true" if require_auth else "false",
        **(env or {}),
    }
    log = (data_dir / f"{module}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
