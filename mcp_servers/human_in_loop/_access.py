"""Who is calling, over what, and what they may see.

- ``respond_to_approval`` and ``decide_in_client`` with a bearer token: an approver (role
  ``approver`` or HITL_APPROVER_USERNAMES) who is not the requester; a token that carries
  scopes must carry ``hitl:decide`` (tokens without scopes, and API keys, are full-access).
- ``decide_in_client`` without a token: only over a local transport (stdio, or an in-process
  client: no HTTP request behind the message), only when HITL_LOCAL_APPROVER names the person
  at the client, never when that person is the requester, and never from the client session
  that made the request. Over HTTP an unauthenticated answer never counts, also with
  PROMPTCRAFT_MCP_REQUIRE_AUTH=false.
- Reading (get_approval, await_decision, list_pending): the requester, approvers and admins;
  without a token, over a local transport with HITL_LOCAL_APPROVER set, the caller reads as
  that approver; otherwise an unauthenticated caller sees only unauthenticated requests.
  Only approvers and admins see approvers' e-mail addresses in the audit trail.
- Cancelling: the requester or an admin; an unauthenticated request only from the client
  connection that made it (a key with a connection part, see below).

A *session* is what a client keeps between calls: over the session-based protocol versions
(2025-xx) the MCP connection, over the 2026 single-exchange protocol nothing (each call is a
fresh connection). Over stdio the server process serves exactly one client, so a local
session key always names the process; calls from one process without a connection identity
count as one session (the safe direction: they may not vote on each other's requests).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_servers.human_in_loop._model import Approval
from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from promptcraft.identity.mcp_auth import Caller, current_caller

APPROVER_ROLE = "approver"
ADMIN_ROLE = "admin"
DECIDE_SCOPE = "hitl:decide"
PROCESS_SESSION = secrets.token_hex(8)
_STATE_KEY = "hitl_session"
# Audit-detail fields whose whole value is a channel address (``ann@corp.test``,
# ``email:ann@corp.test``): masked by where they are, whatever the address looks like.
_ADDRESS_FIELDS = frozenset({"target", "via"})
# Anything shaped like an address in free text (errors, reasons): a quoted local part, or one of
# any characters but spaces and separators (Unicode and apostrophes included), then a domain.
_EMAIL = re.compile(
    r"""(?:"[^"\r\n]*"|[^\s@<>()\[\],;:"'`][^\s@<>()\[\],;:"`]*)@([^\s@<>()\[\],;:"'`]+)"""
)


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The current MCP call: the authenticated caller (if any), whether it came over a local
    transport, and its session key (None when the transport keeps no session)."""

    caller: Caller | None
    local: bool
    session: str | None

    @property
    def username(self) -> str | None:
        return self.caller.username if self.caller is not None else None


def session_key(ctx: Any) -> tuple[bool, str | None]:
    """(local transport?, session key) of the call behind ``ctx`` (an MCPServer Context)."""
    request_context = ctx.request_context
    local = request_context.request is None
    connection_id: str | None = None
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        # Session-based protocol: the connection persists across calls and has scratch state.
        connection = getattr(request_context.session, "_connection", None)
        state = getattr(connection, "state", None)
        if isinstance(state, dict):
            connection_id = state.setdefault(_STATE_KEY, secrets.token_hex(8))
    if local:
        key = f"local:{PROCESS_SESSION}"
        return True, key if connection_id is None else f"{key}:{connection_id}"
    return False, None if connection_id is None else f"http:{PROCESS_SESSION}:{connection_id}"


def call_info(ctx: Any) -> CallInfo:
    local, session = session_key(ctx)
    return CallInfo(current_caller(), local, session)


def identifies_a_session(key: str | None) -> bool:
    """True when ``key`` names one client connection, not just a process."""
    return key is not None and key.count(":") >= 2


def same_local_client(requested_session: str | None, current: str | None) -> bool:
    """Could the local client making this call be the one that made the request?"""
    if requested_session is None or current is None:
        return False
    if not (requested_session.startswith("local:") and current.startswith("local:")):
        return False
    requested, now = requested_session.split(":"), current.split(":")
    if requested[1] != now[1]:
        return False  # another process: over stdio, another client
    if len(requested) < 3 or len(now) < 3:
        return True  # same process, and one side has no connection to tell them apart
    return requested[2] == now[2]


def is_approver(settings: HumanInLoopSettings, caller: Caller) -> bool:
    return APPROVER_ROLE in caller.roles or caller.username in settings.approver_usernames


def is_admin(caller: Caller | None) -> bool:
    return caller is not None and ADMIN_ROLE in caller.roles


def privileged(settings: HumanInLoopSettings, info: CallInfo) -> bool:
    """Approvers and admins (and, locally, the configured local approver) see everything."""
    if info.caller is not None:
        return is_admin(info.caller) or is_approver(settings, info.caller)
    return info.local and bool(settings.local_approver)


def may_read(settings: HumanInLoopSettings, info: CallInfo, approval: Approval) -> bool:
    if privileged(settings, info):
        return True
    return info.username == approval.requested_by


class EmailMask:
    """Hides approvers' e-mail addresses in a JSON-like value, keeping the domain
    (``***@corp.test``): the whole value of fields that hold an address (``target``, ``via``),
    every configured address (HITL_EMAIL_APPROVERS, HITL_IDENTITY_MAP) wherever it appears,
    and anything else shaped like an address."""

    def __init__(self, settings: HumanInLoopSettings) -> None:
        known = {a for a in settings.email_approvers if "@" in a}
        known |= {k.removeprefix("email:") for k in settings.identity_map if k.startswith("email:")}
        self._known = (
            re.compile("|".join(re.escape(a) for a in sorted(known, key=len, reverse=True)), re.I)
            if known
            else None
        )

    def __call__(self, value: Any, field: str | None = None) -> Any:
        if isinstance(value, str):
            if field in _ADDRESS_FIELDS:
                return _mask_address(value)
            if self._known is not None:
                value = self._known.sub(lambda m: _mask_address(m.group(0)), value)
            return _EMAIL.sub(lambda m: f"***@{m.group(1)}", value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        return value


def _mask_address(value: str) -> str:
    """``ann@corp.test`` -> ``***@corp.test``, ``email:ann@corp.test`` -> ``email:***@corp.test``;
    a value without ``@`` (``slack:U0123``, ``user:ann``) stays as it is."""
    prefix = "email:" if value.startswith("email:") else ""
    local, at, domain = value.removeprefix(prefix).rpartition("@")
    return f"{prefix}***@{domain}" if at and local else value
