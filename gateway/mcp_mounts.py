"""The MCP servers `promptcraft serve` mounts, each at ``/mcp/<name>``.

Each module exposes ``load_settings()`` and ``create_server(settings, runtime)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class McpMount:
    name: str
    module: str

    @property
    def path(self) -> str:
        return f"/mcp/{self.name}"


MCP_MOUNTS: tuple[McpMount, ...] = (
    McpMount("code-analysis", "mcp_servers.code_analysis"),
    McpMount("sequential-thinking", "mcp_servers.sequential_thinking"),
    McpMount("human-in-loop", "mcp_servers.human_in_loop"),
    McpMount("code-interpreter", "mcp_servers.code_interpreter"),
)
