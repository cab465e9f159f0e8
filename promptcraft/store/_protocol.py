"""What every PromptCraft service keeps, and the contract both backends honour."""

from __future__ import annotations

import enum
from datetime import timedelta
from types import TracebackType
from typing import Protocol, Self

from promptcraft.store._types import Event, JSONObject, RateLimitResult, Record, StoreHealth


class KeepTTL(enum.Enum):
    KEEP = "keep"


KEEP_TTL = KeepTTL.KEEP
"""Pass as ``ttl`` to :meth:`StateStore.update` to keep the record's current expiry."""


class StateStore(Protocol):
    """Versioned records, append-only event streams, rate-limit counters and wake-ups.

    Records are addressed by ``kind`` and ``key`` (in Redis, the key ``{kind}:{key}``,
    so workflows live at ``workflow:{id}``). Updates are compare-and-set on the
    version, so two writers never lose each other's change.
    """

    backend: str

    async def open(self) -> None:
        """Connect and prepare; idempotent. Raises StoreUnavailableError naming the setting."""

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def health(self) -> StoreHealth: ...

    async def create(
        self, kind: str, key: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Record:
        """Store a new record at version 1; RecordExistsError if the key is taken."""

    async def get(self, kind: str, key: str) -> Record | None: ...

    async def update(
        self,
        kind: str,
        key: str,
        data: JSONObject,
        *,
        expected_version: int,
        ttl: timedelta | KeepTTL | None = KEEP_TTL,
    ) -> Record:
        """Replace the data if the record is still at ``expected_version``.

        Raises VersionConflictError if it moved on, RecordNotFoundError if it is gone.
        ``ttl`` None removes the expiry; KEEP_TTL keeps it.
        """

    async def delete(self, kind: str, key: str) -> bool: ...

    async def list_records(self, kind: str, *, limit: int = 1000) -> list[Record]:
        """Live records of one kind, oldest update first."""

    async def wait_for_change(
        self, kind: str, key: str, *, after_version: int, timeout: float
    ) -> Record | None:
        """Return the record as soon as its version exceeds ``after_version``.

        Returns at once if it already does; None when ``timeout`` seconds pass first
        or the record does not exist.
        """

    async def append_event(
        self, stream: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Event:
        """Append to a stream. ``ttl`` is the whole stream's, renewed by every append
        (None: the stream does not expire); an expired stream starts again at seq 1."""

    async def read_events(self, stream: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        """Events with ``seq > after``, in order."""

    async def purge_expired(self) -> int:
        """Drop what has expired but still takes space; returns how many entries went."""

    async def hit_rate_limit(self, key: str, *, limit: int, window: timedelta) -> RateLimitResult:
        """Count one hit in the current fixed window, atomically, and say if it is allowed.

        Raises ValueError for a window under 1 ms or a limit under 1.
        """
