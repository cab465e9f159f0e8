"""The state store every PromptCraft service keeps its state in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from promptcraft.errors import ConfigurationError, StoreError, VersionConflictError
from promptcraft.settings import CoreSettings
from promptcraft.store._protocol import KEEP_TTL, KeepTTL, StateStore
from promptcraft.store._types import (
    Event,
    JSONObject,
    JSONValue,
    RateLimitResult,
    Record,
    StoreHealth,
)

__all__ = [
    "KEEP_TTL",
    "Event",
    "JSONObject",
    "JSONValue",
    "KeepTTL",
    "RateLimitResult",
    "Record",
    "StateStore",
    "StoreHealth",
    "create_store",
    "modify",
]


def create_store(settings: CoreSettings) -> StateStore:
    """The store named by ``PROMPTCRAFT_STORE_URL`` (SQLite in the data dir by default).

    Nothing is opened yet: call ``await store.open()`` or use ``async with``.
    """
    url = settings.effective_store_url
    if url.startswith("sqlite:///"):
        from promptcraft.store._sqlite import SQLiteStore

        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from promptcraft.store._redis import RedisStore

        return RedisStore(url)
    raise ConfigurationError(
        f"PROMPTCRAFT_STORE_URL={url!r} is not understood: use sqlite:///path/to/file.db "
        "or redis://host:6379/0 (or leave it empty for SQLite in PROMPTCRAFT_DATA_DIR)"
    )


async def modify(
    store: StateStore,
    kind: str,
    key: str,
    change: Callable[[Record], JSONObject | Awaitable[JSONObject | None] | None],
    *,
    ttl: timedelta | KeepTTL | None = KEEP_TTL,
    attempts: int = 100,
) -> Record | None:
    """Read-modify-write with compare-and-set, retrying when another writer got there first.

    ``change`` gets the current record and returns the new data, or None to leave it
    as it is. Returns the stored record (None if it does not exist).
    """
    for _ in range(attempts):
        record = await store.get(kind, key)
        if record is None:
            return None
        result = change(record)
        data = await result if isinstance(result, Awaitable) else result
        if data is None:
            return record
        try:
            return await store.update(kind, key, data, expected_version=record.version, ttl=ttl)
        except VersionConflictError:
            continue
    raise StoreError(
        f"{kind}:{key} changed under every one of {attempts} attempts; try again later"
    )
