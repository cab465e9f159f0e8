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
from mcp_servers.human_in_loop._service import ApprovalService, NewApproval
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings
from tests.human_in_loop.conftest import Hitl
from tests.human_in_loop.support import (
    add_user,
    call,
    call_error,
    configure,
    request_args,
    serve_hitl,
)
from tests.support.mcp_client import http_client

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
    """ann answers in local clients (HITL_LOCAL_APPROVER); see ``with_ann``."""
    return configure(settings, **{"local_approver": "ann"})


async def with_ann(runtime: Runtime) -> Runtime:
    """The local approver must be a PromptCraft user, active at the moment of the vote."""
    await add_user(runtime, "ann", "approver")
    return runtime


async def requested_by_agent(runtime: Runtime, settings: HumanInLoopSettings) -> str:
    """An approval the user agent requested elsewhere (not from the client that decides):
    the requesting session itself may not answer as the local approver."""
    created = await ApprovalService(settings, runtime).create(
        NewApproval(**request_args()), "agent"
    )
    return created.approval.approval_id


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_accepted_answer_in_the_client_is_a_vote_by_the_local_approver(
    mode: str, runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(local(hitl_settings), await with_ann(runtime))
    person = Person("accept", {"decision": "approve", "comment": "looks right"})
    approval_id = await requested_by_agent(runtime, hitl_settings)
    async with Client(server, mode=mode, elicitation_callback=person) as client:
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
    server = create_server(local(hitl_settings), await with_ann(runtime))
    approval_id = await requested_by_agent(runtime, hitl_settings)
    async with Client(server, mode=mode, elicitation_callback=Person(action)) as client:
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
    tmp_path: Path, runtime: Runtime
) -> None:
    await add_user(runtime, "desk-user", "approver")  # in the data dir the servers use
    env = {
        **os.environ,
        "PROMPTCRAFT_DATA_DIR": str(runtime.settings.data_dir),
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
        # the stdio client that asked is not the one that may answer: another one decides
        own = await call_error(client, "decide_in_client", approval_id=approval_id)
    async with Client(params, elicitation_callback=person) as desk:
        result = await call(desk, "decide_in_client", approval_id=approval_id)
    assert "needs an authenticated approver" in refused
    assert "requested from this MCP client session" in own
    assert result["approval"]["status"] == "approved"
    assert result["approval"]["votes"][0]["approver"] == "desk-user"


@pytest.mark.parametrize("state", ["disabled", "no user at all"])
async def test_a_local_approver_who_is_disabled_or_no_user_is_refused_before_anyone_is_asked(
    state: str, runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    if state == "disabled":
        await add_user(runtime, "ann", "approver")
        await runtime.users.set_disabled("ann", True)
    server = create_server(local(hitl_settings), runtime)
    person = Person("accept", {"decision": "approve"})
    approval_id = await requested_by_agent(runtime, hitl_settings)
    async with Client(server, mode="legacy", elicitation_callback=person) as client:
        message = await call_error(client, "decide_in_client", approval_id=approval_id)
        detail = await call(client, "get_approval", approval_id=approval_id)
    expected = "is disabled" if state == "disabled" else "does not exist"
    assert f"'ann' (from HITL_LOCAL_APPROVER) {expected}" in message
    assert person.asked == []
    assert detail["status"] == "pending" and detail["votes"] == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_local_approver_disabled_while_the_question_is_open_does_not_decide(
    mode: str, runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(local(hitl_settings), await with_ann(runtime))
    approval_id = await requested_by_agent(runtime, hitl_settings)

    async def disabled_then_answers(context: Any, params: ElicitRequestParams) -> ElicitResult:
        await runtime.users.set_disabled("ann", True)  # an admin acts while ann reads
        return ElicitResult(action="accept", content={"decision": "approve"})

    async with Client(server, mode=mode, elicitation_callback=disabled_then_answers) as client:
        message = await call_error(client, "decide_in_client", approval_id=approval_id)
        detail = await call(client, "get_approval", approval_id=approval_id)
    assert "'ann' (from HITL_LOCAL_APPROVER) is disabled" in message
    assert detail["status"] == "pending" and detail["votes"] == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_client_session_that_requested_cannot_approve_in_the_client(
    mode: str, runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(local(hitl_settings), await with_ann(runtime))
    person = Person("accept", {"decision": "approve"})
    async with Client(server, mode=mode, elicitation_callback=person) as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        message = await call_error(agent, "decide_in_client", approval_id=approval_id)
        detail = await call(agent, "get_approval", approval_id=approval_id)
    assert "requested from this MCP client session" in message and person.asked == []
    assert detail["status"] == "pending" and detail["votes"] == []


async def test_over_http_an_unauthenticated_answer_never_counts_even_with_a_local_approver(
    core_settings: CoreSettings, hitl_settings: HumanInLoopSettings
) -> None:
    runtime = build_runtime(core_settings.model_copy(update={"mcp_require_auth": False}))
    person = Person("accept", {"decision": "approve"})
    async with runtime.store, serve_hitl(local(hitl_settings), runtime) as base:
        async with http_client(f"{base}/mcp") as agent:
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        async with http_client(f"{base}/mcp", elicitation_callback=person) as other:
            message = await call_error(other, "decide_in_client", approval_id=approval_id)
            detail = await call(other, "get_approval", approval_id=approval_id)
    assert "only over stdio" in message and person.asked == []
    assert detail["status"] == "pending" and detail["votes"] == []


async def test_without_a_token_only_the_requesting_session_can_cancel_an_anonymous_request(
    runtime: Runtime, hitl_settings: HumanInLoopSettings
) -> None:
    server = create_server(hitl_settings, runtime)
    async with Client(server, mode="legacy") as agent, Client(server, mode="legacy") as other:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        refused = await call_error(other, "cancel_approval", approval_id=approval_id, reason="mine")
        cancelled = await call(agent, "cancel_approval", approval_id=approval_id, reason="done")
    assert "only the requester" in refused and "session" in refused
    assert cancelled["status"] == "cancelled"
