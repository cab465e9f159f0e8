"""Periodic upkeep of the state store, run in the serving process's lifespan."""

from __future__ import annotations

import logging

import anyio

from promptcraft.errors import StoreError
from promptcraft.store import StateStore

logger = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 600.0


async def purge_periodically(store: StateStore, interval: float = PURGE_INTERVAL_SECONDS) -> None:
    """Drop expired entries every ``interval`` seconds; a failing store is logged, not fatal."""
    while True:
        await anyio.sleep(interval)
        try:
            removed = await store.purge_expired()
        except StoreError as exc:
            logger.warning("purging expired state failed (will retry): %s", exc)
            continue
        if removed:
            logger.info("purged %d expired entries", removed)
