"""Fixtures every test package shares: anyio on asyncio, settings in a temp dir, real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings, load_core_settings
from tests.support.redis_server import RedisServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def core_settings(tmp_path: Path) -> CoreSettings:
    """Embedded settings in a fresh data dir (SQLite, generated secret, auth on)."""
    return load_core_settings(data_dir=tmp_path / "data", store_url="")


@pytest.fixture
async def runtime(core_settings: CoreSettings) -> AsyncIterator[Runtime]:
    rt = build_runtime(core_settings)
    async with rt.store:
        yield rt


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
