"""The MCP face of the service: tools with structured results, and the worker lifespan.

No ``from __future__ import annotations`` here: the SDK evaluates tool annotations in this
module's globals, and ``decide_in_client`` refers to a resolver defined in a closure.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from mcp_servers.human_in_loop._model import Voter
from mcp_servers.human_in_loop._schemas import (
    ApprovalContext,
    ApprovalDetail,
    ApprovalOptions,
    ApprovalView,
    AuditEventView,
    AwaitDecisionResult,
    ClientDecisionResult,
    DecisionResult,
    PendingApprovals,
    RequestApprovalResult,
    view_fields,
)
from mcp_servers.human_in_loop._service import MAX_WAIT_SECONDS, ApprovalService, NewApproval
from mcp_servers.human_in_loop._settings import ApprovalType, HumanInLoopSettings
from mcp_servers.human_in_loop.errors import NotAllowedError
from promptcraft.errors import PromptCraftError
from promptcraft.identity.mcp_auth import Caller, current_caller
from promptcraft.mcp_host import new_mcp_server
from promptcraft.runtime import Runtime

NAME = "human-in-loop"
MOUNT_PATH = f"/mcp/{NAME}"

INSTRUCTIONS = """\
Durable human approvals. Call request_approval before a deployment, a security override,
data access or an external API call; it returns at once with an approval_id. Then loop on
await_decision(approval_id, wait_seconds<=50) until `decided` is true, and go ahead only if
the status is `approved` (`rejected`, `timeout` and `cancelled` all mean no). You can never
approve your own request: people decide through Slack, e-mail links, webhooks wired to their
tools, respond_to_approval with their own identity, or decide_in_client in their MCP client.
"""

APPROVER_ROLE = "approver"
ADMIN_ROLE = "admin"


class DecisionForm(BaseModel):
    """What the person answers in their MCP client."""

    decision: Literal["approve", "reject"] = Field(description="Approve or reject the step.")
    comment: str = Field(default="", description="Optional note kept in the audit trail.")


def _tool_error(exc: PromptCraftError) -> ToolError:
    return ToolError(str(exc))


def _is_approver(settings: HumanInLoopSettings, caller: Caller) -> bool:
    return APPROVER_ROLE in caller.roles or caller.username in settings.approver_usernames


def _authenticated_approver(settings: HumanInLoopSettings, channel: str) -> Voter:
    caller = current_caller()
    if caller is None:
        raise NotAllowedError(
            "respond_to_approval needs an authenticated approver: connect with your own bearer "
            "token (PROMPTCRAFT_MCP_REQUIRE_AUTH=true); unauthenticated callers can request "
            "approvals but never decide them"
        )
    if not _is_approver(settings, caller):
        raise NotAllowedError(
            f"{caller.username} is not an approver: an admin can grant the 'approver' role "
            "(`promptcraft users add --role approver`) or list the user in HITL_APPROVER_USERNAMES"
        )
    return Voter(caller.username, channel, f"user:{caller.username}")


def _client_voter(settings: HumanInLoopSettings) -> Voter:
    if current_caller() is not None:
        return _authenticated_approver(settings, "elicitation")
    if settings.local_approver:
        return Voter(settings.local_approver, "elicitation", "local")
    raise NotAllowedError(
        "this connection is not authenticated, so an answer in the client cannot be attributed "
        "to an approver; set HITL_LOCAL_APPROVER to the user who answers here, or connect with a "
        "bearer token"
    )


def _elicitation_message(view: ApprovalView, impact: str) -> str:
    return (
        f"Approval requested by {view.requested_by or 'an unauthenticated client'}: "
        f"{view.approval_type.replace('_', ' ')} — {view.step_description}\n"
        f"Impact: {impact}\nRisk: {view.risk_level} (score {view.risk_score}); "
        f"{view.required_approvers} approver(s) needed; deadline {view.expires_at}.\n"
        "Approve or reject? Declining leaves the request pending."
    )


def build_server(
    settings: HumanInLoopSettings, runtime: Runtime, service: ApprovalService
) -> MCPServer:
    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, Any]]:
        async with service.worker():
            yield {}

    server = new_mcp_server(
        NAME, instructions=INSTRUCTIONS, runtime=runtime, mount_path=MOUNT_PATH, lifespan=lifespan
    )
    _register_request_tools(server, service)
    _register_decision_tools(server, settings, service)
    return server


def _register_request_tools(server: MCPServer, service: ApprovalService) -> None:
    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True
        )
    )
    async def request_approval(  # noqa: PLR0917 - the section 1.4 contract
        approval_type: ApprovalType,
        step_description: Annotated[str, Field(min_length=1, max_length=5000)],
        context: ApprovalContext,
        workflow_id: Annotated[str, Field(min_length=1, max_length=200)],
        options: ApprovalOptions | None = None,
        idempotency_key: Annotated[str | None, Field(max_length=200)] = None,
    ) -> RequestApprovalResult:
        """Ask people to approve a step; returns at once with approval_id, status and expires_at.

        Nothing is approved by asking: wait with await_decision. Repeating a call with the same
        idempotency_key returns the same approval instead of a new one. When the deadline passes
        without a decision the status becomes `timeout`, which counts as rejection.
        """
        opts = options or ApprovalOptions()
        caller = current_caller()
        request = NewApproval(
            workflow_id=workflow_id,
            approval_type=approval_type,
            step_description=step_description,
            context=context.model_dump(mode="json"),
            timeout_minutes=opts.timeout_minutes,
            notification_channels=list(opts.notification_channels)
            if opts.notification_channels is not None
            else None,
            required_approvers=opts.required_approvers,
            auto_approve_threshold=opts.auto_approve_threshold,
            idempotency_key=idempotency_key,
        )
        try:
            created = await service.create(request, caller.username if caller else None)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        approval = created.approval
        if approval.final:
            next_step = f"The approval is already {approval.status}; no need to wait."
        else:
            next_step = (
                f"Call await_decision(approval_id={approval.approval_id!r}, wait_seconds=50) in a "
                "loop until decided is true; proceed only on status 'approved'."
            )
        return RequestApprovalResult(
            approval_id=approval.approval_id,
            status=approval.status,
            expires_at=approval.expires_at.isoformat(),
            created=created.created,
            risk_score=approval.risk_score,
            auto_approved=approval.auto_approved,
            notification_channels=list(approval.channels),
            warnings=created.warnings,
            next_step=next_step,
        )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def get_approval(approval_id: str) -> ApprovalDetail:
        """The approval's state, what approvers were shown, and its audit trail (every creation,
        delivery attempt, vote, expiry and cancellation with actor, channel and time)."""
        try:
            approval = await service.get(approval_id)
            events = await service.events(approval_id)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return ApprovalDetail(
            **view_fields(approval),
            context=dict(approval.context),
            events=[AuditEventView.of(e) for e in events],
        )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def await_decision(
        approval_id: str,
        wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = 30,
    ) -> AwaitDecisionResult:
        """Wait up to wait_seconds (at most 50) for the decision; returns the moment it lands.

        If `decided` is false the approval is still pending: call again. Proceed only when the
        status is `approved`.
        """
        try:
            approval = await service.wait(approval_id, wait_seconds)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        if approval.final:
            go = "proceed" if approval.status == "approved" else "do not proceed"
            next_step = f"Decided: {approval.status}; {go}."
        else:
            next_step = f"Still pending (deadline {approval.expires_at.isoformat()}); call await_decision again."
        return AwaitDecisionResult(
            **view_fields(approval), decided=approval.final, next_step=next_step
        )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def list_pending(workflow_id: str | None = None) -> PendingApprovals:
        """Approvals still waiting for a decision, oldest first; optionally of one workflow."""
        try:
            approvals = await service.list_pending(workflow_id)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return PendingApprovals(
            count=len(approvals), approvals=[ApprovalView.of(a) for a in approvals]
        )

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def cancel_approval(
        approval_id: str, reason: Annotated[str, Field(min_length=1, max_length=2000)]
    ) -> ApprovalView:
        """Withdraw a pending request (the requester or an admin). Cancelled means not approved."""
        caller = current_caller()
        try:
            approval = await service.cancel(
                approval_id,
                caller.username if caller else None,
                reason,
                may_cancel_any=caller is not None and ADMIN_ROLE in caller.roles,
            )
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return ApprovalView.of(approval)


def _register_decision_tools(
    server: MCPServer, settings: HumanInLoopSettings, service: ApprovalService
) -> None:
    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def respond_to_approval(
        approval_id: str,
        decision: Literal["approved", "rejected"],
        comment: Annotated[str, Field(max_length=5000)] = "",
    ) -> DecisionResult:
        """Decide as yourself: only an authenticated user with the 'approver' role (or listed in
        HITL_APPROVER_USERNAMES) who is not the requester. Any rejection is final; approval needs
        required_approvers distinct approvers. Repeating the same decision changes nothing; a
        conflicting one after the approval closed is refused."""
        try:
            voter = _authenticated_approver(settings, "mcp")
        except NotAllowedError as exc:
            caller = current_caller()
            await service.refused(
                approval_id,
                Voter(caller.username if caller else "anonymous", "mcp", "unauthenticated"),
                decision,
                str(exc),
            )
            raise _tool_error(exc) from exc
        try:
            outcome = await service.vote(approval_id, voter, decision, comment)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return DecisionResult(
            approval=ApprovalView.of(outcome.approval),
            vote_recorded=outcome.recorded,
            message=outcome.message,
        )

    async def ask_in_client(approval_id: str, ctx: Context) -> Elicit[DecisionForm]:
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            raise ToolError(
                "your MCP client does not offer form elicitation, so nobody can be asked here; "
                "decide with respond_to_approval, Slack, or the e-mail link instead"
            )
        try:
            voter = _client_voter(settings)
            approval = await service.check_voter(approval_id, voter)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        impact = str(approval.context.get("impact_assessment") or "not given")
        return Elicit(_elicitation_message(ApprovalView.of(approval), impact), DecisionForm)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    async def decide_in_client(
        approval_id: str,
        answer: Annotated[ElicitationResult[DecisionForm], Resolve(ask_in_client)],
    ) -> ClientDecisionResult:
        """Ask the person at this MCP client to approve or reject, through elicitation.

        Needs a client that declares elicitation. The answer is a vote by the authenticated
        caller (who must be an approver and not the requester); over stdio or with auth off it
        counts only if HITL_LOCAL_APPROVER names the person at the client. Declining or
        cancelling the question records nothing and leaves the approval pending.
        """
        try:
            voter = _client_voter(settings)
            if not isinstance(answer, AcceptedElicitation):
                approval = await service.get(approval_id)
                event = {"decline": "elicitation_declined", "cancel": "elicitation_cancelled"}
                await service.note(approval, event[answer.action], voter)
                return ClientDecisionResult(
                    answer=answer.action,
                    vote_recorded=False,
                    approval=ApprovalView.of(approval),
                    message=f"The person chose to {answer.action}; nothing was decided.",
                )
            decision: Literal["approved", "rejected"] = (
                "approved" if answer.data.decision == "approve" else "rejected"
            )
            outcome = await service.vote(approval_id, voter, decision, answer.data.comment)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return ClientDecisionResult(
            answer="accept",
            vote_recorded=outcome.recorded,
            approval=ApprovalView.of(outcome.approval),
            message=outcome.message,
        )
