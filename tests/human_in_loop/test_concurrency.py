"""Twenty simultaneous decisions on one approval: one outcome, a consistent vote count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from mcp_servers.human_in_loop import HumanInLoopSettings
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings
from tests.human_in_loop.support import add_user, request_args, serve_hitl
from tests.support.mcp_client import http_client
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

N = 20
QUORUM = 5


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def backend_runtime(
    request: pytest.FixtureRequest, core_settings: CoreSettings
) -> AsyncIterator[Runtime]:
    update: dict[str, Any] = {"port": free_port()}
    if request.param == "redis":
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        update["store_url"] = redis_server.url
    runtime = build_runtime(core_settings.model_copy(update=update))
    async with runtime.store:
        yield runtime


async def decide_all(
    url: str, tokens: dict[str, str], approval_id: str, decisions: dict[str, str]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    connected: list[str] = []
    everyone_connected, start = anyio.Event(), anyio.Event()

    async def one(name: str) -> None:
        async with http_client(url, tokens[name]) as client:
            connected.append(name)
            if len(connected) == len(decisions):
                everyone_connected.set()
            await start.wait()
            results[name] = await client.call_tool(
                "respond_to_approval", {"approval_id": approval_id, "decision": decisions[name]}
            )

    with anyio.fail_after(90):
        async with anyio.create_task_group() as tg:
            for name in decisions:
                tg.start_soon(one, name)
            await everyone_connected.wait()
            start.set()  # every client fires at once
    return results


async def test_twenty_simultaneous_mixed_decisions_yield_one_outcome_and_consistent_votes(
    backend_runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    runtime = backend_runtime
    tokens = {"agent": await add_user(runtime, "agent")}
    names = [f"approver{i:02d}" for i in range(N)]
    for name in names:
        tokens[name] = await add_user(runtime, name, "approver")
    decisions = {name: ("rejected" if i % 4 == 3 else "approved") for i, name in enumerate(names)}
    async with serve_hitl(hitl_settings, runtime, port=runtime.settings.port) as base:
        url = f"{base}/mcp"
        async with http_client(url, tokens["agent"]) as agent:
            created = await agent.call_tool(
                "request_approval", request_args(options={"required_approvers": QUORUM})
            )
            approval_id = created.structured_content["approval_id"]  # type: ignore[index]
            results = await decide_all(url, tokens, approval_id, decisions)
            detail = (
                await agent.call_tool("get_approval", {"approval_id": approval_id})
            ).structured_content
    assert detail is not None
    recorded = [
        n for n, r in results.items() if not r.is_error and r.structured_content["vote_recorded"]
    ]
    agreeing = [
        n
        for n, r in results.items()
        if not r.is_error and not r.structured_content["vote_recorded"]
    ]
    refused = [n for n, r in results.items() if r.is_error]
    assert len(results) == N and len(recorded) + len(agreeing) + len(refused) == N
    votes = detail["votes"]
    assert sorted(v["approver"] for v in votes) == sorted(recorded)
    assert len({v["approver"] for v in votes}) == len(votes)
    assert all(v["decision"] == decisions[v["approver"]] for v in votes)
    vote_events = [e for e in detail["events"] if e["type"] == "vote"]
    assert sorted(e["actor"] for e in vote_events) == sorted(recorded)
    finals = [e for e in detail["events"] if e["type"] in ("approved", "rejected")]
    assert len(finals) == 1 and finals[0]["type"] == detail["status"]
    approvals = [v for v in votes if v["decision"] == "approved"]
    rejections = [v for v in votes if v["decision"] == "rejected"]
    if detail["status"] == "approved":
        assert len(approvals) == QUORUM and not rejections
        assert all(decisions[n] == "approved" for n in agreeing)
    else:
        assert detail["status"] == "rejected"
        assert len(rejections) == 1 and len(approvals) < QUORUM
        assert all(decisions[n] == "rejected" for n in agreeing)
    for name in refused:
        assert "was already" in results[name].content[0].text


async def test_twenty_simultaneous_identical_decisions_by_one_approver_count_once(
    backend_runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    runtime = backend_runtime
    tokens = {
        "agent": await add_user(runtime, "agent"),
        "ann": await add_user(runtime, "ann", "approver"),
    }
    async with serve_hitl(hitl_settings, runtime, port=runtime.settings.port) as base:
        url = f"{base}/mcp"
        async with (
            http_client(url, tokens["agent"]) as agent,
            http_client(url, tokens["ann"]) as ann,
        ):
            created = await agent.call_tool(
                "request_approval", request_args(options={"required_approvers": 2})
            )
            approval_id = created.structured_content["approval_id"]  # type: ignore[index]
            outcomes: list[Any] = []

            async def once() -> None:
                outcomes.append(
                    await ann.call_tool(
                        "respond_to_approval", {"approval_id": approval_id, "decision": "approved"}
                    )
                )

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(N):
                        tg.start_soon(once)
            detail = (
                await agent.call_tool("get_approval", {"approval_id": approval_id})
            ).structured_content
    assert detail is not None
    assert not [o for o in outcomes if o.is_error]
    assert sum(1 for o in outcomes if o.structured_content["vote_recorded"]) == 1
    assert detail["status"] == "pending" and detail["approvals"] == 1
    assert [e["type"] for e in detail["events"]].count("vote") == 1
