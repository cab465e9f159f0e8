"""`promptcraft serve` mounts the server at /mcp/human-in-loop and its routes under /hitl/."""

from __future__ import annotations

import httpx2
import pytest

from gateway.app import create_app
from gateway.mcp_mounts import MCP_MOUNTS, McpMount
from promptcraft.runtime import Runtime
from tests.human_in_loop.support import add_user, call, request_args, slack_click, slack_secret
from tests.support.asgi_server import serve_asgi
from tests.support.mcp_client import http_client

pytestmark = pytest.mark.anyio

MOUNT = McpMount("human-in-loop", "mcp_servers.human_in_loop")


def test_the_gateway_lists_the_human_in_loop_server() -> None:
    assert MOUNT in MCP_MOUNTS


async def test_mounted_the_server_decides_through_mcp_and_its_slack_route(
    hitl_runtime: Runtime, hitl_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = slack_secret()
    monkeypatch.setenv("HITL_SLACK_SIGNING_SECRET", secret)
    monkeypatch.setenv("HITL_SLACK_ALLOWED_USER_IDS", "U0ANN")
    monkeypatch.setenv("HITL_IDENTITY_MAP", "slack:U0ANN=ann")
    monkeypatch.setenv("HITL_SWEEP_INTERVAL_SECONDS", "0.1")
    agent = await add_user(hitl_runtime, "agent")
    await add_user(hitl_runtime, "ann", "approver")
    app = create_app(hitl_runtime, (MOUNT,))
    async with (
        serve_asgi(app, port=hitl_port) as base,
        http_client(f"{base}/mcp/human-in-loop", agent) as client,
    ):
        approval_id = (await call(client, "request_approval", **request_args()))["approval_id"]
        body, headers = slack_click(secret, approval_id, "U0ANN")
        async with httpx2.AsyncClient() as http:
            clicked = await http.post(
                f"{base}/hitl/slack/interactions", content=body, headers=headers
            )
            unauthenticated = await http.post(
                f"{base}/mcp/human-in-loop",
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={"Accept": "application/json, text/event-stream"},
            )
        result = await call(client, "await_decision", approval_id=approval_id, wait_seconds=5)
    assert clicked.status_code == 200, clicked.text
    assert result["status"] == "approved" and result["votes"][0]["approver"] == "ann"
    assert unauthenticated.status_code == 401
