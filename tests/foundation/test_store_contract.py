"""One contract, two stores: every test here runs against SQLite and a real redis-server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from promptcraft.errors import RecordExistsError, RecordNotFoundError, VersionConflictError
from promptcraft.settings import load_core_settings
from promptcraft.store import JSONObject, Record, StateStore, create_store, modify
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[StateStore]:
    async with create_store(load_core_settings(data_dir=tmp_path, store_url=store_url)) as s:
        yield s


def _open(url: str, tmp_path: Path) -> StateStore:
    return create_store(load_core_settings(data_dir=tmp_path, store_url=url))


async def test_a_created_record_reads_back_at_version_one(store: StateStore) -> None:
    created = await store.create("workflow", "w1", {"goal": "write a parser", "steps": [1, 2]})
    got = await store.get("workflow", "w1")
    assert got is not None
    assert got.version == created.version == 1
    assert got.data == {"goal": "write a parser", "steps": [1, 2]}


async def test_creating_a_taken_key_is_refused(store: StateStore) -> None:
    await store.create("workflow", "w1", {"n": 1})
    with pytest.raises(RecordExistsError):
        await store.create("workflow", "w1", {"n": 2})
    got = await store.get("workflow", "w1")
    assert got is not None and got.data == {"n": 1}


async def test_an_update_from_a_stale_version_is_refused_and_changes_nothing(
    store: StateStore,
) -> None:
    await store.create("workflow", "w1", {"n": 1})
    await store.update("workflow", "w1", {"n": 2}, expected_version=1)
    with pytest.raises(VersionConflictError) as caught:
        await store.update("workflow", "w1", {"n": 99}, expected_version=1)
    assert caught.value.actual == 2
    got = await store.get("workflow", "w1")
    assert got is not None and got.data == {"n": 2} and got.version == 2


async def test_updating_a_missing_record_says_it_does_not_exist(store: StateStore) -> None:
    with pytest.raises(RecordNotFoundError):
        await store.update("workflow", "nope", {}, expected_version=1)


async def test_fifty_concurrent_writers_lose_no_update(store: StateStore) -> None:
    await store.create("counter", "c", {"n": 0, "writers": []})

    def bump(writer: int):  # type: ignore[no-untyped-def]
        def change(record: Record) -> JSONObject:
            writers = record.data["writers"]
            assert isinstance(writers, list)
            n = record.data["n"]
            assert isinstance(n, int)
            return {"n": n + 1, "writers": [*writers, writer]}

        return change

    async with anyio.create_task_group() as tg:
        for writer in range(50):
            tg.start_soon(modify, store, "counter", "c", bump(writer))
    final = await store.get("counter", "c")
    assert final is not None
    assert final.data["n"] == 50
    assert sorted(final.data["writers"]) == list(range(50))  # type: ignore[arg-type]
    assert final.version == 51


async def test_a_record_past_its_ttl_is_gone(store: StateStore) -> None:
    await store.create("workflow", "short", {"n": 1}, ttl=timedelta(milliseconds=300))
    await store.create("workflow", "long", {"n": 1}, ttl=timedelta(hours=1))
    assert await store.get("workflow", "short") is not None
    with anyio.fail_after(10):
        while await store.get("workflow", "short") is not None:
            await anyio.sleep(0.05)
    assert await store.get("workflow", "long") is not None
    assert [r.key for r in await store.list_records("workflow")] == ["long"]
    # An expired key can be created afresh.
    again = await store.create("workflow", "short", {"n": 2})
    assert again.version == 1


async def test_an_update_keeps_the_ttl_unless_told_otherwise(store: StateStore) -> None:
    created = await store.create("workflow", "w", {"n": 1}, ttl=timedelta(hours=1))
    kept = await store.update("workflow", "w", {"n": 2}, expected_version=1)
    assert kept.expires_at == created.expires_at
    cleared = await store.update("workflow", "w", {"n": 3}, expected_version=2, ttl=None)
    assert cleared.expires_at is None
    got = await store.get("workflow", "w")
    assert got is not None and got.expires_at is None


async def test_a_waiter_wakes_within_50_ms_of_a_change(store: StateStore) -> None:
    await store.create("approval", "a1", {"status": "pending"})
    woke: list[tuple[Record | None, float]] = []

    async def waiter() -> None:
        record = await store.wait_for_change("approval", "a1", after_version=1, timeout=10)
        woke.append((record, time.perf_counter()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.2)  # let the waiter park before the change
        changed_at = time.perf_counter()
        await store.update("approval", "a1", {"status": "approved"}, expected_version=1)
    record, at = woke[0]
    assert record is not None and record.data == {"status": "approved"}
    assert at - changed_at < 0.05


async def test_a_waiter_returns_at_once_if_the_change_already_happened(store: StateStore) -> None:
    await store.create("approval", "a1", {"status": "pending"})
    await store.update("approval", "a1", {"status": "approved"}, expected_version=1)
    with anyio.fail_after(1):
        record = await store.wait_for_change("approval", "a1", after_version=1, timeout=30)
    assert record is not None and record.version == 2


async def test_a_waiter_gives_up_after_its_timeout(store: StateStore) -> None:
    await store.create("approval", "a1", {"status": "pending"})
    started = time.monotonic()
    assert await store.wait_for_change("approval", "a1", after_version=1, timeout=0.3) is None
    assert time.monotonic() - started >= 0.3


async def test_a_waiter_in_another_connection_wakes_on_a_change(
    store_url: str, tmp_path: Path
) -> None:
    """Two store objects stand for two processes sharing the file or the server."""
    async with _open(store_url, tmp_path) as writer, _open(store_url, tmp_path) as reader:
        await writer.create("approval", "x", {"status": "pending"})
        woke: list[float] = []

        async def waiter() -> None:
            record = await reader.wait_for_change("approval", "x", after_version=1, timeout=10)
            assert record is not None and record.data["status"] == "rejected"
            woke.append(time.perf_counter())

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.2)
            changed_at = time.perf_counter()
            await writer.update("approval", "x", {"status": "rejected"}, expected_version=1)
        assert woke[0] - changed_at < 0.05


async def test_events_keep_their_order_and_read_from_a_cursor(store: StateStore) -> None:
    for n in range(1, 31):
        event = await store.append_event("workflow:w1", {"n": n})
        assert event.seq == n
    events = await store.read_events("workflow:w1")
    assert [e.data["n"] for e in events] == list(range(1, 31))
    assert [e.seq for e in events] == list(range(1, 31))
    later = await store.read_events("workflow:w1", after=25)
    assert [e.seq for e in later] == [26, 27, 28, 29, 30]
    assert [e.seq for e in await store.read_events("workflow:w1", after=3, limit=2)] == [4, 5]
    assert await store.read_events("workflow:other") == []


async def test_concurrent_appends_get_distinct_gapless_sequence_numbers(store: StateStore) -> None:
    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(store.append_event, "s", {"n": n})
    events = await store.read_events("s")
    assert [e.seq for e in events] == list(range(1, 41))
    assert sorted(e.data["n"] for e in events) == list(range(40))  # type: ignore[type-var]


async def test_the_rate_limit_allows_up_to_the_limit_then_refuses(store: StateStore) -> None:
    window = timedelta(hours=1)
    results = [await store.hit_rate_limit("execute:ada", limit=5, window=window) for _ in range(7)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 2
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0, 0]
    other = await store.hit_rate_limit("execute:bob", limit=5, window=window)
    assert other.allowed and other.count == 1


async def test_concurrent_hits_are_all_counted(store: StateStore) -> None:
    results = []

    async def hit() -> None:
        results.append(await store.hit_rate_limit("k", limit=30, window=timedelta(hours=1)))

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(hit)
    assert sorted(r.count for r in results) == list(range(1, 41))
    assert sum(r.allowed for r in results) == 30


async def test_a_new_window_starts_a_new_count(store: StateStore) -> None:
    window = timedelta(seconds=1)
    first = await store.hit_rate_limit("w", limit=1, window=window)
    with anyio.fail_after(5):
        while True:
            result = await store.hit_rate_limit("w", limit=1, window=window)
            if result.reset_at != first.reset_at:
                break
            await anyio.sleep(0.05)
    assert result.count == 1 and result.allowed


async def test_delete_removes_the_record_and_wakes_its_waiters(store: StateStore) -> None:
    await store.create("approval", "gone", {"n": 1})

    async def delete_soon() -> None:
        await anyio.sleep(0.1)
        assert await store.delete("approval", "gone")

    async with anyio.create_task_group() as tg:
        tg.start_soon(delete_soon)
        with anyio.fail_after(5):
            record = await store.wait_for_change("approval", "gone", after_version=1, timeout=30)
    assert record is None
    assert await store.get("approval", "gone") is None
    assert not await store.delete("approval", "gone")


async def test_health_reports_ok_for_an_open_store(store: StateStore) -> None:
    health = await store.health()
    assert health.ok
    assert health.backend == store.backend


async def test_sqlite_data_survives_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keep.db'}"
    async with _open(url, tmp_path) as first:
        await first.create("workflow", "w", {"goal": "kept"})
        await first.update("workflow", "w", {"goal": "kept", "v": 2}, expected_version=1)
        await first.append_event("workflow:w", {"n": 1})
    async with _open(url, tmp_path) as second:
        got = await second.get("workflow", "w")
        assert got is not None and got.version == 2 and got.data["v"] == 2
        assert [e.data for e in await second.read_events("workflow:w")] == [{"n": 1}]


async def test_redis_data_survives_a_server_restart_with_aof(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with _open(redis_server.url, tmp_path) as store:
        await store.create("workflow", "w", {"goal": "kept"}, ttl=timedelta(hours=24))
        await store.update("workflow", "w", {"goal": "kept", "v": 2}, expected_version=1)
        for n in range(3):
            await store.append_event("workflow:w", {"n": n})
    redis_server.restart()
    async with _open(redis_server.url, tmp_path) as store:
        got = await store.get("workflow", "w")
        assert got is not None and got.version == 2 and got.data["v"] == 2
        assert got.expires_at is not None
        assert [e.data["n"] for e in await store.read_events("workflow:w")] == [0, 1, 2]
        nxt = await store.append_event("workflow:w", {"n": 3})
        assert nxt.seq == 4


async def test_a_redis_workflow_lives_at_its_documented_key_with_a_native_ttl(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    import redis.asyncio as aioredis

    async with _open(redis_server.url, tmp_path) as store:
        await store.create("workflow", "abc", {"goal": "g"}, ttl=timedelta(hours=24))
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert await client.exists("workflow:abc") == 1
        ttl = await client.ttl("workflow:abc")
        assert 24 * 3600 - 60 < ttl <= 24 * 3600
    finally:
        await client.aclose()


async def test_purging_drops_expired_entries_and_keeps_live_ones(store: StateStore) -> None:
    await store.create("workflow", "old", {"n": 1}, ttl=timedelta(milliseconds=100))
    await store.create("workflow", "live", {"n": 1}, ttl=timedelta(hours=1))
    with anyio.fail_after(10):
        while await store.get("workflow", "old") is not None:
            await anyio.sleep(0.05)
    assert await store.purge_expired() >= 1
    assert await store.purge_expired() == 0
    assert [r.key for r in await store.list_records("workflow")] == ["live"]


async def test_a_hundred_parked_waiters_all_wake_and_the_store_keeps_serving(
    store: StateStore,
) -> None:
    for n in range(100):
        await store.create("approval", f"a{n}", {"status": "pending"})
    woken: list[str] = []

    async def waiter(n: int) -> None:
        record = await store.wait_for_change("approval", f"a{n}", after_version=1, timeout=30)
        assert record is not None and record.data["status"] == "approved"
        woken.append(record.key)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for n in range(100):
                tg.start_soon(waiter, n)
            await anyio.sleep(0.3)
            # Other work goes on while they are parked.
            await store.create("workflow", "busy", {"n": 1})
            assert await store.get("workflow", "busy") is not None
            for n in range(100):
                await store.update("approval", f"a{n}", {"status": "approved"}, expected_version=1)
    assert len(woken) == 100


@pytest.mark.parametrize("kind", ["", "a:b", "pc"])
async def test_kinds_that_could_collide_with_other_keys_are_refused(
    store: StateStore, kind: str
) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        await store.create(kind, "k", {})


async def test_a_record_kind_named_events_does_not_collide_with_event_streams(
    store: StateStore,
) -> None:
    await store.append_event("x", {"n": 1})
    await store.create("events", "x", {"n": 2})
    got = await store.get("events", "x")
    assert got is not None and got.data == {"n": 2}
    assert [e.data for e in await store.read_events("x")] == [{"n": 1}]


async def test_a_streams_ttl_is_renewed_by_each_append_and_none_keeps_it_forever(
    store: StateStore,
) -> None:
    await store.append_event("s", {"n": 1}, ttl=timedelta(milliseconds=200))
    await store.append_event("s", {"n": 2})  # no TTL: the whole stream now stays
    await anyio.sleep(0.4)
    assert [e.seq for e in await store.read_events("s")] == [1, 2]


async def test_an_expired_stream_starts_again_at_seq_one(store: StateStore) -> None:
    await store.append_event("t", {"n": 1}, ttl=timedelta(milliseconds=100))
    await store.append_event("t", {"n": 2}, ttl=timedelta(milliseconds=100))
    with anyio.fail_after(10):
        while await store.read_events("t"):
            await anyio.sleep(0.05)
    again = await store.append_event("t", {"n": 3}, ttl=timedelta(hours=1))
    assert again.seq == 1
    assert [e.data for e in await store.read_events("t")] == [{"n": 3}]


@pytest.mark.parametrize(
    ("limit", "window"), [(1, timedelta(0)), (0, timedelta(seconds=1)), (1, timedelta(seconds=-1))]
)
async def test_a_nonsensical_rate_limit_is_refused(
    store: StateStore, limit: int, window: timedelta
) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await store.hit_rate_limit("k", limit=limit, window=window)


async def test_sub_second_rate_limit_windows_count_alike_on_both_stores(store: StateStore) -> None:
    window = timedelta(milliseconds=500)
    with anyio.fail_after(10):
        while True:
            first = await store.hit_rate_limit("half", limit=1, window=window)
            second = await store.hit_rate_limit("half", limit=1, window=window)
            if first.reset_at == second.reset_at:  # both hits fell in one window
                break
    assert first.allowed and first.count == 1
    assert not second.allowed and second.count == 2
