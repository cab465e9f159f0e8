from __future__ import annotations

import httpx2
import pytest

from gateway.app import create_app
from gateway.mcp_mounts import McpMount
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings
from tests.support.asgi_server import serve_asgi
from tests.support.mcp_client import http_client

pytestmark = pytest.mark.anyio

ECHO = (McpMount("echo", "tests.foundation.echo_server"),)


async def test_health_reports_the_store_as_ok(runtime: Runtime) -> None:
    async with serve_asgi(create_app(runtime, ECHO)) as base, httpx2.AsyncClient() as http:
        response = await http.get(f"{base}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"]["backend"] == "sqlite"
    assert body["mcp_servers"] == ["/mcp/echo"]


async def test_health_is_503_with_the_reason_when_the_store_is_corrupt(
    core_settings: CoreSettings,
) -> None:
    core_settings.data_dir.mkdir(parents=True)
    (core_settings.data_dir / "promptcraft.db").write_bytes(b"this is not a database" * 100)
    runtime = build_runtime(core_settings)
    async with serve_asgi(create_app(runtime, ())) as base, httpx2.AsyncClient() as http:
        response = await http.get(f"{base}/health")
    assert response.status_code == 503
    detail = response.json()["store"]["detail"]
    assert "PROMPTCRAFT_STORE_URL" in detail
    assert "not a database" in detail


async def test_health_is_503_naming_the_setting_when_redis_is_unreachable(
    core_settings: CoreSettings,
) -> None:
    from tests.support.ports import free_port

    settings = core_settings.model_copy(update={"store_url": f"redis://127.0.0.1:{free_port()}/0"})
    runtime = build_runtime(settings)
    async with serve_asgi(create_app(runtime, ())) as base, httpx2.AsyncClient() as http:
        response = await http.get(f"{base}/health")
    assert response.status_code == 503
    assert "PROMPTCRAFT_STORE_URL" in response.json()["store"]["detail"]


async def test_mounted_mcp_server_refuses_a_request_without_a_token(runtime: Runtime) -> None:
    async with serve_asgi(create_app(runtime, ECHO)) as base, httpx2.AsyncClient() as http:
        response = await http.post(
            f"{base}/mcp/echo",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 401
    assert "resource_metadata" in response.headers.get("www-authenticate", "")


async def test_mounted_mcp_server_sees_the_caller_of_a_jwt_and_of_an_api_key(
    runtime: Runtime,
) -> None:
    await runtime.users.add("ada", "correct horse battery", ("approver",))
    token = runtime.tokens.issue("ada").token
    api_key, _ = await runtime.users.create_api_key("ada")
    async with serve_asgi(create_app(runtime, ECHO)) as base:
        for credential in (token, api_key):
            async with http_client(f"{base}/mcp/echo", credential) as client:
                result = await client.call_tool("whoami", {})
            assert result.structured_content == {"username": "ada", "roles": ["approver"]}


async def test_a_disabled_users_token_is_refused_by_the_mcp_server(runtime: Runtime) -> None:
    await runtime.users.add("bob", "correct horse battery")
    token = runtime.tokens.issue("bob").token
    await runtime.users.set_disabled("bob", True)
    async with serve_asgi(create_app(runtime, ECHO)) as base, httpx2.AsyncClient() as http:
        response = await http.post(
            f"{base}/mcp/echo",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert response.status_code == 401


async def test_the_public_urls_host_passes_the_dns_rebinding_guard_and_others_do_not(
    runtime: Runtime,
) -> None:
    settings = runtime.settings.model_copy(update={"public_url": "https://pc.example.com"})
    public = Runtime(settings, runtime.store, runtime.users, runtime.tokens, runtime.verifier)
    await runtime.users.add("ada", "correct horse battery")
    token = runtime.tokens.issue("ada").token
    async with serve_asgi(create_app(public, ECHO)) as base, httpx2.AsyncClient() as http:
        responses = {}
        for host in ("pc.example.com", "evil.example.com"):
            responses[host] = await http.post(
                f"{base}/mcp/echo",
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={
                    "Host": host,
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json, text/event-stream",
                    "Content-Type": "application/json",
                    "MCP-Protocol-Version": "2025-06-18",
                },
            )
    assert responses["evil.example.com"].status_code == 421
    assert responses["pc.example.com"].status_code != 421
