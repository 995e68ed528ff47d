"""Fleet coordination through Redis: one OAuth token and one request budget shared by many
processes (gunicorn workers, pods, a migration beside production traffic).

Optional: needs the ``redis`` extra (``pip install 'mpasync[redis]'``) and is imported only
when used, so ``import mpasync`` never needs redis-py. Redis is a helper, never a point of
failure: when it cannot be reached, hangs, or holds nonsense, both classes fall back to
working alone (one WARNING per outage) and no call fails because of Redis. Everything read
from Redis is untrusted input, checked as an HTTP body would be.

>>> from mpasync.redis import RedisRateLimiter, RedisTokenCache
>>> cache = RedisTokenCache("redis://127.0.0.1:6379/0", client_id, client_secret)
>>> budget = RedisRateLimiter("redis://127.0.0.1:6379/0", "account:1234", rate=100)
>>> async with Client(token_cache=cache, rate_limit=budget) as mp: ...
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import logging
import math
import os
import random
import secrets
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import fields
from typing import Any, TypeVar

import aiohttp

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ModuleNotFoundError as exc:  # say how to get it, not just "No module named redis"
    if (exc.name or "").partition(".")[0] not in ("redis", "cryptography"):
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
from mpasync.auth import (
    DEFAULT_AUDIENCE,
    DEFAULT_TOKEN_URL,
    TokenCache,
    header_safe_token,
    refresh_margin,
)
from mpasync.client import DEFAULT_BASE_URL
from mpasync.errors import RequestValidationError
from mpasync.limits import FILL_SPEED, RateLimiter, Shed
from mpasync.priority import INTERACTIVE, LaneLock, Priority

__all__ = ["RedisRateLimiter", "RedisTokenCache", "fleet_options"]

logger = logging.getLogger("mpasync")

_T = TypeVar("_T")


class _UnusableReply(RedisError):
    """Redis answered something our scripts never return (another writer, damage)."""


class _DamagedToken(Exception):
    """The shared token does not open with our secret, or is not a usable token."""


#: What a failing, unreachable or nonsensical Redis raises (all handled the same way:
#: this process works alone for a while). A client made with ``decode_responses=True``
#: raises UnicodeDecodeError itself on a value that is not UTF-8.
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError, UnicodeDecodeError)

#: After a Redis failure, work alone this long before trying Redis again, so an outage
#: costs one connect timeout per interval rather than one per call.
_RETRY_REDIS_AFTER = 5.0


def _connect(redis: str | Redis, timeout: float) -> tuple[Redis, bool]:
    """The client to use, and whether we made it (and so must close it)."""
    if isinstance(redis, str):
        if not redis.startswith(("redis://", "rediss://", "unix://")):
            raise RequestValidationError(
                "redis must be a redis://, rediss:// or unix:// URL or a redis.asyncio.Redis",
                field="redis",
            )
        # Short timeouts and no retries: a dead Redis must cost a moment, not the
        # default retry ladder, before we fall back to working alone.
        try:
            client = Redis.from_url(
                redis,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except (ValueError, TypeError):
            # redis-py's message may quote the URL, password included: say what, not it.
            raise RequestValidationError(
                "redis URL is malformed (check its port, database number and options)",
                field="redis",
            ) from None
        return client, True
    if isinstance(redis, Redis):
        return redis, False
    raise RequestValidationError(
        "redis must be a redis:// URL or a redis.asyncio.Redis", field="redis"
    )


class _Guard:
    """Runs Redis operations and tracks whether Redis is usable (one WARNING per outage).

    Each operation runs in a task of its own, bounded by ``timeout`` and shielded from the
    caller: a caller cancelled by its deadline leaves, but the operation still ends
    within ``timeout`` and a failure is recorded, so the next caller works alone instead
    of waiting on the same dead Redis (a deadline shorter than the Redis timeout would
    otherwise hide every outage).
    """

    __slots__ = ("_down_until", "_expired", "_fallback", "_pending", "_warned", "timeout")

    def __init__(self, fallback: str, timeout: float) -> None:
        self._fallback = fallback
        self.timeout = timeout
        self._down_until = 0.0
        self._warned = False
        self._pending: set[asyncio.Future[Any]] = set()
        self._expired: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()

    def usable(self) -> bool:
        return clock.now() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        self._down_until = clock.now() + _RETRY_REDIS_AFTER
        if not self._warned:
            self._warned = True
            what = (
                "Redis sent an unusable reply"
                if isinstance(exc, _UnusableReply)
                else ("Redis unreachable")
            )
            logger.warning("%s (%s: %s); %s", what, type(exc).__name__, exc, self._fallback)

    def ok(self) -> None:
        if self._warned:
            self._warned = False
            logger.info("Redis reachable again; sharing through it once more")

    async def run(self, op: Awaitable[_T], timeout: float | None = None) -> _T:
        """``await op`` within ``timeout`` (default: the Redis timeout), shielded."""
        bound = self.timeout if timeout is None else timeout
        task = asyncio.ensure_future(op)
        timer = asyncio.get_running_loop().call_later(bound, self._expire, task)
        self._pending.add(task)
        task.add_done_callback(self._settled)
        task.add_done_callback(lambda _: timer.cancel())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and task in self._expired:
                raise asyncio.TimeoutError(f"no answer within {bound:g}s") from None
            raise  # our caller was cancelled; the operation goes on, bounded

    def _expire(self, task: asyncio.Future[Any]) -> None:
        if not task.done():
            self._expired.add(task)
            task.cancel()

    def _settled(self, task: asyncio.Future[Any]) -> None:
        self._pending.discard(task)
        if task.cancelled():
            if task in self._expired:
                self.failed(asyncio.TimeoutError("no answer in time"))
            return
        exc = task.exception()  # retrieved here: the caller may have left
        if isinstance(exc, _REDIS_ERRORS):
            self.failed(exc)

    async def drain(self) -> None:
        """Wait for operations whose callers left (each one is bounded)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _text(value: object) -> str:
    """A Redis string reply as text, or `_UnusableReply`."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise _UnusableReply("a value that is not UTF-8") from None
    if isinstance(value, str):
        return value
    raise _UnusableReply(f"a {type(value).__name__} where a string was expected")


def _integer(value: object) -> int:
    """A Redis integer (or numeric string) reply, or `_UnusableReply`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _text(value)
    try:
        return int(text)
    except ValueError:
        raise _UnusableReply("a value that is not an integer") from None


def _array(value: object, length: int) -> list[Any]:
    """A Redis array reply of ``length`` items, or `_UnusableReply`."""
    if not isinstance(value, list) or len(value) != length:
        raise _UnusableReply(f"a {type(value).__name__} where {length} values were expected")
    return value


# ---- the shared token -----------------------------------------------------------------

# KEYS[1] token hash. -> {sealed token, expiry (ms, Redis clock), PTTL, Redis now (ms)}
# or nil. The expiry is bound to the sealed token (it is associated data), so a PEXPIRE
# by anyone else cannot keep a token alive longer.
_READ_TOKEN = """
local v = redis.call('HMGET', KEYS[1], 'box', 'exp')
if not v[1] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {v[1], v[2] or '', redis.call('PTTL', KEYS[1]), string.format('%.0f', now)}
"""

# KEYS[1] lock; ARGV owner, TTL ms. -> {1 if we took the lock else 0, Redis now (ms)}.
_TAKE_LOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local took = 0
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then took = 1 end
return {took, string.format('%.0f', now)}
"""

# KEYS[1] token hash, KEYS[2] lock; ARGV sealed token, expiry (ms, Redis clock), the
# token's keyed fingerprint, ttl ms, lock owner, channel. Stores the token, releases the
# lock if still ours, and wakes the waiters, atomically.
_STORE_TOKEN = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'box', ARGV[1], 'exp', ARGV[2], 'id', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[6], 'ready')
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

# KEYS[1] token hash; ARGV field, value. Drops the shared token only if that field still
# holds that value (its fingerprint after a 401, its sealed box when unreadable).
_DROP_TOKEN = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_HKDF_SALT = b"mpasync.redis.RedisTokenCache"
#: The shortest bound a caller's timeout gives a Redis operation (seconds).
_MIN_OP_TIMEOUT = 0.25
#: A token read from Redis claiming a longer life than this is damaged (as in auth).
_MAX_LIFETIME = 365 * 24 * 3600.0


def _derive(secret: str, label: bytes) -> bytes:
    """A 256-bit key for one purpose (``label``), derived from the client secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=label).derive(
        secret.encode()
    )


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
    missed). A 401 drops the shared token only if it is still the stored one.

    The shared token is bound to the secret: its key is an HMAC of (token_url, audience,
    client_id) under a key derived from the client secret (HKDF-SHA256), and it is stored
    sealed with AES-256-GCM under another derived key, its key name and expiry bound as
    associated data. A process with a wrong or rotated secret finds no token and asks
    the endpoint itself; the secret and the plain token are never stored. What is read
    back is checked like the endpoint's answer: a token that does not open, is not
    header-safe, or carries a nonsensical lifetime is dropped (one WARNING) and fetched
    again.

    If Redis is unreachable or slow, the token is fetched locally (one WARNING per
    outage); a call never fails because of Redis. Each Redis operation is bounded by
    ``redis_timeout`` (and by half the caller's timeout when shorter), whoever cancels
    the caller. ``fetch_count`` counts this process's token requests.

    >>> cache = RedisTokenCache("redis://127.0.0.1:6379/0", client_id, client_secret)
    >>> async with Client(token_cache=cache) as mp: ...
    >>> await cache.aclose()

    Args:
        redis: a ``redis://`` URL, or a ``redis.asyncio.Redis`` (not closed by us).
        key_prefix: namespace of the Redis keys.
        timeout: the token endpoint's timeout (as `TokenCache`).
        lock_ttl: how long the lock is held at most (a crashed holder frees it then);
            default ``timeout + redis_timeout``: one fetch, then storing it.
        redis_timeout: the bound on each Redis operation (and the socket timeouts of a
            client made from a URL).
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
        self.redis_timeout = positive_number(redis_timeout, "redis_timeout")
        self.lock_ttl = (
            self.timeout + self.redis_timeout
            if lock_ttl is None
            else positive_number(lock_ttl, "lock_ttl")
        )
        self.poll_interval = positive_number(poll_interval, "poll_interval")
        self._redis, self._owns_redis = _connect(redis, self.redis_timeout)
        #: Closed by the `Client` it is given to (set by `fleet_options`, which made it).
        self.close_with_client = False
        self._name_key = _derive(client_secret, b"mpasync token key name v1")
        self._aead = AESGCM(_derive(client_secret, b"mpasync token seal v1"))
        ident = hmac.new(
            self._name_key, f"{token_url}\n{audience}\n{client_id}".encode(), hashlib.sha256
        ).hexdigest()[:32]
        self.key = f"{key_prefix}:token:{ident}"
        self._lock_key = self.key + ":lock"
        self._channel = self.key + ":ready"
        self._read = self._redis.register_script(_READ_TOKEN)
        self._take = self._redis.register_script(_TAKE_LOCK)
        self._store = self._redis.register_script(_STORE_TOKEN)
        self._release = self._redis.register_script(_RELEASE_LOCK)
        self._drop = self._redis.register_script(_DROP_TOKEN)
        self._guard = _Guard("fetching the token locally until it is back", self.redis_timeout)
        self._op_timeout = self.redis_timeout
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
        await self._guard.drain()
        if self._owns_redis:
            await self._redis.aclose()

    async def get(
        self, session: aiohttp.ClientSession | None = None, *, timeout: float | None = None
    ) -> str:
        """As `TokenCache.get`; a caller's ``timeout`` also bounds each Redis operation to
        half of it, so a slow Redis leaves time to fetch the token locally. Never below
        `_MIN_OP_TIMEOUT`: a call at the end of its deadline must not make a healthy Redis
        look down to everyone."""
        if timeout is not None and timeout > 0:
            self._op_timeout = min(self.redis_timeout, max(timeout / 2, _MIN_OP_TIMEOUT))
        return await super().get(session, timeout=timeout)

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

    def _fingerprint(self, token: str) -> str:
        """Names a token in Redis without revealing it (keyed by the secret)."""
        return hmac.new(self._name_key, b"token\n" + token.encode(), hashlib.sha256).hexdigest()

    def _seal(self, token: str, lifetime: float, expires_ms: int) -> str:
        """The token and its lifetime, encrypted and bound to this key and expiry
        (base64: text, so a client with ``decode_responses=True`` reads it too)."""
        plain = json.dumps({"token": token, "lifetime": lifetime}).encode()
        return self._seal_bytes(plain, expires_ms)

    def _seal_bytes(self, plain: bytes, expires_ms: int) -> str:
        nonce = os.urandom(12)
        box = nonce + self._aead.encrypt(nonce, plain, self._bound(expires_ms))
        return base64.b64encode(box).decode("ascii")

    def _bound(self, expires_ms: int) -> bytes:
        return f"{self.key}\n{expires_ms}".encode()

    def _open(self, found: object) -> tuple[str, float] | None:
        """The shared token and the local lifetime to give it; None when it has expired.

        Raises `_UnusableReply` when the reply is not what our script returns (Redis
        itself misbehaves), `_DamagedToken` when the stored value is not a token of ours.
        """
        raw_box, raw_exp, raw_pttl, raw_now = _array(found, 4)
        pttl, now_ms = _integer(raw_pttl), _integer(raw_now)
        try:
            box = base64.b64decode(_text(raw_box), validate=True)
            expires_ms = _integer(raw_exp)
        except (_UnusableReply, ValueError):
            raise _DamagedToken("a value that is not a sealed token") from None
        if len(box) < 12 + 16:
            raise _DamagedToken("a value that is not a sealed token")
        try:
            plain = self._aead.decrypt(box[:12], box[12:], self._bound(expires_ms))
        except InvalidTag:
            raise _DamagedToken("a token sealed under another secret, or altered") from None
        try:
            data = json.loads(plain)
        except (ValueError, RecursionError):
            data = None
        token = data.get("token") if isinstance(data, dict) else None
        lifetime = data.get("lifetime") if isinstance(data, dict) else None
        if not isinstance(token, str) or not header_safe_token(token):
            raise _DamagedToken("a token that is empty or not header-safe")
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, (int, float))
            or not 0 < lifetime <= _MAX_LIFETIME
        ):
            raise _DamagedToken("a token with an impossible lifetime")
        remaining = min(pttl, expires_ms - now_ms) / 1000.0
        if remaining <= 0:
            return None
        remaining = min(remaining, float(lifetime))
        ceiling = remaining + refresh_margin(lifetime)
        return token, _lifetime_refreshing_at(remaining, ceiling)

    async def _drop_shared(self, token: str) -> None:
        if not self._guard.usable():
            return
        try:
            await self._guard.run(
                self._drop(keys=[self.key], args=["id", self._fingerprint(token)])
            )
        except _REDIS_ERRORS as exc:
            self._guard.failed(exc)

    async def _acquire_token(self, session: aiohttp.ClientSession | None) -> tuple[str, float]:
        if not self._guard.usable():
            return await self._request_token(session)
        try:
            shared = await self._shared_token(session)
        except _REDIS_ERRORS as exc:
            self._guard.failed(exc)
            return await self._request_token(session)
        self._guard.ok()
        return shared

    async def _call(self, op: Awaitable[_T]) -> _T:
        return await self._guard.run(op, self._op_timeout)

    async def _read_shared(self) -> tuple[str, float] | None:
        """The shared token and the local lifetime to give it, or None."""
        try:
            found = await self._call(self._read(keys=[self.key]))
        except UnicodeDecodeError:  # a client with decode_responses=True met binary junk
            logger.warning("dropping the shared token at %s: it is not UTF-8", self.key)
            await self._call(self._redis.delete(self.key))
            return None
        if found is None:
            return None
        try:
            opened = self._open(found)
        except _DamagedToken as exc:
            # Damaged, planted, or sealed under another secret: never used; dropped (if
            # still the same) so the fleet fetches a good one.
            logger.warning("dropping the shared token at %s: Redis held %s", self.key, exc)
            await self._call(self._drop(keys=[self.key], args=["box", found[0]]))
            return None
        if opened is None:
            return None
        token, lifetime = opened
        if token in self._invalidated:
            # A 401 dropped it here; the drop in Redis may not have run yet.
            fingerprint = self._fingerprint(token)
            await self._call(self._drop(keys=[self.key], args=["id", fingerprint]))
            return None
        return token, lifetime

    async def _take_lock(self, owner: str) -> int | None:
        """Try the lock: Redis's clock (ms) if we took it, else None."""
        px = max(1, int(self.lock_ttl * 1000))
        reply = _array(await self._call(self._take(keys=[self._lock_key], args=[owner, px])), 2)
        return _integer(reply[1]) if _integer(reply[0]) == 1 else None

    async def _release_lock(self, owner: str) -> None:
        await self._call(self._release(keys=[self._lock_key], args=[owner, self._channel]))

    async def _shared_token(self, session: aiohttp.ClientSession | None) -> tuple[str, float]:
        found = await self._read_shared()
        if found is not None:
            return found
        owner = secrets.token_hex(16)
        locked_at = await self._take_lock(owner)
        if locked_at is not None:
            return await self._lead(session, owner, locked_at)
        return await self._wait(session, owner)

    async def _lead(
        self, session: aiohttp.ClientSession | None, owner: str, locked_at: int
    ) -> tuple[str, float]:
        """We hold the lock: fetch, store, release, wake the waiters."""
        # Check again: the previous holder may have stored the token and released the
        # lock between our read and our SET NX (storing and releasing are one script, so
        # once we hold the lock this read sees its token).
        found = await self._read_shared()
        if found is not None:
            await self._release_lock(owner)
            return found
        started = clock.now()
        try:
            token, lifetime = await self._request_token(session)
        except BaseException:
            try:
                await self._release_lock(owner)
            except _REDIS_ERRORS as exc:
                self._guard.failed(exc)
            raise
        ttl_ms = int((lifetime - refresh_margin(lifetime) - (clock.now() - started)) * 1000)
        try:
            if ttl_ms >= 1:
                expires_ms = locked_at + ttl_ms  # Redis's clock, never later than true expiry
                args: list[bytes | str | int] = [
                    self._seal(token, lifetime, expires_ms),
                    expires_ms,
                    self._fingerprint(token),
                    ttl_ms,
                    owner,
                    self._channel,
                ]
                await self._call(self._store(keys=[self.key, self._lock_key], args=args))
            else:
                await self._release_lock(owner)
        except _REDIS_ERRORS as exc:
            self._guard.failed(exc)  # we have the token; sharing it failed, not the call
        return token, lifetime

    async def _wait(self, session: aiohttp.ClientSession | None, owner: str) -> tuple[str, float]:
        """Another process holds the lock: wait for its token (or for the lock to free)."""
        deadline = clock.now() + self.lock_ttl + 1.0
        pubsub = self._redis.pubsub()
        try:
            await self._call(pubsub.subscribe(self._channel))
            while clock.now() < deadline:
                # Re-check after subscribing: the token may have landed in between.
                found = await self._read_shared()
                if found is not None:
                    return found
                locked_at = await self._take_lock(owner)
                if locked_at is not None:
                    return await self._lead(session, owner, locked_at)  # holder gave up or died
                await self._guard.run(
                    pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_interval),
                    self.poll_interval + self._op_timeout,
                )
        finally:
            try:
                await asyncio.wait_for(pubsub.aclose(), self.redis_timeout)  # type: ignore[no-untyped-call]
            except _REDIS_ERRORS:
                pass
        logger.warning("no shared token after %.0fs; fetching it locally", self.lock_ttl)
        return await self._request_token(session)


# ---- the shared budget ----------------------------------------------------------------

# KEYS[1] the GCRA's theoretical arrival time (µs, Redis clock), KEYS[2] the adaptive
# state (JSON, may be absent), KEYS[3] the fleet's booked slots (a sorted set, adaptive
# only). ARGV[1] interval (µs) without a state, ARGV[2] 1 + safety, ARGV[3] this
# booking's id, ARGV[4] the fill speed, ARGV[5..7] the horizon (below). Reserves the
# caller's slot at the fleet's current rate; returns {wait µs, the rate ('' = no state),
# 1 if damaged bookings were reset, the slot (µs, Redis clock)}.
# With an adaptive state the window rule of `limits.AdjustableRateLimiter` holds for the
# whole fleet: a slot is booked only where fewer than floor(rate) slots (at least one,
# even below 2/s: a drop from 10/s to 0.5/s must not book its next slot at the old
# spacing next to ten others) were booked in the (1 + safety) s before it, and every slot
# is recorded, whatever the rate. Once usage readings steer the rate ('read'), slots may be
# booked ARGV[4] times as close, so a rise is filled within about half a second. Booked
# slots never go back in time (each one is at or after the last), so counting the
# bookings after (slot - span) counts the window exactly; a slot given up (its owner
# woke late) is removed by its owner (`acquire`), as nobody started in it.
# A slot further ahead than ARGV[5] intervals (the most callers a fleet queues) plus
# ARGV[6] µs, or ARGV[7] µs at most, no rate can explain: the TAT or the booked slots are
# damaged or were set before Redis's clock stepped back. They are reset (the third
# value returned is then 1) rather than park every call.
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
  if r and r > 0 and r < math.huge then
    local fill = 1
    cap = math.max(1, math.floor(r))
    if r >= 2 and stored['read'] == true then fill = tonumber(ARGV[4]) end
    interval = 1000000 * tonumber(ARGV[2]) / (r * fill)
    rate = string.format('%.6f', r)
  end
end
local horizon = math.min(tonumber(ARGV[5]) * interval + tonumber(ARGV[6]), tonumber(ARGV[7]))
local repaired = 0
local raw_tat = redis.call('GET', KEYS[1])
local tat = tonumber(raw_tat)
if raw_tat and not (tat and tat == tat and tat <= now + horizon) then
  tat = nil
  repaired = 1
  redis.call('DEL', KEYS[3])
end
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
  if not (start <= now + horizon) then
    redis.call('DEL', KEYS[3])
    start = now
    repaired = 1
  end
  redis.call('ZADD', KEYS[3], fmt(start), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], math.ceil((start - now + span) / 1000) + 1000)
end
local nxt = start + interval
redis.call('SET', KEYS[1], fmt(nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return {fmt(start - now), rate, repaired, fmt(start)}
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

# KEYS[1] the adaptive state; ARGV the value read ('' = none), new JSON, TTL (s).
# Compare-and-set on the whole value, so a state only Python finds unreadable (a NaN, a
# string rate) is replaced like any other, and the version in it just counts updates.
_WRITE_STATE = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

#: The adaptive state outlives idle periods (a day), then starts afresh.
_STATE_TTL = 86400
#: Compare-and-set attempts per answer before it is dropped (counted in `conflicts`).
_CAS_TRIES = 10
#: Callers a fleet may queue on one budget (each process holds one booking at a time):
#: a booking further ahead than this many intervals (plus the window's span and a
#: second) is damaged state, as is one over `_MAX_HORIZON` seconds ahead.
_MAX_QUEUE = 64
_MAX_HORIZON = 300.0

# What `acquire` learned about this task's attempt, read back by `observe` in the same
# task: (limiter, start on Redis's clock in seconds, the fleet's starts in its window).
_ATTEMPT: ContextVar[tuple[object, float, int] | None] = ContextVar(
    "mpasync_redis_attempt", default=None
)


_STATE_FIELDS = {f.name: f for f in fields(RateState)}


def _stored_state(raw: object) -> tuple[int, RateState, bool] | None:
    """(version, state, read) of a stored adaptive state, or None if it is not one.

    Every field must be a finite number (or None where the state allows it) and the rate
    positive: the law's arithmetic must never meet a string, an infinity or a NaN."""
    try:
        stored = json.loads(_text(raw))
    except (_UnusableReply, ValueError, RecursionError):
        return None
    if not isinstance(stored, dict) or not isinstance(stored.get("state"), dict):
        return None
    version = stored.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        return None
    values = {k: v for k, v in stored["state"].items() if k in _STATE_FIELDS}
    for name, value in values.items():
        if value is None and "None" in str(_STATE_FIELDS[name].type):
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            return None
    rate = values.get("rate")
    if rate is None or rate <= 0:
        return None
    try:
        state = RateState.from_dict(values)
    except (TypeError, ValueError):
        return None
    return version, state, stored.get("read") is True


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

    If Redis is unreachable, slow (each operation is bounded by ``redis_timeout``, even
    when the caller is cancelled first) or answers nonsense, a local limiter at
    ``rate / expected_processes`` takes over (an `AdaptiveRateLimiter` starting there
    when adaptive), with one WARNING per outage, and Redis is tried again every few
    seconds. What Redis holds is checked: a booking further ahead than the rate can
    explain (more than 64 queued slots, or ``4 * expected_processes``, plus the window and
    a second; 300 s at most), as after Redis's clock steps back, is reset with a WARNING
    rather than park calls, and a damaged adaptive state is replaced.

    >>> budget = RedisRateLimiter("redis://127.0.0.1:6379/0", "platform-api", rate=100)
    >>> async with Client(..., rate_limit=budget) as mp: ...
    >>> await budget.aclose()

    Args:
        redis: a ``redis://`` URL, or a ``redis.asyncio.Redis`` (not closed by us).
        key: the budget's name; processes with the same key share it. Stored as
            ``{key_prefix}:rate:{len(key)}:{key}``, so no key meets another's internal
            keys (``x`` and ``x:state`` are two budgets). mParticle's budget is per
            account: name the account in it (`fleet_options` does).
        rate: requests per second for the whole fleet (with ``adaptive``: to start at,
            default 10).
        adaptive: learn the rate from the server's answers (see above).
        expected_processes: how many processes share the budget (for the fallback).
        safety: spacing margin, as in `RateLimiter`: 0.05 for a fixed ``rate``, 0.01 when
            adaptive (default None).
        min_rate, max_rate, target_usage, use_headers: the adaptive law's options, as
            `AdaptiveRateLimiter`'s.
        key_prefix: namespace of the Redis keys.
        redis_timeout: the bound on each Redis operation (and the socket timeouts of a
            client made from a URL).
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
                use_headers=use_headers,
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
        # The user's key is length-prefixed, so no key can end like another key's
        # internal parts: "x" gives "...:1:x" and "...:1:x:state", "x:state" gives
        # "...:7:x:state" (the length before the first ':' decides which key is whose).
        self.key = f"{key_prefix}:rate:{len(key)}:{key}"
        self._state_key = self.key + ":state"
        self._starts_key = self.key + ":starts"
        self._booked_key = self.key + ":booked"
        self.adaptive = adaptive
        self.expected_processes = expected_processes
        self.safety = float(safety)
        redis_timeout = positive_number(redis_timeout, "redis_timeout")
        self._redis, self._owns_redis = _connect(redis, redis_timeout)
        #: Closed by the `Client` it is given to (set by `fleet_options`, which made it).
        self.close_with_client = False
        self._reserve = self._redis.register_script(_RESERVE)
        self._start = self._redis.register_script(_START)
        self._read_state = self._redis.register_script(_READ_STATE)
        self._write_state = self._redis.register_script(_WRITE_STATE)
        self._guard = _Guard(
            f"pacing this process alone at rate / {expected_processes} until it is back",
            redis_timeout,
        )
        self._turn = LaneLock()
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
        await self._guard.drain()
        if self._owns_redis:
            await self._redis.aclose()

    async def acquire(
        self,
        scope: str | None = None,
        *,
        priority: Priority = INTERACTIVE,
        deadline: float | None = None,
    ) -> None:
        """Wait for this caller's slot in the fleet's budget.

        A process books one slot at a time, and its callers take turns by lane
        (`mpasync.priority.LaneLock`): an interactive caller books next, before any
        background one, so across a fleet it waits for at most one booking per process.
        With a ``deadline``, a slot the fleet's schedule puts after it is given up at
        once (`limits.Shed`), as is a turn that the callers queued ahead cannot leave in
        time.
        """
        turn = self._turn
        if deadline is not None:
            ahead = turn.waiting(priority)
            soonest = clock.now() + ahead * (1.0 + self.safety) / self._rate
            if ahead and soonest > deadline:
                raise Shed(soonest - clock.now())
        await turn.acquire(priority)
        try:
            while self._guard.usable():
                loop = asyncio.get_running_loop()
                asked = loop.time()  # the slot is at least `wait` after this
                try:
                    wait, booking, _ = await self._book()
                    if deadline is not None and asked + wait > deadline:
                        # No slot in time: give it up (a booked one leaves the fleet's
                        # window; a fixed rate's passes unused: under-used, never over).
                        if booking is not None:
                            await self._guard.run(self._redis.zrem(self._booked_key, booking))
                        raise Shed(wait)
                    if wait > 0:
                        await asyncio.sleep(wait)
                        if loop.time() - (asked + wait) > self.safety / 2:
                            # Woke too late (a stalled loop): starting now could land next
                            # to the slots other processes booked since. Give the slot up
                            # (and its place in the fleet's window: nobody started in it)
                            # and book again; the budget is under-used, never exceeded.
                            self.late += 1
                            if booking is not None:
                                await self._guard.run(self._redis.zrem(self._booked_key, booking))
                            continue
                    if self.adaptive:
                        await self._record_start()
                except _REDIS_ERRORS as exc:
                    self._guard.failed(exc)
                    break
                self._guard.ok()
                return
            _ATTEMPT.set(None)
            await self._fallback().acquire(scope, priority=priority, deadline=deadline)
        finally:
            turn.release()

    async def _book(self) -> tuple[float, str | None, float]:
        """Reserve the next slot of the fleet's timeline: seconds until it, the booking's
        id in the fleet's window (None for a fixed rate, which keeps none), and the slot
        on Redis's clock (seconds)."""
        span = 1.0 + self.safety
        interval_us = span / self._rate * 1e6
        keys = [self.key, self._state_key, self._booked_key]
        booking = f"{self._name}:{next(self._ids)}"
        queue = max(_MAX_QUEUE, 4 * self.expected_processes)
        args: list[str | int | float] = [
            repr(interval_us),
            repr(span),
            booking,
            FILL_SPEED,
            queue,
            repr((2 * span + 1.0) * 1e6),
            repr(_MAX_HORIZON * 1e6),
        ]
        reply = _array(await self._guard.run(self._reserve(keys=keys, args=args)), 4)
        wait_us, raw_rate, repaired = _integer(reply[0]), _text(reply[1]), _integer(reply[2])
        rate = None
        if raw_rate:
            try:
                rate = float(raw_rate)
            except ValueError:
                rate = math.nan
            if not (math.isfinite(rate) and rate > 0):
                raise _UnusableReply("a rate that is not a positive number")
        if not 0 <= wait_us <= _MAX_HORIZON * 1e6:
            raise _UnusableReply(f"a wait of {wait_us} µs")
        if repaired:
            logger.warning(
                "the fleet budget %s held bookings further ahead than its rate explains "
                "(damaged, or Redis's clock stepped back); reset them",
                self.key,
            )
        if rate is not None:
            self._rate = rate
        return wait_us / 1e6, booking if rate is not None else None, _integer(reply[3]) / 1e6

    async def _record_start(self) -> None:
        """Count this start in the fleet's window, for `observe` in the same task."""
        member = f"{self._name}:{next(self._ids)}"
        reply = _array(
            await self._guard.run(self._start(keys=[self._starts_key], args=[member])), 2
        )
        _ATTEMPT.set((self, _integer(reply[0]) / 1e6, _integer(reply[1])))

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
                    # Lost a race: back off exponentially, with full jitter, so that
                    # processes answering in lockstep stop colliding even when a busy
                    # host stretches every read-to-write window (at most 50 ms a try).
                    await asyncio.sleep(random.uniform(0.0, min(0.05, 0.001 * 2**attempt)))
                reply = _array(await self._guard.run(self._read_state(keys=[self._state_key])), 3)
                now = _integer(reply[0]) + _integer(reply[1]) / 1e6
                raw = reply[2]
                if not isinstance(raw, (bytes, str)):
                    raise _UnusableReply(f"a {type(raw).__name__} where a state was expected")
                version, state, read = 0, self.law.initial(now), False
                if raw:
                    found = _stored_state(raw)
                    if found is None:
                        # Not ours, or damaged: start afresh rather than fail a call.
                        logger.warning(
                            "unreadable adaptive state at %s; replacing it", self._state_key
                        )
                    else:
                        version, state, read = found
                new = step(state, now)
                body = json.dumps(
                    {"version": version + 1, "state": new.to_dict(), "read": read or reading}
                )
                written = await self._guard.run(
                    self._write_state(keys=[self._state_key], args=[raw, body, _STATE_TTL])
                )
                if written == 1:
                    self._rate = new.rate
                    return
                self.conflicts += 1
            self.dropped += 1
            logger.debug("adaptive state busy: an answer was dropped after %d tries", tries)
        except _REDIS_ERRORS as exc:
            self._guard.failed(exc)

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
    account_id: int | str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    key: str | None = None,
    token_url: str = DEFAULT_TOKEN_URL,
    audience: str = DEFAULT_AUDIENCE,
    expected_processes: int = 1,
) -> dict[str, Any]:
    """``Client`` keyword arguments sharing the token, and given ``rate`` the budget,
    through the Redis at ``url``.

    ``rate`` is a number (a fixed fleet budget), ``"auto"`` (an adaptive one) or None
    (share the token only). mParticle's budget is per account, so the budget's key names
    the API (``base_url``) and the account (``account_id``; without one, the client id
    stands for it): two accounts on one Redis never slow each other. ``key`` overrides it.
    Close both with ``aclose()`` when done. Used by the command line's ``--redis``::

        async with Client(
            account_id=1, **fleet_options(url, client_id, secret, rate="auto", account_id=1)
        ) as mp: ...
    """
    if isinstance(rate, str) and rate != "auto":
        raise RequestValidationError("rate must be a number, 'auto' or None", field="rate")
    if key is None:
        if not isinstance(base_url, str) or not base_url:
            raise RequestValidationError("base_url must be a URL", field="base_url")
        if account_id is not None:
            if isinstance(account_id, bool) or not str(account_id).strip().isdigit():
                raise RequestValidationError("account_id must be an integer", field="account_id")
            who = f"account:{int(str(account_id).strip())}"
        else:
            digest = hashlib.sha256(str(client_id).encode()).hexdigest()[:16]
            who = f"client:{digest}"
        key = f"platform-api:{base_url.rstrip('/')}:{who}"
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
    for part in options.values():
        part.close_with_client = True  # the Client given them closes them
    return options
