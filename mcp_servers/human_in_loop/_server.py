"""The MCP face of the service: tools with structured results, and the worker lifespan.

No ``from __future__ import annotations`` here: the SDK evaluates tool annotations in this
module's globals, and ``decide_in_client`` refers to a resolver defined in a closure.
Who may do what is described in ``_access``.
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

from mcp_servers.human_in_loop._access import (
    DECIDE_SCOPE,
    CallInfo,
    EmailMask,
    call_info,
    is_admin,
    is_approver,
    may_read,
    privileged,
)
from mcp_servers.human_in_loop._model import Approval, Voter
from mcp_servers.human_in_loop._schemas import (
    MAX_COMMENT_CHARS,
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
from promptcraft.mcp_host import new_mcp_server
from promptcraft.runtime import Runtime

NAME = "human-in-loop"
MOUNT_PATH = f"/mcp/{NAME}"

INSTRUCTIONS = """\
Durable human approvals. Call request_approval before a deployment, a security override,
data access or an external API call; it returns at once with an approval_id. Then loop on
await_decision(approval_id, wait_seconds<=50) until `decided` is true, and go ahead only if
the status is `approved` (`rejected`, `timeout` and `cancelled` all mean no), and only with the
context whose SHA-256 is the approval's `context_sha256`. You can never approve your own
request: people decide through Slack, e-mail links, webhooks wired to their tools,
respond_to_approval with their own identity, or decide_in_client in their own MCP client.
"""


class DecisionForm(BaseModel):
    """What the person answers in their MCP client."""

    decision: Literal["approve", "reject"] = Field(description="Approve or reject the step.")
    comment: str = Field(
        default="",
        max_length=MAX_COMMENT_CHARS,
        description="Optional note kept in the audit trail.",
    )


def _tool_error(exc: PromptCraftError) -> ToolError:
    return ToolError(str(exc))


def _authenticated_approver(settings: HumanInLoopSettings, info: CallInfo, channel: str) -> Voter:
    caller = info.caller
    if caller is None:
        raise NotAllowedError(
            "respond_to_approval needs an authenticated approver: connect with your own bearer "
            "token (PROMPTCRAFT_MCP_REQUIRE_AUTH=true); unauthenticated callers can request "
            "approvals but never decide them"
        )
    if not is_approver(settings, caller):
        raise NotAllowedError(
            f"{caller.username} is not an approver: an admin can grant the 'approver' role "
            "(`promptcraft users add --role approver`) or list the user in HITL_APPROVER_USERNAMES"
        )
    if caller.scopes and DECIDE_SCOPE not in caller.scopes:
        raise NotAllowedError(
            f"this token is limited to the scopes {', '.join(caller.scopes)}, which do not include "
            f"{DECIDE_SCOPE}; decide with a token that carries it "
            f"(`promptcraft token {caller.username} --scope {DECIDE_SCOPE}`) or one without scopes"
        )
    return Voter(caller.username, channel, f"user:{caller.username}")


def _client_voter(settings: HumanInLoopSettings, info: CallInfo) -> tuple[Voter, str | None]:
    """The voter behind an answer in the client, and (for an unauthenticated local client)
    its session key, which must not be the requesting session."""
    if info.caller is not None:
        return _authenticated_approver(settings, info, "elicitation"), None
    if not info.local:
        raise NotAllowedError(
            "this HTTP connection is not authenticated, so an answer given in the client could "
            "come from anyone, the requesting agent included, and never counts "
            "(HITL_LOCAL_APPROVER applies only over stdio). Connect with your own bearer token "
            "(PROMPTCRAFT_MCP_REQUIRE_AUTH=true), or decide through Slack or e-mail."
        )
    if settings.local_approver:
        assert info.session is not None  # a local call always has a (process) session key
        return Voter(settings.local_approver, "elicitation", "local"), info.session
    raise NotAllowedError(
        "this connection is not authenticated, so an answer in the client cannot be attributed "
        "to an approver; set HITL_LOCAL_APPROVER to the user who answers here (stdio only), or "
        "connect with a bearer token"
    )


def _elicitation_message(approval: Approval) -> str:
    impact = str(approval.context.get("impact_assessment") or "not given")
    text = (
        f"Approval requested by {approval.requested_by or 'an unauthenticated client'}: "
        f"{approval.approval_type.replace('_', ' ')} — {approval.step_description}\n"
        f"Impact: {impact}\nRisk: {approval.risk_level} (score {approval.risk_score}); "
        f"{approval.required_approvers} approver(s) needed; deadline "
        f"{approval.expires_at.isoformat()}.\n"
    )
    code = approval.context.get("generated_code")
    if isinstance(code, str) and code:
        text += f"Generated code ({len(code)} characters, all of it):\n{code}\n"
    text += (
        f"Context SHA-256: {approval.context_sha256}\n"
        "Approve or reject? Declining leaves the request pending."
    )
    return text


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
    _register_request_tools(server, settings, service)
    _register_decision_tools(server, settings, service)
    return server


async def _readable(
    service: ApprovalService, settings: HumanInLoopSettings, info: CallInfo, approval_id: str
) -> Approval:
    approval = await service.get(approval_id)
    if not may_read(settings, info, approval):
        raise NotAllowedError(
            f"approval {approval_id} is not yours to read: only its requester, approvers and "
            "admins can (unauthenticated callers see only unauthenticated requests)"
        )
    return approval


def _without_addresses(
    settings: HumanInLoopSettings, events: list[AuditEventView]
) -> list[AuditEventView]:
    """The audit trail as those who are not approvers or admins see it."""
    mask = EmailMask(settings)
    return [e.model_copy(update={"actor": mask(e.actor), "detail": mask(e.detail)}) for e in events]


def _register_request_tools(
    server: MCPServer, settings: HumanInLoopSettings, service: ApprovalService
) -> None:
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
        ctx: Context,
        options: ApprovalOptions | None = None,
        idempotency_key: Annotated[str | None, Field(max_length=200)] = None,
    ) -> RequestApprovalResult:
        """Ask people to approve a step; returns at once with approval_id, status and expires_at.

        Nothing is approved by asking: wait with await_decision. Repeating a call with the same
        idempotency_key returns the same approval instead of a new one. When the deadline passes
        without a decision the status becomes `timeout`, which counts as rejection.

        Approval is the server's policy, not the request's: required_approvers is raised to the
        server minimum for the type (HITL_MIN_APPROVERS). Automatic approval is off unless the
        operator turned it on (HITL_AUTO_APPROVE_MAX_THRESHOLD > 0) for the type
        (HITL_AUTO_APPROVE_TYPES; never security_override); then a request that opts in with
        options.auto_approve_threshold (which can only lower the server's threshold) is approved
        when the risk score is at or below it, one approver is required, the risk is not
        critical, and generated_code comes with a readable security report (SARIF, bandit,
        semgrep or code_analysis output) without critical, high or unrated findings. Limits:
        HITL_REQUESTS_PER_MINUTE and HITL_MAX_PENDING_PER_REQUESTER per requester,
        HITL_MAX_CODE_CHARS and HITL_MAX_REPORT_BYTES per request. Run only the context whose
        SHA-256 is the returned context_sha256.
        """
        opts = options or ApprovalOptions()
        info = call_info(ctx)
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
            created = await service.create(request, info.username, session=info.session)
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
            required_approvers=approval.required_approvers,
            context_sha256=approval.context_sha256,
            code_sha256=approval.code_sha256,
            notification_channels=list(approval.channels),
            warnings=created.warnings,
            next_step=next_step,
        )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def get_approval(approval_id: str, ctx: Context) -> ApprovalDetail:
        """The approval's state, what approvers were shown, and its audit trail (every creation,
        delivery attempt, vote, expiry and cancellation with actor, channel and time). Only for
        its requester, approvers and admins."""
        info = call_info(ctx)
        try:
            approval = await _readable(service, settings, info, approval_id)
            events = [AuditEventView.of(e) for e in await service.events(approval_id)]
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        if not privileged(settings, info):
            events = _without_addresses(settings, events)
        return ApprovalDetail(
            **view_fields(approval), context=dict(approval.context), events=events
        )

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def await_decision(
        approval_id: str,
        ctx: Context,
        wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = 30,
    ) -> AwaitDecisionResult:
        """Wait up to wait_seconds (at most 50) for the decision; returns the moment it lands.

        If `decided` is false the approval is still pending: call again. Proceed only when the
        status is `approved`, with the context whose SHA-256 is `context_sha256`. Only for the
        requester, approvers and admins.
        """
        try:
            await _readable(service, settings, call_info(ctx), approval_id)
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
    async def list_pending(ctx: Context, workflow_id: str | None = None) -> PendingApprovals:
        """Approvals still waiting for a decision, oldest first; optionally of one workflow.
        Approvers and admins see all of them; anyone else only their own requests."""
        info = call_info(ctx)
        try:
            approvals = await service.list_pending(
                workflow_id,
                all_requesters=privileged(settings, info),
                requested_by=info.username,
            )
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return PendingApprovals(
            count=len(approvals), approvals=[ApprovalView.of(a) for a in approvals]
        )

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
    async def cancel_approval(
        approval_id: str, reason: Annotated[str, Field(min_length=1, max_length=2000)], ctx: Context
    ) -> ApprovalView:
        """Withdraw a pending request (the requester or an admin; an unauthenticated request
        only from the MCP session that made it). Cancelled means not approved."""
        info = call_info(ctx)
        try:
            approval = await service.cancel(
                approval_id,
                info.username,
                reason,
                may_cancel_any=is_admin(info.caller),
                session=info.session,
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
        ctx: Context,
        comment: Annotated[str, Field(max_length=MAX_COMMENT_CHARS)] = "",
    ) -> DecisionResult:
        """Decide as yourself: only an authenticated user with the 'approver' role (or listed in
        HITL_APPROVER_USERNAMES) who is not the requester, with a token that is unscoped or
        carries the hitl:decide scope. Any rejection is final; approval needs
        required_approvers distinct people. Repeating the same decision changes nothing; a
        conflicting one after the approval closed is refused. Check context_sha256 (or read
        the context with get_approval) before approving."""
        info = call_info(ctx)
        try:
            voter = _authenticated_approver(settings, info, "mcp")
        except NotAllowedError as exc:
            await service.refused(
                approval_id,
                Voter(info.username or "anonymous", "mcp", "unauthenticated"),
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
            voter, local_session = _client_voter(settings, call_info(ctx))
            approval = await service.check_voter(approval_id, voter, local_session=local_session)
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return Elicit(_elicitation_message(approval), DecisionForm)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    async def decide_in_client(
        approval_id: str,
        answer: Annotated[ElicitationResult[DecisionForm], Resolve(ask_in_client)],
        ctx: Context,
    ) -> ClientDecisionResult:
        """Ask the person at this MCP client to approve or reject, through elicitation.

        Needs a client that declares form elicitation. With a bearer token the answer is a vote
        by the caller (an approver, not the requester, token unscoped or with hitl:decide).
        Without one it counts only over stdio, as HITL_LOCAL_APPROVER, and never from the
        client session that made the request; over HTTP an unauthenticated answer never
        counts. Declining or cancelling records nothing and leaves the approval pending.
        """
        try:
            voter, local_session = _client_voter(settings, call_info(ctx))
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
            # Checked again here, not only before asking: over the 2026 protocol the answer
            # arrives in a new request whose sender is whoever sends it, and the local approver
            # may have been disabled while the question was open.
            await service.check_voter(
                approval_id, voter, local_session=local_session, require_pending=False
            )
            decision: Literal["approved", "rejected"] = (
                "approved" if answer.data.decision == "approve" else "rejected"
            )
            outcome = await service.vote(
                approval_id, voter, decision, answer.data.comment[:MAX_COMMENT_CHARS]
            )
        except PromptCraftError as exc:
            raise _tool_error(exc) from exc
        return ClientDecisionResult(
            answer="accept",
            vote_recorded=outcome.recorded,
            approval=ApprovalView.of(outcome.approval),
            message=outcome.message,
        )
