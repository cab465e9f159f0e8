"""A store error right after a transition is written loses nothing: its audit events and
notifications are still written, once each, by the next decision, read or sweep."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcp_servers.human_in_loop import HumanInLoopSettings
from promptcraft.errors import StoreUnavailableError
from promptcraft.runtime import Runtime, build_runtime
from promptcraft.settings import CoreSettings
from promptcraft.store import StateStore
from tests.human_in_loop.conftest import HitlFactory
from tests.human_in_loop.support import (
    Receiver,
    call,
    configure,
    request_args,
    running_receiver,
    webhook_secret,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def hitl_runtime(
    request: pytest.FixtureRequest, core_settings: CoreSettings, hitl_port: int
) -> AsyncIterator[Runtime]:
    """The server's runtime on SQLite and on a real redis-server."""
    update: dict[str, Any] = {"port": hitl_port}
    if request.param == "redis":
        update["store_url"] = request.getfixturevalue("redis_server").url
    runtime = build_runtime(core_settings.model_copy(update=update))
    async with runtime.store:
        yield runtime


def fail_once(monkeypatch: pytest.MonkeyPatch, store: StateStore, event_type: str) -> None:
    """The real store, except that writing the first audit event of ``event_type`` fails the
    way a store that drops its connection for a moment does."""
    real = store.append_event
    armed = [True]

    async def append_event(stream: str, data: Any, **kwargs: Any) -> Any:
        if armed[0] and data.get("type") == event_type:
            armed[0] = False
            raise StoreUnavailableError("the store went away for a moment (injected)")
        return await real(stream, data, **kwargs)

    monkeypatch.setattr(store, "append_event", append_event)


def webhook_settings(base: HumanInLoopSettings, receiver: Receiver) -> HumanInLoopSettings:
    return configure(
        base, notification_webhook=f"{receiver.base}/hook", webhook_secret=webhook_secret()
    )


@pytest.mark.parametrize(
    ("close", "failing", "audited", "outcome"),
    [
        ("approve", "vote", ["vote", "approved"], "approval.approved"),
        ("approve", "approved", ["vote", "approved"], "approval.approved"),
        ("reject", "vote", ["vote", "rejected"], "approval.rejected"),
        ("cancel", "cancelled", ["cancelled"], "approval.cancelled"),
        ("expire", "expired", ["expired"], "approval.timeout"),
    ],
    ids=[
        "approval-vote-event-failed",
        "approval-outcome-event-failed",
        "rejection",
        "cancellation",
        "expiry",
    ],
)
async def test_an_outcome_whose_audit_failed_just_after_its_write_is_still_audited_once_and_announced(
    start_hitl: HitlFactory,
    hitl_settings: HumanInLoopSettings,
    monkeypatch: pytest.MonkeyPatch,
    close: str,
    failing: str,
    audited: list[str],
    outcome: str,
) -> None:
    async with running_receiver() as receiver:
        settings = webhook_settings(hitl_settings, receiver)
        async with (
            start_hitl(settings) as hitl,
            hitl.mcp("agent") as agent,
            hitl.mcp("ann") as ann,
        ):
            options = {"timeout_minutes": 0.01} if close == "expire" else {}  # 0.6 s
            created = await call(agent, "request_approval", **request_args(options=options))
            approval_id = created["approval_id"]
            assert (await receiver.next(timeout=10)).json()["type"] == "approval.requested"
            fail_once(monkeypatch, hitl.runtime.store, failing)
            if close in ("approve", "reject"):
                decision = "approved" if close == "approve" else "rejected"
                decided = await call(
                    ann, "respond_to_approval", approval_id=approval_id, decision=decision
                )
                assert decided["vote_recorded"] is True  # the decision stands once written
            elif close == "cancel":
                await call(agent, "cancel_approval", approval_id=approval_id, reason="not needed")
            # Nobody asks again: the sweeper finishes what the failed write left owed.
            announced = await receiver.next(timeout=10)
            detail = await call(agent, "get_approval", approval_id=approval_id)
    assert announced.json()["type"] == outcome
    assert announced.json()["data"]["status"] == detail["status"]
    counts = Counter(e["type"] for e in detail["events"])
    assert {t: counts[t] for t in audited} == dict.fromkeys(audited, 1)
    assert [x.json()["type"] for x in receiver.received] == ["approval.requested", outcome]


async def test_a_vote_whose_audit_failed_is_audited_before_the_next_vote(
    start_hitl: HitlFactory,
    hitl_settings: HumanInLoopSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_receiver() as receiver:
        settings = webhook_settings(hitl_settings, receiver)
        async with (
            start_hitl(settings) as hitl,
            hitl.mcp("agent") as agent,
            hitl.mcp("ann") as ann,
            hitl.mcp("bob") as bob,
        ):
            args = request_args(options={"required_approvers": 2})
            approval_id = (await call(agent, "request_approval", **args))["approval_id"]
            await receiver.next(timeout=10)
            fail_once(monkeypatch, hitl.runtime.store, "vote")
            first = await call(
                ann, "respond_to_approval", approval_id=approval_id, decision="approved"
            )
            second = await call(
                bob, "respond_to_approval", approval_id=approval_id, decision="approved"
            )
            announced = await receiver.next(timeout=10)
            detail = await call(agent, "get_approval", approval_id=approval_id)
    assert first["vote_recorded"] and second["approval"]["status"] == "approved"
    assert announced.json()["type"] == "approval.approved"
    trail = [(e["type"], e["actor"]) for e in detail["events"] if e["type"] in ("vote", "approved")]
    assert trail == [("vote", "ann"), ("vote", "bob"), ("approved", "bob")]
