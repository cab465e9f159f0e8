"""Signatures: Standard Webhooks (outgoing), Slack (incoming), e-mail decision links."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from mcp_servers.human_in_loop._model import Decision
from mcp_servers.human_in_loop.errors import LinkTokenError, SlackRequestError

SLACK_TOLERANCE_SECONDS = 300
_LINK_CONTEXT = b"promptcraft-hitl-link-v1."


# -- Standard Webhooks ------------------------------------------------------------------


def standard_webhook_headers(key: bytes, msg_id: str, body: bytes, at: float) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (v1, HMAC-SHA256
    over ``id.timestamp.body``), per https://www.standardwebhooks.com/."""
    timestamp = str(int(at))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }


# -- Slack --------------------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack_request(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Slack's request signing: HMAC-SHA256 of ``v0:timestamp:raw body`` with the signing
    secret, a five-minute window, and a constant-time comparison."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp or not signature:
        raise SlackRequestError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SlackRequestError("X-Slack-Request-Timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent) > SLACK_TOLERANCE_SECONDS:
        raise SlackRequestError(
            "the request is older than five minutes (or from the future); replays are refused"
        )
    expected = slack_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SlackRequestError("the Slack signature does not match the body")


# -- e-mail decision links ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkClaims:
    approval_id: str
    approver: str
    decision: Decision
    expires_at: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_link_token(
    key: bytes, approval_id: str, approver: str, decision: Decision, expires_at: int
) -> tuple[str, LinkClaims]:
    """A token bound to one approval, approver, decision and expiry; its nonce makes it
    single-use once the server records it as spent."""
    claims = LinkClaims(approval_id, approver, decision, expires_at, secrets.token_urlsafe(16))
    payload = json.dumps(
        {"a": approval_id, "u": approver, "d": decision, "e": expires_at, "n": claims.nonce},
        separators=(",", ":"),
    ).encode()
    body = _b64(payload)
    mac = hmac.new(key, _LINK_CONTEXT + body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}", claims


def verify_link_token(key: bytes, token: str, *, now: float | None = None) -> LinkClaims:
    body, dot, mac = token.partition(".")
    if not dot or not body or not mac:
        raise LinkTokenError("this link is malformed; open the link from the e-mail as it was sent")
    expected = hmac.new(key, _LINK_CONTEXT + body.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError:
        given = b""
    if not hmac.compare_digest(expected, given):
        raise LinkTokenError(
            "this link's signature is not valid; it was altered or not issued here"
        )
    try:
        data = json.loads(_unb64(body))
    except ValueError:
        raise LinkTokenError(
            "this link is malformed; open the link from the e-mail as it was sent"
        ) from None
    if not isinstance(data, dict) or data.get("d") not in ("approved", "rejected"):
        raise LinkTokenError("this link does not name a decision")
    claims = LinkClaims(
        approval_id=str(data["a"]),
        approver=str(data["u"]),
        decision=cast(Decision, data["d"]),
        expires_at=int(data["e"]),
        nonce=str(data["n"]),
    )
    if (time.time() if now is None else now) >= claims.expires_at:
        raise LinkTokenError("this link has expired with the approval's deadline")
    return claims
