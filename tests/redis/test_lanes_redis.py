"""Priority lanes in the fleet limiter (issue 21): `RedisRateLimiter` books one slot at a
time per process, and its callers take turns by lane, so an interactive call books next
and a migration in the same process never makes it wait for the whole queue."""

from __future__ import annotations

import asyncio

import pytest

from mpasync.limits import Shed
from mpasync.priority import BACKGROUND, INTERACTIVE
from mpasync.redis import RedisRateLimiter
from tests.redis.server import RedisServer


async def test_an_interactive_caller_books_before_the_queued_background_ones(
    redis_server: RedisServer,
) -> None:
    limiter = RedisRateLimiter(redis_server.url, "lanes", rate=20)
    loop = asyncio.get_running_loop()
    try:

        async def background() -> None:
            while True:
                await limiter.acquire(priority=BACKGROUND)

        workers = [asyncio.create_task(background()) for _ in range(30)]
        await asyncio.sleep(0.3)
        waits: list[float] = []
        for _ in range(6):
            t0 = loop.time()
            await limiter.acquire(priority=INTERACTIVE)
            waits.append(loop.time() - t0)
            await asyncio.sleep(0.2)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    finally:
        await limiter.aclose()
    # One queued background caller ahead at most (the one holding the turn): about two
    # slots of 50 ms. In arrival order it was 30 slots, 1.5 s; 0.6 s is a margin a busy
    # machine cannot eat and a first-come queue cannot meet.
    assert max(waits) < 0.6, waits


async def test_a_slot_after_the_deadline_is_given_up_at_once(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(redis_server.url, "shed", rate=2)
    other = RedisRateLimiter(redis_server.url, "shed", rate=2)  # another process
    loop = asyncio.get_running_loop()
    try:
        for _ in range(4):  # the fleet's timeline is booked two seconds ahead
            await asyncio.wait_for(other.acquire(), 10)
        t0 = loop.time()
        with pytest.raises(Shed) as shed:
            await limiter.acquire(deadline=loop.time() + 0.2)
        assert loop.time() - t0 < 0.5  # not after the deadline, let alone the slot
        assert shed.value.retry_after > 0.2
        await asyncio.wait_for(limiter.acquire(deadline=loop.time() + 5.0), 10)
    finally:
        await limiter.aclose()
        await other.aclose()
