"""A Redis that hangs: every operation is bounded by its own timeout, whoever cancels the
caller, and the outage is recorded so the next calls work alone."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from redis.asyncio import Redis

from mpasync.emulator import Emulator
from mpasync.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mpasync.errors import DeadlineExceededError, MParticleError
from mpasync.redis import RedisRateLimiter, RedisTokenCache
from mpasync.retry import RetryPolicy
from tests.redis.server import BlackHole, RedisServer


async def test_a_deadline_shorter_than_the_redis_timeout_still_records_the_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis never answers (2 s timeout); each call's deadline (1 s) cancels it first.
    # The Redis operation goes on in its own task, fails at 2 s, and that is recorded:
    # from then on calls pace locally. Before, every call failed for as long as it lasted.
    async with BlackHole() as hole, Emulator() as emu:
        limiter = RedisRateLimiter(hole.url, "k", rate=100, redis_timeout=2.0)
        outcomes: list[str] = []
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            async with emu.client(rate_limit=limiter, deadline=1.0) as mp:
                for _ in range(10):
                    try:
                        await mp.apps.list()
                        outcomes.append("ok")
                    except DeadlineExceededError:
                        outcomes.append("deadline")
        await limiter.aclose()
    # The first calls (until the 2-s timeout fires) may miss their deadline; after it
    # every call succeeds.
    assert outcomes[-6:] == ["ok"] * 6, outcomes
    assert outcomes.count("deadline") <= 4, outcomes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0]


async def test_a_cancelled_caller_leaves_no_unrecorded_redis_failure() -> None:
    async with BlackHole() as hole:
        limiter = RedisRateLimiter(hole.url, "k", rate=100, redis_timeout=0.3)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limiter.acquire(), 0.05)
        await asyncio.sleep(0.5)  # the operation times out on its own, unobserved
        assert not limiter._guard.usable()
        await asyncio.wait_for(limiter.acquire(), 1.0)  # paced locally at once
        assert limiter._local is not None
        await limiter.aclose()


async def test_a_slow_redis_does_not_blame_the_token_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Client(timeout=1), one attempt, a Redis that never answers (2 s timeout): each Redis
    # operation gets half the caller's timeout, so the token is fetched locally in time
    # instead of the call failing with "token endpoint did not answer within 1s".
    async with BlackHole() as hole, Emulator() as emu:
        cache = RedisTokenCache(
            hole.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, token_url=emu.token_url
        )
        failures: list[MParticleError] = []
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            async with emu.client(
                token_cache=cache, timeout=1.0, retry=RetryPolicy(max_attempts=1)
            ) as mp:
                for _ in range(3):
                    try:
                        await mp.apps.list()
                    except MParticleError as exc:
                        failures.append(exc)
        await cache.aclose()
        assert failures == []
        assert cache.fetch_count == 1
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


async def test_the_lock_lives_about_as_long_as_one_fetch(redis_server: RedisServer) -> None:
    # A holder whose process dies mid-fetch stalls the others until its lock expires:
    # about the token timeout (plus one Redis timeout to store), not 2 * timeout + 5.
    async with Emulator() as emu:

        def cache(**kwargs: float) -> RedisTokenCache:
            return RedisTokenCache(
                redis_server.url,
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                token_url=emu.token_url,
                timeout=3.0,
                redis_timeout=1.0,
                **kwargs,
            )

        holder, other = cache(), cache(poll_interval=0.05)
        assert holder.lock_ttl == 4.0
        fetching = asyncio.Event()

        async def hang(session: object) -> tuple[str, float]:
            fetching.set()
            await asyncio.Event().wait()  # mid-fetch, forever
            raise AssertionError("unreachable")

        holder._request_token = hang  # type: ignore[method-assign,assignment]
        task = asyncio.create_task(holder.get())
        await fetching.wait()
        r = Redis.from_url(redis_server.url)
        pttl = await r.pttl(holder._lock_key)
        assert 0 < pttl <= 4000
        # The holder's process dies: nothing releases its lock, which stays until it
        # expires; the other process takes over then.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await r.set(holder._lock_key, "a process that died", px=pttl)
        started = time.monotonic()
        await other.get()
        waited = time.monotonic() - started
        assert 1.0 < waited < 8.0  # the lock's 4 s (old default: 11 s), room for load
        assert other.fetch_count == 1
        await r.aclose()
        await holder.aclose()
        await other.aclose()
