"""The fleet's shared OAuth token: `RedisTokenCache`, one token request for every process
on a Redis, the token sealed (AES-256-GCM, keys derived from the client secret by HKDF) so
only holders of the secret can read or plant it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
from collections import deque
from collections.abc import Awaitable
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio import Redis

from mpasync import clock
from mpasync._checks import positive_number
from mpasync.auth import (
    DEFAULT_AUDIENCE,
    DEFAULT_TOKEN_URL,
    TokenCache,
    header_safe_token,
    refresh_margin,
)
from mpasync.errors import RequestValidationError
from mpasync.redis.connection import (
    _REDIS_ERRORS,
    _array,
    _connect,
    _Guard,
    _integer,
    _lua,
    _text,
    _UnusableReply,
    logger,
)
from mpasync.wire import Wire

_T = TypeVar("_T")


class _DamagedToken(Exception):
    """The shared token does not open with our secret, or is not a usable token."""


# The scripts (lua/*.lua: each says its KEYS, ARGV and reply).
_READ_TOKEN = _lua("read_token")
_TAKE_LOCK = _lua("take_lock")
_STORE_TOKEN = _lua("store_token")
_RELEASE_LOCK = _lua("release_lock")
_DROP_TOKEN = _lua("drop_token")

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

    async def get(self, wire: Wire | None = None, *, timeout: float | None = None) -> str:
        """As `TokenCache.get`; a caller's ``timeout`` also bounds each Redis operation to
        half of it, so a slow Redis leaves time to fetch the token locally. Never below
        `_MIN_OP_TIMEOUT`: a call at the end of its deadline must not make a healthy Redis
        look down to everyone."""
        if timeout is not None and timeout > 0:
            self._op_timeout = min(self.redis_timeout, max(timeout / 2, _MIN_OP_TIMEOUT))
        return await super().get(wire, timeout=timeout)

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

    async def _acquire_token(self, wire: Wire | None) -> tuple[str, float]:
        if not self._guard.usable():
            return await self._request_token(wire)
        try:
            shared = await self._shared_token(wire)
        except _REDIS_ERRORS as exc:
            self._guard.failed(exc)
            return await self._request_token(wire)
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

    async def _shared_token(self, wire: Wire | None) -> tuple[str, float]:
        found = await self._read_shared()
        if found is not None:
            return found
        owner = secrets.token_hex(16)
        locked_at = await self._take_lock(owner)
        if locked_at is not None:
            return await self._lead(wire, owner, locked_at)
        return await self._wait(wire, owner)

    async def _lead(self, wire: Wire | None, owner: str, locked_at: int) -> tuple[str, float]:
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
            token, lifetime = await self._request_token(wire)
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

    async def _wait(self, wire: Wire | None, owner: str) -> tuple[str, float]:
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
                    return await self._lead(wire, owner, locked_at)  # holder gave up or died
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
        return await self._request_token(wire)
