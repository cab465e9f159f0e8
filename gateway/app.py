"""The one ASGI app `promptcraft serve` runs: health, the REST API, and the MCP servers."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.mcp_mounts import MCP_MOUNTS, McpMount
from gateway.problems import problem
from promptcraft.errors import PromptCraftError
from promptcraft.housekeeping import purge_periodically
from promptcraft.mcp_host import streamable_app
from promptcraft.runtime import Runtime

logger = logging.getLogger(__name__)

_WELL_KNOWN = "/.well-known/oauth-protected-resource"


class _McpDispatcher:
    """Sends each MCP path (and its RFC 9728 metadata path) to its server's app, the rest to the API.

    Mounting with a Starlette ``Mount`` would redirect ``/mcp/x`` to ``/mcp/x/``,
    which MCP clients do not follow for POST; here the sub-apps keep the full path.
    """

    def __init__(self, api: ASGIApp, servers: dict[str, Starlette]) -> None:
        self._api = api
        self._servers = servers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            for prefix, app in self._servers.items():
                if path in (prefix, prefix + "/", _WELL_KNOWN + prefix):
                    await app(scope, receive, send)
                    return
        await self._api(scope, receive, send)


def _build_servers(
    runtime: Runtime, mounts: tuple[McpMount, ...]
) -> tuple[dict[str, MCPServer], list[BaseRoute]]:
    """Each mounted package's MCP server, and the plain HTTP routes of those packages that
    expose an optional ``create_http_routes(settings, runtime)`` hook (paths as they give them)."""
    servers = {}
    routes: list[BaseRoute] = []
    for mount in mounts:
        module = importlib.import_module(mount.module)
        settings = module.load_settings()
        servers[mount.path] = module.create_server(settings, runtime)
        hook = getattr(module, "create_http_routes", None)
        if hook is not None:
            routes.extend(hook(settings, runtime))
    return servers, routes


def create_app(runtime: Runtime, mounts: tuple[McpMount, ...] = MCP_MOUNTS) -> ASGIApp:
    servers, extra_routes = _build_servers(runtime, mounts)
    apps = {path: streamable_app(srv, runtime.settings, path) for path, srv in servers.items()}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                await runtime.store.open()
            except PromptCraftError as exc:
                # Keep serving: /health reports the reason with 503 instead of a dead port.
                logger.error("state store unavailable at start-up: %s", exc)
            stack.push_async_callback(runtime.store.aclose)
            for server in servers.values():
                await stack.enter_async_context(server.session_manager.run())
            tasks = await stack.enter_async_context(anyio.create_task_group())
            tasks.start_soon(purge_periodically, runtime.store)
            stack.callback(tasks.cancel_scope.cancel)
            yield

    api = FastAPI(title="PromptCraft", version="0.1.0", lifespan=lifespan)
    api.state.runtime = runtime
    api.router.routes.extend(extra_routes)

    @api.exception_handler(PromptCraftError)
    async def _promptcraft_error(_: Request, exc: PromptCraftError) -> Response:
        return problem(500, type(exc).__name__, str(exc))

    @api.get("/health")
    async def health() -> JSONResponse:
        store = await runtime.store.health()
        body = {
            "status": "ok" if store.ok else "unavailable",
            "store": {"backend": store.backend, "ok": store.ok, "detail": store.detail},
            "mcp_servers": sorted(servers),
        }
        return JSONResponse(body, status_code=200 if store.ok else 503)

    return _McpDispatcher(api, apps)
