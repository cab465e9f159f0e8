"""Sequential thinking MCP server: a drop-in ``sequentialthinking`` and the ``decompose_task`` planner.

``python -m mcp_servers.sequential_thinking [--stdio]`` runs it alone; ``promptcraft
serve`` mounts it at ``/mcp/sequential-thinking``.
"""

from __future__ import annotations

from mcp_servers.sequential_thinking._plan import Plan, PlanStep, PlanUsage, Signals, read_inputs
from mcp_servers.sequential_thinking._rules import plan_with_rules
from mcp_servers.sequential_thinking._server import MOUNT_PATH, NAME, create_server
from mcp_servers.sequential_thinking._settings import SequentialThinkingSettings, load_settings
from mcp_servers.sequential_thinking._thoughts import ThoughtResult

__all__ = [
    "MOUNT_PATH",
    "NAME",
    "Plan",
    "PlanStep",
    "PlanUsage",
    "SequentialThinkingSettings",
    "Signals",
    "ThoughtResult",
    "create_server",
    "load_settings",
    "plan_with_rules",
    "read_inputs",
]
