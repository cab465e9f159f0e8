"""Values the state store hands out; plain dataclasses, no backend types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from typing_extensions import TypeAliasType

# TypeAliasType (not a string alias) so pydantic models can use these in annotations too.
JSONValue = TypeAliasType(
    "JSONValue", "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
)
JSONObject = TypeAliasType("JSONObject", "dict[str, JSONValue]")


@dataclass(frozen=True, slots=True)
class Record:
    """One versioned document. ``version`` starts at 1 and rises by one per update."""

    kind: str
    key: str
    data: JSONObject
    version: int
    updated_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of an append-only stream; ``seq`` starts at 1 and has no gaps."""

    stream: str
    seq: int
    at: datetime
    data: JSONObject


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    count: int
    limit: int
    remaining: int
    reset_at: datetime


@dataclass(frozen=True, slots=True)
class StoreHealth:
    ok: bool
    backend: str
    detail: str
