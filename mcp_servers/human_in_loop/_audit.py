"""The audit trail of one approval: an append-only event stream ``approval:{id}``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from promptcraft.store import JSONObject, JSONValue, StateStore


def stream_of(approval_id: str) -> str:
    return f"approval:{approval_id}"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    at: datetime
    type: str
    actor: str
    channel: str
    detail: JSONObject


async def append_audit(
    store: StateStore,
    approval_id: str,
    ttl: timedelta,
    type_: str,
    *,
    actor: str | None,
    channel: str,
    **detail: JSONValue,
) -> None:
    data: JSONObject = {"type": type_, "actor": actor or "anonymous", "channel": channel}
    data.update(detail)
    await store.append_event(stream_of(approval_id), data, ttl=ttl)


async def read_audit(store: StateStore, approval_id: str) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    after = 0
    while True:
        batch = await store.read_events(stream_of(approval_id), after=after, limit=1000)
        for event in batch:
            data = dict(event.data)
            type_ = str(data.pop("type", ""))
            actor = str(data.pop("actor", ""))
            channel = str(data.pop("channel", ""))
            events.append(AuditEvent(event.seq, event.at, type_, actor, channel, data))
        if len(batch) < 1000:
            return events
        after = batch[-1].seq
