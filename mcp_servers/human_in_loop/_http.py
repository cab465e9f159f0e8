"""HTTP endpoints people reach from outside MCP: Slack buttons and e-mail links.

- ``POST /hitl/slack/interactions``: Slack's interactivity request URL. Verified with the
  signing secret (five-minute window, constant-time compare); only allow-listed Slack user
  IDs may decide.
- ``GET /hitl/email/confirm?token=...``: a confirmation page. Opening a link decides nothing
  (mail scanners pre-fetch links).
- ``POST /hitl/email/decide``: the confirmation; votes, then spends the single-use token
  (a vote that fails leaves the link usable).

Every Slack user ID and e-mail address is resolved to a PromptCraft user through
HITL_IDENTITY_MAP (the server does not start otherwise); that user must exist and be active,
and is who the vote counts for.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mcp_servers.human_in_loop._channels import (
    APPROVE_ACTION,
    CONFIRM_PATH,
    DECIDE_PATH,
    REJECT_ACTION,
    SLACK_PATH,
    SLACK_TOO_LONG,
    slack_shows_everything,
)
from mcp_servers.human_in_loop._model import Approval, Decision, Voter, iso
from mcp_servers.human_in_loop._service import ApprovalService
from mcp_servers.human_in_loop._signing import LinkClaims, verify_link_token, verify_slack_request
from mcp_servers.human_in_loop.errors import (
    ApprovalNotFoundError,
    DecisionConflictError,
    LinkTokenError,
    NotAllowedError,
    SlackRequestError,
)
from promptcraft.errors import PromptCraftError, RecordExistsError

logger = logging.getLogger(__name__)

LINK_USED_KIND = "hitl_link_used"
_MAX_BODY = 64 * 1024
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


async def _body(request: Request) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            return None
    return body


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "pre{background:#f4f4f4;padding:1rem;overflow:auto}button{font-size:1.1rem;padding:.5rem 1.5rem}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_PAGE_HEADERS)


def _summary_html(approval: Approval) -> str:
    e = html.escape
    impact = str(approval.context.get("impact_assessment") or "not given")
    rows = [
        ("Step", approval.step_description),
        ("Type", approval.approval_type.replace("_", " ")),
        ("Impact", impact),
        ("Risk", f"{approval.risk_level} (score {approval.risk_score})"),
        ("Workflow", approval.workflow_id),
        ("Requested by", approval.requested_by or "anonymous"),
        ("Approvals", f"{approval.approvals} of {approval.required_approvers}"),
        ("Status", approval.status),
        ("Deadline", iso(approval.expires_at) or ""),
        ("Context SHA-256", approval.context_sha256),
    ]
    table = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    code = approval.context.get("generated_code")
    code_html = ""
    if isinstance(code, str) and code:
        # All of it (bounded by HITL_MAX_CODE_CHARS): this page is where people approve.
        code_html = f"<h2>Generated code ({len(code):,} characters)</h2><pre>{e(code)}</pre>"
    return f"<table>{table}</table>{code_html}"


class _Endpoints:
    def __init__(self, service: ApprovalService) -> None:
        self.service = service
        self.settings = service.settings

    def voter(self, channel: str, via: str) -> Voter:
        """The person behind a channel identity (HITL_IDENTITY_MAP); unresolved never counts."""
        identity = self.settings.resolve_identity(via)
        return Voter(identity or via, channel, via, resolved=identity is not None)

    async def precheck(
        self, approval_id: str, voter: Voter, decision: Decision, *, slack: bool
    ) -> None:
        """Channel rules before a vote (refusals audited): Slack approves only what it showed
        in full, and the mapped user must exist and be active."""
        try:
            if slack and decision == "approved":
                approval = await self.service.get(approval_id)
                if not slack_shows_everything(approval):
                    raise NotAllowedError(SLACK_TOO_LONG)
            if voter.resolved:
                await self.service.require_person(voter.identity)
        except NotAllowedError as exc:
            await self.service.refused(approval_id, voter, decision, str(exc))
            raise

    def still_listed(self, claims: LinkClaims) -> bool:
        return claims.approver.removeprefix("email:") in self.settings.email_approvers

    async def slack_interactions(self, request: Request) -> Response:
        if self.settings.slack_signing_secret is None:
            return JSONResponse(
                {"error": "Slack is not configured here (HITL_SLACK_SIGNING_SECRET)"}, 404
            )
        body = await _body(request)
        if body is None:
            return JSONResponse({"error": "request body too large"}, 413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify_slack_request(
                self.settings.slack_signing_secret.get_secret_value(), headers, body
            )
        except SlackRequestError as exc:
            logger.warning("refused a Slack request: %s", exc)
            return JSONResponse({"error": str(exc)}, 401)
        try:
            payload: Any = json.loads(parse_qs(body.decode())["payload"][0])
            kind = payload.get("type")
            user_id = str(payload["user"]["id"])
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            return JSONResponse({"error": "expected a form field 'payload' with Slack's JSON"}, 400)
        if kind != "block_actions":
            return Response(status_code=200)
        actions = payload.get("actions") or []
        action = actions[0] if actions and isinstance(actions[0], dict) else {}
        decisions: dict[str, Decision] = {APPROVE_ACTION: "approved", REJECT_ACTION: "rejected"}
        decision = decisions.get(str(action.get("action_id")))
        approval_id = str(action.get("value") or "")
        if decision is None or not approval_id:
            return Response(status_code=200)  # some other app's button
        voter = self.voter("slack", f"slack:{user_id}")
        if user_id not in self.settings.slack_allowed_user_ids:
            reason = f"Slack user {user_id} is not in HITL_SLACK_ALLOWED_USER_IDS"
            await self.service.refused(approval_id, voter, decision, reason)
            return JSONResponse(
                {"response_type": "ephemeral", "text": f"Not allowed: {reason}."}, 403
            )
        response_url = payload.get("response_url")
        try:
            await self.precheck(approval_id, voter, decision, slack=True)
            outcome = await self.service.vote(
                approval_id,
                voter,
                decision,
                "",
                slack_response_url=response_url if isinstance(response_url, str) else None,
            )
        except ApprovalNotFoundError as exc:
            return JSONResponse({"response_type": "ephemeral", "text": str(exc)}, 404)
        except NotAllowedError as exc:
            return JSONResponse({"response_type": "ephemeral", "text": str(exc)}, 403)
        except DecisionConflictError as exc:
            return JSONResponse({"response_type": "ephemeral", "text": str(exc)}, 409)
        return JSONResponse(
            {
                "response_type": "ephemeral",
                "text": outcome.message,
                "status": outcome.approval.status,
                "vote_recorded": outcome.recorded,
            }
        )

    async def email_confirm(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        try:
            claims = verify_link_token(await self.service.link_key(), token)
            approval = await self.service.get(claims.approval_id)
        except (LinkTokenError, ApprovalNotFoundError) as exc:
            return _page("This link cannot be used", f"<p>{html.escape(str(exc))}</p>", 400)
        if await self.service.store.get(LINK_USED_KIND, claims.nonce) is not None:
            return _page(
                "This link was already used",
                f"<p>Approval {html.escape(approval.approval_id)} is {approval.status}.</p>",
                409,
            )
        if approval.final:
            return _page(
                f"Already {approval.status}",
                f"<p>Nothing left to decide.</p>{_summary_html(approval)}",
                409,
            )
        verb = "Approve" if claims.decision == "approved" else "Reject"
        form = (
            f"<form method='post' action='{DECIDE_PATH}'>"
            f"<input type='hidden' name='token' value='{html.escape(token, quote=True)}'>"
            "<p><label>Comment (optional)<br>"
            "<textarea name='comment' rows='3' cols='60' maxlength='5000'></textarea></label></p>"
            f"<p><button type='submit'>Confirm: {verb.lower()}</button></p></form>"
        )
        who = html.escape(claims.approver.removeprefix("email:"))
        return _page(
            f"{verb} this request?",
            f"<p>You are deciding as <b>{who}</b>. Nothing has been decided yet.</p>"
            f"{_summary_html(approval)}{form}",
        )

    async def email_decide(self, request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _page("Request too large", "<p>The form was too large.</p>", 413)
        form = parse_qs(body.decode(errors="replace"))
        token = (form.get("token") or [""])[0]
        comment = (form.get("comment") or [""])[0][:5000]
        try:
            claims = verify_link_token(await self.service.link_key(), token)
        except LinkTokenError as exc:
            return _page("This link cannot be used", f"<p>{html.escape(str(exc))}</p>", 400)
        voter = self.voter("email", claims.approver)
        if not self.still_listed(claims):
            reason = f"{claims.approver} is no longer in HITL_EMAIL_APPROVERS"
            await self.service.refused(claims.approval_id, voter, claims.decision, reason)
            return _page("Not allowed", f"<p>{html.escape(reason)}.</p>", 403)
        used = _used_page()
        try:
            if await self.service.store.get(LINK_USED_KIND, claims.nonce) is not None:
                return used
            await self.precheck(claims.approval_id, voter, claims.decision, slack=False)
            outcome = await self.service.vote(claims.approval_id, voter, claims.decision, comment)
            # Spent only once the vote is in: a failed attempt leaves the link usable. Two
            # simultaneous confirmations are one person's same decision, counted once anyway.
            ttl = timedelta(seconds=max(60, claims.expires_at - _now())) + timedelta(hours=1)
            await self.service.store.create(
                LINK_USED_KIND,
                claims.nonce,
                {"approval_id": claims.approval_id, "approver": claims.approver},
                ttl=ttl,
            )
        except RecordExistsError:
            return used
        except ApprovalNotFoundError as exc:
            return _page("Unknown approval", f"<p>{html.escape(str(exc))}</p>", 404)
        except NotAllowedError as exc:
            return _page("Not allowed", f"<p>{html.escape(str(exc))}</p>", 403)
        except DecisionConflictError as exc:
            return _page("Not recorded", f"<p>{html.escape(str(exc))}</p>", 409)
        except PromptCraftError as exc:
            return _page("Try again later", f"<p>{html.escape(str(exc))}</p>", 503)
        approval = outcome.approval
        return _page(
            "Thank you" if outcome.recorded else "Nothing changed",
            f"<p>{html.escape(outcome.message)}</p>{_summary_html(approval)}",
        )


def _used_page() -> HTMLResponse:
    return _page(
        "This link was already used",
        "<p>Each e-mail link decides once. Open the approval's status elsewhere.</p>",
        409,
    )


def create_routes(service: ApprovalService) -> list[Route]:
    endpoints = _Endpoints(service)
    return [
        Route(SLACK_PATH, endpoints.slack_interactions, methods=["POST"]),
        Route(CONFIRM_PATH, endpoints.email_confirm, methods=["GET"]),
        Route(DECIDE_PATH, endpoints.email_decide, methods=["POST"]),
    ]


def _now() -> float:
    import time

    return time.time()
