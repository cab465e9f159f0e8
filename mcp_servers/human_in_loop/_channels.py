"""What each channel sends, and sending it: signed webhooks, Slack Block Kit, e-mail.

Senders raise :class:`DeliveryError` on any failure; the outbox records it and retries.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import urlsplit

import aiosmtplib
import httpx2

from mcp_servers.human_in_loop._model import Approval, iso
from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from mcp_servers.human_in_loop._signing import issue_link_token, standard_webhook_headers
from mcp_servers.human_in_loop.errors import DeliveryError
from promptcraft.store import JSONObject, JSONValue

logger = logging.getLogger(__name__)

APPROVE_ACTION = "hitl_approve"
REJECT_ACTION = "hitl_reject"
CONFIRM_PATH = "/hitl/email/confirm"
DECIDE_PATH = "/hitl/email/decide"
SLACK_PATH = "/hitl/slack/interactions"

_STATUS_WORDS = {
    "pending": "Waiting for a decision",
    "approved": "Approved",
    "rejected": "Rejected",
    "timeout": "Timed out (rejected)",
    "cancelled": "Cancelled",
}
_USER_AGENT = "PromptCraft-HITL/0.1"
SLACK_TEXT_LIMIT = 2900  # Slack allows 3000 characters per section text
SLACK_CODE_LIMIT = 2500


def summary(approval: Approval) -> JSONObject:
    """The approval as other systems see it (webhook events)."""
    return {
        "approval_id": approval.approval_id,
        "workflow_id": approval.workflow_id,
        "status": approval.status,
        "approval_type": approval.approval_type,
        "step_description": approval.step_description,
        "risk_level": approval.risk_level,
        "risk_score": approval.risk_score,
        "required_approvers": approval.required_approvers,
        "approvals": approval.approvals,
        "auto_approved": approval.auto_approved,
        "requested_by": approval.requested_by,
        "created_at": iso(approval.created_at),
        "expires_at": iso(approval.expires_at),
        "decided_at": iso(approval.decided_at),
        "cancel_reason": approval.cancel_reason,
        "context_sha256": approval.context_sha256,
        "code_sha256": approval.code_sha256,
        "votes": [
            {"approver": v.approver, "decision": v.decision, "channel": v.channel, "at": iso(v.at)}
            for v in approval.votes
        ],
    }


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/…``: webhook and response URLs are credentials; keep the host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "(a URL)"


async def _post_json(
    url: str, body: bytes, headers: dict[str, str], timeout: float, what: str
) -> None:
    try:
        async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False) as http:
            response = await http.post(
                url,
                content=body,
                headers={"content-type": "application/json", "user-agent": _USER_AGENT, **headers},
            )
    except httpx2.HTTPError as exc:
        detail = str(exc).replace(url, redact_url(url))
        raise DeliveryError(f"{what}: {type(exc).__name__}: {detail}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"{what}: HTTP {response.status_code} {response.text[:200]!r}")


# -- webhook ---------------------------------------------------------------------------------


async def send_webhook(
    settings: HumanInLoopSettings, approval: Approval, event_type: str, msg_id: str
) -> None:
    assert settings.notification_webhook is not None
    now = time.time()
    payload = {
        "type": event_type,
        "timestamp": iso(_utc(now)),
        "data": summary(approval),
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = standard_webhook_headers(settings.webhook_key(), msg_id, body, now)
    await _post_json(
        settings.notification_webhook,
        body,
        headers,
        settings.delivery_timeout_seconds,
        "the webhook receiver refused the event",
    )


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# -- Slack -----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int = SLACK_TEXT_LIMIT) -> str:
    escaped = _escape(text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def _fits(text: str, limit: int = SLACK_TEXT_LIMIT) -> bool:
    return len(_escape(text)) <= limit


def _slack_code(code: str) -> tuple[str, bool]:
    """The code block for Slack, and whether it shows all of the code."""
    escaped = _escape(code.replace("```", "``\u200b`"))
    if len(escaped) <= SLACK_CODE_LIMIT:
        return f"```{escaped}```", True
    cut = escaped[:SLACK_CODE_LIMIT]
    amp = cut.rfind("&", len(cut) - 5)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # never split an &lt; entity
    return f"```{cut}\n… (truncated: {len(code):,} characters in all)```", False


def slack_shows_everything(approval: Approval) -> bool:
    """True when the Slack message shows the whole step, impact and code, so a click on
    Approve there approves what the person saw. Otherwise Slack offers only Reject."""
    impact = approval.context.get("impact_assessment")
    code = approval.context.get("generated_code")
    return (
        _fits(approval.step_description)
        and (not isinstance(impact, str) or _fits(impact))
        and (not isinstance(code, str) or _slack_code(code)[1])
    )


SLACK_TOO_LONG = (
    "This request is too long to show in Slack in full, so it cannot be approved here: review "
    "the whole request and approve on the e-mail confirmation page, or through MCP (get_approval, "
    "then respond_to_approval or decide_in_client). You can reject here."
)


def _slack_date(approval: Approval) -> str:
    ts = int(approval.expires_at.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} {{time}}|{iso(approval.expires_at)}>"


def _slack_fields(approval: Approval) -> list[JSONObject]:
    return [
        {"type": "mrkdwn", "text": f"*Workflow:*\n{_mrkdwn(approval.workflow_id, 200)}"},
        {"type": "mrkdwn", "text": f"*Type:*\n{approval.approval_type}"},
        {
            "type": "mrkdwn",
            "text": f"*Risk:*\n{approval.risk_level} (score {approval.risk_score})",
        },
        {
            "type": "mrkdwn",
            "text": f"*Approvals:*\n{approval.approvals} of {approval.required_approvers}",
        },
        {
            "type": "mrkdwn",
            "text": f"*Requested by:*\n{_mrkdwn(approval.requested_by or 'anonymous', 200)}",
        },
        {"type": "mrkdwn", "text": f"*Deadline:*\n{_slack_date(approval)}"},
    ]


def _who(approval: Approval) -> str:
    names = []
    for vote in approval.votes:
        if vote.via.startswith("slack:"):
            names.append(f"<@{vote.via.removeprefix('slack:')}> ({vote.decision})")
        else:
            names.append(f"{_mrkdwn(vote.approver, 100)} ({vote.decision}, {vote.channel})")
    return ", ".join(names)


def slack_message(approval: Approval) -> JSONObject:
    """The Block Kit message for an approval in its current state; buttons while pending."""
    status = _STATUS_WORDS.get(approval.status, approval.status)
    title = f"Approval needed: {approval.approval_type.replace('_', ' ')}"
    if approval.final:
        title = f"{status}: {approval.approval_type.replace('_', ' ')}"
    blocks: list[JSONValue] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": list(_slack_fields(approval))},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Step:*\n{_mrkdwn(approval.step_description)}"},
        },
    ]
    impact = approval.context.get("impact_assessment")
    if isinstance(impact, str) and impact:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Impact:*\n{_mrkdwn(impact)}"}}
        )
    code = approval.context.get("generated_code")
    if isinstance(code, str) and code and not approval.final:
        block, _complete = _slack_code(code)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": block}})
    if approval.final:
        line = f"*{status}*"
        if approval.votes:
            line += f" — {_who(approval)}"
        if approval.cancel_reason:
            line += f" — {_mrkdwn(approval.cancel_reason, 500)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
    else:
        if approval.votes:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*So far:* {_who(approval)}"},
                }
            )
        buttons: list[JSONValue] = []
        if slack_shows_everything(approval):
            buttons.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "action_id": APPROVE_ACTION,
                    "value": approval.approval_id,
                }
            )
        else:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{SLACK_TOO_LONG}*"}}
            )
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "action_id": REJECT_ACTION,
                "value": approval.approval_id,
            }
        )
        blocks.append(
            {"type": "actions", "block_id": f"hitl:{approval.approval_id}", "elements": buttons}
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f"Approval `{approval.approval_id}` · context SHA-256 "
                        f"`{approval.context_sha256}`"
                    ),
                }
            ],
        }
    )
    return {"text": f"{title} — {approval.step_description[:200]}", "blocks": list(blocks)}


async def send_slack(settings: HumanInLoopSettings, approval: Approval, purpose: str) -> None:
    """A new message for a request; for updates and outcomes, replace the clicked message
    through Slack's response_url when one is known (incoming webhooks cannot edit), and
    otherwise post the new state as a new message."""
    assert settings.slack_webhook_url is not None
    message = slack_message(approval)
    timeout = settings.delivery_timeout_seconds
    if purpose != "request" and approval.slack_response_url:
        body = json.dumps({**message, "replace_original": True}).encode()
        try:
            await _post_json(
                approval.slack_response_url, body, {}, timeout, "Slack refused the update"
            )
            return
        except DeliveryError:
            if purpose == "update":
                raise
            logger.info("response_url update failed; posting the outcome as a new message")
    body = json.dumps(message).encode()
    await _post_json(
        settings.slack_webhook_url.get_secret_value(),
        body,
        {},
        timeout,
        "the Slack incoming webhook refused the message",
    )


# -- e-mail ----------------------------------------------------------------------------------


def _email_text(approval: Approval, approve_url: str, reject_url: str) -> tuple[str, str]:
    impact = str(approval.context.get("impact_assessment") or "not given")
    lines = [
        f"An approval is needed: {approval.approval_type.replace('_', ' ')}",
        "",
        f"Step: {approval.step_description}",
        f"Impact: {impact}",
        f"Risk: {approval.risk_level} (score {approval.risk_score})",
        f"Workflow: {approval.workflow_id}",
        f"Requested by: {approval.requested_by or 'anonymous'}",
        f"Approvals needed: {approval.required_approvers}",
        f"Deadline: {iso(approval.expires_at)} (no decision by then counts as rejection)",
        f"Context SHA-256: {approval.context_sha256}",
        "",
        f"Approve: {approve_url}",
        f"Reject:  {reject_url}",
        "",
        "Each link opens a confirmation page that shows the whole request, generated code "
        "included; nothing is decided until you confirm there.",
        f"Approval id: {approval.approval_id}",
    ]
    text = "\n".join(lines)
    e = html.escape
    code = approval.context.get("generated_code")
    code_html = ""
    if isinstance(code, str) and code:
        shown = (
            code
            if len(code) <= 20_000
            else code[:20_000] + "\n… (truncated here; the confirmation page shows all of it)"
        )
        code_html = f"<h3>Generated code</h3><pre>{e(shown)}</pre>"
    page = (
        "<html><body>"
        f"<h2>Approval needed: {e(approval.approval_type.replace('_', ' '))}</h2>"
        f"<p><b>Step:</b> {e(approval.step_description)}</p>"
        f"<p><b>Impact:</b> {e(impact)}</p>"
        f"<p><b>Risk:</b> {e(approval.risk_level)} (score {approval.risk_score})</p>"
        f"<p><b>Workflow:</b> {e(approval.workflow_id)}<br>"
        f"<b>Requested by:</b> {e(approval.requested_by or 'anonymous')}<br>"
        f"<b>Deadline:</b> {e(iso(approval.expires_at) or '')}</p>"
        f'<p><a href="{e(approve_url)}">Approve…</a> &nbsp; <a href="{e(reject_url)}">Reject…</a></p>'
        "<p>Each link opens a confirmation page; nothing is decided until you confirm there.</p>"
        f"{code_html}</body></html>"
    )
    return text, page


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def send_email(
    settings: HumanInLoopSettings,
    approval: Approval,
    recipient: str,
    public_url: str,
    link_key: Callable[[], Awaitable[bytes]],
) -> None:
    key = await link_key()
    expires = int(approval.expires_at.timestamp())
    approver = f"email:{recipient}"
    approve, _ = issue_link_token(key, approval.approval_id, approver, "approved", expires)
    reject, _ = issue_link_token(key, approval.approval_id, approver, "rejected", expires)
    approve_url = f"{public_url}{CONFIRM_PATH}?token={approve}"
    reject_url = f"{public_url}{CONFIRM_PATH}?token={reject}"
    text, page = _email_text(approval, approve_url, reject_url)

    message = EmailMessage()
    assert settings.email_from is not None
    message["From"] = settings.email_from
    message["To"] = recipient
    message["Subject"] = _one_line(
        f"[PromptCraft] Approval needed ({approval.risk_level}): {approval.step_description}"
    )
    message["Message-ID"] = make_msgid(idstring=secrets.token_hex(8), domain="promptcraft.hitl")
    message["X-PromptCraft-Approval"] = approval.approval_id
    message.set_content(text)
    message.add_alternative(page, subtype="html")

    start_tls: bool | None = {"auto": None, "required": True, "off": False}[settings.email_starttls]
    if settings.email_use_tls:
        start_tls = False
    password = (
        settings.email_smtp_password.get_secret_value() if settings.email_smtp_password else None
    )
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.email_smtp_host,
            port=settings.email_smtp_port,
            username=settings.email_smtp_username,
            password=password,
            use_tls=settings.email_use_tls,
            start_tls=start_tls,
            cert_bundle=str(settings.email_ca_bundle) if settings.email_ca_bundle else None,
            timeout=settings.delivery_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(
            f"SMTP {settings.email_smtp_host}: {type(exc).__name__}: {exc}"
        ) from exc
