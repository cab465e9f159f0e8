"""Slack: Block Kit messages to an incoming webhook, and signed button clicks back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx2
import pytest

from mcp_servers.human_in_loop import HumanInLoopSettings
from tests.human_in_loop.conftest import Hitl, HitlFactory
from tests.human_in_loop.support import (
    Receiver,
    call,
    configure,
    request_args,
    running_receiver,
    slack_click,
    slack_secret,
)

pytestmark = pytest.mark.anyio


@dataclass
class SlackSetup:
    hitl: Hitl
    slack: Receiver
    secret: str

    @property
    def interactions(self) -> str:
        return f"{self.hitl.base}/hitl/slack/interactions"

    @property
    def response_url(self) -> str:
        return f"{self.slack.base}/slack/response/1"

    async def click(
        self, approval_id: str, user: str, action: str = "hitl_approve", **kw: object
    ) -> httpx2.Response:
        body, headers = slack_click(
            self.secret, approval_id, user, action, response_url=self.response_url, **kw
        )  # type: ignore[arg-type]
        async with httpx2.AsyncClient() as http:
            return await http.post(self.interactions, content=body, headers=headers)


@asynccontextmanager
async def slack_hitl(
    start_hitl: HitlFactory, base: HumanInLoopSettings, **extra: object
) -> AsyncIterator[SlackSetup]:
    secret = slack_secret()
    # Every allow-listed Slack user must map to a PromptCraft user (the server refuses to start
    # otherwise); tests may map them differently.
    identities = {"slack:U0ANN": "ann", "slack:U0BOB": "bob", **extra.pop("identity_map", {})}  # type: ignore[dict-item]
    async with running_receiver() as slack:
        settings = configure(
            base,
            slack_webhook_url=f"{slack.base}/slack/incoming",
            slack_signing_secret=secret,
            slack_allowed_user_ids=["U0ANN", "U0BOB"],
            identity_map=identities,
            **extra,
        )
        async with start_hitl(settings) as hitl:
            yield SlackSetup(hitl, slack, secret)


async def test_a_request_posts_block_kit_with_approve_and_reject_buttons(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    async with slack_hitl(start_hitl, hitl_settings) as s, s.hitl.mcp("agent") as agent:
        args = request_args(context={**request_args()["context"], "generated_code": "deploy()"})
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
        message = (await s.slack.next_on("/slack/incoming")).json()
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    buttons = {e["action_id"]: e for e in actions["elements"]}
    assert set(buttons) == {"hitl_approve", "hitl_reject"}
    assert all(b["value"] == approval_id for b in buttons.values())
    assert (
        buttons["hitl_approve"]["style"] == "primary"
        and buttons["hitl_reject"]["style"] == "danger"
    )
    text = str(message["blocks"])
    assert "Deploy billing v2 to production" in text and "deploy()" in text and "medium" in text


async def test_a_signed_click_from_an_allowed_user_decides_and_updates_the_message(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    async with slack_hitl(start_hitl, hitl_settings) as s, s.hitl.mcp("agent") as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        await s.slack.next_on("/slack/incoming")
        response = await s.click(approval_id, "U0ANN", "hitl_approve")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "approved"
        updated = (await s.slack.next_on("/slack/response/1")).json()
        detail = await call(agent, "get_approval", approval_id=approval_id)
    assert detail["status"] == "approved"
    assert detail["votes"][0]["approver"] == "ann" and detail["votes"][0]["channel"] == "slack"
    assert updated["replace_original"] is True
    assert not [b for b in updated["blocks"] if b["type"] == "actions"]
    assert "Approved" in str(updated["blocks"]) and "<@U0ANN>" in str(updated["blocks"])


async def test_tampered_replayed_and_unlisted_clicks_are_refused(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    async with slack_hitl(start_hitl, hitl_settings) as s, s.hitl.mcp("agent") as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        body, headers = slack_click(s.secret, approval_id, "U0ANN", "hitl_reject")
        tampered = body.replace(b"hitl_reject", b"hitl_approve")
        stale_body, stale_headers = slack_click(
            s.secret, approval_id, "U0ANN", timestamp=int(time.time()) - 6 * 60
        )
        forged_body, forged_headers = slack_click(slack_secret(), approval_id, "U0ANN")
        async with httpx2.AsyncClient() as http:
            r_tampered = await http.post(s.interactions, content=tampered, headers=headers)
            r_stale = await http.post(s.interactions, content=stale_body, headers=stale_headers)
            r_forged = await http.post(s.interactions, content=forged_body, headers=forged_headers)
            r_unsigned = await http.post(s.interactions, content=body)
        r_unlisted = await s.click(approval_id, "U0MALLORY")
        detail = await call(agent, "get_approval", approval_id=approval_id)
    assert r_tampered.status_code == 401 and "signature" in r_tampered.text
    assert r_stale.status_code == 401 and "five minutes" in r_stale.text
    assert r_forged.status_code == 401
    assert r_unsigned.status_code == 401
    assert r_unlisted.status_code == 403
    assert detail["status"] == "pending" and detail["votes"] == []
    refused = [e for e in detail["events"] if e["type"] == "vote_refused"]
    assert [(e["actor"], e["channel"]) for e in refused] == [("slack:U0MALLORY", "slack")]


async def test_a_slack_user_mapped_to_the_requester_cannot_approve_its_own_request(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    mapped = {"identity_map": {"slack:U0ANN": "agent"}}
    async with slack_hitl(start_hitl, hitl_settings, **mapped) as s, s.hitl.mcp("agent") as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        response = await s.click(approval_id, "U0ANN")
        detail = await call(agent, "get_approval", approval_id=approval_id)
    assert response.status_code == 403 and "cannot decide it" in response.text
    assert detail["status"] == "pending"


async def test_expiry_updates_the_slack_message(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    async with slack_hitl(start_hitl, hitl_settings) as s, s.hitl.mcp("agent") as agent:
        quiet = request_args(options={"timeout_minutes": 0.02})
        unclicked = (await call(agent, "request_approval", **quiet))["approval_id"]
        await s.slack.next_on("/slack/incoming")
        clicked_args = request_args(options={"timeout_minutes": 0.06, "required_approvers": 2})
        clicked = (await call(agent, "request_approval", **clicked_args))["approval_id"]
        await s.slack.next_on("/slack/incoming")
        assert (await s.click(clicked, "U0BOB")).status_code == 200
        progress = (await s.slack.next_on("/slack/response/1")).json()
        assert "1 of 2" in str(progress["blocks"]) and any(
            b["type"] == "actions" for b in progress["blocks"]
        )
        posted = (await s.slack.next_on("/slack/incoming")).json()
        replaced = (await s.slack.next_on("/slack/response/1")).json()
    assert "Timed out" in posted["text"] and unclicked in str(posted)
    assert "Timed out" in replaced["text"] and replaced["replace_original"] is True
    assert clicked in str(replaced)
    assert not [b for b in replaced["blocks"] if b["type"] == "actions"]


async def test_slack_cannot_approve_code_it_does_not_show_in_full_but_can_reject_it(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    code = "x = '<tag>'\n" * 300  # 3,600 characters, more once escaped for Slack
    async with slack_hitl(start_hitl, hitl_settings) as s, s.hitl.mcp("agent") as agent:
        args = request_args(context={**request_args()["context"], "generated_code": code})
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
        message = (await s.slack.next_on("/slack/incoming")).json()
        approve = await s.click(approval_id, "U0ANN", "hitl_approve")
        still = await call(agent, "get_approval", approval_id=approval_id)
        reject = await s.click(approval_id, "U0BOB", "hitl_reject")
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == ["hitl_reject"]
    text = str(message["blocks"])
    assert "cannot be approved here" in text and "e-mail" in text and "MCP" in text
    assert approve.status_code == 403 and "cannot be approved here" in approve.text
    assert still["status"] == "pending" and still["votes"] == []
    assert reject.status_code == 200 and reject.json()["status"] == "rejected"


async def test_a_slack_click_of_a_user_mapped_to_a_disabled_account_does_not_count(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    async with slack_hitl(start_hitl, hitl_settings) as s, s.hitl.mcp("agent") as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        await s.hitl.runtime.users.set_disabled("ann", True)
        response = await s.click(approval_id, "U0ANN")
        detail = await call(agent, "get_approval", approval_id=approval_id)
    assert response.status_code == 403 and "disabled" in response.text
    assert detail["status"] == "pending" and detail["votes"] == []
