"""Redis backend: shared state for several gateway replicas and workers.

Each record is a hash at ``{kind}:{key}`` (fields data, version, updated_at,
expires_at) with a native TTL; a sorted set ``idx:{kind}`` lists the keys of a
kind. Compare-and-set runs in Lua, so it is atomic on the server. Every change
is published on ``pc:changed:{kind}:{key}``; waiters subscribe to it.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, cast

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from promptcraft.errors import (
    RecordExistsError,
    RecordNotFoundError,
    StoreUnavailableError,
    VersionConflictError,
)
from promptcraft.store._codec import dumps, from_ts, loads
from promptcraft.store._protocol import KEEP_TTL
from promptcraft.store._types import Event, JSONObject, RateLimitResult, Record, StoreHealth

logger = logging.getLogger(__name__)

_SETTING = "PROMPTCRAFT_STORE_URL"

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

# KEYS: stream, seq counter, channel. ARGV: data, now, ttl_ms.
_APPEND = """
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], '0-' .. seq, 'at', ARGV[2], 'data', ARGV[1])
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3]); redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
redis.call('PUBLISH', KEYS[3], seq)
return seq
"""

# KEYS: none. ARGV: key, window_seconds. Uses the server clock so replicas agree.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local w = tonumber(ARGV[2])
local start = math.floor(now / w) * w
local k = 'rl:' .. ARGV[1] .. ':' .. string.format('%d', start)
local n = redis.call('INCR', k)
if n == 1 then redis.call('PEXPIRE', k, math.ceil(w * 1000) + 1000) end
return {n, tostring(start + w)}
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

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreUnavailableError(
                "the Redis store is not open; call open() (or use it as a context manager)"
            )
        return self._redis

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the Redis store at {_redacted(self.url)} failed: {exc}. "
            f"Check that redis-server is running and {_SETTING} is right."
        )

    async def open(self) -> None:
        if self._redis is not None:
            return
        client = aioredis.Redis.from_url(self.url, decode_responses=True)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise self._unavailable(exc) from exc
        self._redis = client
        self._create = client.register_script(_CREATE)
        self._update = client.register_script(_UPDATE)
        self._append = client.register_script(_APPEND)
        self._hit = client.register_script(_HIT)

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

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
        return StoreHealth(True, self.backend, _redacted(self.url))

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except ResponseError:
            raise
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    # -- records ---------------------------------------------------------------------

    async def create(
        self, kind: str, key: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Record:
        at = time.time()
        keys = [f"{kind}:{key}", f"idx:{kind}", f"pc:changed:{kind}:{key}"]
        exp = "" if ttl is None else repr(at + ttl.total_seconds())
        args = [key, dumps(data), repr(at), _ttl_ms(ttl), exp]
        created = await self._call(self._create, keys, args)
        if not created:
            raise RecordExistsError(f"{kind}:{key} already exists")
        updated = from_ts(at)
        assert updated is not None
        return Record(kind, key, data, 1, updated, from_ts(float(exp)) if exp else None)

    async def get(self, kind: str, key: str) -> Record | None:
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
        ttl: timedelta | None = KEEP_TTL,
    ) -> Record:
        at = time.time()
        mode = "keep" if ttl is KEEP_TTL else ("none" if ttl is None else "set")
        keys = [f"{kind}:{key}", f"idx:{kind}", f"pc:changed:{kind}:{key}"]
        new_exp = repr(at + ttl.total_seconds()) if mode == "set" and ttl is not None else ""
        args = [key, dumps(data), repr(at), expected_version, mode, _ttl_ms(ttl), new_exp]
        status, version, exp = await self._call(self._update, keys, args)
        if status == -1:
            raise RecordNotFoundError(f"{kind}:{key} does not exist or has expired")
        if status == -2:
            raise VersionConflictError(kind, key, expected_version, int(version))
        updated = from_ts(at)
        assert updated is not None
        return Record(kind, key, data, int(version), updated, from_ts(float(exp)) if exp else None)

    async def delete(self, kind: str, key: str) -> bool:
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(f"{kind}:{key}")
                pipe.zrem(f"idx:{kind}", key)
                pipe.publish(f"pc:changed:{kind}:{key}", 0)
                deleted, _, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return bool(deleted)

    async def list_records(self, kind: str, *, limit: int = 1000) -> list[Record]:
        records: list[Record] = []
        stale: list[str] = []
        try:
            keys = cast(list[str], await self._r.zrange(f"idx:{kind}", 0, -1))
            for start in range(0, len(keys), 200):
                chunk = keys[start : start + 200]
                async with self._r.pipeline(transaction=False) as pipe:
                    for key in chunk:
                        pipe.hgetall(f"{kind}:{key}")
                    rows = await pipe.execute()
                for key, fields in zip(chunk, rows, strict=True):
                    record = _to_record(kind, key, fields)
                    if record is None:
                        stale.append(key)
                    elif len(records) < limit:
                        records.append(record)
            if stale:
                await self._r.zrem(f"idx:{kind}", *stale)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return records

    async def purge_expired(self) -> int:
        """Redis expires records itself; this drops index entries that point at expired ones."""
        removed = 0
        try:
            async for index in self._r.scan_iter(match="idx:*"):
                kind = index.removeprefix("idx:")
                keys = cast(list[str], await self._r.zrange(index, 0, -1))
                async with self._r.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.exists(f"{kind}:{key}")
                    alive = await pipe.execute()
                stale = [key for key, exists in zip(keys, alive, strict=True) if not exists]
                if stale:
                    removed += int(await self._r.zrem(index, *stale))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return removed

    # -- wake-ups --------------------------------------------------------------------

    async def wait_for_change(
        self, kind: str, key: str, *, after_version: int, timeout: float
    ) -> Record | None:
        deadline = time.monotonic() + timeout
        try:
            async with self._r.pubsub() as pubsub:
                # Subscribe before reading, so a change between the two is not missed.
                await pubsub.subscribe(f"pc:changed:{kind}:{key}")
                while True:
                    record = await self.get(kind, key)
                    if record is None or record.version > after_version:
                        return record
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    with anyio.move_on_after(remaining):
                        while (
                            await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                            is None
                        ):
                            pass
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    # -- events ----------------------------------------------------------------------

    async def append_event(
        self, stream: str, data: JSONObject, *, ttl: timedelta | None = None
    ) -> Event:
        at = time.time()
        keys = [f"events:{stream}", f"events:{stream}:seq", f"pc:changed:events:{stream}"]
        seq = await self._call(self._append, keys, [dumps(data), repr(at), _ttl_ms(ttl)])
        when = from_ts(at)
        assert when is not None
        return Event(stream, int(seq), when, data)

    async def read_events(self, stream: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        try:
            rows = cast(
                list[tuple[str, dict[str, str]]],
                await self._r.xrange(f"events:{stream}", min=f"(0-{after}", max="+", count=limit),
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
        count, reset = await self._call(self._hit, [], [key, window.total_seconds()])
        reset_at = from_ts(float(reset))
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


def _redacted(url: str) -> str:
    """The URL without its password, for messages and health output."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("redis", url)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
