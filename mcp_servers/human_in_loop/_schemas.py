"""The tools' contract: inputs (section 1.4 of the seed) and structured results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mcp_servers.human_in_loop._audit import AuditEvent
from mcp_servers.human_in_loop._model import Approval, iso
from mcp_servers.human_in_loop._settings import HARD_MAX_CODE_CHARS, ChannelName, RiskLevel

MAX_COMMENT_CHARS = 5000
_SHA_NOTE = (
    "SHA-256 (hex) of the approval's context as canonical JSON (UTF-8, keys sorted, "
    'separators "," and ":", non-ASCII kept): compare it with the context you are about to run, '
    "so what runs is what was approved."
)


class ApprovalContext(BaseModel):
    """What the approver needs to judge the step."""

    model_config = ConfigDict(extra="forbid")

    generated_code: str | None = Field(
        default=None,
        max_length=HARD_MAX_CODE_CHARS,
        description="The code to be deployed or run (at most HITL_MAX_CODE_CHARS characters).",
    )
    security_report: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Analyser output about generated_code: SARIF, bandit JSON, semgrep JSON, or "
            "PromptCraft code_analysis output (at most HITL_MAX_REPORT_BYTES as JSON). Findings "
            "raise the risk score; code without a readable report counts as a severe finding."
        ),
    )
    impact_assessment: str = Field(
        max_length=20_000, description="What happens if this is approved, in plain words."
    )
    risk_level: RiskLevel = Field(description="The requester's own risk rating.")


class ApprovalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_minutes: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Deadline from now; when it passes without a decision the approval ends as "
            "'timeout', which counts as rejection. Default 60 (HITL_APPROVAL_TIMEOUT_MINUTES)."
        ),
    )
    notification_channels: list[ChannelName] | None = Field(
        default=None,
        description="Where to notify approvers; default: every channel configured on the server.",
    )
    required_approvers: int = Field(
        default=1,
        ge=1,
        le=20,
        description=(
            "Distinct people needed; any one rejection is final. Raised to the server's minimum "
            "for the approval type (HITL_MIN_APPROVERS), never lowered."
        ),
    )
    auto_approve_threshold: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description=(
            "Opt in to automatic approval when the server's risk score (0-100) is at or below "
            "this. The server decides: off unless the operator set HITL_AUTO_APPROVE_MAX_THRESHOLD "
            "(this value can only lower it) and allows the type (HITL_AUTO_APPROVE_TYPES); never "
            "for security overrides, critical risk, more than one approver, severe or unrated "
            "findings, or code without a readable security report."
        ),
    )


class VoteView(BaseModel):
    approver: str
    decision: Literal["approved", "rejected"]
    comment: str
    channel: str
    at: str


class ApprovalView(BaseModel):
    """An approval's state. ``final`` is true once the status is no longer pending."""

    approval_id: str
    workflow_id: str
    status: Literal["pending", "approved", "rejected", "timeout", "cancelled"]
    final: bool
    approval_type: str
    step_description: str
    risk_level: str
    risk_score: int
    auto_approved: bool
    required_approvers: int
    approvals: int = Field(description="Distinct approvers who approved so far.")
    votes: list[VoteView]
    context_sha256: str = Field(description=_SHA_NOTE)
    code_sha256: str | None = Field(
        description="SHA-256 (hex) of context.generated_code as UTF-8; null without code."
    )
    requested_by: str | None
    notification_channels: list[str]
    created_at: str
    expires_at: str
    decided_at: str | None
    cancel_reason: str | None

    @classmethod
    def of(cls, approval: Approval) -> ApprovalView:
        return cls(**view_fields(approval))


def view_fields(approval: Approval) -> dict[str, Any]:
    return {
        "approval_id": approval.approval_id,
        "workflow_id": approval.workflow_id,
        "status": approval.status,
        "final": approval.final,
        "approval_type": approval.approval_type,
        "step_description": approval.step_description,
        "risk_level": approval.risk_level,
        "risk_score": approval.risk_score,
        "auto_approved": approval.auto_approved,
        "required_approvers": approval.required_approvers,
        "approvals": approval.approvals,
        "votes": [
            VoteView(
                approver=v.approver,
                decision=v.decision,
                comment=v.comment,
                channel=v.channel,
                at=iso(v.at) or "",
            )
            for v in approval.votes
        ],
        "context_sha256": approval.context_sha256,
        "code_sha256": approval.code_sha256,
        "requested_by": approval.requested_by,
        "notification_channels": list(approval.channels),
        "created_at": iso(approval.created_at) or "",
        "expires_at": iso(approval.expires_at) or "",
        "decided_at": iso(approval.decided_at),
        "cancel_reason": approval.cancel_reason,
    }


class AuditEventView(BaseModel):
    seq: int
    at: str
    type: str = Field(
        description=(
            "created, auto_approved, delivery_sent, delivery_failed, delivery_abandoned, "
            "delivery_skipped, vote, vote_refused, approved, rejected, expired, cancelled, "
            "elicitation_declined, elicitation_cancelled, audit_suppressed"
        )
    )
    actor: str
    channel: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventView:
        return cls(
            seq=event.seq,
            at=event.at.isoformat(),
            type=event.type,
            actor=event.actor,
            channel=event.channel,
            detail=dict(event.detail),
        )


class ApprovalDetail(ApprovalView):
    """An approval with what the approver was shown and its full audit trail."""

    context: dict[str, Any]
    events: list[AuditEventView]


class RequestApprovalResult(BaseModel):
    approval_id: str
    status: Literal["pending", "approved", "rejected", "timeout", "cancelled"]
    expires_at: str
    created: bool = Field(
        description="False when this idempotency_key already had an approval, which is returned."
    )
    risk_score: int
    auto_approved: bool
    required_approvers: int
    context_sha256: str = Field(description=_SHA_NOTE)
    code_sha256: str | None
    notification_channels: list[str]
    warnings: list[str]
    next_step: str


class AwaitDecisionResult(ApprovalView):
    decided: bool = Field(description="True when the approval is final (any status but pending).")
    next_step: str


class PendingApprovals(BaseModel):
    count: int
    approvals: list[ApprovalView]


class DecisionResult(BaseModel):
    approval: ApprovalView
    vote_recorded: bool = Field(
        description="False when an identical decision was already recorded (nothing changed)."
    )
    message: str


class ClientDecisionResult(BaseModel):
    answer: Literal["accept", "decline", "cancel"] = Field(
        description="What the person did in the client; only accept with a decision is a vote."
    )
    vote_recorded: bool
    approval: ApprovalView
    message: str
