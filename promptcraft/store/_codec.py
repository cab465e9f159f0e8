"""Serialisation shared by the backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from promptcraft.store._types import JSONObject


def dumps(data: JSONObject) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def loads(raw: str | bytes) -> JSONObject:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("stored value is not a JSON object")
    return value


def now() -> datetime:
    return datetime.now(UTC)


def from_ts(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def expiry_ts(ttl: timedelta | None, at: float) -> float | None:
    return None if ttl is None else at + ttl.total_seconds()


def check_name(what: str, value: str) -> None:
    if not value or (":" in value and what == "kind"):
        raise ValueError(f"{what} must be a non-empty string without ':' (got {value!r})")
