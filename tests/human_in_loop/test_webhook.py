"""Signed webhooks to a real HTTP receiver, verified with the standardwebhooks package."""

from __future__ import annotations

import anyio
import pytest
from standardwebhooks import Webhook

from mcp_servers.human_in_loop import HumanInLoopSettings
from tests.human_in_loop.conftest import HitlFactory
from tests.human_in_loop.support import (
    call,
    configure,
    delivery_finished,
    request_args,
    running_receiver,
    slack_secret,
    webhook_secret,
)

pytestmark = pytest.mark.anyio


async def test_request_and_outcome_arrive_signed_with_standard_webhooks_headers(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    secret = webhook_secret()
    async with running_receiver() as receiver:
        settings = configure(
            hitl_settings,
            **{
                "notification_webhook": f"{receiver.base}/hooks/approvals",
                "webhook_secret": secret,
            },
        )
        async with (
            start_hitl(settings) as hitl,
            hitl.mcp("agent") as agent,
            hitl.mcp("ann") as ann,
        ):
            created = await call(agent, "request_approval", **request_args())
            assert created["notification_channels"] == ["webhook"]
            requested = await receiver.next()
            await call(
                ann,
                "respond_to_approval",
                approval_id=created["approval_id"],
                decision="approved",
            )
            decided = await receiver.next()
    for received in (requested, decided):
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(received.headers)
        payload = Webhook(secret).verify(received.body, received.headers)
        assert payload["data"]["approval_id"] == created["approval_id"]
    assert Webhook(secret).verify(requested.body, requested.headers)["type"] == "approval.requested"
    outcome = Webhook(secret).verify(decided.body, decided.headers)
    assert outcome["type"] == "approval.approved"
    assert outcome["data"]["votes"][0]["approver"] == "ann"
    with pytest.raises(Exception, match="signature"):
        Webhook(webhook_secret()).verify(decided.body, decided.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(decided.body.replace(b"approved", b"rejected"), decided.headers)


async def test_a_refused_delivery_is_retried_with_the_same_id_and_every_attempt_is_audited(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    secret = webhook_secret()
    async with running_receiver(fail_with=[500, 503]) as receiver:
        settings = configure(
            hitl_settings,
            **{"notification_webhook": f"{receiver.base}/hook", "webhook_secret": secret},
        )
        async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent:
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            attempts = [await receiver.next() for _ in range(3)]
            await delivery_finished(hitl.runtime.store, approval_id, "webhook", "request")
            detail = await call(agent, "get_approval", approval_id=approval_id)
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    for attempt in attempts:
        Webhook(secret).verify(attempt.body, attempt.headers)
    kinds = [
        (e["type"], e["detail"].get("attempt"))
        for e in detail["events"]
        if e["channel"] == "webhook"
    ]
    assert kinds == [("delivery_failed", 1), ("delivery_failed", 2), ("delivery_sent", 3)]
    assert "HTTP 500" in detail["events"][1]["detail"]["error"]


async def test_a_hanging_channel_never_holds_up_the_others_and_is_abandoned_after_its_attempts(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from tests.support.asgi_server import serve_asgi

    release = anyio.Event()

    async def hang(_: object) -> None:
        await release.wait()  # answers only when the test ends (uvicorn waits for it to stop)

    hanging = Starlette(routes=[Route("/hook", hang, methods=["POST"])])
    async with serve_asgi(hanging) as hang_base, running_receiver() as slack:
        settings = configure(
            hitl_settings,
            **{
                "notification_webhook": f"{hang_base}/hook",
                "webhook_secret": webhook_secret(),
                "slack_webhook_url": f"{slack.base}/slack/incoming",
                "slack_signing_secret": slack_secret(),
                "delivery_timeout_seconds": 1.0,
                "delivery_max_attempts": 2,
            },
        )
        async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent:
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            message = await slack.next(timeout=5)
            await delivery_finished(hitl.runtime.store, approval_id, "webhook", "request")
            early = await call(agent, "get_approval", approval_id=approval_id)
            release.set()
    assert message.json()["blocks"]
    webhook = [e for e in early["events"] if e["channel"] == "webhook"]
    assert [e["type"] for e in webhook] == ["delivery_failed", "delivery_abandoned"]
    assert webhook[0]["detail"]["error"] == "timed out"
    sent = [e for e in early["events"] if e["type"] == "delivery_sent"]
    assert sent[0]["channel"] == "slack" and sent[0]["seq"] < webhook[0]["seq"]
