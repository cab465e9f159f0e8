"""Fixtures of the human-in-loop tests: a runtime whose public URL is the port we serve on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from mcp import Client

from mcp_servers.human_in_loop import HumanInLoopSettings
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings
from tests.human_in_loop.support import add_user, serve_hitl
from tests.support.mcp_client import http_client
from tests.support.ports import free_port


@pytest.fixture
def hitl_port() -> int:
    return free_port()


@pytest.fixture
async def hitl_runtime(core_settings: CoreSettings, hitl_port: int) -> AsyncIterator[Runtime]:
    """Auth on, SQLite, and PROMPTCRAFT_PORT set to the port tests serve on (for e-mail links)."""
    runtime = build_runtime(core_settings.model_copy(update={"port": hitl_port}))
    async with runtime.store:
        yield runtime


@pytest.fixture
def hitl_settings() -> HumanInLoopSettings:
    """No channels; a fast sweeper and fast retries so tests wait little."""
    return HumanInLoopSettings(
        _env_file=None,  # type: ignore[call-arg]
        sweep_interval_seconds=0.1,
        delivery_backoff_seconds=0.05,
        delivery_backoff_max_seconds=0.2,
        delivery_timeout_seconds=5,
    )


class Hitl:
    """The server served over HTTP with users: agent (requester), ann and bob (approvers),
    carl (plain user), root (admin). A user is created when first needed (argon2 hashing is
    the slow part of a test's setup): by ``mcp(name)``, ``user(name)``, or at start for every
    user the settings map a channel identity to."""

    def __init__(self, base: str, runtime: Runtime, tokens: dict[str, str]) -> None:
        self.base = base
        self.url = f"{base}/mcp"
        self.runtime = runtime
        self.tokens = tokens

    async def user(self, name: str) -> str:
        """Create the user (with its roles from USERS) once; return a bearer token for it."""
        if name not in self.tokens:
            self.tokens[name] = await add_user(self.runtime, name, *USERS[name])
        return self.tokens[name]

    @asynccontextmanager
    async def mcp(self, who: str | None, **kwargs: object) -> AsyncIterator[Client]:
        token = await self.user(who) if who else None
        async with http_client(self.url, token, **kwargs) as client:
            yield client


USERS = {
    "agent": ("user",),
    "ann": ("approver",),
    "bob": ("approver",),
    "carl": ("user",),
    "root": ("admin",),
}

HitlFactory = Callable[[HumanInLoopSettings], AbstractAsyncContextManager[Hitl]]


@pytest.fixture
def start_hitl(hitl_runtime: Runtime, hitl_port: int) -> HitlFactory:
    tokens: dict[str, str] = {}

    @asynccontextmanager
    async def start(settings: HumanInLoopSettings) -> AsyncIterator[Hitl]:
        async with serve_hitl(settings, hitl_runtime, port=hitl_port) as base:
            hitl = Hitl(base, hitl_runtime, tokens)
            for name in set(settings.identity_map.values()) & set(USERS):
                await hitl.user(name)
            yield hitl

    return start


@pytest.fixture
async def hitl(start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings) -> AsyncIterator[Hitl]:
    async with start_hitl(hitl_settings) as running:
        yield running
