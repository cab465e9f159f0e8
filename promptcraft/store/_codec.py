"""Serialisation and name checks shared by the backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from promptcraft.store._types import JSONObject

RESERVED_KIND = "pc"


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


def check_kind(kind: str) -> None:
    """Kinds are ':'-free so ``{kind}:{key}`` is unambiguous; ``pc`` is kept for internal keys."""
    if not kind or ":" in kind or kind == RESERVED_KIND:
        raise ValueError(
            f"record kind {kind!r} is not allowed: use a non-empty name without ':' other than 'pc'"
        )


def check_key(what: str, key: str) -> None:
    if not key:
        raise ValueError(f"{what} must be a non-empty string")


def window_ms(window: timedelta, limit: int) -> int:
    """The rate-limit window in whole milliseconds, refusing values that make no sense."""
    ms = int(window.total_seconds() * 1000)
    if ms <= 0 or limit < 1:
        raise ValueError(
            "a rate limit needs a window of at least 1 ms and a limit of at least 1 "
            f"(got window={window}, limit={limit})"
        )
    return ms
