"""Building the server for tests: settings without a model unless a test gives one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer

from mcp_servers.sequential_thinking import SequentialThinkingSettings, create_server
from promptcraft.mcp_host import streamable_app
from promptcraft.models import ModelSettings
from promptcraft.runtime import Runtime
from tests.support.asgi_server import serve_asgi


def thinking_settings(
    model: ModelSettings | None = None, **overrides: object
) -> SequentialThinkingSettings:
    return SequentialThinkingSettings(model=model or ModelSettings(provider="none"), **overrides)  # type: ignore[arg-type]


def build(runtime: Runtime, model: ModelSettings | None = None, **overrides: object) -> MCPServer:
    return create_server(thinking_settings(model, **overrides), runtime)


@asynccontextmanager
async def serve_http(server: MCPServer, runtime: Runtime) -> AsyncIterator[str]:
    """Serve ``server`` over streamable HTTP on loopback; yield its MCP URL."""
    app = streamable_app(server, runtime.settings, "/mcp")
    async with serve_asgi(app) as base:
        yield f"{base}/mcp"
