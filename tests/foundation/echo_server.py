"""A minimal server built the way every PromptCraft server is, to test the shared plumbing."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from promptcraft.identity.mcp_auth import current_caller
from promptcraft.mcp_host import new_mcp_server
from promptcraft.runtime import Runtime


class WhoAmI(BaseModel):
    username: str | None
    roles: list[str]


class EchoSettings(BaseModel):
    greeting: str = "hello"


def load_settings() -> EchoSettings:
    return EchoSettings()


def create_server(settings: EchoSettings, runtime: Runtime) -> MCPServer:
    server = new_mcp_server("echo", instructions="test", runtime=runtime, mount_path="/mcp/echo")

    @server.tool()
    def whoami() -> WhoAmI:
        caller = current_caller()
        return WhoAmI(
            username=caller.username if caller else None, roles=list(caller.roles) if caller else []
        )

    return server
