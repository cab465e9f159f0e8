"""No credential reaches the logs: webhook URLs, response_url, e-mail link tokens."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import httpx2
import pytest

from promptcraft.logging_setup import redact_path
from tests.human_in_loop.support import call, request_args, running_receiver, slack_secret
from tests.support.mcp_client import http_client
from tests.support.mcp_process import serve_module

pytestmark = pytest.mark.anyio

SLACK_PATH = "/services/T0SECRET/B0SECRET/WebhookCredential123"
LINK_TOKEN = "eyJsinkTokenCredential.c2lnbmF0dXJl"


async def test_server_logs_show_neither_webhook_urls_nor_email_link_tokens(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    async with running_receiver() as slack:
        env = {
            "PROMPTCRAFT_STORE_URL": "",
            "HITL_SLACK_WEBHOOK_URL": f"{slack.base}{SLACK_PATH}",
            "HITL_SLACK_SIGNING_SECRET": slack_secret(),
            "HITL_SWEEP_INTERVAL_SECONDS": "0.2",
        }
        with serve_module("mcp_servers.human_in_loop", data_dir, env) as url:
            async with http_client(url) as agent:
                await call(agent, "request_approval", **request_args())
            posted = await slack.next_on(SLACK_PATH)
            base = url.removesuffix("/mcp")
            async with httpx2.AsyncClient() as http:
                page = await http.get(f"{base}/hitl/email/confirm", params={"token": LINK_TOKEN})
    log = await anyio.to_thread.run_sync((data_dir / "mcp_servers.human_in_loop.log").read_text)
    assert posted.json()["blocks"] and page.status_code == 400
    assert "T0SECRET" not in log and "WebhookCredential123" not in log
    assert "sinkTokenCredential" not in log
    assert "GET /hitl/email/confirm?[redacted]" in log  # the access log is on, and redacted


def test_the_access_log_hides_hitl_query_strings_and_token_like_values() -> None:
    assert redact_path("/hitl/email/confirm?token=abc") == "/hitl/email/confirm?[redacted]"
    assert redact_path("/mcp/human-in-loop/hitl/x?a=1") == "/mcp/human-in-loop/hitl/x?[redacted]"
    assert redact_path("/oauth/cb?code=xyz&state=1&Token=t") == (
        "/oauth/cb?code=[redacted]&state=1&Token=[redacted]"
    )
    assert redact_path("/health") == "/health"
