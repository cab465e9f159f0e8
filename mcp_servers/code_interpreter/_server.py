"""The MCP server: three tools over the sandbox backend."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_servers.code_interpreter._backends import create_backend
from mcp_servers.code_interpreter._models import ExecutionResult, PackageList, TestRunResult
from mcp_servers.code_interpreter._protocol import SandboxBackend, SandboxRunner
from mcp_servers.code_interpreter._sandbox_env import SandboxEnv
from mcp_servers.code_interpreter._service import CodeInterpreter, Progress
from mcp_servers.code_interpreter._settings import CodeInterpreterSettings
from promptcraft.mcp_host import new_mcp_server
from promptcraft.runtime import Runtime

logger = logging.getLogger(__name__)

MOUNT_PATH = "/mcp/code-interpreter"

INSTRUCTIONS = """\
Runs Python in a sandbox with no network, no access to the host, and limits on time,
memory, processes and output. Every call gets a fresh sandbox; nothing persists between
calls, so send all the code (and files) a run needs each time.

- execute_code: runs `code` as `python main.py` in /tmp (the only writable place), with
  `stdin` and `files` (relative path -> text) beside it.
- run_tests: writes `code` to solution.py and `tests` to test_solution.py (which already has
  `from solution import *`), then runs pytest on both: tests may also live in `code`.
  The counts come from the harness, never from the code's own output.
- list_packages: what the code may import (the standard library plus these packages).
"""


RUNNER = "code_interpreter_runner"


def _runner(ctx: Context) -> SandboxRunner:
    state = ctx.request_context.lifespan_context
    runner = state.get(RUNNER) if isinstance(state, dict) else None
    if runner is None:
        raise ToolError(
            "the sandbox is not running (the server is starting or stopping); try again"
        )
    return runner  # type: ignore[no-any-return]


def _progress(ctx: Context) -> Progress:
    async def report(value: float, total: float | None, message: str) -> None:
        await ctx.report_progress(value, total, message)

    return report


def create_server(
    settings: CodeInterpreterSettings,
    runtime: Runtime,
    *,
    backend: SandboxBackend | None = None,
    env: SandboxEnv | None = None,
) -> MCPServer:
    """The code interpreter server; raises SandboxUnavailableError when its backend cannot work here.

    The backend starts (and proves its isolation) when the server starts serving; if that
    check fails the server refuses to start.
    """
    if backend is None:
        backend, env = create_backend(settings)
    service = CodeInterpreter(settings, backend, env)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, SandboxRunner]]:
        # Raises (and so refuses to serve) when the backend does not isolate.
        async with backend.session() as runner:
            yield {RUNNER: runner}

    server = new_mcp_server(
        "code-interpreter",
        instructions=INSTRUCTIONS,
        runtime=runtime,
        mount_path=MOUNT_PATH,
        lifespan=lifespan,
    )
    run_annotations = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
    )

    @server.tool(annotations=run_annotations)
    async def execute_code(  # noqa: PLR0917 - the tool's parameters are the contract
        code: Annotated[str, Field(description="Python source, run as the main module.")],
        ctx: Context,
        language: Annotated[str, Field(description="Only python.")] = "python",
        timeout_seconds: Annotated[
            float, Field(description="Wall-clock limit; CPU time is limited to the same.")
        ] = settings.timeout_seconds,
        stdin: Annotated[
            str, Field(description="Text the program reads from standard input.")
        ] = "",
        files: Annotated[
            dict[str, str],
            Field(description="Extra files beside main.py: relative path -> text content."),
        ] = {},  # noqa: B006 - pydantic copies defaults; the schema shows {}
    ) -> ExecutionResult:
        """Run Python code in a fresh sandbox and return its output, exit status and resource use."""
        return await service.execute(
            _runner(ctx),
            code,
            language=language,
            timeout_seconds=timeout_seconds,
            stdin=stdin,
            files=dict(files),
            progress=_progress(ctx),
        )

    @server.tool(annotations=run_annotations)
    async def run_tests(
        code: Annotated[
            str,
            Field(
                description=(
                    "The module under test (solution.py). It may contain tests too, but those are "
                    "run and reported by the code's own process: put tests in `tests` for results "
                    "the code cannot influence."
                )
            ),
        ],
        ctx: Context,
        tests: Annotated[
            str,
            Field(
                description=(
                    "pytest tests (test_solution.py), run in a process of their own; the code's "
                    "public names are already bound (as `from solution import *`), and "
                    "`import solution` works. Calls reach the code in its own process: plain data "
                    "is copied, other objects are proxies."
                )
            ),
        ] = "",
        framework: Annotated[
            str, Field(description="pytest (runs unittest.TestCase tests as well).")
        ] = "pytest",
        timeout_seconds: Annotated[
            float, Field(description="Wall-clock limit for the whole session.")
        ] = settings.test_timeout_seconds,
    ) -> TestRunResult:
        """Run pytest on code and tests in a fresh sandbox; per-test outcomes and counts of `tests` the code cannot forge."""
        return await service.run_tests(
            _runner(ctx),
            code,
            tests=tests,
            framework=framework,
            timeout_seconds=timeout_seconds,
            progress=_progress(ctx),
        )

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=True, idempotent_hint=True, open_world_hint=False
        )
    )
    def list_packages() -> PackageList:
        """The Python version and the packages sandboxed code may import besides the standard library."""
        return service.packages()

    return server
