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
    carl (plain user), root (admin)."""

    def __init__(self, base: str, runtime: Runtime, tokens: dict[str, str]) -> None:
        self.base = base
        self.url = f"{base}/mcp"
        self.runtime = runtime
        self.tokens = tokens

    def mcp(self, who: str | None, **kwargs: object) -> AbstractAsyncContextManager[Client]:
        return http_client(self.url, self.tokens[who] if who else None, **kwargs)


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
        if not tokens:
            for name, roles in USERS.items():
                tokens[name] = await add_user(hitl_runtime, name, *roles)
        async with serve_hitl(settings, hitl_runtime, port=hitl_port) as base:
            yield Hitl(base, hitl_runtime, tokens)

    return start


@pytest.fixture
async def hitl(start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings) -> AsyncIterator[Hitl]:
    async with start_hitl(hitl_settings) as running:
        yield running
