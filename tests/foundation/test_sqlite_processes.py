"""SQLite is the embedded default and must be safe under several processes (gateway + workers)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from promptcraft.settings import load_core_settings
from promptcraft.store import create_store

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys, anyio
    from pathlib import Path
    from promptcraft.settings import load_core_settings
    from promptcraft.store import create_store, modify

    async def main(path: str, name: str) -> None:
        settings = load_core_settings(data_dir=Path(path).parent, store_url=f"sqlite:///{path}")
        async with create_store(settings) as store:
            for i in range(40):
                await modify(store, "counter", "c", lambda r: {**r.data, "n": r.data["n"] + 1})
                await store.append_event("log", {"writer": name, "i": i})

    anyio.run(main, sys.argv[1], sys.argv[2])
    """
)


async def test_three_processes_incrementing_one_record_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    settings = load_core_settings(data_dir=tmp_path, store_url=f"sqlite:///{path}")
    async with create_store(settings) as store:
        await store.create("counter", "c", {"n": 0})
    async with anyio.create_task_group() as tg:
        for n in range(3):
            command = [sys.executable, "-c", WRITER, str(path), f"w{n}"]
            tg.start_soon(lambda cmd=command: anyio.run_process(cmd, cwd=ROOT, check=True))
    async with create_store(settings) as store:
        record = await store.get("counter", "c")
        assert record is not None and record.data["n"] == 120
        events = await store.read_events("log")
        assert [e.seq for e in events] == list(range(1, 121))
        for writer in ("w0", "w1", "w2"):
            assert [e.data["i"] for e in events if e.data["writer"] == writer] == list(range(40))
