"""Code analysis MCP server: security, performance and architecture findings for source files.

``python -m mcp_servers.code_analysis`` serves it alone (``--stdio`` for desktop clients);
``python -m mcp_servers.code_analysis analyze PATH...`` analyses files for CI without a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_servers.code_analysis._settings import MOUNT_PATH, CodeAnalysisSettings, load_settings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from promptcraft.runtime import Runtime


def create_server(settings: CodeAnalysisSettings, runtime: Runtime) -> MCPServer:
    """The MCP server (imported lazily: the command-line entry does not need the MCP SDK)."""
    from mcp_servers.code_analysis._server import create_server as create

    return create(settings, runtime)


__all__ = ["MOUNT_PATH", "CodeAnalysisSettings", "create_server", "load_settings"]
