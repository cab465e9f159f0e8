from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mcp_servers.human_in_loop._model import (
    Approval,
    Voter,
    apply_cancel,
    apply_expiry,
    apply_vote,
)
from mcp_servers.human_in_loop.errors import DecisionConflictError, NotAllowedError

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def approval(required: int = 1, requested_by: str | None = "agent") -> Approval:
    return Approval(
        approval_id="a1",
        workflow_id="wf",
        approval_type="code_deployment",
        step_description="deploy",
        context={"impact_assessment": "x", "risk_level": "high"},
        risk_level="high",
        risk_score=80,
        required_approvers=required,
        auto_approve_threshold=None,
        channels=(),
        timeout_minutes=60,
        status="pending",
        requested_by=requested_by,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        fingerprint="f",
    )


def voter(name: str) -> Voter:
    return Voter(name, "mcp", f"user:{name}")


def test_quorum_needs_distinct_approvers() -> None:
    a = approval(required=2)
    first = apply_vote(a, voter("ann"), "approved", "", NOW)
    assert first.recorded and first.approval.status == "pending"
    again = apply_vote(first.approval, voter("ann"), "approved", "", NOW)
    assert not again.recorded and again.approval.approvals == 1
    second = apply_vote(first.approval, voter("bob"), "approved", "ok", NOW)
    assert second.approval.status == "approved"
    assert [v.approver for v in second.approval.votes] == ["ann", "bob"]
    assert second.approval.decided_at == NOW


def test_any_rejection_is_final_even_after_approvals() -> None:
    a = apply_vote(approval(required=3), voter("ann"), "approved", "", NOW).approval
    rejected = apply_vote(a, voter("bob"), "rejected", "no", NOW).approval
    assert rejected.status == "rejected"
    with pytest.raises(DecisionConflictError, match="already rejected"):
        apply_vote(rejected, voter("cy"), "approved", "", NOW)


def test_the_requester_can_never_vote_on_its_own_request() -> None:
    with pytest.raises(NotAllowedError, match="cannot decide it"):
        apply_vote(approval(), voter("agent"), "approved", "", NOW)


def test_a_voter_cannot_change_a_vote() -> None:
    a = apply_vote(approval(required=2), voter("ann"), "approved", "", NOW).approval
    with pytest.raises(DecisionConflictError, match="cannot be changed"):
        apply_vote(a, voter("ann"), "rejected", "", NOW)


def test_a_late_agreeing_decision_changes_nothing_and_a_conflicting_one_is_refused() -> None:
    done = apply_vote(approval(), voter("ann"), "approved", "", NOW).approval
    late = apply_vote(done, voter("bob"), "approved", "", NOW)
    assert not late.recorded and late.approval is done
    with pytest.raises(DecisionConflictError, match="conflicting rejected"):
        apply_vote(done, voter("bob"), "rejected", "", NOW)


def test_expiry_is_a_rejection_named_timeout_and_refuses_later_votes() -> None:
    a = approval()
    assert apply_expiry(a, NOW) is None
    expired = apply_expiry(a, a.expires_at)
    assert expired is not None and expired.status == "timeout" and expired.final
    with pytest.raises(DecisionConflictError, match="timed out"):
        apply_vote(expired, voter("ann"), "rejected", "", NOW)


def test_cancel_closes_a_pending_approval_once() -> None:
    cancelled = apply_cancel(approval(), "agent", "plan changed", NOW)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "plan changed"
    assert apply_cancel(cancelled, "agent", "again", NOW) is cancelled
    approved = replace(approval(), status="approved")
    with pytest.raises(DecisionConflictError, match="cannot be cancelled"):
        apply_cancel(approved, "agent", "late", NOW)


def test_an_approval_survives_its_json_form() -> None:
    a = apply_vote(approval(required=2), voter("ann"), "approved", "fine", NOW).approval
    assert Approval.from_json(a.to_json()) == a
