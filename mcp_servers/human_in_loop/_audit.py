"""The audit trail of one approval: an append-only event stream ``approval:{id}``.

Events written as a transition's follow-up carry a ``key`` (``vote:0``, ``status:approved``):
whoever redoes a follow-up skips keys already in the trail, and the trail shows each key once
(the first), so even two processes redoing the same follow-up at once never duplicate one.
"""

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
    key: str | None = None


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
    """Append one event; a ``key`` in ``detail`` is the event's key (see above), not shown."""
    data: JSONObject = {"type": type_, "actor": actor or "anonymous", "channel": channel}
    data.update(detail)
    await store.append_event(stream_of(approval_id), data, ttl=ttl)


async def read_audit(store: StateStore, approval_id: str) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    keys: set[str] = set()
    after = 0
    while True:
        batch = await store.read_events(stream_of(approval_id), after=after, limit=1000)
        for event in batch:
            data = dict(event.data)
            type_ = str(data.pop("type", ""))
            actor = str(data.pop("actor", ""))
            channel = str(data.pop("channel", ""))
            key = data.pop("key", None)
            if isinstance(key, str):
                if key in keys:
                    continue
                keys.add(key)
            else:
                key = None
            events.append(AuditEvent(event.seq, event.at, type_, actor, channel, data, key))
        if len(batch) < 1000:
            return events
        after = batch[-1].seq
