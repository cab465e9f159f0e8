"""Durable deliveries: one store record per channel message, retried with backoff.

A delivery is written to the store before anything is sent, so a restart resumes
it. Any worker may send it after claiming it with compare-and-set (a lease), so
replicas never send the same attempt twice. Each delivery runs in its own task
with its own time limit: a slow or failing channel never holds up the others.
Every attempt lands in the approval's audit trail.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import anyio
import anyio.abc

from mcp_servers.human_in_loop import _channels
from mcp_servers.human_in_loop._audit import append_audit
from mcp_servers.human_in_loop._model import APPROVAL_KIND, Approval
from mcp_servers.human_in_loop._settings import HumanInLoopSettings
from promptcraft.errors import PromptCraftError, RecordExistsError, VersionConflictError
from promptcraft.store import JSONObject, Record, StateStore

logger = logging.getLogger(__name__)

DELIVERY_KIND = "hitl_delivery"
_LEASE_MARGIN_SECONDS = 5.0
MAX_IN_FLIGHT = 256  # deliveries one worker runs at once; the rest start on the next ticks

# Workers parked on a store, so an enqueue anywhere in this process wakes them at once
# (other processes' workers pick deliveries up at their next sweep tick).
_wakers: weakref.WeakKeyDictionary[StateStore, set[anyio.Event]] = weakref.WeakKeyDictionary()


def kick(store: StateStore) -> None:
    for event in list(_wakers.get(store, ())):
        event.set()


async def park(store: StateStore, seconds: float) -> None:
    """Wait until :func:`kick` or ``seconds`` pass."""
    event = anyio.Event()
    _wakers.setdefault(store, set()).add(event)
    try:
        with anyio.move_on_after(seconds):
            await event.wait()
    finally:
        waiting = _wakers.get(store)
        if waiting is not None:
            waiting.discard(event)


@dataclass(frozen=True, slots=True)
class Delivery:
    key: str
    approval_id: str
    channel: str
    purpose: str
    target: str
    event_type: str
    attempts: int
    next_attempt_at: float
    lease_until: float

    @staticmethod
    def from_record(record: Record) -> Delivery:
        d = record.data
        return Delivery(
            key=record.key,
            approval_id=str(d["approval_id"]),
            channel=str(d["channel"]),
            purpose=str(d["purpose"]),
            target=str(d.get("target") or ""),
            event_type=str(d.get("event_type") or ""),
            attempts=int(d.get("attempts") or 0),  # type: ignore[arg-type]
            next_attempt_at=float(d.get("next_attempt_at") or 0),  # type: ignore[arg-type]
            lease_until=float(d.get("lease_until") or 0),  # type: ignore[arg-type]
        )


def delivery_key(
    approval_id: str, channel: str, purpose: str, target: str = "", tag: str = ""
) -> str:
    digest = hashlib.sha256(f"{target}|{tag}".encode()).hexdigest()[:16]
    return f"{approval_id}.{channel}.{purpose}.{digest}"


class Outbox:
    def __init__(
        self,
        store: StateStore,
        settings: HumanInLoopSettings,
        public_url: str,
        link_key: Callable[[], Awaitable[bytes]],
    ) -> None:
        self._store = store
        self._settings = settings
        self._public_url = public_url
        self._link_key = link_key
        self._inflight: set[str] = set()

    async def enqueue(
        self,
        approval: Approval,
        ttl: timedelta,
        channel: str,
        purpose: str,
        *,
        target: str = "",
        event_type: str = "",
        tag: str = "",
    ) -> None:
        key = delivery_key(approval.approval_id, channel, purpose, target, tag)
        data: JSONObject = {
            "approval_id": approval.approval_id,
            "channel": channel,
            "purpose": purpose,
            "target": target,
            "event_type": event_type,
            "attempts": 0,
            "next_attempt_at": 0.0,
            "lease_until": 0.0,
        }
        try:
            await self._store.create(DELIVERY_KIND, key, data, ttl=ttl)
        except RecordExistsError:
            return
        kick(self._store)

    # -- the worker side -------------------------------------------------------------------

    async def dispatch_due(self, tg: anyio.abc.TaskGroup) -> int:
        """Claim due deliveries (every one, up to MAX_IN_FLIGHT running at once) and start
        them in ``tg``; returns how many started. Deliveries left over start on later ticks."""
        started = 0
        now = time.time()
        for record in await self._store.list_records(DELIVERY_KIND, limit=sys.maxsize):
            if len(self._inflight) >= MAX_IN_FLIGHT:
                break
            delivery = Delivery.from_record(record)
            if delivery.key in self._inflight:
                continue
            if delivery.next_attempt_at > now or delivery.lease_until > now:
                continue
            lease = now + self._settings.delivery_timeout_seconds + _LEASE_MARGIN_SECONDS
            claimed = {**record.data, "attempts": delivery.attempts + 1, "lease_until": lease}
            try:
                await self._store.update(
                    DELIVERY_KIND, record.key, claimed, expected_version=record.version
                )
            except (VersionConflictError, PromptCraftError):
                continue  # another worker claimed it, or it is gone
            self._inflight.add(delivery.key)
            tg.start_soon(self._attempt, delivery, delivery.attempts + 1)
            started += 1
        return started

    async def _attempt(self, delivery: Delivery, attempt: int) -> None:
        try:
            await self._attempt_inner(delivery, attempt)
        except Exception:
            logger.exception("delivery %s failed unexpectedly", delivery.key)
        finally:
            self._inflight.discard(delivery.key)

    async def _attempt_inner(self, delivery: Delivery, attempt: int) -> None:
        record = await self._store.get(APPROVAL_KIND, delivery.approval_id)
        if record is None:
            await self._store.delete(DELIVERY_KIND, delivery.key)
            return
        approval = Approval.from_json(record.data)
        ttl = _remaining_ttl(record)
        detail: dict[str, str | int] = {"purpose": delivery.purpose, "attempt": attempt}
        if delivery.target:
            detail["target"] = delivery.target
        if delivery.purpose == "request" and approval.final and delivery.channel != "webhook":
            await self._store.delete(DELIVERY_KIND, delivery.key)
            await append_audit(
                self._store,
                approval.approval_id,
                ttl,
                "delivery_skipped",
                actor="system",
                channel=delivery.channel,
                reason=f"the approval was already {approval.status}",
                **detail,
            )
            return
        try:
            with anyio.fail_after(self._settings.delivery_timeout_seconds):
                await self._send(delivery, approval)
        except Exception as exc:
            error = str(exc) if not isinstance(exc, TimeoutError) else "timed out"
            await self._failed(
                delivery, approval=approval, ttl=ttl, attempt=attempt, error=error, detail=detail
            )
            return
        await self._store.delete(DELIVERY_KIND, delivery.key)
        await append_audit(
            self._store,
            approval.approval_id,
            ttl,
            "delivery_sent",
            actor="system",
            channel=delivery.channel,
            **detail,
        )

    async def _send(self, delivery: Delivery, approval: Approval) -> None:
        settings = self._settings
        if delivery.channel == "webhook":
            if not settings.webhook_enabled:
                raise RuntimeError("the webhook channel is no longer configured")
            await _channels.send_webhook(settings, approval, delivery.event_type, delivery.key)
        elif delivery.channel == "slack":
            if not settings.slack_enabled:
                raise RuntimeError("the Slack channel is no longer configured")
            await _channels.send_slack(settings, approval, delivery.purpose)
        elif delivery.channel == "email":
            if not settings.email_enabled:
                raise RuntimeError("the e-mail channel is no longer configured")
            await _channels.send_email(
                settings, approval, delivery.target, self._public_url, self._link_key
            )
        else:
            raise RuntimeError(f"unknown channel {delivery.channel!r}")

    async def _failed(
        self,
        delivery: Delivery,
        *,
        approval: Approval,
        ttl: timedelta,
        attempt: int,
        error: str,
        detail: dict[str, str | int],
    ) -> None:
        settings = self._settings
        if attempt >= settings.delivery_max_attempts:
            await self._store.delete(DELIVERY_KIND, delivery.key)
            await append_audit(
                self._store,
                approval.approval_id,
                ttl,
                "delivery_abandoned",
                actor="system",
                channel=delivery.channel,
                error=error,
                **detail,
            )
            logger.warning("gave up on %s after %d attempts: %s", delivery.key, attempt, error)
            return
        delay = min(
            settings.delivery_backoff_seconds * 2 ** (attempt - 1),
            settings.delivery_backoff_max_seconds,
        )
        next_at = time.time() + delay

        def change(record: Record) -> JSONObject:
            return {
                **record.data,
                "next_attempt_at": next_at,
                "lease_until": 0.0,
                "last_error": error,
            }

        from promptcraft.store import modify

        await modify(self._store, DELIVERY_KIND, delivery.key, change)
        await append_audit(
            self._store,
            approval.approval_id,
            ttl,
            "delivery_failed",
            actor="system",
            channel=delivery.channel,
            error=error,
            retry_in_seconds=round(delay, 3),
            **detail,
        )
        logger.info("delivery %s failed (attempt %d): %s", delivery.key, attempt, error)


def _remaining_ttl(record: Record) -> timedelta:
    if record.expires_at is None:
        return timedelta(days=30)
    from promptcraft.store._codec import now

    return max(record.expires_at - now(), timedelta(minutes=1))
