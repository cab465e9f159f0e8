"""Approvals in the state store: create, read, wait, decide, cancel, expire.

Everything lives in the store (records ``approval``, ``approval_pending``,
``approval_idem``, ``hitl_delivery``; events ``approval:{id}``), so any number of
processes can serve the same approvals and a restart loses nothing. Deadlines are
enforced on every read and by the sweeper (:meth:`ApprovalService.run_worker`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

import anyio

from mcp_servers.human_in_loop import _outbox
from mcp_servers.human_in_loop._access import identifies_a_session, same_local_client
from mcp_servers.human_in_loop._audit import AuditEvent, append_audit, read_audit
from mcp_servers.human_in_loop._model import (
    APPROVAL_KIND,
    IDEMPOTENCY_KIND,
    PENDING_KIND,
    Approval,
    Decision,
    VoteOutcome,
    Voter,
    apply_cancel,
    apply_expiry,
    apply_vote,
    canonical_json,
    check_may_vote,
    utcnow,
)
from mcp_servers.human_in_loop._risk import RiskAssessment, assess
from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from mcp_servers.human_in_loop.errors import (
    ApprovalNotFoundError,
    DecisionConflictError,
    InvalidApprovalRequestError,
    NotAllowedError,
)
from promptcraft.errors import PromptCraftError, RecordExistsError, VersionConflictError
from promptcraft.runtime import Runtime
from promptcraft.store import JSONObject

logger = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_KIND = "hitl_secret"  # noqa: S105 - a record kind, not a secret
MAX_WAIT_SECONDS = 50.0
_CAS_ATTEMPTS = 200
ALL_RECORDS = sys.maxsize  # list_records limit: every live record, never a silent cut
REFUSALS_AUDITED = 30  # vote_refused / elicitation events kept per approval per window
REFUSALS_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class NewApproval:
    workflow_id: str
    approval_type: str
    step_description: str
    context: JSONObject
    timeout_minutes: float | None = None
    notification_channels: list[str] | None = None
    required_approvers: int = 1
    auto_approve_threshold: int | None = None
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        canonical = json.dumps(
            {
                "workflow_id": self.workflow_id,
                "approval_type": self.approval_type,
                "step_description": self.step_description,
                "context": self.context,
                "timeout_minutes": self.timeout_minutes,
                "notification_channels": self.notification_channels,
                "required_approvers": self.required_approvers,
                "auto_approve_threshold": self.auto_approve_threshold,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Created:
    approval: Approval
    created: bool
    risk: RiskAssessment | None
    warnings: list[str] = field(default_factory=list)


class ApprovalService:
    def __init__(self, settings: HumanInLoopSettings, runtime: Runtime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = runtime.store
        self._margin = runtime.settings.workflow_ttl
        self._link_key_cache: bytes | None = None
        self.outbox = _outbox.Outbox(
            self.store, settings, runtime.settings.effective_public_url, self.link_key
        )

    # -- helpers -------------------------------------------------------------------------

    def _ttl(self, approval: Approval) -> timedelta:
        """Kept until the workflow-state TTL after the deadline (audit included)."""
        return max(approval.expires_at - utcnow(), timedelta(0)) + self._margin

    async def _audit(
        self, approval: Approval, type_: str, *, actor: str | None, channel: str, **detail: object
    ) -> None:
        await append_audit(
            self.store,
            approval.approval_id,
            self._ttl(approval),
            type_,
            actor=actor,
            channel=channel,
            **detail,  # type: ignore[arg-type]
        )

    async def link_key(self) -> bytes:
        """The key of e-mail links: HITL_LINK_SECRET, or one generated once into the store."""
        if self._link_key_cache is not None:
            return self._link_key_cache
        if self.settings.link_secret is not None:
            key = self.settings.link_secret.get_secret_value().encode()
        else:
            record = await self.store.get(SECRET_KIND, "links")
            if record is None:
                try:
                    record = await self.store.create(
                        SECRET_KIND, "links", {"secret": secrets.token_urlsafe(48)}
                    )
                except RecordExistsError:
                    record = await self.store.get(SECRET_KIND, "links")
            assert record is not None
            key = str(record.data["secret"]).encode()
        self._link_key_cache = key
        return key

    async def _load(self, approval_id: str) -> tuple[Approval, int]:
        record = await self.store.get(APPROVAL_KIND, approval_id)
        if record is None:
            raise ApprovalNotFoundError(
                f"there is no approval {approval_id!r} (it never existed or has expired from the "
                "store); check the id, or list_pending to see open ones"
            )
        return Approval.from_json(record.data), record.version

    async def _transition(
        self,
        approval_id: str,
        step: Callable[[Approval, datetime], tuple[Approval, T]],
        *,
        actor: str | None,
        channel: str,
    ) -> tuple[Approval, T]:
        """Compare-and-set loop: apply ``step`` to the latest state until it sticks.

        An overdue approval is expired first (and the effects of that run), so no step
        ever decides past the deadline.
        """
        for _ in range(_CAS_ATTEMPTS):
            approval, version = await self._load(approval_id)
            now = utcnow()
            expired = apply_expiry(approval, now)
            if expired is not None:
                if await self._write(expired, version):
                    await self._after(
                        approval, expired, actor="system", channel="deadline", how="read"
                    )
                continue
            updated, result = step(approval, now)
            if updated is approval:
                return approval, result
            if await self._write(updated, version):
                await self._after(approval, updated, actor=actor, channel=channel)
                return updated, result
        raise DecisionConflictError(
            f"approval {approval_id} changed under every one of {_CAS_ATTEMPTS} attempts; try again"
        )

    async def _write(self, approval: Approval, version: int) -> bool:
        try:
            await self.store.update(
                APPROVAL_KIND, approval.approval_id, approval.to_json(), expected_version=version
            )
        except VersionConflictError:
            return False
        return True

    async def _after(
        self, before: Approval, after: Approval, *, actor: str | None, channel: str, how: str = ""
    ) -> None:
        """Audit a transition and start what follows from it (index, notifications)."""
        new_votes = after.votes[len(before.votes) :]
        for vote in new_votes:
            await self._audit(
                after,
                "vote",
                actor=vote.approver,
                channel=vote.channel,
                decision=vote.decision,
                comment=vote.comment,
                via=vote.via,
            )
        if after.status != before.status:
            if after.status == "timeout":
                await self._audit(after, "expired", actor="system", channel=how or channel)
            elif after.status == "cancelled":
                await self._audit(
                    after, "cancelled", actor=actor, channel=channel, reason=after.cancel_reason
                )
            else:
                await self._audit(after, after.status, actor=actor, channel=channel)
        if after.final:
            await self.store.delete(PENDING_KIND, after.approval_id)
            await self._announce_outcome(after)
        elif new_votes and "slack" in after.channels and self.settings.slack_enabled:
            await self.outbox.enqueue(
                after, self._ttl(after), "slack", "update", tag=str(len(after.votes))
            )

    async def _announce_outcome(self, approval: Approval) -> None:
        ttl = self._ttl(approval)
        if "webhook" in approval.channels and self.settings.webhook_enabled:
            await self.outbox.enqueue(
                approval, ttl, "webhook", "outcome", event_type=f"approval.{approval.status}"
            )
        if (
            "slack" in approval.channels
            and self.settings.slack_enabled
            and not approval.auto_approved
        ):
            await self.outbox.enqueue(approval, ttl, "slack", "outcome")

    async def _announce_request(self, approval: Approval) -> None:
        ttl = self._ttl(approval)
        for channel in approval.channels:
            if channel == "webhook":
                await self.outbox.enqueue(
                    approval, ttl, "webhook", "request", event_type="approval.requested"
                )
            elif channel == "slack":
                await self.outbox.enqueue(approval, ttl, "slack", "request")
            elif channel == "email":
                for address in self.settings.email_approvers:
                    await self.outbox.enqueue(approval, ttl, "email", "request", target=address)

    # -- create ----------------------------------------------------------------------------

    def _check_size(self, context: JSONObject) -> None:
        settings = self.settings
        code = context.get("generated_code")
        if isinstance(code, str) and len(code) > settings.max_code_chars:
            raise InvalidApprovalRequestError(
                f"context.generated_code is {len(code):,} characters; this server accepts at most "
                f"{settings.max_code_chars:,} (HITL_MAX_CODE_CHARS). Split the step into smaller ones."
            )
        report = context.get("security_report")
        if report is not None:
            size = len(canonical_json(report))
            if size > settings.max_report_bytes:
                raise InvalidApprovalRequestError(
                    f"context.security_report is {size:,} bytes as JSON; this server accepts at "
                    f"most {settings.max_report_bytes:,} (HITL_MAX_REPORT_BYTES). Send only the "
                    "findings (e.g. SARIF runs[].results, or bandit/semgrep results)."
                )

    async def _check_budget(self, requester: str | None) -> None:
        """Per-requester rate limit and cap on open approvals (refused with the setting)."""
        settings = self.settings
        who = requester or "anonymous callers"
        hit = await self.store.hit_rate_limit(
            f"hitl:requests:{requester or ''}",
            limit=settings.requests_per_minute,
            window=timedelta(minutes=1),
        )
        if not hit.allowed:
            wait = max(1, int((hit.reset_at - utcnow()).total_seconds()) + 1)
            raise InvalidApprovalRequestError(
                f"{who} already made {hit.limit} approval requests this minute "
                f"(HITL_REQUESTS_PER_MINUTE={hit.limit}); try again in {wait} s"
            )
        pending = 0
        for record in await self.store.list_records(PENDING_KIND, limit=ALL_RECORDS):
            if record.data.get("requested_by") == requester:
                pending += 1
        if pending >= settings.max_pending_per_requester:
            raise InvalidApprovalRequestError(
                f"{who} already has {pending} pending approvals, the most this server allows "
                f"(HITL_MAX_PENDING_PER_REQUESTER); wait for decisions or cancel some first"
            )

    async def create(
        self, request: NewApproval, requester: str | None, *, session: str | None = None
    ) -> Created:
        settings = self.settings
        self._check_size(request.context)
        timeout = request.timeout_minutes or settings.approval_timeout_minutes
        if timeout > settings.max_timeout_minutes:
            raise InvalidApprovalRequestError(
                f"options.timeout_minutes={timeout} is longer than this server allows "
                f"({settings.max_timeout_minutes}, HITL_MAX_TIMEOUT_MINUTES); ask for less"
            )
        configured = settings.configured_channels
        warnings: list[str] = []
        if request.notification_channels is None:
            channels = list(configured)
        else:
            channels = []
            for name in dict.fromkeys(request.notification_channels):
                if name in configured:
                    channels.append(name)
                else:
                    warnings.append(
                        f"channel {name!r} is not configured on this server and was skipped; "
                        "approvers can still decide through respond_to_approval"
                    )
        fingerprint = request.fingerprint()
        idem_key = None
        if request.idempotency_key:
            idem_key = hashlib.sha256(
                f"{requester or ''}\x00{request.idempotency_key}".encode()
            ).hexdigest()
            existing = await self._replay(idem_key, fingerprint)
            if existing is not None:
                return existing
        await self._check_budget(requester)

        required = max(
            request.required_approvers, settings.minimum_approvers(request.approval_type)
        )
        if required > request.required_approvers:
            warnings.append(
                f"required_approvers raised to {required}, this server's minimum for "
                f"{request.approval_type} (HITL_MIN_APPROVERS)"
            )
        risk = assess(
            settings,
            request.approval_type,
            request.context,
            request.auto_approve_threshold,
            required,
        )
        now = utcnow()
        approval = Approval(
            approval_id=str(uuid.uuid4()),
            workflow_id=request.workflow_id,
            approval_type=request.approval_type,
            step_description=request.step_description,
            context=request.context,
            risk_level=str(request.context.get("risk_level", "critical")),
            risk_score=risk.score,
            required_approvers=required,
            auto_approve_threshold=risk.effective_threshold,
            channels=tuple(channels),
            timeout_minutes=timeout,
            status="approved" if risk.auto_approve else "pending",
            requested_by=requester,
            created_at=now,
            expires_at=now + timedelta(minutes=timeout),
            fingerprint=fingerprint,
            decided_at=now if risk.auto_approve else None,
            auto_approved=risk.auto_approve,
            extra={"announced": False, "requested_session": session},
        )
        ttl = self._ttl(approval)
        record = await self.store.create(
            APPROVAL_KIND, approval.approval_id, approval.to_json(), ttl=ttl
        )
        if idem_key is not None:
            try:
                await self.store.create(
                    IDEMPOTENCY_KIND,
                    idem_key,
                    {"approval_id": approval.approval_id, "fingerprint": fingerprint},
                    ttl=ttl,
                )
            except RecordExistsError:
                # Someone else with the same key got there first: theirs is the approval.
                await self.store.delete(APPROVAL_KIND, approval.approval_id)
                existing = await self._replay(idem_key, fingerprint)
                if existing is None:
                    raise InvalidApprovalRequestError(
                        "the approval for this idempotency key has expired; use a new key"
                    ) from None
                return existing
        await self._audit(
            approval,
            "created",
            actor=requester,
            channel="mcp",
            risk_score=risk.score,
            required_approvers=approval.required_approvers,
            channels=list(channels),
            expires_at=approval.expires_at.isoformat(),
        )
        approval = await self._announce(approval, record.version)
        if risk.auto_approve:
            await self._audit(
                approval, "auto_approved", actor="system", channel="risk", reason=risk.reason
            )
        return Created(approval, True, risk, warnings)

    async def _announce(self, approval: Approval, version: int) -> Approval:
        """Index and notify once per approval, even if the creator died half-way before."""
        if approval.extra.get("announced"):
            return approval
        if approval.status == "pending":
            index: JSONObject = {
                "workflow_id": approval.workflow_id,
                "deadline": approval.expires_at.timestamp(),
                "requested_by": approval.requested_by,
            }
            with suppress(RecordExistsError):
                await self.store.create(
                    PENDING_KIND, approval.approval_id, index, ttl=self._ttl(approval)
                )
            await self._announce_request(approval)
        else:
            await self._announce_outcome(approval)
        marked = replace(approval, extra={**approval.extra, "announced": True})
        for _ in range(_CAS_ATTEMPTS):
            if await self._write(marked, version):
                return marked
            current, version = await self._load(approval.approval_id)
            marked = replace(current, extra={**current.extra, "announced": True})
        return marked

    async def _replay(self, idem_key: str, fingerprint: str) -> Created | None:
        record = await self.store.get(IDEMPOTENCY_KIND, idem_key)
        if record is None:
            return None
        if record.data.get("fingerprint") != fingerprint:
            raise InvalidApprovalRequestError(
                "this idempotency_key was already used for a different request; use a new key "
                "for a new request, or repeat the original request exactly to get its approval"
            )
        approval_id = str(record.data["approval_id"])
        approval, version = await self._load(approval_id)
        approval = await self._announce(approval, version)
        return Created(await self.get(approval_id), False, None)

    # -- read ------------------------------------------------------------------------------

    async def get(self, approval_id: str) -> Approval:
        """The approval, expired first if its deadline has passed."""
        approval, _version = await self._load(approval_id)
        if not approval.overdue(utcnow()):
            return approval
        return await self.expire(approval_id, how="read") or (await self._load(approval_id))[0]

    async def events(self, approval_id: str) -> list[AuditEvent]:
        return await read_audit(self.store, approval_id)

    async def wait(self, approval_id: str, wait_seconds: float) -> Approval:
        """Return as soon as the approval is final, or after ``wait_seconds`` (at most 50)."""
        wait_seconds = max(0.0, min(wait_seconds, MAX_WAIT_SECONDS))
        approval, version = await self._load(approval_id)
        end = time.monotonic() + wait_seconds
        while not approval.final:
            remaining = min(
                end - time.monotonic(), (approval.expires_at - utcnow()).total_seconds()
            )
            if remaining <= 0:
                break
            record = await self.store.wait_for_change(
                APPROVAL_KIND, approval_id, after_version=version, timeout=remaining
            )
            if record is None:
                break
            approval, version = Approval.from_json(record.data), record.version
        if approval.final:
            return approval
        return await self.get(approval_id)

    async def list_pending(
        self,
        workflow_id: str | None = None,
        *,
        all_requesters: bool = True,
        requested_by: str | None = None,
    ) -> list[Approval]:
        """Every pending approval (of one workflow), or only ``requested_by``'s when
        ``all_requesters`` is False."""
        found: list[Approval] = []
        for record in await self.store.list_records(PENDING_KIND, limit=ALL_RECORDS):
            if workflow_id is not None and record.data.get("workflow_id") != workflow_id:
                continue
            indexed = record.data.get("requested_by", requested_by)
            if not all_requesters and indexed != requested_by:
                continue
            try:
                approval = await self.get(record.key)
            except ApprovalNotFoundError:
                await self.store.delete(PENDING_KIND, record.key)
                continue
            if approval.status == "pending" and (
                all_requesters or approval.requested_by == requested_by
            ):
                found.append(approval)
        found.sort(key=lambda a: a.created_at)
        return found

    # -- decide ----------------------------------------------------------------------------

    async def vote(
        self,
        approval_id: str,
        voter: Voter,
        decision: Decision,
        comment: str = "",
        *,
        slack_response_url: str | None = None,
    ) -> VoteOutcome:
        def step(approval: Approval, now: datetime) -> tuple[Approval, VoteOutcome]:
            outcome = apply_vote(approval, voter, decision, comment, now)
            updated = outcome.approval
            if slack_response_url and updated.slack_response_url != slack_response_url:
                updated = replace(updated, slack_response_url=slack_response_url)
            return updated, outcome

        try:
            approval, outcome = await self._transition(
                approval_id, step, actor=voter.identity, channel=voter.channel
            )
        except (NotAllowedError, DecisionConflictError) as exc:
            await self.refused(approval_id, voter, decision, str(exc))
            raise
        return VoteOutcome(approval, outcome.recorded, outcome.message)

    async def _audit_budget(self, approval: Approval) -> bool:
        """Refusals and unanswered questions are audited up to REFUSALS_AUDITED per approval per
        hour, so nobody can grow an approval's audit trail without bound; the first one over
        the budget leaves a note that the rest of the hour is not recorded."""
        hit = await self.store.hit_rate_limit(
            f"hitl:refusals:{approval.approval_id}", limit=REFUSALS_AUDITED, window=REFUSALS_WINDOW
        )
        if hit.allowed:
            return True
        if hit.count == REFUSALS_AUDITED + 1:
            await self._audit(
                approval,
                "audit_suppressed",
                actor="system",
                channel="audit",
                reason=(
                    f"more than {REFUSALS_AUDITED} refused or unanswered decisions within "
                    f"{REFUSALS_WINDOW}; further ones are not recorded until {hit.reset_at.isoformat()}"
                ),
            )
        logger.warning("approval %s: audit budget for refusals spent", approval.approval_id)
        return False

    async def refused(self, approval_id: str, voter: Voter, decision: str, reason: str) -> None:
        """Audit a decision that was not accepted (who tried, through what, and why)."""
        try:
            approval, _ = await self._load(approval_id)
        except ApprovalNotFoundError:
            return
        if not await self._audit_budget(approval):
            return
        await self._audit(
            approval,
            "vote_refused",
            actor=voter.identity,
            channel=voter.channel,
            decision=decision,
            via=voter.via,
            reason=reason,
        )

    async def note(self, approval: Approval, type_: str, voter: Voter) -> None:
        """Audit something a person did that changes no state (e.g. declined to answer)."""
        if not await self._audit_budget(approval):
            return
        await self._audit(
            approval, type_, actor=voter.identity, channel=voter.channel, via=voter.via
        )

    async def require_person(self, identity: str) -> None:
        """A channel identity's user (HITL_IDENTITY_MAP) must exist and be active to vote."""
        user = await self.runtime.users.get(identity)
        if user is None or not user.active:
            state = "does not exist" if user is None else "is disabled"
            raise NotAllowedError(
                f"the PromptCraft user {identity!r} (from HITL_IDENTITY_MAP) {state}, so this vote "
                "cannot count; an admin can add or enable the user"
            )

    async def check_voter(
        self,
        approval_id: str,
        voter: Voter,
        *,
        local_session: str | None = None,
        require_pending: bool = True,
    ) -> Approval:
        """Fail early (before asking a person) if this voter could not decide now.

        ``local_session``: the session key of an unauthenticated local client answering as
        HITL_LOCAL_APPROVER; it may not be the session that made the request."""
        approval = await self.get(approval_id)
        check_may_vote(approval, voter)
        if local_session is not None and same_local_client(
            approval.requested_session, local_session
        ):
            raise NotAllowedError(
                f"approval {approval_id} was requested from this MCP client session, so an answer "
                "given here could come from the requester itself and does not count; the approver "
                "must answer from their own client (another session), Slack, e-mail, or "
                "respond_to_approval with their own token"
            )
        if require_pending and approval.status != "pending":
            raise DecisionConflictError(
                f"approval {approval_id} is already {approval.status}; there is nothing to decide"
            )
        return approval

    async def cancel(
        self,
        approval_id: str,
        actor: str | None,
        reason: str,
        *,
        may_cancel_any: bool,
        session: str | None = None,
    ) -> Approval:
        """The requester or an admin. Without a token nobody is anybody: an unauthenticated
        request can be cancelled only from the client connection that made it."""

        def step(approval: Approval, now: datetime) -> tuple[Approval, None]:
            if may_cancel_any:
                allowed = True
            elif actor is not None:
                allowed = approval.requested_by == actor
            else:
                # Only a connection identity tells clients apart; without one (the 2026
                # single-exchange protocol) nobody can show they made the request.
                allowed = (
                    approval.requested_by is None
                    and identifies_a_session(session)
                    and approval.requested_session == session
                )
            if not allowed:
                hint = (
                    " (an unauthenticated request only from the MCP session that made it, over a "
                    "protocol version with sessions; otherwise let it time out)"
                    if approval.requested_by is None
                    else ""
                )
                raise NotAllowedError(
                    f"only the requester ({approval.requested_by or 'anonymous'}){hint} or an "
                    f"admin may cancel approval {approval_id}"
                )
            return apply_cancel(approval, actor, reason, now), None

        approval, _ = await self._transition(approval_id, step, actor=actor, channel="mcp")
        return approval

    async def expire(self, approval_id: str, *, how: str) -> Approval | None:
        """Expire an overdue approval (CAS); returns it, or None if it was not overdue."""
        for _ in range(_CAS_ATTEMPTS):
            try:
                approval, version = await self._load(approval_id)
            except ApprovalNotFoundError:
                return None
            expired = apply_expiry(approval, utcnow())
            if expired is None:
                return approval if approval.final else None
            if await self._write(expired, version):
                await self._after(approval, expired, actor="system", channel="deadline", how=how)
                return expired
        return None

    # -- background work ------------------------------------------------------------------

    async def sweep(self) -> int:
        """Expire every overdue approval; drop index entries of closed or vanished ones."""
        expired = 0
        now = time.time()
        for record in await self.store.list_records(PENDING_KIND, limit=ALL_RECORDS):
            deadline = record.data.get("deadline")
            if not isinstance(deadline, int | float) or deadline > now:
                continue
            result = await self.expire(record.key, how="sweeper")
            if result is None or result.final:
                await self.store.delete(PENDING_KIND, record.key)
            if result is not None and result.status == "timeout":
                expired += 1
        return expired

    async def run_worker(self) -> None:
        """Sweep deadlines and send deliveries until cancelled; store failures are retried."""
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    await self.sweep()
                    await self.outbox.dispatch_due(tg)
                except PromptCraftError as exc:
                    logger.warning("human-in-loop worker: %s; retrying", exc)
                except Exception:
                    logger.exception("human-in-loop worker tick failed; retrying")
                await _outbox.park(self.store, self.settings.sweep_interval_seconds)

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run_worker)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
