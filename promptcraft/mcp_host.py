"""What every PromptCraft MCP server shares: construction, auth, transport security, entry point.

Each server package exposes ``create_server(settings, runtime) -> MCPServer`` and
``load_settings()``; its ``__main__`` calls :func:`run_server_main`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

import anyio
import uvicorn
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route

from promptcraft.errors import PromptCraftError
from promptcraft.logging_setup import configure_logging
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings, load_core_settings

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def new_mcp_server(
    name: str,
    *,
    instructions: str,
    runtime: Runtime,
    mount_path: str,
    authenticate: bool = True,
    lifespan: Callable[[MCPServer], AbstractAsyncContextManager[Any]] | None = None,
) -> MCPServer:
    """An MCPServer that accepts our bearer tokens when the settings require them.

    ``mount_path`` is where its streamable HTTP endpoint lives (``/mcp/<name>``);
    it is the OAuth resource the tokens are for. ``lifespan`` runs for as long as the
    server is served: once per session manager over HTTP (mounted or standalone), once
    per stdio run, and once per in-process ``Client(server)`` connection.
    """
    settings = runtime.settings
    if not (authenticate and settings.mcp_require_auth):
        return MCPServer(name, instructions=instructions, lifespan=lifespan)
    base = settings.effective_public_url
    auth = AuthSettings(
        issuer_url=base,  # type: ignore[arg-type]
        resource_server_url=f"{base}{mount_path}",  # type: ignore[arg-type]
        validate_token_resource=False,
    )
    return MCPServer(
        name,
        instructions=instructions,
        token_verifier=runtime.verifier,
        auth=auth,
        lifespan=lifespan,
    )


def transport_security(
    settings: CoreSettings, port: int | None = None
) -> TransportSecuritySettings:
    """DNS-rebinding guard: the Host must be loopback, our bind address, the host of
    PROMPTCRAFT_PUBLIC_URL, or one of PROMPTCRAFT_ALLOWED_HOSTS."""
    port_part = f":{port}" if port else ":*"
    hosts = {*(f"{h}{port_part}" for h in _LOOPBACK), *settings.allowed_hosts}
    wildcard_bind = settings.host in ("0.0.0.0", "::")  # noqa: S104
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not wildcard_bind:
        hosts.add(f"{settings.host}{port_part}")
    if settings.public_url:
        hosts.add(urlsplit(settings.public_url).netloc)
    elif wildcard_bind and not settings.allowed_hosts:
        logger.warning(
            "bound to %s but only loopback Host headers are accepted: set PROMPTCRAFT_PUBLIC_URL "
            "or PROMPTCRAFT_ALLOWED_HOSTS to the name clients use",
            settings.host,
        )
    origins = {f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(hosts),
        allowed_origins=sorted(origins),
    )


def streamable_app(
    server: MCPServer, settings: CoreSettings, path: str, routes: list[Route] | None = None
) -> Starlette:
    """The server's streamable HTTP app at ``path``, plus any extra plain HTTP ``routes``."""
    app = server.streamable_http_app(
        streamable_http_path=path, transport_security=transport_security(settings)
    )
    app.router.routes.extend(routes or ())
    return app


ServerFactory = Callable[[Any, Runtime], MCPServer]
RoutesFactory = Callable[[Any, Runtime], list[Route]]


def run_server_main(
    name: str,
    mount_path: str,
    load_settings: Callable[[], Any],
    create_server: ServerFactory,
    argv: Sequence[str] | None = None,
    *,
    create_http_routes: RoutesFactory | None = None,
) -> None:
    """``python -m mcp_servers.<name> [--stdio] [--host H] [--port P]``.

    ``create_http_routes`` (a package's optional hook) adds plain HTTP routes beside the
    MCP endpoint, as ``promptcraft serve`` does for mounted packages.
    """
    parser = argparse.ArgumentParser(prog=f"python -m mcp_servers.{name}")
    parser.add_argument("--stdio", action="store_true", help="speak MCP over stdin/stdout")
    parser.add_argument("--host", help="bind address for streamable HTTP (default from settings)")
    parser.add_argument("--port", type=int, help="port for streamable HTTP (default from settings)")
    args = parser.parse_args(argv)
    # stdio servers must keep stdout for the protocol: log to stderr only (and no secrets).
    configure_logging(logging.INFO)
    try:
        overrides: dict[str, object] = {}
        if args.host:
            overrides["host"] = args.host
        if args.port:
            overrides["port"] = args.port
        if args.stdio:
            # A stdio server is the local user's own process: there is no bearer token to check.
            overrides["mcp_require_auth"] = False
        core = load_core_settings(**overrides)
        runtime = build_runtime(core)
        server_settings = load_settings()
        server = create_server(server_settings, runtime)
        routes = (
            create_http_routes(server_settings, runtime)
            if create_http_routes is not None and not args.stdio
            else None
        )
    except PromptCraftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    except ValueError as exc:  # pydantic's ValidationError: a malformed setting
        print(f"error: invalid setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc

    async def main() -> None:
        try:
            await runtime.store.open()
        except PromptCraftError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
        try:
            if args.stdio:
                await server.run_stdio_async()
                return
            app = streamable_app(server, core, "/mcp", routes)
            config = uvicorn.Config(app, host=core.host, port=core.port, log_level="info")
            await uvicorn.Server(config).serve()
        finally:
            await runtime.store.aclose()

    anyio.run(main)
