"""SQLite backend: the embedded default. One file, WAL mode, safe under several processes.

Writers serialise on SQLite's own lock (``BEGIN IMMEDIATE``), so compare-and-set
holds across processes. Wake-ups: writes in this process wake local waiters at
once; writes from other processes are noticed by one poller per store, which
reads ``PRAGMA data_version`` every few milliseconds while anyone waits (SQLite
has no notifications) and wakes the waiters to re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from promptcraft.store._codec import (
    check_key,
    check_kind,
    dumps,
    expiry_ts,
    from_ts,
    loads,
    window_ms,
)
from promptcraft.store._protocol import KEEP_TTL, KeepTTL
from promptcraft.store._types import Event, JSONObject, RateLimitResult, Record, StoreHealth
from promptcraft.store._waiters import WaiterTable

logger = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
    updated_at REAL NOT NULL, expires_at REAL, PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, updated_at);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, expires_at REAL
);
CREATE TABLE IF NOT EXISTS events (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, window_start INTEGER NOT NULL, count INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""

_POLL_INTERVAL = 0.01
_SETTING = "PROMPTCRAFT_STORE_URL (or PROMPTCRAFT_DATA_DIR)"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _record(kind: str, key: str, row: tuple[str, int, float, float | None]) -> Record:
    data, version, updated_at, expires_at = row
    updated = from_ts(updated_at)
    assert updated is not None
    return Record(kind, key, loads(data), version, updated, from_ts(expires_at))


def _private(path: Path) -> None:
    """The file holds password and key hashes and users' code: owner only."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            candidate.chmod(0o600)


class SQLiteStore:
    """State store in one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._waiters = WaiterTable()
        self._poller: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is None:
            await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            _private(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailableError(
                f"cannot open the SQLite store at {self.path}: {exc}. "
                f"Fix or move the file, or point {_SETTING} elsewhere."
            ) from exc
        self._conn = conn

    async def aclose(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
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
        return StoreHealth(True, self.backend, "ok")

    # -- records ---------------------------------------------------------------------

    async def create(
        self, kind: str, key: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Record:
        check_kind(kind)
        check_key("key", key)
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
        self._waiters.notify(f"{kind}:{key}")
        return record

    async def get(self, kind: str, key: str) -> Record | None:
        def q(c: sqlite3.Connection) -> Record | None:
            row = c.execute(
                f"SELECT data, version, updated_at, expires_at FROM records "  # noqa: S608 - constant
                f"WHERE kind=? AND key=? AND {_LIVE}",
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
        ttl: timedelta | KeepTTL | None = KEEP_TTL,
    ) -> Record:
        raw = dumps(data)

        def tx(c: sqlite3.Connection) -> Record:
            at = time.time()
            c.execute("BEGIN IMMEDIATE")
            row = c.execute(
                f"SELECT version, expires_at FROM records WHERE kind=? AND key=? AND {_LIVE}",  # noqa: S608
                (kind, key, at),
            ).fetchone()
            if row is None:
                c.execute("ROLLBACK")
                raise RecordNotFoundError(f"{kind}:{key} does not exist or has expired")
            version, expires_at = row
            if version != expected_version:
                c.execute("ROLLBACK")
                raise VersionConflictError(kind, key, expected_version, version)
            if not isinstance(ttl, KeepTTL):
                expires_at = expiry_ts(ttl, at)
            c.execute(
                "UPDATE records SET data=?, version=?, updated_at=?, expires_at=? "
                "WHERE kind=? AND key=?",
                (raw, version + 1, at, expires_at, kind, key),
            )
            c.execute("COMMIT")
            return _record(kind, key, (raw, version + 1, at, expires_at))

        record = await self._run(tx)
        self._waiters.notify(f"{kind}:{key}")
        return record

    async def delete(self, kind: str, key: str) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            return c.execute("DELETE FROM records WHERE kind=? AND key=?", (kind, key)).rowcount > 0

        deleted = await self._run(tx)
        self._waiters.notify(f"{kind}:{key}")
        return deleted

    async def list_records(self, kind: str, *, limit: int = 1000) -> list[Record]:
        def q(c: sqlite3.Connection) -> list[Record]:
            rows = c.execute(
                f"SELECT key, data, version, updated_at, expires_at FROM records "  # noqa: S608
                f"WHERE kind=? AND {_LIVE} ORDER BY updated_at LIMIT ?",
                (kind, time.time(), limit),
            ).fetchall()
            return [_record(kind, r[0], r[1:]) for r in rows]

        return await self._run(q)

    async def purge_expired(self) -> int:
        def tx(c: sqlite3.Connection) -> int:
            at = time.time()
            c.execute("BEGIN IMMEDIATE")
            n = c.execute("DELETE FROM records WHERE expires_at <= ?", (at,)).rowcount
            n += c.execute(
                "DELETE FROM events WHERE stream IN "
                "(SELECT stream FROM streams WHERE expires_at <= ?)",
                (at,),
            ).rowcount
            n += c.execute("DELETE FROM streams WHERE expires_at <= ?", (at,)).rowcount
            n += c.execute("DELETE FROM counters WHERE expires_at <= ?", (at,)).rowcount
            c.execute("COMMIT")
            return n

        return await self._run(tx)

    # -- wake-ups --------------------------------------------------------------------

    async def _poll_other_processes(self) -> None:
        """While anyone waits, wake every waiter when another connection has committed."""
        seen = await self._run(lambda c: int(c.execute("PRAGMA data_version").fetchone()[0]))
        while self._waiters:
            await anyio.sleep(_POLL_INTERVAL)
            try:
                version = await self._run(
                    lambda c: int(c.execute("PRAGMA data_version").fetchone()[0])
                )
            except StoreUnavailableError:
                self._waiters.notify_all()  # the waiters' own reads will surface the error
                return
            if version != seen:
                seen = version
                self._waiters.notify_all()

    async def wait_for_change(
        self, kind: str, key: str, *, after_version: int, timeout: float
    ) -> Record | None:
        async def start_poller() -> None:
            if self._poller is None or self._poller.done():
                # A store-owned task: it outlives any one waiter and stops when none is left.
                loop = asyncio.get_running_loop()
                self._poller = loop.create_task(self._poll_other_processes())

        return await self._waiters.wait(
            f"{kind}:{key}",
            lambda: self.get(kind, key),
            after_version=after_version,
            timeout=timeout,
            before_read=start_poller,
        )

    # -- events ----------------------------------------------------------------------

    async def append_event(
        self, stream: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Event:
        check_key("stream", stream)
        raw = dumps(data)

        def tx(c: sqlite3.Connection) -> Event:
            at = time.time()
            c.execute("BEGIN IMMEDIATE")
            row = c.execute(
                "SELECT last_seq, expires_at FROM streams WHERE stream=?", (stream,)
            ).fetchone()
            last = 0
            if row is not None:
                if row[1] is not None and row[1] <= at:
                    c.execute("DELETE FROM events WHERE stream=?", (stream,))
                else:
                    last = row[0]
            c.execute(
                "INSERT INTO streams VALUES (?,?,?) ON CONFLICT(stream) DO UPDATE SET "
                "last_seq=excluded.last_seq, expires_at=excluded.expires_at",
                (stream, last + 1, expiry_ts(ttl, at)),
            )
            c.execute("INSERT INTO events VALUES (?,?,?,?)", (stream, last + 1, at, raw))
            c.execute("COMMIT")
            when = from_ts(at)
            assert when is not None
            return Event(stream, last + 1, when, data)

        event = await self._run(tx)
        self._waiters.notify(f"events:{stream}")
        return event

    async def read_events(self, stream: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        def q(c: sqlite3.Connection) -> list[Event]:
            rows = c.execute(
                "SELECT e.seq, e.at, e.data FROM events e JOIN streams s ON s.stream = e.stream "
                "WHERE e.stream=? AND e.seq > ? AND (s.expires_at IS NULL OR s.expires_at > ?) "
                "ORDER BY e.seq LIMIT ?",
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
        ms = window_ms(window, limit)

        def tx(c: sqlite3.Connection) -> tuple[int, int]:
            start = math.floor(time.time() * 1000 / ms) * ms
            c.execute("BEGIN IMMEDIATE")
            c.execute(
                "INSERT INTO counters VALUES (?,?,1,?) ON CONFLICT(key) DO UPDATE SET "
                "count = CASE WHEN window_start = excluded.window_start THEN count + 1 ELSE 1 END, "
                "window_start = excluded.window_start, expires_at = excluded.expires_at",
                (key, start, (start + ms) / 1000),
            )
            (count,) = c.execute("SELECT count FROM counters WHERE key=?", (key,)).fetchone()
            c.execute("COMMIT")
            return count, start + ms

        count, reset_ms = await self._run(tx)
        reset_at = from_ts(reset_ms / 1000)
        assert reset_at is not None
        return RateLimitResult(count <= limit, count, limit, max(limit - count, 0), reset_at)
