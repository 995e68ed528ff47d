"""`RedisRateLimiter(adaptive=True)`: the adaptive law's state shared through Redis."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from multidict import CIMultiDict
from redis.asyncio import Redis

from mpasync.adaptive import AdaptiveRateLimiter
from mpasync.emulator import Emulator
from mpasync.errors import RequestValidationError
from mpasync.redis import RedisRateLimiter, fleet_options
from mpasync.redis.budget import _ATTEMPT
from tests.redis.fleet import busiest_window, job_for, run_fleet
from tests.redis.server import RedisServer, free_port

SPEED_429 = CIMultiDict({"X-mp-rate-limit-exceeded": "account", "Retry-After": "1"})
APP_429 = CIMultiDict({"X-mp-rate-limit-exceeded": "app", "Retry-After": "1"})


async def _answer(limiter: RedisRateLimiter, status: int, headers: CIMultiDict[str]) -> None:
    """One attempt as the transport makes it: acquire, then observe in the same task."""
    await limiter.acquire()
    await limiter.observe(None, status, headers)


async def test_a_429_seen_by_one_process_slows_every_process(redis_server: RedisServer) -> None:
    a = RedisRateLimiter(redis_server.url, "acct", 100, adaptive=True)
    b = RedisRateLimiter(redis_server.url, "acct", 100, adaptive=True)
    await _answer(a, 200, CIMultiDict())
    await _answer(b, 200, CIMultiDict())
    before = a.rate
    await _answer(a, 429, SPEED_429)
    assert a.rate < before
    await b.acquire()  # b learns the fleet's rate from Redis on its next start
    assert b.rate == pytest.approx(a.rate, rel=1e-6)
    for x in (a, b):
        await x.aclose()


async def test_usage_headers_move_the_fleet_rate(redis_server: RedisServer) -> None:
    a = RedisRateLimiter(redis_server.url, "acct", 10, adaptive=True)
    b = RedisRateLimiter(redis_server.url, "acct", 10, adaptive=True)
    # One start in the window was 2 % of the budget: there is room for far more.
    await _answer(a, 200, CIMultiDict({"X-mp-rate-limit-percentage-used": "2"}))
    assert a.rate > 10
    await b.acquire()
    assert b.rate == pytest.approx(a.rate, rel=1e-6)
    for x in (a, b):
        await x.aclose()


async def test_an_app_limit_does_not_slow_the_account(redis_server: RedisServer) -> None:
    a = RedisRateLimiter(redis_server.url, "acct", 50, adaptive=True)
    await _answer(a, 200, CIMultiDict())
    before = a.rate
    await _answer(a, 429, APP_429)
    assert a.rate == before
    await a.aclose()


async def test_the_fleet_window_counts_starts_not_bookings(redis_server: RedisServer) -> None:
    # What the fleet "sent" (compared with the server's usage) counts starts as they
    # happen: a booked slot whose caller never started (cancelled, or asleep) is not
    # in the server's window, and counting it would overestimate the budget.
    # At 4/s slots are ~0.25 s apart: b books the slot after a's and is cancelled while
    # it sleeps towards it; c books once that slot has passed, so it starts at once
    # (no wake-up to be late for) about 0.55 s after a, well inside a's 1-s window.
    a, b, c = (RedisRateLimiter(redis_server.url, "win", 4, adaptive=True) for _ in range(3))
    await a.acquire()
    booked = asyncio.Event()
    book = b._book

    async def book_and_tell() -> tuple[float, str | None, float]:
        slot = await book()
        booked.set()
        return slot

    b._book = book_and_tell  # type: ignore[method-assign]
    sleeper = asyncio.create_task(b.acquire())
    await booked.wait()  # b now sleeps towards its slot
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    await asyncio.sleep(2 * (1 + b.safety) / 4 + 0.05)
    await c.acquire()
    attempt = _ATTEMPT.get()
    assert attempt is not None and attempt[0] is c
    assert attempt[2] == 2  # a and c; b booked but never started
    for x in (a, b, c):
        await x.aclose()


async def test_the_law_hears_the_fleets_starts_of_the_second_before(
    redis_server: RedisServer,
) -> None:
    # An acceleration limit grows from what the whole fleet sent the second before (the
    # law compares each reading with it): Redis counts those starts for every process.
    a, b = (RedisRateLimiter(redis_server.url, "accel", 100, adaptive=True) for _ in range(2))
    await _answer(a, 200, CIMultiDict())
    await _answer(b, 200, CIMultiDict())
    await _answer(a, 200, CIMultiDict())
    # Then one start 1.3 s later: the three are in the second before its window for any
    # lateness of the sleep up to 0.6 s.
    await asyncio.sleep(1.3)
    await b.acquire()
    attempt = _ATTEMPT.get()
    assert attempt is not None and attempt[0] is b
    assert attempt[2:] == (1, 3)  # in its window: itself; in the second before: three
    await b.observe(None, 200, CIMultiDict({"X-mp-rate-limit-percentage-used": "10"}))
    client = Redis.from_url(redis_server.url)
    try:
        stored = json.loads(await client.get(b._state_key))
    finally:
        await client.aclose()
    assert stored["state"]["accel_before"] == 3  # what the law compared the reading with
    for x in (a, b):
        await x.aclose()


@pytest.mark.parametrize("junk", [b"not json", b'{"version": "x"}', b"[1, 2]"])
async def test_an_unreadable_state_is_replaced_not_fatal(
    redis_server: RedisServer, junk: bytes
) -> None:
    r = Redis.from_url(redis_server.url)
    limiter = RedisRateLimiter(redis_server.url, "junk", 20, adaptive=True)
    await r.set(limiter._state_key, junk)
    await _answer(limiter, 200, CIMultiDict({"X-mp-rate-limit-percentage-used": "5"}))
    stored = json.loads(await r.get(limiter._state_key))
    assert stored["version"] == 1
    assert limiter._local is None  # paced through Redis all along
    await r.aclose()
    await limiter.aclose()


async def test_concurrent_updates_are_not_lost(redis_server: RedisServer) -> None:
    # 6 processes report at once; the versioned compare-and-set retries lost races, so
    # every answer lands: the version counts them all.
    limiters = [RedisRateLimiter(redis_server.url, "cas", 1000, adaptive=True) for _ in range(6)]

    async def answers(limiter: RedisRateLimiter) -> None:
        for _ in range(5):
            await _answer(limiter, 200, CIMultiDict({"X-mp-rate-limit-percentage-used": "10"}))

    await asyncio.gather(*(answers(x) for x in limiters))
    r = Redis.from_url(redis_server.url)
    stored = json.loads(await r.get(limiters[0]._state_key))
    await r.aclose()
    assert sum(x.dropped for x in limiters) == 0
    assert stored["version"] == 30
    assert stored["state"]["rate"] > 0
    for x in limiters:
        await x.aclose()


async def test_redis_down_falls_back_to_a_local_adaptive_limiter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{free_port()}/0", "k", 40, adaptive=True, expected_processes=4
    )
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        await _answer(limiter, 200, CIMultiDict())
        await _answer(limiter, 429, SPEED_429)
    local = limiter._local
    assert isinstance(local, AdaptiveRateLimiter)
    assert local.rate < 10.0  # started at 40 / 4 and learned from the 429 locally
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
    await limiter.aclose()


async def test_a_fleet_finds_a_hidden_budget(redis_server: RedisServer) -> None:
    # The fleet is not told the budget (40/s); starting at 20/s it finds it without a
    # storm of 429s, and the two processes share one token.
    async with Emulator(rate_limit=40) as emu:
        job = job_for(
            emu, redis_server.url, mode="paced", calls=40, key="hidden", adaptive=True, rate=20
        )
        results = await run_fleet([job] * 2)
        v1 = [e for e in emu.request_log if e.path.startswith("/v1/")]
        assert emu.token_requests == 1
    assert [r["failed"] for r in results] == [[]] * 2
    assert sum(e.status == 429 for e in v1) <= 0.1 * len(v1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate": 0}, "rate"),
        ({"min_rate": -1}, "min_rate"),
        ({"target_usage": 1.5}, "target_usage"),
        ({"max_rate": 0.1, "min_rate": 1}, "max_rate"),
        ({"use_headers": "yes"}, "use_headers"),
    ],
)
def test_bad_adaptive_options_are_rejected(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        RedisRateLimiter("redis://127.0.0.1:1/0", "k", adaptive=True, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_adaptive_must_be_a_bool() -> None:
    with pytest.raises(RequestValidationError) as info:
        RedisRateLimiter("redis://127.0.0.1:1/0", "k", 5, adaptive="yes")  # type: ignore[arg-type]
    assert info.value.field == "adaptive"


async def _fleet_slots(
    redis_server: RedisServer, key: str, read: bool, n: int, safety: float
) -> list[float]:
    """The slots (Redis's clock) of ``n`` starts by two limiters (two "processes") at a
    stored fleet rate of 20/s.

    The slots, not the wake-up times: where the fleet's bookings lie is what the window
    rule decides, and a loaded machine's late wake-ups would blur it (a start lies within
    ``safety / 2`` after its slot, or its slot is given up and booked again).
    """
    r = Redis.from_url(redis_server.url)
    limiters = [
        RedisRateLimiter(redis_server.url, key, 20, adaptive=True, safety=safety) for _ in range(2)
    ]
    state = {"version": 1, "state": {"rate": 20.0}, **({"read": True} if read else {})}
    await r.set(limiters[0]._state_key, json.dumps(state))
    await r.aclose()
    slots: list[float] = []
    booked: dict[asyncio.Task[None] | None, float] = {}

    def recording(limiter: RedisRateLimiter) -> None:
        book = limiter._book

        async def book_and_record() -> tuple[float, str | None, float]:
            found = await book()
            booked[asyncio.current_task()] = found[2]  # type: ignore[index]
            return found

        limiter._book = book_and_record  # type: ignore[method-assign]

    async def worker(limiter: RedisRateLimiter) -> None:
        while len(slots) < n:
            await limiter.acquire()
            slots.append(booked[asyncio.current_task()])  # type: ignore[index]

    for x in limiters:
        recording(x)
    await asyncio.gather(*(worker(x) for x in limiters for _ in range(3)))
    for x in limiters:
        assert x._local is None  # paced through Redis all along
        await x.aclose()
    return sorted(slots)[:n]


async def test_the_fleet_fills_its_window_fast_once_readings_steer_it(
    redis_server: RedisServer,
) -> None:
    # As `limits.AdjustableRateLimiter`, fleet-wide: the 20 slots of a window are booked
    # twice as close (19 x 1.2 / 40 = 0.57 s, against 1.14 s at the rate itself), and
    # the 21st waits for the first to leave the window (1 + safety = 1.2 s). A safety of
    # 0.2 lets a wake-up be 0.1 s late before its slot is given up.
    slots = await _fleet_slots(redis_server, "fill", True, 30, safety=0.2)
    assert slots[19] - slots[0] < 0.85
    assert slots[20] - slots[0] >= 1.2 - 1e-5
    assert busiest_window(slots) <= 20


async def test_without_readings_the_fleet_books_at_the_rate_itself(
    redis_server: RedisServer,
) -> None:
    slots = await _fleet_slots(redis_server, "probe", False, 21, safety=0.01)
    assert slots[19] - slots[0] >= 19 * 1.01 / 20 - 1e-5  # 19 intervals of (1 + 0.01) / 20
    assert busiest_window(slots) <= 20


async def test_two_accounts_on_one_redis_keep_their_own_budgets(
    redis_server: RedisServer,
) -> None:
    # fleet_options names the budget after the API and the account: account A's 429s
    # slow A's fleet only. Before, every account shared "mpasync:rate:platform-api".
    def budget(account: int) -> RedisRateLimiter:
        options = fleet_options(redis_server.url, "id", "secret", rate="auto", account_id=account)
        limiter: RedisRateLimiter = options["rate_limit"]
        parts.extend(options.values())
        return limiter

    parts: list[object] = []
    a, b = budget(1), budget(2)
    assert a.key != b.key and "account:1" in a.key and "account:2" in b.key
    await _answer(a, 200, CIMultiDict())
    await _answer(b, 200, CIMultiDict())
    before = b.rate
    for _ in range(3):
        await _answer(a, 429, SPEED_429)
    assert a.rate < before
    await b.acquire()  # b reads its own state from Redis
    assert b.rate == before
    # Another API base URL is another budget too.
    other_api = fleet_options(
        redis_server.url, "id", "secret", rate=5, account_id=1, base_url="https://api.eu"
    )
    assert other_api["rate_limit"].key not in (a.key, b.key)
    parts.extend(other_api.values())
    for part in parts:
        await part.aclose()  # type: ignore[attr-defined]


async def test_user_keys_never_collide_with_internal_keys(redis_server: RedisServer) -> None:
    # "x" keeps its adaptive state at an internal key; a budget the user named "x:state"
    # must not be that key (its fixed-rate bookings would overwrite the state).
    x = RedisRateLimiter(redis_server.url, "x", 50, adaptive=True)
    y = RedisRateLimiter(redis_server.url, "x:state", 1)
    names = {x.key, x._state_key, x._starts_key, x._booked_key}
    assert not names & {y.key, y._state_key, y._starts_key, y._booked_key}
    await _answer(x, 429, SPEED_429)
    slowed = x.rate
    await y.acquire()
    r = Redis.from_url(redis_server.url)
    stored = json.loads(await r.get(x._state_key))
    await r.aclose()
    assert stored["state"]["rate"] == pytest.approx(slowed)
    await x.acquire()
    assert x.rate == pytest.approx(slowed)
    for limiter in (x, y):
        await limiter.aclose()
