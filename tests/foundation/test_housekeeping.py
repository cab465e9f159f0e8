from __future__ import annotations

import sqlite3
from datetime import timedelta

import anyio
import pytest

from promptcraft.housekeeping import purge_periodically
from promptcraft.runtime import Runtime

pytestmark = pytest.mark.anyio


def _rows(runtime: Runtime) -> int:
    with sqlite3.connect(runtime.settings.data_dir / "promptcraft.db") as conn:
        return int(conn.execute("SELECT count(*) FROM records WHERE kind='workflow'").fetchone()[0])


async def test_the_periodic_purge_removes_expired_rows_from_the_file(runtime: Runtime) -> None:
    await runtime.store.create("workflow", "old", {"n": 1}, ttl=timedelta(milliseconds=50))
    await runtime.store.create("workflow", "live", {"n": 1})
    assert _rows(runtime) == 2
    async with anyio.create_task_group() as tg:
        tg.start_soon(purge_periodically, runtime.store, 0.05)
        with anyio.fail_after(10):
            while _rows(runtime) != 1:
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    assert await runtime.store.get("workflow", "live") is not None
