"""MCP elicitation: the person at the client answers; only an accepted answer is a vote."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import ElicitRequestParams, ElicitResult

from mcp_servers.human_in_loop import HumanInLoopSettings, create_server
from promptcraft.runtime import Runtime
from tests.human_in_loop.conftest import Hitl
from tests.human_in_loop.support import call, call_error, configure, request_args

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


class Person:
    """The human at the client: answers every question the same way and remembers them."""

    def __init__(self, action: str, content: dict[str, Any] | None = None) -> None:
        self.action = action
        self.content = content
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


def local(settings: HumanInLoopSettings) -> HumanInLoopSettings:
    return configure(settings, **{"local_approver": "ann"})


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_accepted_answer_in_the_client_is_a_vote_by_the_local_approver(
    mode: str, runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(local(hitl_settings), runtime)
    person = Person("accept", {"decision": "approve", "comment": "looks right"})
    async with Client(server, mode=mode, elicitation_callback=person) as client:
        approval_id = (await call(client, "request_approval", **request_args()))["approval_id"]
        result = await call(client, "decide_in_client", approval_id=approval_id)
    assert result["answer"] == "accept" and result["vote_recorded"] is True
    assert result["approval"]["status"] == "approved"
    assert result["approval"]["votes"][0] == {
        "approver": "ann",
        "decision": "approved",
        "comment": "looks right",
        "channel": "elicitation",
        "at": result["approval"]["votes"][0]["at"],
    }
    assert "Deploy billing v2 to production" in person.asked[0]


@pytest.mark.parametrize("action", ["decline", "cancel"])
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_declining_or_cancelling_never_counts_as_approval(
    action: str, mode: str, runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(local(hitl_settings), runtime)
    async with Client(server, mode=mode, elicitation_callback=Person(action)) as client:
        approval_id = (await call(client, "request_approval", **request_args()))["approval_id"]
        result = await call(client, "decide_in_client", approval_id=approval_id)
        detail = await call(client, "get_approval", approval_id=approval_id)
    assert result["answer"] == action and result["vote_recorded"] is False
    assert detail["status"] == "pending" and detail["votes"] == []
    expected = {"decline": "elicitation_declined", "cancel": "elicitation_cancelled"}[action]
    assert detail["events"][-1]["type"] == expected


async def test_a_client_without_elicitation_cannot_decide(
    runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(local(hitl_settings), runtime)
    async with Client(server) as client:
        approval_id = (await call(client, "request_approval", **request_args()))["approval_id"]
        message = await call_error(client, "decide_in_client", approval_id=approval_id)
        detail = await call(client, "get_approval", approval_id=approval_id)
    assert "does not offer form elicitation" in message
    assert detail["status"] == "pending" and detail["votes"] == []


async def test_without_a_local_approver_an_unauthenticated_client_is_not_even_asked(
    runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    person = Person("accept", {"decision": "approve"})
    async with Client(create_server(hitl_settings, runtime), elicitation_callback=person) as client:
        approval_id = (await call(client, "request_approval", **request_args()))["approval_id"]
        message = await call_error(client, "decide_in_client", approval_id=approval_id)
    assert "HITL_LOCAL_APPROVER" in message and person.asked == []


async def test_over_http_the_answer_is_the_authenticated_approvers_vote_and_never_the_requesters(
    hitl: Hitl,
) -> None:
    person = Person("accept", {"decision": "reject", "comment": "no"})
    async with (
        hitl.mcp("ann", elicitation_callback=person) as ann,
        hitl.mcp("bob", elicitation_callback=person) as bob,
    ):
        approval_id = (await call(ann, "request_approval", **request_args()))["approval_id"]
        own = await call_error(ann, "decide_in_client", approval_id=approval_id)
        assert "cannot decide it" in own and person.asked == []
        result = await call(bob, "decide_in_client", approval_id=approval_id)
    assert result["approval"]["status"] == "rejected"
    assert result["approval"]["votes"][0]["approver"] == "bob"
    assert len(person.asked) == 1


async def test_over_stdio_the_configured_local_approver_decides_in_the_client(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PROMPTCRAFT_DATA_DIR": str(tmp_path / "data"),
        "HITL_LOCAL_APPROVER": "desk-user",
        "PYTHONPATH": str(ROOT),
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_servers.human_in_loop", "--stdio"],
        env=env,
        cwd=str(ROOT),
    )
    person = Person("accept", {"decision": "approve"})
    async with Client(params, elicitation_callback=person) as client:
        approval_id = (await call(client, "request_approval", **request_args()))["approval_id"]
        refused = await call_error(
            client, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
        result = await call(client, "decide_in_client", approval_id=approval_id)
    assert "needs an authenticated approver" in refused
    assert result["approval"]["status"] == "approved"
    assert result["approval"]["votes"][0]["approver"] == "desk-user"
