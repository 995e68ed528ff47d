"""What the shared token and the shared budget both need from Redis: connecting from a URL
or a client, a bounded and shielded call that tracks outages (one WARNING each), checks of
the replies, and the Lua scripts shipped beside this module.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable
from importlib import resources
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mpasync import clock
from mpasync.errors import RequestValidationError

logger = logging.getLogger("mpasync")

_T = TypeVar("_T")


class _UnusableReply(RedisError):
    """Redis answered something our scripts never return (another writer, damage)."""


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


def _lua(name: str) -> str:
    """The Lua script ``lua/{name}.lua`` of this package (registered by its user)."""
    script = resources.files("mpasync.redis").joinpath(f"lua/{name}.lua")
    return script.read_text(encoding="utf-8")
