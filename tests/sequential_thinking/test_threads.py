"""History per caller: per MCP session, per thread id, per user; bounded in size and age."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from mcp import Client

from gateway.app import create_app
from gateway.mcp_mounts import McpMount
from mcp_servers.sequential_thinking._thoughts import THREAD_KIND, ThoughtThreads
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings
from tests.sequential_thinking.support import build, serve_http
from tests.support.asgi_server import serve_asgi
from tests.support.mcp_client import http_client

pytestmark = pytest.mark.anyio


def thought(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "thought": f"thought {number}",
        "nextThoughtNeeded": True,
        "thoughtNumber": number,
        "totalThoughts": 5,
        **extra,
    }


async def think(client: Client, number: int, **extra: Any) -> dict[str, Any]:
    result = await client.call_tool("sequentialthinking", thought(number, **extra))
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


@pytest.fixture
async def open_runtime(core_settings: CoreSettings) -> Any:
    runtime = build_runtime(core_settings.model_copy(update={"mcp_require_auth": False}))
    async with runtime.store:
        yield runtime


async def test_two_concurrent_http_sessions_keep_separate_histories(open_runtime: Runtime) -> None:
    server = build(open_runtime)
    lengths: dict[str, list[int]] = {"a": [], "b": []}
    async with serve_http(server, open_runtime) as url:

        async def session(name: str, count: int, branch: str) -> None:
            async with http_client(url, mode="legacy") as client:
                for number in range(1, count + 1):
                    extra = {"branchFromThought": 1, "branchId": branch} if number > 1 else {}
                    result = await think(client, number, **extra)
                    lengths[name].append(result["thoughtHistoryLength"])
                    assert result["branches"] == ([branch] if number > 1 else [])
                    await anyio.lowlevel.checkpoint()

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(session, "a", 4, "a-branch")
                tg.start_soon(session, "b", 3, "b-branch")
    assert lengths == {"a": [1, 2, 3, 4], "b": [1, 2, 3]}


async def test_thread_ids_keep_lines_of_thought_apart_and_join_them_across_connections(
    open_runtime: Runtime,
) -> None:
    server = build(open_runtime)
    async with serve_http(server, open_runtime) as url:
        async with http_client(url) as first:  # 2026-07-28: no session at all
            assert (await think(first, 1, threadId="design"))["thoughtHistoryLength"] == 1
            assert (await think(first, 1, threadId="tests"))["thoughtHistoryLength"] == 1
            assert (await think(first, 2, threadId="design"))["thoughtHistoryLength"] == 2
        async with http_client(url, mode="legacy") as second:
            assert (await think(second, 3, threadId="design"))["thoughtHistoryLength"] == 3
            assert (await think(second, 1))["thoughtHistoryLength"] == 1  # its own session


async def test_history_lives_in_the_store_so_another_replica_continues_it(
    open_runtime: Runtime,
) -> None:
    async with Client(build(open_runtime)) as client:
        await think(client, 1, threadId="shared")
        await think(client, 2, threadId="shared", branchFromThought=1, branchId="alt")
    async with Client(build(open_runtime)) as other_replica:
        result = await think(other_replica, 3, threadId="shared")
    assert result["thoughtHistoryLength"] == 3
    assert result["branches"] == ["alt"]


async def test_a_thread_keeps_only_its_last_thoughts_but_counts_them_all(
    open_runtime: Runtime,
) -> None:
    async with Client(build(open_runtime, max_thoughts_per_thread=3)) as client:
        for number in range(1, 6):
            result = await think(client, number, threadId="long")
    assert result["thoughtHistoryLength"] == 5
    owner = "anonymous/thread/long"
    record = await open_runtime.store.get(THREAD_KIND, ThoughtThreads.key(owner))
    assert record is not None
    assert [t["thoughtNumber"] for t in record.data["thoughts"]] == [3, 4, 5]  # type: ignore[index,union-attr]


async def test_a_thread_untouched_past_its_ttl_is_forgotten(open_runtime: Runtime) -> None:
    async with Client(build(open_runtime, thread_ttl_minutes=0.5 / 60)) as client:
        await think(client, 1, threadId="short")
        assert (await think(client, 2, threadId="short"))["thoughtHistoryLength"] == 2
        await anyio.sleep(1.0)  # the TTL is 0.5 s: wait it out once, no polling
        assert (await think(client, 3, threadId="short"))["thoughtHistoryLength"] == 1


async def test_a_thread_refuses_more_branches_than_its_limit_and_says_how_to_go_on(
    open_runtime: Runtime,
) -> None:
    async with Client(build(open_runtime, max_branches_per_thread=2)) as client:
        await think(client, 2, branchFromThought=1, branchId="one")
        await think(client, 3, branchFromThought=1, branchId="two")
        await think(client, 4, branchFromThought=1, branchId="one")  # continuing is fine
        result = await client.call_tool(
            "sequentialthinking", thought(5, branchFromThought=1, branchId="three")
        )
    assert result.is_error
    assert "reuse its branchId" in str(result.content[0])


async def test_two_users_with_the_same_thread_id_and_the_gateway_mount_do_not_share(
    runtime: Runtime,
) -> None:
    await runtime.users.add("ada", "correct horse battery")
    await runtime.users.add("bob", "correct horse battery")
    mounts = (McpMount("sequential-thinking", "mcp_servers.sequential_thinking"),)
    async with serve_asgi(create_app(runtime, mounts)) as base:
        url = f"{base}/mcp/sequential-thinking"
        async with http_client(url, runtime.tokens.issue("ada").token) as ada:
            await think(ada, 1, threadId="plan")
            assert (await think(ada, 2, threadId="plan"))["thoughtHistoryLength"] == 2
        async with http_client(url, runtime.tokens.issue("bob").token) as bob:
            assert (await think(bob, 1, threadId="plan"))["thoughtHistoryLength"] == 1
