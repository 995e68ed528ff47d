"""What Redis holds is untrusted input: planted, damaged or foreign values are checked
like an HTTP body, discarded with a WARNING (or the process works alone), never raised
and never allowed to park a call."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from redis.asyncio import Redis

from mpasync.auth import header_safe_token
from mpasync.emulator import Emulator
from mpasync.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mpasync.redis import RedisRateLimiter, RedisTokenCache
from tests.redis.server import RedisServer


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def _redis_ms(r: Redis) -> int:
    seconds, micros = await r.time()
    return int(seconds) * 1000 + int(micros) // 1000


# ---- the shared token ------------------------------------------------------------------


def _plain(token: object, lifetime: object = 3600.0, **extra: object) -> bytes:
    return json.dumps({"token": token, "lifetime": lifetime, **extra}).encode()


@pytest.mark.parametrize(
    "plain",
    [
        _plain(""),  # empty: used to wedge every call
        _plain("abc\r\nX-Injected: 1"),  # CRLF: header injection
        _plain("tok en"),
        _plain(42),
        _plain("tok", "abc"),  # lifetime "abc"
        json.dumps({"token": "tok"}).encode(),  # lifetime missing
        _plain("tok", -5),
        _plain("tok", 1e300),
        b"\xff\xfe not utf-8",
        b"[1, 2, 3]",
    ],
)
async def test_a_planted_token_that_fails_the_checks_is_dropped_and_refetched(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, plain: bytes
) -> None:
    # Even sealed under the right secret (a buggy process of the fleet), a token the
    # endpoint's checks would refuse is never used: dropped with one WARNING, refetched.
    async with Emulator() as emu:
        cache = RedisTokenCache(
            redis_server.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, token_url=emu.token_url
        )
        r = Redis.from_url(redis_server.url)
        expires = await _redis_ms(r) + 60_000
        await r.hset(cache.key, mapping={"box": cache._seal_bytes(plain, expires), "exp": expires})
        await r.pexpire(cache.key, 60_000)
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            async with emu.client(token_cache=cache) as mp:
                await mp.apps.list()
                await mp.apps.list()
        assert header_safe_token(await cache.get())
        assert cache.fetch_count == 1 and emu.token_requests == 1
        assert cache._guard.usable()  # shared through Redis again, not an outage
        await r.aclose()
        await cache.aclose()
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "dropping the shared token" in warnings[0]


@pytest.mark.parametrize(
    "fields",
    [
        {"box": b"\xff\xfe\xfd", "exp": b"1"},  # not UTF-8
        {"box": b"bm90IGEgYm94", "exp": b"1"},  # base64 of "not a box"
        {"box": b"%%%", "exp": b"abc"},
        {"exp": b"123"},  # no box at all: not a token
    ],
)
async def test_a_damaged_shared_token_is_dropped_and_refetched(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, fields: dict[str, bytes]
) -> None:
    async with Emulator() as emu:
        cache = RedisTokenCache(
            redis_server.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, token_url=emu.token_url
        )
        r = Redis.from_url(redis_server.url)
        await r.hset(cache.key, mapping=fields)
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            token = await cache.get()
        assert header_safe_token(token) and cache.fetch_count == 1
        assert await r.hget(cache.key, "box") not in (None, fields.get("box"))  # replaced
        await r.aclose()
        await cache.aclose()
    assert len(_warnings(caplog)) == (1 if "box" in fields else 0)


@pytest.mark.parametrize(
    "script",
    [
        "return 42",  # an integer reply
        "return redis.status_reply('OK')",  # +OK
        "return {1, 2}",  # an array of the wrong shape
        "return {'x', 'y', 'z', 'w'}",  # numbers that are not
    ],
)
async def test_a_read_reply_of_the_wrong_type_falls_back_to_a_local_fetch(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, script: str
) -> None:
    # Lua can return anything: a reply our script never gives is Redis misbehaving;
    # the token is fetched locally (one WARNING), nothing else escapes.
    async with Emulator() as emu:
        cache = RedisTokenCache(
            redis_server.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, token_url=emu.token_url
        )
        cache._read = cache._redis.register_script(script)  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            async with emu.client(token_cache=cache) as mp:
                await mp.apps.list()
        assert cache.fetch_count == 1
        await cache.aclose()
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "unusable reply" in warnings[0]


# ---- the shared budget -----------------------------------------------------------------


@pytest.mark.parametrize(
    "tat",
    [
        "hour",  # a TAT an hour ahead: Redis's clock stepped back
        str(10**17),  # a wait of ~3,000 years
        "abc",
        "inf",
        "nan",
    ],
)
@pytest.mark.parametrize("adaptive", [False, True])
async def test_a_booking_far_ahead_never_parks_a_call(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, tat: str, adaptive: bool
) -> None:
    limiter = RedisRateLimiter(redis_server.url, "far", 50, adaptive=adaptive)
    r = Redis.from_url(redis_server.url)
    now_us = await _redis_ms(r) * 1000
    await r.set(limiter.key, str(now_us + 3600 * 10**6) if tat == "hour" else tat)
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        await asyncio.wait_for(limiter.acquire(), 2.0)
        await asyncio.wait_for(limiter.acquire(), 2.0)  # the repaired TAT paces again
    assert limiter._local is None  # still shared through Redis
    assert float(await r.get(limiter.key)) < now_us + 10 * 10**6
    await r.aclose()
    await limiter.aclose()
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "reset" in warnings[0]


async def test_booked_slots_far_ahead_are_reset(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The adaptive fleet's window: 20 slots booked an hour ahead (a clock step) would
    # push every new slot past them.
    limiter = RedisRateLimiter(redis_server.url, "slots", 20, adaptive=True)
    r = Redis.from_url(redis_server.url)
    await r.set(limiter._state_key, json.dumps({"version": 1, "state": {"rate": 20.0}}))
    ahead = await _redis_ms(r) * 1000 + 3600 * 10**6
    await r.zadd(limiter._booked_key, {f"old{i}": ahead + i for i in range(20)})
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        await asyncio.wait_for(limiter.acquire(), 2.0)
    assert await r.zcard(limiter._booked_key) == 1  # only the new booking
    await r.aclose()
    await limiter.aclose()
    assert len(_warnings(caplog)) == 1


@pytest.mark.parametrize(
    "script",
    [
        "return 42",
        "return redis.status_reply('OK')",
        "return {'1'}",
        "return {'100000000000000000', '', 0, '0'}",  # a wait of 10^17 µs
        "return {'-5', '', 0, '0'}",
        "return {'abc', '', 0, '0'}",
        "return {'0', 'nan', 0, '0'}",
        "return {'0', 'abc', 0, '0'}",
    ],
)
async def test_a_reserve_reply_of_the_wrong_kind_paces_locally(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, script: str
) -> None:
    limiter = RedisRateLimiter(redis_server.url, "odd", 50, expected_processes=2)
    limiter._reserve = limiter._redis.register_script(script)  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        await asyncio.wait_for(limiter.acquire(), 2.0)
    assert limiter._local is not None and limiter._local.rate == 25.0
    await limiter.aclose()
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "unusable reply" in warnings[0]


@pytest.mark.parametrize(
    "junk",
    [
        b"\xff\xfe",  # not UTF-8
        b'{"version": 1, "state": {"rate": "abc"}}',
        b'{"version": 1, "state": {"rate": 5, "w_max": NaN}}',
        b'{"version": Infinity, "state": {"rate": 5}}',
        b'{"version": 1, "state": {"rate": 5, "last_decrease": "x"}}',
        b'{"version": 1, "state": {"rate": -3}}',
        b"[" * 100_000,
    ],
)
async def test_an_adaptive_state_with_nonsense_values_is_replaced(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, junk: bytes
) -> None:
    limiter = RedisRateLimiter(redis_server.url, "state", 20, adaptive=True)
    r = Redis.from_url(redis_server.url)
    await r.set(limiter._state_key, junk)
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        await limiter.acquire()
        await limiter.observe(None, 200, {"X-mp-rate-limit-percentage-used": "5"})
    stored = json.loads(await r.get(limiter._state_key))
    assert stored["version"] == 1 and stored["state"]["rate"] > 0
    assert limiter._local is None and limiter.dropped == 0
    await r.aclose()
    await limiter.aclose()
    assert any("unreadable adaptive state" in w for w in _warnings(caplog))
