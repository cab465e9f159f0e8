"""Human-in-loop MCP server: durable approvals that only the right people can give.

``create_server(settings, runtime)`` builds the MCP server (mounted by ``promptcraft serve``
at ``/mcp/human-in-loop``; ``python -m mcp_servers.human_in_loop`` runs it alone);
``create_http_routes(settings, runtime)`` gives the Slack interactivity and e-mail
confirmation endpoints under ``/hitl/``. All state lives in the PromptCraft state store.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from starlette.routing import Route

from mcp_servers.human_in_loop._http import create_routes
from mcp_servers.human_in_loop._server import MOUNT_PATH, NAME, build_server
from mcp_servers.human_in_loop._service import ApprovalService
from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from mcp_servers.human_in_loop._settings import load_settings as _load_settings
from promptcraft.runtime import Runtime

__all__ = [
    "MOUNT_PATH",
    "NAME",
    "HumanInLoopSettings",
    "create_http_routes",
    "create_server",
    "load_settings",
]


def load_settings() -> HumanInLoopSettings:
    """Settings from the environment (``HITL_*``) and ``.env``."""
    return _load_settings()


def create_server(settings: HumanInLoopSettings, runtime: Runtime) -> MCPServer:
    """The MCP server; refuses half-configured channels and placeholder secrets."""
    settings.check()
    return build_server(settings, runtime, ApprovalService(settings, runtime))


def create_http_routes(settings: HumanInLoopSettings, runtime: Runtime) -> list[Route]:
    """Slack interactivity and e-mail confirmation routes (paths under ``/hitl/``)."""
    settings.check()
    return create_routes(ApprovalService(settings, runtime))
