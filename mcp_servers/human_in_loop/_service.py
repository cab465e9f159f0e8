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
from typing import TypeVar, cast

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
    FollowUp,
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
from promptcraft.errors import (
    PromptCraftError,
    RecordExistsError,
    RecordNotFoundError,
    VersionConflictError,
)
from promptcraft.runtime import Runtime
from promptcraft.store import JSONObject, Record, modify

logger = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_KIND = "hitl_secret"  # noqa: S105 - a record kind, not a secret
MAX_WAIT_SECONDS = 50.0
_CAS_ATTEMPTS = 200
ALL_RECORDS = sys.maxsize  # list_records limit: every live record, never a silent cut
REFUSALS_AUDITED = 30  # vote_refused / elicitation events kept per approval per window
REFUSALS_WINDOW = timedelta(hours=1)
# How long a transition's writer holds its follow-up before anyone else may do it (a few
# store writes; only a writer that died keeps others waiting this long).
FOLLOW_UP_LEASE_SECONDS = 10.0


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
        self,
        approval: Approval,
        type_: str,
        *,
        actor: str | None,
        channel: str,
        key: str | None = None,
        **detail: object,
    ) -> None:
        if key is not None:
            detail["key"] = key
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

        What an earlier transition still owes is done first, and an overdue approval is
        expired first (and the effects of that run), so no step ever decides past the
        deadline or ahead of the audit trail.
        """
        for _ in range(_CAS_ATTEMPTS):
            approval, version = await self._settle(approval_id, wait=True)
            now = utcnow()
            expired = apply_expiry(approval, now)
            if expired is not None:
                await self._commit(
                    approval, expired, version, actor="system", channel="deadline", how="read"
                )
                continue
            updated, result = step(approval, now)
            if updated is approval:
                return approval, result
            committed = await self._commit(approval, updated, version, actor=actor, channel=channel)
            if committed is not None:
                return committed, result
        raise DecisionConflictError(
            f"approval {approval_id} changed under every one of {_CAS_ATTEMPTS} attempts; try again"
        )

    async def _write(self, approval: Approval, version: int) -> int | None:
        """Compare-and-set: the new version, or None when the approval moved on meanwhile."""
        try:
            record = await self.store.update(
                APPROVAL_KIND, approval.approval_id, approval.to_json(), expected_version=version
            )
        except VersionConflictError:
            return None
        return record.version

    # -- what a transition owes -----------------------------------------------------------
    #
    # A transition is written together with its follow-up (``FollowUp``: audit events and
    # deliveries), and the follow-up is cleared with a second write once done. A writer that
    # fails in between gives up its lease; one that dies keeps it until it runs out. Then the
    # next decision, read or sweep redoes the follow-up: audit events carry keys and are
    # written once, deliveries have fixed keys in the outbox.

    async def _commit(
        self,
        before: Approval,
        after: Approval,
        version: int,
        *,
        actor: str | None,
        channel: str,
        how: str = "",
    ) -> Approval | None:
        """Write ``after`` with the follow-up it owes, then do it; None if the approval moved on
        since ``version``. The transition stands once written: if only its follow-up fails, it
        is left to the next reader, decision or sweep."""
        owed = FollowUp(
            id=uuid.uuid4().hex,
            votes_from=len(before.votes),
            status_from=before.status,
            actor=actor,
            channel=channel,
            how=how,
            lease_until=time.time() + FOLLOW_UP_LEASE_SECONDS,
        )
        await self._mark_for_sweeper(after.approval_id, owed.id)
        marked = after.with_follow_up(owed)
        if await self._write(marked, version) is None:
            return None
        try:
            return await self._follow_up(marked)
        except PromptCraftError as exc:
            logger.warning(
                "approval %s is %s, but writing its audit events and deliveries failed (%s); "
                "the next read, decision or sweep does it",
                after.approval_id,
                after.status,
                exc,
            )
            return marked

    async def _settle(self, approval_id: str, *, wait: bool) -> tuple[Approval, int]:
        """The approval once no follow-up is owed: one whose writer failed or died (its lease
        is over) is taken over and done here; one still in its writer's hands is waited for
        (``wait``, at most the rest of its lease) or returned as it is."""
        for _ in range(_CAS_ATTEMPTS):
            approval, version = await self._load(approval_id)
            owed = approval.follow_up
            if owed is None:
                return approval, version
            held_for = owed.lease_until - time.time()
            if held_for > 0:
                if not wait:
                    return approval, version
                await self.store.wait_for_change(
                    APPROVAL_KIND, approval_id, after_version=version, timeout=held_for
                )
                continue
            lease = time.time() + FOLLOW_UP_LEASE_SECONDS
            claimed = approval.with_follow_up(replace(owed, lease_until=lease))
            if await self._write(claimed, version) is not None:
                await self._follow_up(claimed)
        raise DecisionConflictError(
            f"approval {approval_id} changed under every one of {_CAS_ATTEMPTS} attempts; try again"
        )

    async def _follow_up(self, approval: Approval) -> Approval:
        """Do the follow-up ``approval`` owes (this process holds its lease), then clear it; on
        failure give up the lease, so whoever comes next redoes it at once."""
        owed = approval.follow_up
        assert owed is not None
        try:
            await self._audit_transition(approval, owed)
            await self._start_deliveries(approval, owed)
        except Exception:
            with suppress(Exception):
                await self._replace_follow_up(approval, owed, replace(owed, lease_until=0.0))
            raise
        done = await self._replace_follow_up(approval, owed, None)
        if done.final:
            await self.store.delete(PENDING_KIND, done.approval_id)
        else:
            await self._unmark_for_sweeper(done.approval_id, owed.id)
        return done

    async def _replace_follow_up(
        self, approval: Approval, owed: FollowUp, new: FollowUp | None
    ) -> Approval:
        """Replace (None: clear) the follow-up ``owed`` if the approval still owes it."""

        def change(record: Record) -> JSONObject | None:
            current = Approval.from_json(record.data)
            if current.follow_up is None or current.follow_up.id != owed.id:
                return None  # done, or taken over and done, by someone else
            return current.with_follow_up(new).to_json()

        try:
            record = await modify(self.store, APPROVAL_KIND, approval.approval_id, change)
        except RecordNotFoundError:
            record = None
        if record is None:
            return approval.with_follow_up(None)  # expired from the store meanwhile
        return Approval.from_json(record.data)

    async def _audit_transition(self, approval: Approval, owed: FollowUp) -> None:
        """The transition's audit events, each written once (keyed by vote index and status)."""
        written = {e.key for e in await self.events(approval.approval_id)}
        for n, vote in enumerate(approval.votes[owed.votes_from :], start=owed.votes_from):
            if f"vote:{n}" not in written:
                await self._audit(
                    approval,
                    "vote",
                    key=f"vote:{n}",
                    actor=vote.approver,
                    channel=vote.channel,
                    decision=vote.decision,
                    comment=vote.comment,
                    via=vote.via,
                )
        key = f"status:{approval.status}"
        if approval.status == owed.status_from or key in written:
            return
        if approval.status == "timeout":
            await self._audit(
                approval, "expired", key=key, actor="system", channel=owed.how or owed.channel
            )
        elif approval.status == "cancelled":
            await self._audit(
                approval,
                "cancelled",
                key=key,
                actor=owed.actor,
                channel=owed.channel,
                reason=approval.cancel_reason,
            )
        else:
            await self._audit(
                approval, approval.status, key=key, actor=owed.actor, channel=owed.channel
            )

    async def _start_deliveries(self, approval: Approval, owed: FollowUp) -> None:
        """The outcome's notifications, or the Slack message's update after a new vote."""
        if approval.final:
            await self._announce_outcome(approval)
        elif (
            len(approval.votes) > owed.votes_from
            and "slack" in approval.channels
            and self.settings.slack_enabled
        ):
            await self.outbox.enqueue(
                approval, self._ttl(approval), "slack", "update", tag=str(len(approval.votes))
            )

    async def _mark_for_sweeper(self, approval_id: str, follow_up_id: str) -> None:
        """Before a transition is written, point the sweeper at the approval (its pending index
        entry), so a follow-up its writer leaves owed is found before the deadline."""
        mark: JSONObject = {"id": follow_up_id, "at": time.time()}
        with suppress(RecordNotFoundError):  # closed meanwhile: nothing to point at
            await modify(
                self.store, PENDING_KIND, approval_id, lambda r: {**r.data, "follow_up": mark}
            )

    async def _unmark_for_sweeper(self, approval_id: str, follow_up_id: str) -> None:
        def change(record: Record) -> JSONObject | None:
            mark = record.data.get("follow_up")
            if not isinstance(mark, dict) or mark.get("id") != follow_up_id:
                return None  # another transition's mark, or none
            return {k: v for k, v in record.data.items() if k != "follow_up"}

        with suppress(RecordNotFoundError):
            await modify(self.store, PENDING_KIND, approval_id, change)

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
            if await self._write(marked, version) is not None:
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
        """The approval, expired first if its deadline has passed (and with what an earlier
        transition's writer left owed done first)."""
        approval, _version = await self._settle(approval_id, wait=False)
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
        if approval.final and approval.follow_up is None:
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

    async def require_person(self, identity: str, *, setting: str = "HITL_IDENTITY_MAP") -> None:
        """The user a channel identity stands for (through ``setting``) must exist and be
        active at the moment of the vote."""
        user = await self.runtime.users.get(identity)
        if user is None or not user.active:
            state = "does not exist" if user is None else "is disabled"
            raise NotAllowedError(
                f"the PromptCraft user {identity!r} (from {setting}) {state}, so this vote "
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
        HITL_LOCAL_APPROVER; it may not be the session that made the request, and that user
        must exist and be active."""
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
        if local_session is not None:
            await self.require_person(voter.identity, setting="HITL_LOCAL_APPROVER")
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
                approval, version = await self._settle(approval_id, wait=True)
            except ApprovalNotFoundError:
                return None
            expired = apply_expiry(approval, utcnow())
            if expired is None:
                return approval if approval.final else None
            committed = await self._commit(
                approval, expired, version, actor="system", channel="deadline", how=how
            )
            if committed is not None:
                return committed
        return None

    # -- background work ------------------------------------------------------------------

    async def sweep(self) -> int:
        """Expire every overdue approval, do the follow-ups that failed or dead writers left
        owed, and drop index entries of closed or vanished approvals."""
        expired = 0
        now = time.time()
        for record in await self.store.list_records(PENDING_KIND, limit=ALL_RECORDS):
            deadline = record.data.get("deadline")
            overdue = isinstance(deadline, int | float) and deadline <= now
            found = record.data.get("follow_up")
            mark: JSONObject = found if isinstance(found, dict) else {}
            if not overdue and not mark:
                continue
            try:
                approval, _ = await self._settle(record.key, wait=False)
            except ApprovalNotFoundError:
                await self.store.delete(PENDING_KIND, record.key)
                continue
            if approval.follow_up is not None:
                continue  # still in its writer's hands: look again on the next tick
            if approval.final:
                await self.store.delete(PENDING_KIND, record.key)
            elif overdue:
                result = await self.expire(record.key, how="sweeper")
                if result is None:
                    await self.store.delete(PENDING_KIND, record.key)
                elif result.status == "timeout":
                    expired += 1
            elif now - float(cast(float, mark.get("at") or 0)) > FOLLOW_UP_LEASE_SECONDS:
                # Marked by a transition that was never written (another one won the race).
                await self._unmark_for_sweeper(record.key, str(mark.get("id")))
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
