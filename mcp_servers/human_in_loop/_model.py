"""Approvals as our own types, and the state machine as pure functions.

pending -> approved | rejected | timeout | cancelled. Every transition is
computed here from the stored state and written by the caller with
compare-and-set, so two deciders can never both win.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, cast

from mcp_servers.human_in_loop.errors import DecisionConflictError, NotAllowedError
from promptcraft.store import JSONObject, JSONValue

Status = Literal["pending", "approved", "rejected", "timeout", "cancelled"]
Decision = Literal["approved", "rejected"]
FINAL: frozenset[str] = frozenset({"approved", "rejected", "timeout", "cancelled"})

APPROVAL_KIND = "approval"
PENDING_KIND = "approval_pending"
IDEMPOTENCY_KIND = "approval_idem"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_iso(value: JSONValue) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def canonical_json(value: JSONValue) -> bytes:
    """The canonical form fingerprints are taken of: UTF-8 JSON, keys sorted, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def context_sha256(context: JSONObject) -> str:
    """SHA-256 (hex) of the approval's context in canonical JSON: what the approvers judged."""
    return hashlib.sha256(canonical_json(context)).hexdigest()


def code_sha256(context: JSONObject) -> str | None:
    """SHA-256 (hex) of context.generated_code as UTF-8, or None when there is no code."""
    code = context.get("generated_code")
    return hashlib.sha256(code.encode()).hexdigest() if isinstance(code, str) else None


@dataclass(frozen=True, slots=True)
class Voter:
    """Who is deciding: ``identity`` is what counts (a PromptCraft user name, resolved from the
    channel identity through HITL_IDENTITY_MAP); ``via`` is the raw channel identity.
    ``resolved`` is False for a channel identity that maps to no user: it never counts."""

    identity: str
    channel: str
    via: str
    resolved: bool = True


@dataclass(frozen=True, slots=True)
class Vote:
    approver: str
    decision: Decision
    comment: str
    channel: str
    via: str
    at: datetime

    def to_json(self) -> JSONObject:
        return {
            "approver": self.approver,
            "decision": self.decision,
            "comment": self.comment,
            "channel": self.channel,
            "via": self.via,
            "at": iso(self.at),
        }

    @staticmethod
    def from_json(data: JSONObject) -> Vote:
        at = parse_iso(data.get("at"))
        assert at is not None
        return Vote(
            approver=str(data["approver"]),
            decision=cast(Decision, data["decision"]),
            comment=str(data.get("comment") or ""),
            channel=str(data.get("channel") or ""),
            via=str(data.get("via") or ""),
            at=at,
        )


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What a written transition still owes: its audit events (the votes from ``votes_from``
    on, and the change from ``status_from``) and the deliveries it starts.

    Written in the same compare-and-set as the transition and cleared once done, so a writer
    that fails or dies in between leaves it in the store for whoever comes next. Its writer
    holds it until ``lease_until`` (epoch seconds); after that anyone may take it over."""

    id: str
    votes_from: int
    status_from: str
    actor: str | None
    channel: str
    how: str
    lease_until: float

    def to_json(self) -> JSONObject:
        return {
            "id": self.id,
            "votes_from": self.votes_from,
            "status_from": self.status_from,
            "actor": self.actor,
            "channel": self.channel,
            "how": self.how,
            "lease_until": self.lease_until,
        }

    @staticmethod
    def from_json(data: JSONObject) -> FollowUp:
        actor = data.get("actor")
        return FollowUp(
            id=str(data["id"]),
            votes_from=int(cast(int, data["votes_from"])),
            status_from=str(data["status_from"]),
            actor=None if actor is None else str(actor),
            channel=str(data.get("channel") or ""),
            how=str(data.get("how") or ""),
            lease_until=float(cast(float, data.get("lease_until") or 0)),
        )


@dataclass(frozen=True, slots=True)
class Approval:
    approval_id: str
    workflow_id: str
    approval_type: str
    step_description: str
    context: JSONObject
    risk_level: str
    risk_score: int
    required_approvers: int
    auto_approve_threshold: int | None
    channels: tuple[str, ...]
    timeout_minutes: float
    status: Status
    requested_by: str | None
    created_at: datetime
    expires_at: datetime
    fingerprint: str
    votes: tuple[Vote, ...] = ()
    decided_at: datetime | None = None
    auto_approved: bool = False
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    slack_response_url: str | None = None
    extra: JSONObject = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def context_sha256(self) -> str:
        return context_sha256(self.context)

    @property
    def code_sha256(self) -> str | None:
        return code_sha256(self.context)

    @property
    def requested_session(self) -> str | None:
        """The MCP client session the request came from (see ``_access.session_key``)."""
        value = self.extra.get("requested_session")
        return value if isinstance(value, str) else None

    @property
    def follow_up(self) -> FollowUp | None:
        """The follow-up the last transition still owes, if any (see ``FollowUp``)."""
        value = self.extra.get("follow_up")
        return FollowUp.from_json(value) if isinstance(value, dict) else None

    def with_follow_up(self, follow_up: FollowUp | None) -> Approval:
        extra = {k: v for k, v in self.extra.items() if k != "follow_up"}
        if follow_up is not None:
            extra["follow_up"] = follow_up.to_json()
        return replace(self, extra=extra)

    @property
    def approvals(self) -> int:
        return sum(1 for v in self.votes if v.decision == "approved")

    def overdue(self, now: datetime) -> bool:
        return self.status == "pending" and now >= self.expires_at

    def vote_of(self, identity: str) -> Vote | None:
        return next((v for v in self.votes if v.approver == identity), None)

    def to_json(self) -> JSONObject:
        return {
            "approval_id": self.approval_id,
            "workflow_id": self.workflow_id,
            "approval_type": self.approval_type,
            "step_description": self.step_description,
            "context": self.context,
            "risk_level": self.risk_level,
            "risk_score": self.risk_score,
            "required_approvers": self.required_approvers,
            "auto_approve_threshold": self.auto_approve_threshold,
            "channels": list(self.channels),
            "timeout_minutes": self.timeout_minutes,
            "status": self.status,
            "requested_by": self.requested_by,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "fingerprint": self.fingerprint,
            "votes": [v.to_json() for v in self.votes],
            "decided_at": iso(self.decided_at),
            "auto_approved": self.auto_approved,
            "cancel_reason": self.cancel_reason,
            "cancelled_by": self.cancelled_by,
            "slack_response_url": self.slack_response_url,
            "extra": self.extra,
        }

    @staticmethod
    def from_json(data: JSONObject) -> Approval:
        created = parse_iso(data["created_at"])
        expires = parse_iso(data["expires_at"])
        assert created is not None and expires is not None
        votes = data.get("votes") or []
        context = data.get("context") or {}
        extra = data.get("extra") or {}
        threshold = data.get("auto_approve_threshold")
        requested_by = data.get("requested_by")
        reason = data.get("cancel_reason")
        cancelled_by = data.get("cancelled_by")
        response_url = data.get("slack_response_url")
        channels = data.get("channels") or []
        assert isinstance(votes, list) and isinstance(context, dict) and isinstance(extra, dict)
        assert isinstance(channels, list)
        return Approval(
            approval_id=str(data["approval_id"]),
            workflow_id=str(data["workflow_id"]),
            approval_type=str(data["approval_type"]),
            step_description=str(data["step_description"]),
            context=context,
            risk_level=str(data["risk_level"]),
            risk_score=int(cast(int, data["risk_score"])),
            required_approvers=int(cast(int, data["required_approvers"])),
            auto_approve_threshold=None if threshold is None else int(cast(int, threshold)),
            channels=tuple(str(c) for c in channels),
            timeout_minutes=float(cast(float, data["timeout_minutes"])),
            status=cast(Status, data["status"]),
            requested_by=None if requested_by is None else str(requested_by),
            created_at=created,
            expires_at=expires,
            fingerprint=str(data.get("fingerprint") or ""),
            votes=tuple(Vote.from_json(cast(JSONObject, v)) for v in votes),
            decided_at=parse_iso(data.get("decided_at")),
            auto_approved=bool(data.get("auto_approved")),
            cancel_reason=None if reason is None else str(reason),
            cancelled_by=None if cancelled_by is None else str(cancelled_by),
            slack_response_url=None if response_url is None else str(response_url),
            extra=extra,
        )


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """What a decision did: the approval after it, and whether a new vote was written."""

    approval: Approval
    recorded: bool
    message: str


def check_may_vote(approval: Approval, voter: Voter) -> None:
    """The rules no setting relaxes: a vote is a person's (a channel identity that maps to no
    PromptCraft user never counts), and nobody decides their own request."""
    if not voter.resolved:
        raise NotAllowedError(
            f"{voter.via} is not mapped to a PromptCraft user (HITL_IDENTITY_MAP), so its vote "
            f"cannot be attributed to a person and does not count on approval {approval.approval_id}"
        )
    if approval.requested_by is not None and voter.identity == approval.requested_by:
        raise NotAllowedError(
            f"{voter.identity} requested approval {approval.approval_id} and cannot decide it; "
            "another approver must respond"
        )


def apply_vote(
    approval: Approval, voter: Voter, decision: Decision, comment: str, now: datetime
) -> VoteOutcome:
    """One approver's decision. Returns the new state, or the unchanged one when the same
    decision was already recorded (``recorded`` False). Raises on a conflicting decision."""
    check_may_vote(approval, voter)
    previous = approval.vote_of(voter.identity)
    if approval.status != "pending":
        if previous is not None and previous.decision == decision:
            return VoteOutcome(
                approval, False, f"{voter.identity} already {decision} this; nothing changed"
            )
        if approval.status == decision:
            return VoteOutcome(
                approval,
                False,
                f"approval {approval.approval_id} is already {approval.status}; your {decision} "
                "agrees and was not counted again",
            )
        raise DecisionConflictError(_closed_message(approval, decision))
    if previous is not None:
        if previous.decision == decision:
            return VoteOutcome(
                approval, False, f"{voter.identity} already {decision} this; nothing changed"
            )
        raise DecisionConflictError(
            f"{voter.identity} already {previous.decision} approval {approval.approval_id}; "
            "a vote cannot be changed. Ask another approver to reject it, or cancel it."
        )
    vote = Vote(voter.identity, decision, comment, voter.channel, voter.via, now)
    votes = (*approval.votes, vote)
    status: Status = "pending"
    if decision == "rejected":
        status = "rejected"
    elif sum(1 for v in votes if v.decision == "approved") >= approval.required_approvers:
        status = "approved"
    updated = replace(
        approval, votes=votes, status=status, decided_at=now if status != "pending" else None
    )
    if status == "pending":
        message = (
            f"approval recorded: {updated.approvals} of {approval.required_approvers} "
            "distinct approvers so far"
        )
    else:
        message = f"approval {approval.approval_id} is now {status}"
    return VoteOutcome(updated, True, message)


def apply_expiry(approval: Approval, now: datetime) -> Approval | None:
    """The deadline passed: pending becomes timeout (a rejection). None if nothing changes."""
    if not approval.overdue(now):
        return None
    return replace(approval, status="timeout", decided_at=now)


def apply_cancel(approval: Approval, actor: str | None, reason: str, now: datetime) -> Approval:
    if approval.status == "cancelled":
        return approval
    if approval.status != "pending":
        raise DecisionConflictError(
            f"approval {approval.approval_id} is already {approval.status} and cannot be "
            "cancelled; start a new request if the step must run again"
        )
    return replace(
        approval, status="cancelled", decided_at=now, cancel_reason=reason, cancelled_by=actor
    )


def _closed_message(approval: Approval, decision: Decision) -> str:
    when = iso(approval.decided_at) or "earlier"
    if approval.status == "timeout":
        return (
            f"approval {approval.approval_id} timed out at {when} (expiry counts as rejection); "
            f"your {decision} was not recorded. The requester must ask again."
        )
    if approval.status == "cancelled":
        return (
            f"approval {approval.approval_id} was cancelled at {when}; your {decision} was "
            "not recorded"
        )
    return (
        f"approval {approval.approval_id} was already {approval.status} at {when}; your "
        f"conflicting {decision} was not recorded"
    )
