"""The tool contract over streamable HTTP with real identities."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime

import anyio
import pytest
from mcp import Client

from mcp_servers.human_in_loop import HumanInLoopSettings, create_server
from mcp_servers.human_in_loop._model import APPROVAL_KIND
from mcp_servers.human_in_loop._service import REFUSALS_AUDITED
from tests.human_in_loop.conftest import Hitl, HitlFactory
from tests.human_in_loop.support import call, call_error, configure, request_args
from tests.support.mcp_client import http_client

pytestmark = pytest.mark.anyio


async def test_request_approval_returns_at_once_with_id_status_and_deadline(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent:
        started = time.monotonic()
        result = await call(
            agent, "request_approval", **request_args(options={"timeout_minutes": 5})
        )
        assert time.monotonic() - started < 10
    assert result["status"] == "pending" and result["created"] is True
    deadline = datetime.fromisoformat(result["expires_at"])
    assert 290 < (deadline - datetime.now(deadline.tzinfo)).total_seconds() <= 300
    assert result["approval_id"]


async def test_the_same_idempotency_key_returns_the_same_approval_and_a_changed_request_is_refused(
    hitl: Hitl,
) -> None:
    async with hitl.mcp("agent") as agent:
        first = await call(agent, "request_approval", **request_args(idempotency_key="step-7"))
        again = await call(agent, "request_approval", **request_args(idempotency_key="step-7"))
        assert again["approval_id"] == first["approval_id"] and again["created"] is False
        message = await call_error(
            agent,
            "request_approval",
            **request_args(idempotency_key="step-7", step_description="something else"),
        )
        assert "already used for a different request" in message
        pending = await call(agent, "list_pending")
    assert pending["count"] == 1


async def test_await_decision_returns_the_moment_an_approver_decides(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        returned: dict[str, object] = {}

        async def wait() -> None:
            returned.update(
                await call(agent, "await_decision", approval_id=approval_id, wait_seconds=50)
            )
            returned["at"] = time.monotonic()

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.sleep(0.3)  # let the waiter park
                decided = await call(
                    ann,
                    "respond_to_approval",
                    approval_id=approval_id,
                    decision="approved",
                    comment="ship it",
                )
                decided_at = time.monotonic()
    assert decided["vote_recorded"] is True and decided["approval"]["status"] == "approved"
    assert returned["status"] == "approved" and returned["decided"] is True
    assert returned["votes"][0]["approver"] == "ann"  # type: ignore[index]
    assert float(returned["at"]) - decided_at < 5  # type: ignore[arg-type]


async def test_await_decision_is_bounded_and_says_to_call_again(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        started = time.monotonic()
        result = await call(agent, "await_decision", approval_id=approval_id, wait_seconds=0.5)
        assert 0.4 < time.monotonic() - started < 10
        assert result["decided"] is False and "again" in result["next_step"]
        message = await call_error(
            agent, "await_decision", approval_id=approval_id, wait_seconds=120
        )
    assert "50" in message


async def test_the_requester_cannot_approve_its_own_request_whatever_its_roles(hitl: Hitl) -> None:
    async with hitl.mcp("ann") as ann:
        approval_id = (await call(ann, "request_approval", **request_args()))["approval_id"]
        message = await call_error(
            ann, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
        assert "cannot decide it" in message
        detail = await call(ann, "get_approval", approval_id=approval_id)
    assert detail["status"] == "pending" and detail["votes"] == []
    refused = [e for e in detail["events"] if e["type"] == "vote_refused"]
    assert refused[0]["actor"] == "ann" and refused[0]["channel"] == "mcp"


async def test_only_approvers_may_respond_and_unauthenticated_callers_never(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    settings = configure(hitl_settings, **{"approver_usernames": ["carl"]})
    async with start_hitl(settings) as hitl:
        async with hitl.mcp("agent") as agent, hitl.mcp("root") as root, hitl.mcp("carl") as carl:
            approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
            message = await call_error(
                root, "respond_to_approval", approval_id=approval_id, decision="approved"
            )
            assert "root is not an approver" in message and "HITL_APPROVER_USERNAMES" in message
            listed = await call(
                carl, "respond_to_approval", approval_id=approval_id, decision="approved"
            )
            assert listed["approval"]["status"] == "approved"
        async with Client(create_server(settings, hitl.runtime)) as anonymous:
            message = await call_error(
                anonymous, "respond_to_approval", approval_id=approval_id, decision="rejected"
            )
    assert "needs an authenticated approver" in message


async def test_quorum_counts_distinct_approvers_and_a_late_conflicting_decision_is_refused(
    hitl: Hitl,
) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann, hitl.mcp("bob") as bob:
        args = request_args(options={"required_approvers": 2})
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
        first = await call(ann, "respond_to_approval", approval_id=approval_id, decision="approved")
        repeat = await call(
            ann, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
        assert first["vote_recorded"] and not repeat["vote_recorded"]
        assert repeat["approval"]["status"] == "pending" and repeat["approval"]["approvals"] == 1
        changed = await call_error(
            ann, "respond_to_approval", approval_id=approval_id, decision="rejected"
        )
        assert "cannot be changed" in changed
        second = await call(
            bob, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
        assert second["approval"]["status"] == "approved" and second["approval"]["approvals"] == 2
        same = await call(bob, "respond_to_approval", approval_id=approval_id, decision="approved")
        assert same["vote_recorded"] is False and same["approval"]["status"] == "approved"
        late = await call_error(
            bob, "respond_to_approval", approval_id=approval_id, decision="rejected"
        )
    assert "already approved" in late


async def test_one_rejection_ends_a_multi_approver_request(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann, hitl.mcp("bob") as bob:
        args = request_args(options={"required_approvers": 2})
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
        await call(ann, "respond_to_approval", approval_id=approval_id, decision="approved")
        result = await call(
            bob,
            "respond_to_approval",
            approval_id=approval_id,
            decision="rejected",
            comment="not today",
        )
        assert result["approval"]["status"] == "rejected"
        waited = await call(agent, "await_decision", approval_id=approval_id, wait_seconds=5)
    assert waited["status"] == "rejected" and "do not proceed" in waited["next_step"]


async def test_a_passed_deadline_ends_as_timeout_for_a_waiting_caller(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann:
        args = request_args(options={"timeout_minutes": 0.02})  # 1.2 s
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
        with anyio.fail_after(15):
            result = await call(agent, "await_decision", approval_id=approval_id, wait_seconds=50)
        assert result["status"] == "timeout" and result["decided"] is True
        late = await call_error(
            ann, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
    assert "timed out" in late


async def test_the_sweeper_expires_an_approval_nobody_reads(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent:
        args = request_args(options={"timeout_minutes": 0.01})  # 0.6 s
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
    store = hitl.runtime.store
    record = await store.get(APPROVAL_KIND, approval_id)
    assert record is not None
    with anyio.fail_after(15):
        # until it is timeout and the follow-up of that (its audit event) is done
        while record.data["status"] == "pending" or "follow_up" in record.data["extra"]:
            changed = await store.wait_for_change(
                APPROVAL_KIND, approval_id, after_version=record.version, timeout=10
            )
            assert changed is not None
            record = changed
    assert record.data["status"] == "timeout"
    events = await store.read_events(f"approval:{approval_id}")
    expired = [e.data for e in events if e.data["type"] == "expired"]
    assert expired == [
        {"type": "expired", "actor": "system", "channel": "sweeper", "key": "status:timeout"}
    ]


async def test_only_the_requester_or_an_admin_may_cancel(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann, hitl.mcp("root") as root:
        first = (await call(agent, "request_approval", **request_args()))["approval_id"]
        second = (await call(agent, "request_approval", **request_args()))["approval_id"]
        refused = await call_error(ann, "cancel_approval", approval_id=first, reason="mine now")
        assert "only the requester" in refused
        own = await call(agent, "cancel_approval", approval_id=first, reason="plan changed")
        assert own["status"] == "cancelled" and own["cancel_reason"] == "plan changed"
        admin = await call(root, "cancel_approval", approval_id=second, reason="freeze")
        assert admin["status"] == "cancelled"
        waited = await call(agent, "await_decision", approval_id=first, wait_seconds=1)
        assert waited["status"] == "cancelled"
        late = await call_error(ann, "respond_to_approval", approval_id=first, decision="approved")
    assert "cancelled" in late


async def test_list_pending_shows_open_approvals_of_one_workflow(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann:
        a = (await call(agent, "request_approval", **request_args(workflow_id="wf-a")))[
            "approval_id"
        ]
        b = (await call(agent, "request_approval", **request_args(workflow_id="wf-b")))[
            "approval_id"
        ]
        c = (await call(agent, "request_approval", **request_args(workflow_id="wf-a")))[
            "approval_id"
        ]
        await call(ann, "respond_to_approval", approval_id=c, decision="rejected")
        only_a = await call(agent, "list_pending", workflow_id="wf-a")
        everything = await call(agent, "list_pending")
    assert [x["approval_id"] for x in only_a["approvals"]] == [a]
    assert {x["approval_id"] for x in everything["approvals"]} == {a, b}


async def test_low_risk_under_the_threshold_is_approved_automatically_and_recorded(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    settings = configure(hitl_settings, auto_approve_max_threshold=30)  # off by default
    async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent:
        low = request_args(
            approval_type="external_api",
            context={"impact_assessment": "reads a public API", "risk_level": "low"},
            options={"auto_approve_threshold": 20},
        )
        result = await call(agent, "request_approval", **low)
        assert result["status"] == "approved" and result["auto_approved"] is True
        assert result["risk_score"] == 15
        detail = await call(agent, "get_approval", approval_id=result["approval_id"])
        high = await call(
            agent, "request_approval", **request_args(options={"auto_approve_threshold": 100})
        )
    assert [e["type"] for e in detail["events"]] == ["created", "auto_approved"]
    assert detail["events"][1]["actor"] == "system"
    assert high["status"] == "pending" and high["auto_approved"] is False


async def test_a_deadline_beyond_the_server_maximum_is_refused_with_the_setting(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent:
        message = await call_error(
            agent, "request_approval", **request_args(options={"timeout_minutes": 10_000})
        )
    assert "HITL_MAX_TIMEOUT_MINUTES" in message


async def test_get_approval_shows_the_context_and_the_audit_trail(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann:
        args = request_args(context={**request_args()["context"], "generated_code": "print('hi')"})
        approval_id = (await call(agent, "request_approval", **args))["approval_id"]
        await call(
            ann, "respond_to_approval", approval_id=approval_id, decision="approved", comment="ok"
        )
        detail = await call(agent, "get_approval", approval_id=approval_id)
        unknown = await call_error(agent, "get_approval", approval_id="nope")
    assert detail["context"]["generated_code"] == "print('hi')"
    assert [(e["type"], e["actor"], e["channel"]) for e in detail["events"]] == [
        ("created", "agent", "mcp"),
        ("vote", "ann", "mcp"),
        ("approved", "ann", "mcp"),
    ]
    assert detail["events"][1]["detail"]["comment"] == "ok"
    assert all(e["at"] for e in detail["events"])
    assert "list_pending" in unknown


async def test_an_agent_cannot_auto_approve_its_own_risky_request_by_asking_for_a_high_threshold(
    hitl: Hitl,
) -> None:
    async with hitl.mcp("agent") as agent:
        result = await call(
            agent,
            "request_approval",
            **request_args(
                approval_type="data_access",
                context={
                    "impact_assessment": "drops the production database",
                    "risk_level": "low",
                    "generated_code": "DROP DATABASE prod;",
                },
                options={"auto_approve_threshold": 100},
            ),
        )
        detail = await call(agent, "get_approval", approval_id=result["approval_id"])
    assert result["status"] == "pending" and result["auto_approved"] is False
    assert [e["type"] for e in detail["events"]] == ["created"]


async def test_a_request_cannot_lower_the_servers_minimum_of_approvers_for_its_type(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    settings = configure(hitl_settings, min_approvers={"code_deployment": 2})
    async with (
        start_hitl(settings) as hitl,
        hitl.mcp("agent") as agent,
        hitl.mcp("ann") as ann,
        hitl.mcp("bob") as bob,
    ):
        created = await call(
            agent, "request_approval", **request_args(options={"required_approvers": 1})
        )
        approval_id = created["approval_id"]
        first = await call(ann, "respond_to_approval", approval_id=approval_id, decision="approved")
        second = await call(
            bob, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
    assert created["required_approvers"] == 2 and "HITL_MIN_APPROVERS" in created["warnings"][0]
    assert first["approval"]["status"] == "pending"
    assert second["approval"]["status"] == "approved"


async def test_only_the_requester_approvers_and_admins_can_read_an_approval(hitl: Hitl) -> None:
    async with (
        hitl.mcp("agent") as agent,
        hitl.mcp("carl") as carl,
        hitl.mcp("ann") as ann,
        hitl.mcp("root") as root,
    ):
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        read = await call_error(carl, "get_approval", approval_id=approval_id)
        waited = await call_error(carl, "await_decision", approval_id=approval_id, wait_seconds=0)
        carls = await call(carl, "list_pending")
        agents = await call(agent, "list_pending")
        anns = await call(ann, "list_pending")
        by_ann = await call(ann, "get_approval", approval_id=approval_id)
        by_root = await call(root, "await_decision", approval_id=approval_id, wait_seconds=0)
    assert "not yours to read" in read and "not yours to read" in waited
    assert carls["count"] == 0
    assert agents["count"] == 1 and anns["count"] == 1
    assert by_ann["approval_id"] == approval_id and by_root["approval_id"] == approval_id


async def test_every_approval_result_carries_the_sha256_of_the_context_that_was_approved(
    hitl: Hitl,
) -> None:
    code = "print('ünïcode')"
    args = request_args(context={**request_args()["context"], "generated_code": code})
    async with hitl.mcp("agent") as agent, hitl.mcp("ann") as ann:
        created = await call(agent, "request_approval", **args)
        approval_id = created["approval_id"]
        decided = await call(
            ann, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
        waited = await call(agent, "await_decision", approval_id=approval_id, wait_seconds=0)
        detail = await call(agent, "get_approval", approval_id=approval_id)
    canonical = json.dumps(
        detail["context"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    expected = hashlib.sha256(canonical).hexdigest()
    assert detail["context"]["generated_code"] == code
    assert created["context_sha256"] == expected
    assert decided["approval"]["context_sha256"] == waited["context_sha256"] == expected
    assert detail["context_sha256"] == expected
    assert waited["code_sha256"] == hashlib.sha256(code.encode()).hexdigest()


async def test_requests_are_rate_limited_and_capped_per_requester_with_the_setting_named(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    # every attempt counts against the rate, refused ones too
    settings = configure(hitl_settings, requests_per_minute=4, max_pending_per_requester=2)
    async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent, hitl.mcp("carl") as carl:
        first = (await call(agent, "request_approval", **request_args()))["approval_id"]
        await call(agent, "request_approval", **request_args())
        capped = await call_error(agent, "request_approval", **request_args())
        await call(agent, "cancel_approval", approval_id=first, reason="make room")
        await call(agent, "request_approval", **request_args())
        limited = await call_error(agent, "request_approval", **request_args())
        others = await call(carl, "request_approval", **request_args())
    assert "HITL_MAX_PENDING_PER_REQUESTER" in capped
    assert "HITL_REQUESTS_PER_MINUTE" in limited
    assert others["status"] == "pending"


async def test_oversized_code_and_security_reports_are_refused_with_the_limit(
    start_hitl: HitlFactory, hitl_settings: HumanInLoopSettings
) -> None:
    settings = configure(hitl_settings, max_code_chars=1000, max_report_bytes=2000)
    context = request_args()["context"]
    big_report = {"issues": [{"severity": "info", "note": "x" * 100}] * 30}
    async with start_hitl(settings) as hitl, hitl.mcp("agent") as agent:
        code = await call_error(
            agent,
            "request_approval",
            **request_args(context={**context, "generated_code": "x" * 1001}),
        )
        report = await call_error(
            agent,
            "request_approval",
            **request_args(context={**context, "security_report": big_report}),
        )
        pending = await call(agent, "list_pending")
    assert "HITL_MAX_CODE_CHARS" in code and "1,000" in code
    assert "HITL_MAX_REPORT_BYTES" in report and "2,000" in report
    assert pending["count"] == 0


async def test_refused_decisions_cannot_grow_an_audit_trail_without_bound(hitl: Hitl) -> None:
    async with hitl.mcp("agent") as agent, hitl.mcp("carl") as carl:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
        for _ in range(REFUSALS_AUDITED + 5):
            await call_error(
                carl, "respond_to_approval", approval_id=approval_id, decision="approved"
            )
        detail = await call(agent, "get_approval", approval_id=approval_id)
    types = [e["type"] for e in detail["events"]]
    assert types.count("vote_refused") == REFUSALS_AUDITED
    assert types.count("audit_suppressed") == 1


async def test_a_token_with_scopes_must_carry_hitl_decide_to_decide(hitl: Hitl) -> None:
    await hitl.user("ann")
    tokens = hitl.runtime.tokens
    read_only = tokens.issue("ann", scopes=("hitl:read",)).token
    deciding = tokens.issue("ann", scopes=("hitl:read", "hitl:decide")).token
    async with hitl.mcp("agent") as agent:
        approval_id = (await call(agent, "request_approval", **request_args()))["approval_id"]
    async with http_client(hitl.url, read_only) as limited:
        refused = await call_error(
            limited, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
    async with http_client(hitl.url, deciding) as allowed:
        decided = await call(
            allowed, "respond_to_approval", approval_id=approval_id, decision="approved"
        )
    assert "hitl:decide" in refused
    assert decided["approval"]["status"] == "approved"
