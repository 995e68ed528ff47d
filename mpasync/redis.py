"""Fleet coordination through Redis: one OAuth token and one request budget shared by many
processes (gunicorn workers, pods, a migration beside production traffic).

Optional: needs the ``redis`` extra (``pip install 'mpasync[redis]'``) and is imported only
when used, so ``import mpasync`` never needs redis-py. Redis is a helper, never a point of
failure: when it cannot be reached, both classes fall back to working alone (one WARNING
per outage) and no call fails because of Redis.

>>> from mpasync.redis import RedisRateLimiter, RedisTokenCache
>>> cache = RedisTokenCache("redis://127.0.0.1:6379/0", client_id, client_secret)
>>> budget = RedisRateLimiter("redis://127.0.0.1:6379/0", "platform-api", rate=100)
>>> async with Client(token_cache=cache, rate_limit=budget) as mp: ...
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import aiohttp

try:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ModuleNotFoundError as exc:  # say how to get it, not just "No module named redis"
    if (exc.name or "").partition(".")[0] != "redis":
        raise
    raise ImportError(
        "mpasync.redis needs the redis extra: pip install 'mpasync[redis]'", name=__name__
    ) from None

from mpasync import clock
from mpasync._checks import positive_number
from mpasync.adaptive import (
    EXCEEDED_HEADER,
    AdaptiveRateLimiter,
    ControlLaw,
    RateState,
    parse_usage,
)
from mpasync.auth import DEFAULT_AUDIENCE, DEFAULT_TOKEN_URL, TokenCache, refresh_margin
from mpasync.errors import RequestValidationError
from mpasync.limits import FILL_SPEED, RateLimiter

__all__ = ["RedisRateLimiter", "RedisTokenCache", "fleet_options"]

logger = logging.getLogger("mpasync")

#: What a failing or unreachable Redis raises through redis-py.
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

#: After a Redis failure, work alone this long before trying Redis again, so an outage
#: costs one connect timeout per interval rather than one per call.
_RETRY_REDIS_AFTER = 5.0


def _connect(redis: str | Redis, timeout: float) -> tuple[Redis, bool]:
    """The client to use, and whether we made it (and so must close it)."""
    timeout = positive_number(timeout, "redis_timeout")
    if isinstance(redis, str):
        if not redis.startswith(("redis://", "rediss://", "unix://")):
            raise RequestValidationError(
                "redis must be a redis://, rediss:// or unix:// URL or a redis.asyncio.Redis",
                field="redis",
            )
        # Short timeouts and no retries: a dead Redis must cost a moment, not the
        # default retry ladder, before we fall back to working alone.
        client = Redis.from_url(
            redis,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return client, True
    if isinstance(redis, Redis):
        return redis, False
    raise RequestValidationError(
        "redis must be a redis:// URL or a redis.asyncio.Redis", field="redis"
    )


class _Outage:
    """Tracks whether Redis is usable; logs one WARNING per outage."""

    __slots__ = ("_down_until", "_fallback", "_warned")

    def __init__(self, fallback: str) -> None:
        self._fallback = fallback
        self._down_until = 0.0
        self._warned = False

    def usable(self) -> bool:
        return clock.now() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        self._down_until = clock.now() + _RETRY_REDIS_AFTER
        if not self._warned:
            self._warned = True
            logger.warning(
                "Redis unreachable (%s: %s); %s", type(exc).__name__, exc, self._fallback
            )

    def ok(self) -> None:
        if self._warned:
            self._warned = False
            logger.info("Redis reachable again; sharing through it once more")


# ---- the shared token -----------------------------------------------------------------

# KEYS[1] token hash. -> {token, lifetime, pttl} or nil.
_READ_TOKEN = """
local v = redis.call('HMGET', KEYS[1], 'token', 'lifetime')
if not v[1] then return false end
return {v[1], v[2], redis.call('PTTL', KEYS[1])}
"""

# KEYS[1] token hash, KEYS[2] lock; ARGV token, lifetime, ttl ms, lock owner, channel.
# Stores the token, releases the lock if still ours, and wakes the waiters, atomically.
_STORE_TOKEN = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'lifetime', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[5], 'ready')
return 1
"""

# KEYS[1] lock; ARGV owner, channel. Compare-and-delete: never frees another owner's lock.
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
"""

# KEYS[1] token hash; ARGV token. Drops the shared token only if it is still that one.
_DROP_TOKEN = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _lifetime_refreshing_at(remaining: float, ceiling: float) -> float:
    """A lifetime ``x`` whose local refresh time ``x - refresh_margin(x)`` is ``remaining``.

    A token read from Redis is served locally until the shared entry expires, then one
    process of the fleet refreshes it while the others keep the old token (it is valid
    ``refresh_margin`` longer). ``x - refresh_margin(x)`` rises strictly (the margin grows
    by at most 0.1 per second of life), so iterating ``x = remaining + margin(x)`` converges;
    ``ceiling`` (the token's true remaining life) caps it.
    """
    x = remaining
    for _ in range(40):
        x = remaining + refresh_margin(x)
    return min(x, ceiling)


class RedisTokenCache(TokenCache):
    """A `TokenCache` whose token is shared by every process using the same Redis.

    N processes x M concurrent cold callers make exactly one token request: in-process
    single flight first (as `TokenCache`), then a Redis lock (``SET NX PX`` with an owner
    value, released by compare-and-delete) whose holder fetches the token while the others
    wait for it on pub/sub (re-checking every ``poll_interval`` in case a message is
    missed). The token is stored with a TTL of its lifetime minus `refresh_margin`, under
    a key made from a hash of (token_url, audience, client_id); the secret is never
    stored. A 401 drops the shared token only if it is still the stored one.

    If Redis is unreachable the token is fetched locally (one WARNING per outage); a call
    never fails because of Redis. ``fetch_count`` counts this process's token requests.

    >>> cache = RedisTokenCache("redis://127.0.0.1:6379/0", client_id, client_secret)
    >>> async with Client(token_cache=cache) as mp: ...
    >>> await cache.aclose()

    Args:
        redis: a ``redis://`` URL, or a ``redis.asyncio.Redis`` (not closed by us).
        key_prefix: namespace of the Redis keys.
        timeout: the token endpoint's timeout (as `TokenCache`).
        lock_ttl: how long the lock is held at most (a crashed holder frees it then);
            default ``2 * timeout + 5`` s, longer than a fetch with its retries.
        redis_timeout: socket timeouts of a client made from a URL.
        poll_interval: how often a waiter re-checks Redis between pub/sub messages.
    """

    def __init__(
        self,
        redis: str | Redis,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = DEFAULT_TOKEN_URL,
        audience: str = DEFAULT_AUDIENCE,
        key_prefix: str = "mpasync",
        timeout: float = 30.0,
        lock_ttl: float | None = None,
        redis_timeout: float = 2.0,
        poll_interval: float = 0.1,
    ) -> None:
        super().__init__(
            client_id, client_secret, token_url=token_url, audience=audience, timeout=timeout
        )
        if not isinstance(key_prefix, str) or not key_prefix:
            raise RequestValidationError(
                "key_prefix must be a non-empty string", field="key_prefix"
            )
        self._redis, self._owns_redis = _connect(redis, redis_timeout)
        self.lock_ttl = (
            2.0 * timeout + 5.0 if lock_ttl is None else positive_number(lock_ttl, "lock_ttl")
        )
        self.poll_interval = positive_number(poll_interval, "poll_interval")
        ident = hashlib.sha256(f"{token_url}\n{audience}\n{client_id}".encode()).hexdigest()[:32]
        self.key = f"{key_prefix}:token:{ident}"
        self._lock_key = self.key + ":lock"
        self._channel = self.key + ":ready"
        self._read = self._redis.register_script(_READ_TOKEN)
        self._store = self._redis.register_script(_STORE_TOKEN)
        self._release = self._redis.register_script(_RELEASE_LOCK)
        self._drop = self._redis.register_script(_DROP_TOKEN)
        self._outage = _Outage("fetching the token locally until it is back")
        self._invalidated: deque[str] = deque(maxlen=8)
        self._pending: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        state = "cached" if self._token is not None else "empty"
        return (
            f"RedisTokenCache(client_id={self.client_id!r}, token_url={self.token_url!r}, "
            f"key={self.key!r}, {state})"
        )

    async def aclose(self) -> None:
        """Finish pending invalidations and close the Redis client if we made it."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._owns_redis:
            await self._redis.aclose()

    def invalidate(self, token: str) -> bool:
        """Drop ``token`` locally and, if it is still the shared one, in Redis too."""
        dropped = super().invalidate(token)
        if dropped:
            self._invalidated.append(token)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return dropped  # no loop: the next fetch skips the stale token anyway
            task = loop.create_task(self._drop_shared(token))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return dropped

    async def _drop_shared(self, token: str) -> None:
        if not self._outage.usable():
            return
        try:
            await self._drop(keys=[self.key], args=[token])
        except _REDIS_ERRORS as exc:
            self._outage.failed(exc)

    async def _acquire_token(self, session: aiohttp.ClientSession | None) -> tuple[str, float]:
        if not self._outage.usable():
            return await self._request_token(session)
        try:
            shared = await self._shared_token(session)
        except _REDIS_ERRORS as exc:
            self._outage.failed(exc)
            return await self._request_token(session)
        self._outage.ok()
        return shared

    async def _read_shared(self) -> tuple[str, float] | None:
        """The shared token and the local lifetime to give it, or None."""
        found = await self._read(keys=[self.key])
        if not found:
            return None
        raw_token, raw_lifetime, pttl = found
        token = raw_token.decode() if isinstance(raw_token, bytes) else str(raw_token)
        if token in self._invalidated:
            # A 401 dropped it here; the drop in Redis may not have run yet.
            await self._drop(keys=[self.key], args=[token])
            return None
        remaining = int(pttl) / 1000.0
        if remaining <= 0:
            return None
        lifetime = float(raw_lifetime)
        return token, _lifetime_refreshing_at(remaining, remaining + refresh_margin(lifetime))

    async def _shared_token(self, session: aiohttp.ClientSession | None) -> tuple[str, float]:
        found = await self._read_shared()
        if found is not None:
            return found
        owner = secrets.token_hex(16)
        if await self._redis.set(self._lock_key, owner, nx=True, px=int(self.lock_ttl * 1000)):
            return await self._lead(session, owner)
        return await self._wait(session, owner)

    async def _lead(self, session: aiohttp.ClientSession | None, owner: str) -> tuple[str, float]:
        """We hold the lock: fetch, store, release, wake the waiters."""
        # Check again: the previous holder may have stored the token and released the
        # lock between our read and our SET NX (storing and releasing are one script, so
        # once we hold the lock this read sees its token).
        found = await self._read_shared()
        if found is not None:
            await self._release(keys=[self._lock_key], args=[owner, self._channel])
            return found
        started = clock.now()
        try:
            token, lifetime = await self._request_token(session)
        except BaseException:
            try:
                await self._release(keys=[self._lock_key], args=[owner, self._channel])
            except _REDIS_ERRORS as exc:
                self._outage.failed(exc)
            raise
        ttl = lifetime - refresh_margin(lifetime) - (clock.now() - started)
        try:
            if ttl * 1000 >= 1:
                await self._store(
                    keys=[self.key, self._lock_key],
                    args=[token, repr(lifetime), int(ttl * 1000), owner, self._channel],
                )
            else:
                await self._release(keys=[self._lock_key], args=[owner, self._channel])
        except _REDIS_ERRORS as exc:
            self._outage.failed(exc)  # we have the token; sharing it failed, not the call
        return token, lifetime

    async def _wait(self, session: aiohttp.ClientSession | None, owner: str) -> tuple[str, float]:
        """Another process holds the lock: wait for its token (or for the lock to free)."""
        deadline = clock.now() + self.lock_ttl + 1.0
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            while clock.now() < deadline:
                # Re-check after subscribing: the token may have landed in between.
                found = await self._read_shared()
                if found is not None:
                    return found
                lock_px = int(self.lock_ttl * 1000)
                if await self._redis.set(self._lock_key, owner, nx=True, px=lock_px):
                    return await self._lead(session, owner)  # the holder gave up or died
                await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_interval)
        finally:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except _REDIS_ERRORS:
                pass
        logger.warning("no shared token after %.0fs; fetching it locally", self.lock_ttl)
        return await self._request_token(session)


# ---- the shared budget ----------------------------------------------------------------

# KEYS[1] the GCRA's theoretical arrival time (µs, Redis clock), KEYS[2] the adaptive
# state (JSON, may be absent), KEYS[3] the fleet's booked slots (a sorted set, adaptive
# only). ARGV[1] interval (µs) without a state, ARGV[2] 1 + safety, ARGV[3] this
# booking's id, ARGV[4] the fill speed. Reserves the caller's slot at the fleet's current
# rate; returns {wait µs, the rate ('' = no state)}.
# With an adaptive state the window rule of `limits.AdjustableRateLimiter` holds for the
# whole fleet: a slot is booked only where fewer than floor(rate) slots were booked in the
# (1 + safety) s before it, and once usage readings steer the rate ('read'), slots may be
# booked ARGV[4] times as close, so a rise is filled within about half a second. Booked
# slots never go back in time (each one is at or after the last), so counting the
# bookings after (slot - span) counts the window exactly; a slot given up (its owner
# woke late) is removed by its owner (`acquire`), as nobody started in it.
_RESERVE = """
local function fmt(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local rate = ''
local cap = 0
local raw = redis.call('GET', KEYS[2])
local ok, stored = false, nil
if raw then ok, stored = pcall(cjson.decode, raw) end
if ok and type(stored) == 'table' and type(stored['state']) == 'table' then
  local r = tonumber(stored['state']['rate'])
  if r and r > 0 then
    local fill = 1
    if r >= 2 then
      cap = math.floor(r)
      if stored['read'] == true then fill = tonumber(ARGV[4]) end
    end
    interval = 1000000 * tonumber(ARGV[2]) / (r * fill)
    rate = string.format('%.6f', r)
  end
end
local tat = tonumber(redis.call('GET', KEYS[1]))
local start = now
if tat and tat > now then start = tat end
if cap > 0 then
  local span = 1000000 * tonumber(ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now - span))
  local n = redis.call('ZCOUNT', KEYS[3], '(' .. fmt(start - span), '+inf')
  if n >= cap then
    local kth = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. fmt(start - span), '+inf',
      'WITHSCORES', 'LIMIT', n - cap, 1)
    local free = tonumber(kth[2]) + span
    if free > start then start = free end
  end
  redis.call('ZADD', KEYS[3], fmt(start), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], math.ceil((start - now + span) / 1000) + 1000)
end
local nxt = start + interval
redis.call('SET', KEYS[1], fmt(nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return {fmt(start - now), rate}
"""

# KEYS[1] the fleet's recent starts (a sorted set); ARGV[1] this start's id. Records a
# start as it happens (adaptive only) -> {Redis time µs, the fleet's starts in the last
# second, this one included}: what the server's window counts of the fleet. Counting
# booked slots instead would count starts still asleep or late, which the server has
# not seen yet, and overestimate the budget from the usage header.
_START = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stamp = string.format('%.0f', now)
redis.call('ZADD', KEYS[1], stamp, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - 1000000))
redis.call('PEXPIRE', KEYS[1], 2000)
return {stamp, redis.call('ZCARD', KEYS[1])}
"""

# KEYS[1] the adaptive state. -> {seconds, microseconds, state JSON or ''}.
_READ_STATE = """
local t = redis.call('TIME')
return {t[1], t[2], redis.call('GET', KEYS[1]) or ''}
"""

# KEYS[1] the adaptive state; ARGV expected version, new JSON, TTL (s). Compare-and-set;
# an unreadable state counts as version 0, so the next update replaces it.
_WRITE_STATE = """
local raw = redis.call('GET', KEYS[1])
local version = 0
if raw then
  local ok, stored = pcall(cjson.decode, raw)
  if ok and type(stored) == 'table' then version = tonumber(stored['version']) or 0 end
end
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

#: The adaptive state outlives idle periods (a day), then starts afresh.
_STATE_TTL = 86400
#: Compare-and-set attempts per answer before it is dropped (counted in `conflicts`).
_CAS_TRIES = 10

# What `acquire` learned about this task's attempt, read back by `observe` in the same
# task: (limiter, start on Redis's clock in seconds, the fleet's starts in its window).
_ATTEMPT: ContextVar[tuple[object, float, int] | None] = ContextVar(
    "mpasync_redis_attempt", default=None
)


def _exceeded_limit(headers: Mapping[str, str]) -> str | None:
    """Which limit a 429 names (``X-mp-rate-limit-exceeded``, lower case), else None."""
    raw = headers.get(EXCEEDED_HEADER)
    return raw.strip().strip('"').lower() if raw is not None else None


class RedisRateLimiter:
    """One request budget for a fleet: at most ``rate`` starts per second across every
    process sharing ``key`` on the same Redis, with no burst.

    A GCRA in one Lua script on Redis's clock (``TIME``, not each host's): each call
    reserves the next slot ``interval = (1 + safety) / rate`` after the previous one and
    sleeps until it. Within a process one caller at a time holds a reservation (the others
    queue first come, first served), so a stalled event loop can delay its one start but
    never release a bunch of booked starts together; and a caller that wakes more than
    ``safety / 2`` seconds after its slot gives it up and books again. Every start thus
    lies within ``safety / 2`` after its slot, and slots are ``(1 + safety) / rate``
    apart, so no one-second window holds more than ``rate`` starts.

    ``adaptive=True`` finds the budget from mParticle's signals with
    `mpasync.adaptive.ControlLaw` (``rate`` is then the starting rate), and the law's
    state lives in Redis: the fleet's rate, CUBIC curve and rate clock are one, so a 429
    seen by any process slows all of them, and the usage readings are compared with
    what the whole fleet sent. Each answer updates the state by compare-and-set (a
    version number), so concurrent updates from several processes are never lost
    silently. A 429 naming an ``app`` limit does not slow the account. The fleet's
    bookings also keep `limits.AdjustableRateLimiter`'s window rule (see `_RESERVE`): at
    most ``floor(rate)`` slots in any second, and once usage readings steer the rate, the
    room a rise opens is booked at up to twice the rate.

    If Redis is unreachable, a local limiter at ``rate / expected_processes`` takes over
    (an `AdaptiveRateLimiter` starting there when adaptive), with one WARNING per outage,
    and Redis is tried again every few seconds.

    >>> budget = RedisRateLimiter("redis://127.0.0.1:6379/0", "platform-api", rate=100)
    >>> async with Client(..., rate_limit=budget) as mp: ...
    >>> await budget.aclose()

    Args:
        redis: a ``redis://`` URL, or a ``redis.asyncio.Redis`` (not closed by us).
        key: the budget's name; processes with the same key share it.
        rate: requests per second for the whole fleet (with ``adaptive``: to start at,
            default 10).
        adaptive: learn the rate from the server's answers (see above).
        expected_processes: how many processes share the budget (for the fallback).
        safety: spacing margin, as in `RateLimiter`: 0.05 for a fixed ``rate``, 0.01 when
            adaptive (default None).
        min_rate, max_rate, target_usage, use_headers: the adaptive law's options, as
            `AdaptiveRateLimiter`'s.
        key_prefix: namespace of the Redis keys.
        redis_timeout: socket timeouts of a client made from a URL.
    """

    def __init__(
        self,
        redis: str | Redis,
        key: str,
        rate: float | None = None,
        *,
        adaptive: bool = False,
        expected_processes: int = 1,
        safety: float | None = None,
        min_rate: float = 0.5,
        max_rate: float | None = None,
        target_usage: float = 0.9,
        use_headers: bool = True,
        key_prefix: str = "mpasync",
        redis_timeout: float = 2.0,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise RequestValidationError("key must be a non-empty string", field="key")
        if not isinstance(adaptive, bool):
            raise RequestValidationError("adaptive must be a bool", field="adaptive")
        self.law: ControlLaw | None = None
        if adaptive:
            self.law = ControlLaw(
                10.0 if rate is None else positive_number(rate, "rate"),
                min_rate,
                max_rate,
                target_usage,
                use_headers,
            )
            rate = self.law.initial_rate
        elif rate is None:
            raise RequestValidationError("rate is required unless adaptive=True", field="rate")
        self._rate = positive_number(rate, "rate")
        if (
            isinstance(expected_processes, bool)
            or not isinstance(expected_processes, int)
            or expected_processes < 1
        ):
            raise RequestValidationError(
                "expected_processes must be an integer >= 1", field="expected_processes"
            )
        if safety is None:
            # A fixed budget is a promise: 5 % leaves room for the jitter between our
            # clocks and the server's. An adaptive one already aims below the limit
            # (target_usage), so it spaces starts as tightly as a local limiter.
            safety = 0.01 if adaptive else 0.05
        if isinstance(safety, bool) or not isinstance(safety, (int, float)) or safety < 0:
            raise RequestValidationError("safety must be a number >= 0", field="safety")
        if not isinstance(key_prefix, str) or not key_prefix:
            raise RequestValidationError(
                "key_prefix must be a non-empty string", field="key_prefix"
            )
        self.key = f"{key_prefix}:rate:{key}"
        self._state_key = self.key + ":state"
        self._starts_key = self.key + ":starts"
        self._booked_key = self.key + ":booked"
        self.adaptive = adaptive
        self.expected_processes = expected_processes
        self.safety = float(safety)
        self._redis, self._owns_redis = _connect(redis, redis_timeout)
        self._reserve = self._redis.register_script(_RESERVE)
        self._start = self._redis.register_script(_START)
        self._read_state = self._redis.register_script(_READ_STATE)
        self._write_state = self._redis.register_script(_WRITE_STATE)
        self._outage = _Outage(
            f"pacing this process alone at rate / {expected_processes} until it is back"
        )
        self._turn: asyncio.Lock | None = None
        self._local: RateLimiter | AdaptiveRateLimiter | None = None
        self._ids = itertools.count()
        self._name = secrets.token_hex(6)
        #: Compare-and-set races lost to other processes (each one retried).
        self.conflicts = 0
        #: Slots given up because their caller woke too late (each one booked again).
        self.late = 0
        #: Answers dropped after `_CAS_TRIES` lost races in a row.
        self.dropped = 0

    def __repr__(self) -> str:
        kind = ", adaptive" if self.adaptive else ""
        return f"RedisRateLimiter(key={self.key!r}, rate={self.rate:.3g}{kind})"

    @property
    def rate(self) -> float:
        """The fleet's allowed requests per second (as last seen from Redis)."""
        return self._rate

    @property
    def observes(self) -> bool:
        """Whether the transport should report answers (only an adaptive budget learns)."""
        return self.adaptive

    async def aclose(self) -> None:
        """Close the Redis client if we made it."""
        if self._owns_redis:
            await self._redis.aclose()

    async def acquire(self, scope: str | None = None) -> None:
        """Wait for this caller's slot in the fleet's budget."""
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            while self._outage.usable():
                loop = asyncio.get_running_loop()
                asked = loop.time()  # the slot is at least `wait` after this
                try:
                    wait, booking = await self._book()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        if loop.time() - (asked + wait) > self.safety / 2:
                            # Woke too late (a stalled loop): starting now could land next
                            # to the slots other processes booked since. Give the slot up
                            # (and its place in the fleet's window: nobody started in it)
                            # and book again; the budget is under-used, never exceeded.
                            self.late += 1
                            if booking is not None:
                                await self._redis.zrem(self._booked_key, booking)
                            continue
                    if self.adaptive:
                        await self._record_start()
                except _REDIS_ERRORS as exc:
                    self._outage.failed(exc)
                    break
                self._outage.ok()
                return
            _ATTEMPT.set(None)
            await self._fallback().acquire(scope)

    async def _book(self) -> tuple[float, str | None]:
        """Reserve the next slot of the fleet's timeline: seconds until it, and the
        booking's id in the fleet's window (None for a fixed rate, which keeps none)."""
        interval_us = (1.0 + self.safety) / self._rate * 1e6
        keys = [self.key, self._state_key, self._booked_key]
        booking = f"{self._name}:{next(self._ids)}"
        wait_us, rate = await self._reserve(
            keys=keys, args=[repr(interval_us), repr(1.0 + self.safety), booking, FILL_SPEED]
        )
        if rate:
            self._rate = float(rate)
        return int(wait_us) / 1e6, booking if rate else None

    async def _record_start(self) -> None:
        """Count this start in the fleet's window, for `observe` in the same task."""
        member = f"{self._name}:{next(self._ids)}"
        stamp_us, sent = await self._start(keys=[self._starts_key], args=[member])
        _ATTEMPT.set((self, int(stamp_us) / 1e6, int(sent)))

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """Feed one answer to the fleet's adaptive state (only with ``adaptive=True``)."""
        law = self.law
        if law is None:
            return
        attempt = _ATTEMPT.get()
        if attempt is None or attempt[0] is not self:
            local = self._local
            if isinstance(local, AdaptiveRateLimiter):
                await local.observe(scope, status, headers)  # paced alone: learn alone
            return
        _ATTEMPT.set(None)
        _, started, sent = attempt
        if status == 429:
            kind = _exceeded_limit(headers)
            if kind == "app":
                return  # one app's limit: not the account's budget (the retry waits)
            await self._update(
                lambda s, now: law.on_throttle(s, kind, now, sent=sent, sent_at=started),
                _CAS_TRIES,
            )
        elif 200 <= status < 300:
            usage = parse_usage(headers)
            await self._update(
                lambda s, now: law.on_success(s, usage, now, sent=sent),
                _CAS_TRIES,
                reading=usage is not None and law.use_headers,
            )

    async def _update(
        self, step: Callable[[RateState, float], RateState], tries: int, *, reading: bool = False
    ) -> None:
        """Apply ``step`` to the shared state by compare-and-set (optimistic, versioned).

        ``reading``: the step took a usage reading. The state then says so (``read``) for
        good, and `_RESERVE` fills the fleet's window fast (as the readings say how much
        room there is); a rate found by 429s alone fills at the rate itself.
        """
        assert self.law is not None
        try:
            for attempt in range(tries):
                if attempt:
                    # Lost a race: back off a little, with jitter, so that processes
                    # answering in lockstep do not keep colliding.
                    await asyncio.sleep(random.uniform(0.0, 0.002 * attempt))
                seconds, micros, raw = await self._read_state(keys=[self._state_key])
                now = int(seconds) + int(micros) / 1e6
                version, state, read = 0, self.law.initial(now), False
                if raw:
                    try:
                        stored = json.loads(raw)
                        version = int(stored["version"])
                        state = RateState.from_dict(stored["state"])
                        read = stored.get("read") is True
                    except (ValueError, KeyError, TypeError):
                        # Not ours, or damaged: start afresh rather than fail a call.
                        logger.warning(
                            "unreadable adaptive state at %s; replacing it", self._state_key
                        )
                        version, state, read = 0, self.law.initial(now), False
                new = step(state, now)
                body = json.dumps(
                    {"version": version + 1, "state": new.to_dict(), "read": read or reading}
                )
                if await self._write_state(
                    keys=[self._state_key], args=[version, body, _STATE_TTL]
                ):
                    self._rate = new.rate
                    return
                self.conflicts += 1
            self.dropped += 1
            logger.debug("adaptive state busy: an answer was dropped after %d tries", tries)
        except _REDIS_ERRORS as exc:
            self._outage.failed(exc)

    def _fallback(self) -> RateLimiter | AdaptiveRateLimiter:
        local_rate = self._rate / self.expected_processes
        local = self._local
        if self.law is not None:
            if not isinstance(local, AdaptiveRateLimiter):
                law = self.law
                self._local = local = AdaptiveRateLimiter(
                    max(law.min_rate, local_rate),
                    law.min_rate,
                    law.max_rate,
                    law.target_usage,
                    use_headers=law.use_headers,
                )
            return local
        if not isinstance(local, RateLimiter) or local.rate != local_rate:
            self._local = local = RateLimiter(local_rate)
        return local


def fleet_options(
    url: str,
    client_id: str,
    client_secret: str,
    *,
    rate: float | str | None = None,
    key: str = "platform-api",
    token_url: str = DEFAULT_TOKEN_URL,
    audience: str = DEFAULT_AUDIENCE,
    expected_processes: int = 1,
) -> dict[str, Any]:
    """``Client`` keyword arguments sharing the token, and given ``rate`` the budget,
    through the Redis at ``url``.

    ``rate`` is a number (a fixed fleet budget), ``"auto"`` (an adaptive one) or None
    (share the token only). Close both with ``aclose()`` when done. Used by the command
    line's ``--redis``::

        async with Client(**fleet_options(url, client_id, secret, rate="auto")) as mp: ...
    """
    if isinstance(rate, str) and rate != "auto":
        raise RequestValidationError("rate must be a number, 'auto' or None", field="rate")
    options: dict[str, Any] = {
        "token_cache": RedisTokenCache(
            url, client_id, client_secret, token_url=token_url, audience=audience
        )
    }
    if isinstance(rate, str):  # "auto"
        options["rate_limit"] = RedisRateLimiter(
            url, key, adaptive=True, expected_processes=expected_processes
        )
    elif rate is not None:
        options["rate_limit"] = RedisRateLimiter(
            url, key, rate, expected_processes=expected_processes
        )
    return options
