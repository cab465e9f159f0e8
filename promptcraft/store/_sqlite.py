"""SQLite backend: the embedded default. One file, WAL mode, safe under several processes.

Writers serialise on SQLite's own lock (``BEGIN IMMEDIATE``), so compare-and-set
holds across processes. Wake-ups: writes in this process wake local waiters at
once; writes from other processes are seen through ``PRAGMA data_version``,
which waiters poll every few milliseconds (SQLite has no notifications).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import anyio
import anyio.to_thread

from promptcraft.errors import (
    RecordExistsError,
    RecordNotFoundError,
    StoreUnavailableError,
    VersionConflictError,
)
from promptcraft.store._codec import dumps, expiry_ts, from_ts, loads
from promptcraft.store._protocol import KEEP_TTL
from promptcraft.store._types import Event, JSONObject, RateLimitResult, Record, StoreHealth

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
    updated_at REAL NOT NULL, expires_at REAL, PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, updated_at);
CREATE TABLE IF NOT EXISTS events (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL, data TEXT NOT NULL,
    expires_at REAL, PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, window_start REAL NOT NULL, count INTEGER NOT NULL
);
"""

_POLL_INTERVAL = 0.01
_SETTING = "PROMPTCRAFT_STORE_URL (or PROMPTCRAFT_DATA_DIR)"


def _record(kind: str, key: str, row: tuple[str, int, float, float | None]) -> Record:
    data, version, updated_at, expires_at = row
    updated = from_ts(updated_at)
    assert updated is not None
    return Record(kind, key, loads(data), version, updated, from_ts(expires_at))


class SQLiteStore:
    """State store in one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._waiters: dict[tuple[str, str], set[anyio.Event]] = {}
        self._data_version = 0
        self._checked_at = 0.0
        self._check_lock = anyio.Lock()

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is None:
            await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(
                f"cannot open the SQLite store at {self.path}: {exc}. "
                f"Fix or move the file, or point {_SETTING} elsewhere."
            ) from exc
        self._conn = conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._lock:
                conn.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                conn = self._conn
                if conn is None:
                    raise StoreUnavailableError(
                        "the SQLite store is not open; call open() (or use it as a context manager)"
                    )
                try:
                    return fn(conn)
                except sqlite3.DatabaseError as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise StoreUnavailableError(
                        f"the SQLite store at {self.path} failed: {exc}. "
                        f"Check the file and {_SETTING}."
                    ) from exc

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def health(self) -> StoreHealth:
        try:
            await self.open()
            await self._run(lambda c: c.execute("SELECT count(*) FROM records").fetchone())
        except StoreUnavailableError as exc:
            return StoreHealth(False, self.backend, str(exc))
        return StoreHealth(True, self.backend, str(self.path))

    # -- records ---------------------------------------------------------------------

    async def create(
        self, kind: str, key: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Record:
        raw = dumps(data)

        def tx(c: sqlite3.Connection) -> Record:
            at = time.time()
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(
                    "DELETE FROM records WHERE kind=? AND key=? AND expires_at <= ?",
                    (kind, key, at),
                )
                c.execute(
                    "INSERT INTO records VALUES (?,?,?,?,?,?)",
                    (kind, key, raw, 1, at, expiry_ts(ttl, at)),
                )
            except sqlite3.IntegrityError:
                c.execute("ROLLBACK")
                raise RecordExistsError(f"{kind}:{key} already exists") from None
            c.execute("COMMIT")
            return _record(kind, key, (raw, 1, at, expiry_ts(ttl, at)))

        record = await self._run(tx)
        self._notify(kind, key)
        return record

    async def get(self, kind: str, key: str) -> Record | None:
        def q(c: sqlite3.Connection) -> Record | None:
            row = c.execute(
                "SELECT data, version, updated_at, expires_at FROM records "
                "WHERE kind=? AND key=? AND (expires_at IS NULL OR expires_at > ?)",
                (kind, key, time.time()),
            ).fetchone()
            return None if row is None else _record(kind, key, row)

        return await self._run(q)

    async def update(
        self,
        kind: str,
        key: str,
        data: JSONObject,
        *,
        expected_version: int,
        ttl: timedelta | None = KEEP_TTL,
    ) -> Record:
        raw = dumps(data)

        def tx(c: sqlite3.Connection) -> Record:
            at = time.time()
            c.execute("BEGIN IMMEDIATE")
            row = c.execute(
                "SELECT version, expires_at FROM records "
                "WHERE kind=? AND key=? AND (expires_at IS NULL OR expires_at > ?)",
                (kind, key, at),
            ).fetchone()
            if row is None:
                c.execute("ROLLBACK")
                raise RecordNotFoundError(f"{kind}:{key} does not exist or has expired")
            version, expires_at = row
            if version != expected_version:
                c.execute("ROLLBACK")
                raise VersionConflictError(kind, key, expected_version, version)
            if ttl is not KEEP_TTL:
                expires_at = expiry_ts(ttl, at)
            c.execute(
                "UPDATE records SET data=?, version=?, updated_at=?, expires_at=? "
                "WHERE kind=? AND key=?",
                (raw, version + 1, at, expires_at, kind, key),
            )
            c.execute("COMMIT")
            return _record(kind, key, (raw, version + 1, at, expires_at))

        record = await self._run(tx)
        self._notify(kind, key)
        return record

    async def delete(self, kind: str, key: str) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            return c.execute("DELETE FROM records WHERE kind=? AND key=?", (kind, key)).rowcount > 0

        deleted = await self._run(tx)
        self._notify(kind, key)
        return deleted

    async def list_records(self, kind: str, *, limit: int = 1000) -> list[Record]:
        def q(c: sqlite3.Connection) -> list[Record]:
            rows = c.execute(
                "SELECT key, data, version, updated_at, expires_at FROM records "
                "WHERE kind=? AND (expires_at IS NULL OR expires_at > ?) "
                "ORDER BY updated_at LIMIT ?",
                (kind, time.time(), limit),
            ).fetchall()
            return [_record(kind, r[0], r[1:]) for r in rows]

        return await self._run(q)

    async def purge_expired(self) -> int:
        """Delete expired records, events and counters; returns how many rows went."""

        def tx(c: sqlite3.Connection) -> int:
            at = time.time()
            n = c.execute("DELETE FROM records WHERE expires_at <= ?", (at,)).rowcount
            n += c.execute("DELETE FROM events WHERE expires_at <= ?", (at,)).rowcount
            return n

        return await self._run(tx)

    # -- wake-ups --------------------------------------------------------------------

    def _notify(self, kind: str, key: str) -> None:
        for event in self._waiters.get((kind, key), ()):
            event.set()

    def _notify_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def _check_other_processes(self) -> None:
        """Wake every waiter if another connection committed since the last look."""
        async with self._check_lock:
            if time.monotonic() - self._checked_at < _POLL_INTERVAL / 2:
                return
            version = await self._run(lambda c: int(c.execute("PRAGMA data_version").fetchone()[0]))
            self._checked_at = time.monotonic()
            if version != self._data_version:
                self._data_version = version
                self._notify_all()

    async def wait_for_change(
        self, kind: str, key: str, *, after_version: int, timeout: float
    ) -> Record | None:
        deadline = time.monotonic() + timeout
        slot = (kind, key)
        while True:
            event = anyio.Event()
            self._waiters.setdefault(slot, set()).add(event)
            try:
                record = await self.get(kind, key)
                if record is None or record.version > after_version:
                    return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                with anyio.move_on_after(min(_POLL_INTERVAL, remaining)):
                    await event.wait()
                if not event.is_set():
                    await self._check_other_processes()
            finally:
                waiters = self._waiters.get(slot)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[slot]

    # -- events ----------------------------------------------------------------------

    async def append_event(
        self, stream: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Event:
        raw = dumps(data)

        def tx(c: sqlite3.Connection) -> Event:
            at = time.time()
            c.execute("BEGIN IMMEDIATE")
            (last,) = c.execute(
                "SELECT coalesce(max(seq), 0) FROM events WHERE stream=?", (stream,)
            ).fetchone()
            c.execute(
                "INSERT INTO events VALUES (?,?,?,?,?)",
                (stream, last + 1, at, raw, expiry_ts(ttl, at)),
            )
            c.execute("COMMIT")
            when = from_ts(at)
            assert when is not None
            return Event(stream, last + 1, when, data)

        event = await self._run(tx)
        self._notify("events", stream)
        return event

    async def read_events(self, stream: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        def q(c: sqlite3.Connection) -> list[Event]:
            rows = c.execute(
                "SELECT seq, at, data FROM events WHERE stream=? AND seq > ? "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq LIMIT ?",
                (stream, after, time.time(), limit),
            ).fetchall()
            events = []
            for seq, at, data in rows:
                when = from_ts(at)
                assert when is not None
                events.append(Event(stream, seq, when, loads(data)))
            return events

        return await self._run(q)

    # -- rate limits -----------------------------------------------------------------

    async def hit_rate_limit(self, key: str, *, limit: int, window: timedelta) -> RateLimitResult:
        seconds = window.total_seconds()

        def tx(c: sqlite3.Connection) -> tuple[int, float]:
            at = time.time()
            start = math.floor(at / seconds) * seconds
            c.execute("BEGIN IMMEDIATE")
            c.execute(
                "INSERT INTO counters VALUES (?,?,1) ON CONFLICT(key) DO UPDATE SET "
                "count = CASE WHEN window_start = excluded.window_start THEN count + 1 ELSE 1 END, "
                "window_start = excluded.window_start",
                (key, start),
            )
            (count,) = c.execute("SELECT count FROM counters WHERE key=?", (key,)).fetchone()
            c.execute("COMMIT")
            return count, start + seconds

        count, reset = await self._run(tx)
        reset_at = from_ts(reset)
        assert reset_at is not None
        return RateLimitResult(count <= limit, count, limit, max(limit - count, 0), reset_at)
