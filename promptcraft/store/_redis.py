"""Redis backend: shared state for several gateway replicas and workers.

Each record is a hash at ``{kind}:{key}`` (fields data, version, updated_at,
expires_at) with a native TTL. Internal keys live under the reserved ``pc:``
prefix: ``pc:idx:{kind}`` (a sorted set of a kind's keys), ``pc:events:{stream}``
(a Redis stream) and ``pc:rl:...`` (rate-limit counters). Compare-and-set runs in
Lua, so it is atomic on the server. Every change is published on
``pc:changed:{kind}:{key}``; one pattern subscription per store hands the
wake-ups to the local waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from promptcraft.errors import (
    RecordExistsError,
    RecordNotFoundError,
    StoreError,
    StoreUnavailableError,
    VersionConflictError,
)
from promptcraft.store._codec import check_key, check_kind, dumps, from_ts, loads, window_ms
from promptcraft.store._protocol import KEEP_TTL, KeepTTL
from promptcraft.store._types import Event, JSONObject, RateLimitResult, Record, StoreHealth
from promptcraft.store._waiters import WaiterTable

logger = logging.getLogger(__name__)

_SETTING = "PROMPTCRAFT_STORE_URL"
_CHANNEL = "pc:changed:"
_MAX_CONNECTIONS = 64

# KEYS: record, index, channel. ARGV: key, data, now, ttl_ms (0 = none), expires_at ('' = none).
# Timestamps are computed in Python: Lua's tostring() would round them.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'version', 1, 'updated_at', ARGV[3], 'expires_at', ARGV[5])
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', KEYS[3], 1)
return 1
"""

# KEYS: record, index, channel.
# ARGV: key, data, now, expected, ttl_mode (keep|none|set), ttl_ms, expires_at for 'set'.
_UPDATE = """
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return {-1, 0, ''} end
if tonumber(v) ~= tonumber(ARGV[4]) then return {-2, tonumber(v), ''} end
local nv = tonumber(v) + 1
local exp = redis.call('HGET', KEYS[1], 'expires_at')
if ARGV[5] == 'none' then
  redis.call('PERSIST', KEYS[1]); exp = ''
elseif ARGV[5] == 'set' then
  redis.call('PEXPIRE', KEYS[1], ARGV[6]); exp = ARGV[7]
end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'version', nv, 'updated_at', ARGV[3], 'expires_at', exp)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', KEYS[3], nv)
return {nv, nv, exp}
"""

# KEYS: stream, seq counter, channel. ARGV: data, now, ttl_ms (0 = the stream does not expire).
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], '0-' .. seq, 'at', ARGV[2], 'data', ARGV[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3]); redis.call('PEXPIRE', KEYS[2], ARGV[3])
else
  redis.call('PERSIST', KEYS[1]); redis.call('PERSIST', KEYS[2])
end
redis.call('PUBLISH', KEYS[3], seq)
return seq
"""

# KEYS: none. ARGV: key, window_ms. Whole milliseconds on the server clock, so replicas agree.
_HIT = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[2])
local start = now_ms - (now_ms % w)
local k = 'pc:rl:' .. ARGV[1] .. ':' .. string.format('%d', start)
local n = redis.call('INCR', k)
if n == 1 then redis.call('PEXPIRE', k, w + 1000) end
return {n, string.format('%d', start + w)}
"""


def _ttl_ms(ttl: timedelta | None) -> int:
    return 0 if ttl is None else max(1, int(ttl.total_seconds() * 1000))


class RedisStore:
    """State store on a Redis server (7.0 or newer)."""

    backend = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: aioredis.Redis | None = None
        self._create: Any = None
        self._update: Any = None
        self._append: Any = None
        self._hit: Any = None
        self._waiters = WaiterTable()
        self._listener: asyncio.Task[None] | None = None
        self._listening: asyncio.Future[None] | None = None

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreUnavailableError(
                "the Redis store is not open; call open() (or use it as a context manager)"
            )
        return self._redis

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the Redis store at {redact_url(self.url)} failed: {exc}. "
            f"Check that redis-server is running and {_SETTING} is right."
        )

    async def open(self) -> None:
        if self._redis is not None:
            return
        # A blocking pool: a burst of callers waits for a free connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, decode_responses=True, max_connections=_MAX_CONNECTIONS, timeout=30
        )
        client = aioredis.Redis(connection_pool=pool)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose(close_connection_pool=True)
            raise self._unavailable(exc) from exc
        self._redis = client
        self._create = client.register_script(_CREATE)
        self._update = client.register_script(_UPDATE)
        self._append = client.register_script(_APPEND)
        self._hit = client.register_script(_HIT)

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose(close_connection_pool=True)

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

    async def health(self) -> StoreHealth:
        try:
            await self.open()
            await self._r.ping()
        except StoreUnavailableError as exc:
            return StoreHealth(False, self.backend, str(exc))
        except (RedisError, OSError) as exc:
            return StoreHealth(False, self.backend, str(self._unavailable(exc)))
        return StoreHealth(True, self.backend, "ok")

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except ResponseError as exc:
            raise StoreError(
                f"the Redis server refused a write: {exc}. Check its memory limit and that "
                f"{_SETTING} points at a writable primary."
            ) from exc
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    # -- records ---------------------------------------------------------------------

    async def create(
        self, kind: str, key: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Record:
        check_kind(kind)
        check_key("key", key)
        at = time.time()
        keys = [f"{kind}:{key}", f"pc:idx:{kind}", f"{_CHANNEL}{kind}:{key}"]
        exp = "" if ttl is None else repr(at + ttl.total_seconds())
        args = [key, dumps(data), repr(at), _ttl_ms(ttl), exp]
        created = await self._call(self._create, keys, args)
        if not created:
            raise RecordExistsError(f"{kind}:{key} already exists")
        updated = from_ts(at)
        assert updated is not None
        return Record(kind, key, data, 1, updated, from_ts(float(exp)) if exp else None)

    async def get(self, kind: str, key: str) -> Record | None:
        check_kind(kind)
        try:
            fields = cast(dict[str, str], await self._r.hgetall(f"{kind}:{key}"))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return _to_record(kind, key, fields)

    async def update(
        self,
        kind: str,
        key: str,
        data: JSONObject,
        *,
        expected_version: int,
        ttl: timedelta | KeepTTL | None = KEEP_TTL,
    ) -> Record:
        check_kind(kind)
        at = time.time()
        if isinstance(ttl, KeepTTL):
            mode, ttl_ms, new_exp = "keep", 0, ""
        elif ttl is None:
            mode, ttl_ms, new_exp = "none", 0, ""
        else:
            mode, ttl_ms, new_exp = "set", _ttl_ms(ttl), repr(at + ttl.total_seconds())
        keys = [f"{kind}:{key}", f"pc:idx:{kind}", f"{_CHANNEL}{kind}:{key}"]
        args = [key, dumps(data), repr(at), expected_version, mode, ttl_ms, new_exp]
        status, version, exp = await self._call(self._update, keys, args)
        if status == -1:
            raise RecordNotFoundError(f"{kind}:{key} does not exist or has expired")
        if status == -2:
            raise VersionConflictError(kind, key, expected_version, int(version))
        updated = from_ts(at)
        assert updated is not None
        return Record(kind, key, data, int(version), updated, from_ts(float(exp)) if exp else None)

    async def delete(self, kind: str, key: str) -> bool:
        check_kind(kind)
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(f"{kind}:{key}")
                pipe.zrem(f"pc:idx:{kind}", key)
                pipe.publish(f"{_CHANNEL}{kind}:{key}", 0)
                deleted, _, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return bool(deleted)

    async def list_records(self, kind: str, *, limit: int = 1000) -> list[Record]:
        check_kind(kind)
        records: list[Record] = []
        try:
            keys = cast(list[str], await self._r.zrange(f"pc:idx:{kind}", 0, -1))
            for start in range(0, len(keys), 200):
                chunk = keys[start : start + 200]
                async with self._r.pipeline(transaction=False) as pipe:
                    for key in chunk:
                        pipe.hgetall(f"{kind}:{key}")
                    rows = await pipe.execute()
                for key, fields in zip(chunk, rows, strict=True):
                    record = _to_record(kind, key, fields)
                    if record is not None:
                        records.append(record)
                        if len(records) >= limit:
                            return records
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return records

    async def purge_expired(self) -> int:
        """Redis expires records itself; this drops index entries that point at expired ones."""
        removed = 0
        try:
            async for index in self._r.scan_iter(match="pc:idx:*"):
                kind = index.removeprefix("pc:idx:")
                keys = cast(list[str], await self._r.zrange(index, 0, -1))
                async with self._r.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.exists(f"{kind}:{key}")
                    alive = await pipe.execute()
                for key, exists in zip(keys, alive, strict=True):
                    if not exists:
                        removed += await self._drop_from_index(kind, key)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return removed

    async def _drop_from_index(self, kind: str, key: str) -> int:
        """Remove a stale index entry, unless the record came back meanwhile (checked atomically)."""
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(f"{kind}:{key}")
            if await pipe.exists(f"{kind}:{key}"):
                return 0
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.zrem(f"pc:idx:{kind}", key)
            try:
                (removed,) = await pipe.execute()
            except RedisError:
                return 0  # WatchError: it was re-created; leave it indexed
        return int(removed)

    # -- wake-ups --------------------------------------------------------------------

    async def _listen(self, pubsub: PubSub, ready: asyncio.Future[None]) -> None:
        try:
            await pubsub.psubscribe(f"{_CHANNEL}*")
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "psubscribe":
                    if not ready.done():
                        ready.set_result(None)
                    continue
                self._waiters.notify(str(message["channel"]).removeprefix(_CHANNEL))
        except (RedisError, OSError) as exc:
            if not ready.done():
                ready.set_exception(self._unavailable(exc))
            logger.warning("lost the Redis change subscription; waiters re-read: %s", exc)
        finally:
            # Whatever ended the subscription, waiters must re-read rather than sleep on.
            self._waiters.notify_all()
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            loop = asyncio.get_running_loop()
            self._listening = loop.create_future()
            # A store-owned task: one subscription serves every waiter of this process.
            self._listener = loop.create_task(self._listen(self._r.pubsub(), self._listening))
        assert self._listening is not None
        # Until Redis confirms the subscription, a change could be published unseen.
        await asyncio.shield(self._listening)

    async def wait_for_change(
        self, kind: str, key: str, *, after_version: int, timeout: float
    ) -> Record | None:
        return await self._waiters.wait(
            f"{kind}:{key}",
            lambda: self.get(kind, key),
            after_version=after_version,
            timeout=timeout,
            before_read=self._ensure_listener,
        )

    # -- events ----------------------------------------------------------------------

    async def append_event(
        self, stream: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Event:
        check_key("stream", stream)
        at = time.time()
        keys = [f"pc:events:{stream}", f"pc:events:{stream}:seq", f"{_CHANNEL}events:{stream}"]
        seq = await self._call(self._append, keys, [dumps(data), repr(at), _ttl_ms(ttl)])
        when = from_ts(at)
        assert when is not None
        return Event(stream, int(seq), when, data)

    async def read_events(self, stream: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        try:
            rows = cast(
                list[tuple[str, dict[str, str]]],
                await self._r.xrange(
                    f"pc:events:{stream}", min=f"(0-{after}", max="+", count=limit
                ),
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        events = []
        for entry_id, fields in rows:
            when = from_ts(float(fields["at"]))
            assert when is not None
            events.append(Event(stream, int(entry_id.split("-")[1]), when, loads(fields["data"])))
        return events

    # -- rate limits -----------------------------------------------------------------

    async def hit_rate_limit(self, key: str, *, limit: int, window: timedelta) -> RateLimitResult:
        ms = window_ms(window, limit)
        count, reset_ms = await self._call(self._hit, [], [key, ms])
        reset_at = from_ts(int(reset_ms) / 1000)
        assert reset_at is not None
        count = int(count)
        return RateLimitResult(count <= limit, count, limit, max(limit - count, 0), reset_at)


def _to_record(kind: str, key: str, fields: dict[str, str]) -> Record | None:
    if not fields or "version" not in fields:
        return None
    updated = from_ts(float(fields["updated_at"]))
    assert updated is not None
    exp = fields.get("expires_at") or None
    return Record(
        kind,
        key,
        loads(fields["data"]),
        int(fields["version"]),
        updated,
        from_ts(float(exp)) if exp else None,
    )


def redact_url(url: str) -> str:
    """The URL without any password (in the user part or a ``password`` query parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = urlencode(
        [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
