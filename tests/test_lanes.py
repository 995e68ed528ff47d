"""Priority lanes (issue 21): a plain call goes before bulk work sharing its budget.

Everything here runs on a virtual clock (`tests.virtual_time`): waits take no wall time,
so the figures asserted are the schedule's own, whatever the machine is doing.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import AdaptiveRateLimiter, Client, RateLimiter, RateLimitError, RequestValidationError
from mpasync.limits import AdjustableRateLimiter, ConcurrencyLimiter, Shed
from mpasync.priority import BACKGROUND, BACKGROUND_TURN, INTERACTIVE, Lanes, in_lane, lane_of
from tests.virtual_time import run

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"
APP = {"data": [{"id": 7, "name": "Shop"}], "dataType": "application", "errors": None}


def _futures(n: int) -> list[asyncio.Future[None]]:
    loop = asyncio.new_event_loop()
    try:
        return [loop.create_future() for _ in range(n)]
    finally:
        loop.close()


def test_interactive_first_with_a_minimum_background_share() -> None:
    lanes = Lanes()
    background = _futures(10)
    interactive = _futures(10)
    for fut in background:
        lanes.push(BACKGROUND, fut)
    for fut in interactive:
        lanes.push(INTERACTIVE, fut)
    order = []
    while (fut := lanes.pop()) is not None:
        order.append("i" if fut in interactive else "b")
    share = BACKGROUND_TURN - 1
    expected = ("i" * share + "b") * 2 + "ii" + "b" * 8
    assert "".join(order) == expected
    # Cancelled waiters are skipped.
    fut_a, fut_b = _futures(2)
    lanes.push(INTERACTIVE, fut_a)
    lanes.push(BACKGROUND, fut_b)
    fut_a.cancel()
    assert lanes.pop() is fut_b
    assert not lanes


def test_lane_of_prefers_the_views_option_then_the_runs_lane() -> None:
    assert lane_of(None) == INTERACTIVE
    with in_lane(BACKGROUND):
        assert lane_of(None) == BACKGROUND
        assert lane_of(INTERACTIVE) == INTERACTIVE
    assert lane_of(None) == INTERACTIVE


def test_an_interactive_waiter_takes_the_next_rate_slot() -> None:
    async def main() -> tuple[float, list[str]]:
        limiter = RateLimiter(10)  # a slot every 0.101 s
        loop = asyncio.get_running_loop()
        order: list[str] = []

        async def one(lane: Any, tag: str) -> float:
            t0 = loop.time()
            await limiter.acquire(priority=lane)
            order.append(tag)
            return loop.time() - t0

        bulk = [asyncio.create_task(one(BACKGROUND, "b")) for _ in range(30)]
        await asyncio.sleep(0.25)  # three slots in: 27 background attempts still queue
        waited = await one(INTERACTIVE, "i")
        await asyncio.gather(*bulk)
        return waited, order

    waited, order = run(main())
    assert waited <= 0.101 + 1e-6  # the next slot, not 27 slots (2.7 s) later
    assert order.index("i") <= 4


def test_background_is_never_starved() -> None:
    async def main() -> list[str]:
        limiter = RateLimiter(100)
        order: list[str] = []

        async def one(lane: Any, tag: str) -> None:
            await limiter.acquire(priority=lane)
            order.append(tag)

        await limiter.acquire()  # the timeline starts: everyone below waits
        tasks = [asyncio.create_task(one(BACKGROUND, "b")) for _ in range(20)]
        tasks += [asyncio.create_task(one(INTERACTIVE, "i")) for _ in range(80)]
        await asyncio.gather(*tasks)
        return order

    order = run(main())
    first_hundred = order[:100]
    # While both lanes wait, at least one turn in BACKGROUND_TURN goes to background.
    assert first_hundred.count("b") == 20
    assert "".join(order[:BACKGROUND_TURN]) == "i" * (BACKGROUND_TURN - 1) + "b"


def test_a_call_the_schedule_cannot_serve_in_time_is_shed_at_once() -> None:
    async def main() -> tuple[float, float, float]:
        limiter = RateLimiter(10)
        loop = asyncio.get_running_loop()
        await limiter.acquire()
        queued = [asyncio.create_task(limiter.acquire(priority=INTERACTIVE)) for _ in range(9)]
        await asyncio.sleep(0)
        t0 = loop.time()
        with pytest.raises(Shed) as shed:
            await limiter.acquire(deadline=t0 + 0.5)  # 9 ahead: about 0.9 s away
        shed_after = loop.time() - t0
        ok_at = loop.time()
        await limiter.acquire(deadline=ok_at + 5.0)  # reachable: waits its turn
        await asyncio.gather(*queued)
        return shed.value.retry_after, shed_after, loop.time() - ok_at

    retry_after, shed_after, waited = run(main())
    assert shed_after == 0.0  # failed at once, no wait
    assert 0.85 < retry_after < 1.1
    assert 0.9 < waited < 1.1


def test_concurrency_permits_go_to_interactive_first_and_are_never_leaked() -> None:
    async def main() -> tuple[list[str], int]:
        permits = ConcurrencyLimiter(2)
        await permits.acquire()
        await permits.acquire()
        order: list[str] = []

        async def take(lane: Any, tag: str) -> None:
            await permits.acquire(lane)
            order.append(tag)

        bg = asyncio.create_task(take(BACKGROUND, "b"))
        await asyncio.sleep(0)
        fg = asyncio.create_task(take(INTERACTIVE, "i"))
        gone = asyncio.create_task(take(INTERACTIVE, "x"))
        await asyncio.sleep(0)
        gone.cancel()
        permits.release()
        await asyncio.sleep(0)
        permits.release()
        await asyncio.gather(fg, bg)
        # A reservation never takes a permit; a claim loses to a waiting acquirer.
        permits.release()
        permits.release()
        await permits.reserve()
        assert permits.in_use == 0
        await permits.acquire()
        await permits.acquire()
        waiter = asyncio.create_task(permits.acquire(INTERACTIVE))
        await asyncio.sleep(0)
        permits.release()  # handed to the waiter, not to the claim
        assert not permits.claim()
        await waiter
        permits.release()
        permits.release()
        return order, permits.in_use

    order, in_use = run(main())
    assert order == ["i", "b"]
    assert in_use == 0


async def _web_and_bulk(
    rate_limit: Any, *, bulk_items: int = 120, concurrency: int = 8
) -> dict[str, Any]:
    """A bulk map at concurrency 64 beside one apps.get every 0.2 s, on one client."""
    loop = asyncio.get_running_loop()
    in_use: list[int] = []
    with aioresponses() as mocked:
        mocked.post(TOKEN_URL, payload={"access_token": "t", "expires_in": 28800}, repeat=True)
        mocked.get(re.compile(rf"{BASE}/v1/apps/\d+.*"), payload=APP, repeat=True)
        async with Client(
            client_id="id",
            client_secret="secret",
            account_id=1,
            base_url=BASE,
            token_url=TOKEN_URL,
            rate_limit=rate_limit,
            max_concurrency=concurrency,
        ) as mp:
            permits = mp.transport.concurrency

            async def item(app_id: int) -> None:
                in_use.append(permits.in_use)
                await mp.apps.get(app_id)

            bulk = asyncio.create_task(mp.bulk.map(item, range(bulk_items), concurrency=64))
            latencies: list[float] = []
            while not bulk.done():
                t0 = loop.time()
                await mp.apps.get(1)
                latencies.append(loop.time() - t0)
                await asyncio.sleep(0.2)
            report = await bulk
    return {"latencies": latencies, "report": report, "in_use": in_use}


@pytest.mark.parametrize("rate_limit", [50, "shared", "auto"])
def test_a_web_request_beside_a_migration_waits_about_one_slot(rate_limit: Any) -> None:
    async def main() -> dict[str, Any]:
        limit = rate_limit
        if limit == "shared":
            limit = RateLimiter(50)
        elif limit == "auto":  # made inside the loop: its law starts on the loop's clock
            limit = AdaptiveRateLimiter(initial_rate=50, max_rate=50)
        return await _web_and_bulk(limit)

    out = run(main())
    latencies = sorted(out["latencies"])
    assert len(latencies) >= 5
    # One slot at 50/s is ~20 ms; before lanes this was ~1.3 s (the whole bulk queue).
    assert latencies[-1] <= 0.045, latencies
    report = out["report"]
    assert report.ok and len(report.succeeded) == report.total == 120
    # Background attempts never sit on permits while waiting for slots: at most the
    # attempts actually in flight (one at a time here, as answers come at once).
    assert max(out["in_use"]) <= 2


def test_priority_is_an_option_a_view_and_a_bulk_helper_take() -> None:
    async def main() -> None:
        async with Client(client_id="id", client_secret="s", account_id=1) as mp:
            assert mp.transport.priority is None
            view = mp.with_options(priority="background")
            assert view.transport.priority == BACKGROUND
            with pytest.raises(RequestValidationError, match="interactive' or 'background"):
                mp.with_options(priority="urgent")  # type: ignore[arg-type]
            with pytest.raises(RequestValidationError, match="priority"):
                Client(client_id="id", client_secret="s", account_id=1, priority="now")  # type: ignore[arg-type]
            with pytest.raises(RequestValidationError, match="priority"):
                await mp.bulk.map(_noop, [1], priority="low")  # type: ignore[arg-type]

    run(main())


async def _noop(item: int) -> None:
    return None


def test_a_view_with_interactive_priority_inside_a_bulk_run_goes_first() -> None:
    async def main() -> list[str]:
        limiter = RateLimiter(10)
        order: list[str] = []
        await limiter.acquire()

        async def item(tag: str) -> None:
            await limiter.acquire(priority=lane_of(None))
            order.append(tag)

        from mpasync.bulk import run_bulk

        bulk = asyncio.create_task(run_bulk(item, ["b"] * 6, concurrency=6))
        await asyncio.sleep(0)
        await limiter.acquire(priority=lane_of(None))  # a plain call: interactive
        order.append("i")
        await bulk
        return order

    order = run(main())
    assert order[0] == "i"


def test_shed_reaches_the_caller_as_a_rate_limit_error_with_retry_after() -> None:
    async def main() -> RateLimitError:
        limiter = RateLimiter(5)
        with aioresponses() as mocked:
            mocked.post(TOKEN_URL, payload={"access_token": "t", "expires_in": 28800}, repeat=True)
            mocked.get(re.compile(rf"{BASE}/v1/apps/\d+.*"), payload=APP, repeat=True)
            async with Client(
                client_id="id",
                client_secret="secret",
                account_id=1,
                base_url=BASE,
                token_url=TOKEN_URL,
                rate_limit=limiter,
            ) as mp:
                busy = [asyncio.create_task(mp.apps.get(i)) for i in range(10)]
                await asyncio.sleep(0.01)
                hurried = mp.with_options(deadline=0.3)
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                with pytest.raises(RateLimitError) as caught:
                    await hurried.apps.get(1)
                assert loop.time() - t0 < 0.01  # at once, not after 0.3 s
                assert len(mocked.requests) >= 1
                await asyncio.gather(*busy)
                return caught.value

    error = run(main())
    assert error.shed and error.retry_after is not None and error.retry_after > 0.3
    assert "deadline" in str(error)


@pytest.mark.parametrize("rate", [20, 50])
def test_a_full_window_keeps_its_last_slot_for_the_interactive_lane(rate: int) -> None:
    """The adaptive pacer fills its one-second window at twice the rate: background work
    could fill it whole, and a web request first in line would still wait for the window
    to slide (measured before: every few calls 400 ms at 20/s)."""

    async def main() -> list[float]:
        pacer = AdjustableRateLimiter(rate, fill=True)
        loop = asyncio.get_running_loop()

        async def background() -> None:
            while True:
                await pacer.acquire(priority=BACKGROUND)

        workers = [asyncio.create_task(background()) for _ in range(30)]
        waits: list[float] = []
        for _ in range(25):
            await asyncio.sleep(0.2)
            t0 = loop.time()
            await pacer.acquire(priority=INTERACTIVE)
            waits.append(loop.time() - t0)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return waits

    waits = run(main())
    # The first web request after a quiet spell may wait for the window to slide once;
    # from then on the window's last slot is kept for it: 95 % wait about one interval
    # (before: every few calls 400 ms at 20/s).
    assert waits[0] <= 1.01
    assert sorted(waits)[int(0.95 * len(waits))] <= 0.06, waits
    assert max(waits[1:]) <= 0.25, waits


def test_background_alone_still_uses_nearly_the_whole_window() -> None:
    async def main() -> int:
        pacer = AdjustableRateLimiter(20, fill=True)
        loop = asyncio.get_running_loop()
        starts: list[float] = []

        async def background() -> None:
            while True:
                await pacer.acquire(priority=BACKGROUND)
                starts.append(loop.time())

        workers = [asyncio.create_task(background()) for _ in range(30)]
        await asyncio.sleep(10.0)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return len(starts)

    assert run(main()) >= 10 * 20 - 1  # no web traffic: the whole window


def test_the_slot_kept_for_the_web_is_not_the_bulk_runs_loss() -> None:
    """Beside a web request every 0.2 s at 20/s, background still gets what the web
    leaves: together they use the rate (keeping one slot per web start idled 20 %)."""

    async def main() -> tuple[float, float]:
        pacer = AdjustableRateLimiter(20, fill=True)
        loop = asyncio.get_running_loop()
        background = 0

        async def bulk() -> None:
            nonlocal background
            while True:
                await pacer.acquire(priority=BACKGROUND)
                background += 1

        workers = [asyncio.create_task(bulk()) for _ in range(64)]
        web = 0
        end = loop.time() + 20
        while loop.time() < end:
            await asyncio.sleep(0.2)
            await pacer.acquire(priority=INTERACTIVE)
            web += 1
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return background / 20, web / 20

    background, web = run(main())
    assert web >= 4.5
    assert background + web >= 0.97 * 20


def test_with_headroom_web_starts_are_above_the_rate_not_out_of_the_bulk_share() -> None:
    """A pacer told the budget has room for 2 starts above its rate (``headroom=2``):
    beside two web starts background still fills the rate less the one slot it keeps
    free for the next web call, and the web starts are above the rate
    (`AdjustableRateLimiter.over_rate`); without headroom they come out of background's
    share."""

    async def main(headroom: int) -> tuple[int, int, int]:
        pacer = AdjustableRateLimiter(20, fill=True)
        pacer.set_rate(20, headroom=headroom)

        async def bulk() -> None:
            while True:
                await pacer.acquire(priority=BACKGROUND)

        workers = [asyncio.create_task(bulk()) for _ in range(30)]
        await asyncio.sleep(1.5)  # the window is full of background work
        await pacer.acquire(priority=INTERACTIVE)
        await asyncio.sleep(0.2)
        await pacer.acquire(priority=INTERACTIVE)
        await asyncio.sleep(0.7)  # both web starts are still in the window
        over = pacer.over_rate()
        background = len(pacer._starts) - len(pacer._interactive)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        return over, background, len(pacer._starts)

    over, background, window = run(main(2))
    assert background == 19 and window == 21 and over == 1  # a slot above kept free
    over, background, window = run(main(0))
    assert background == 17 and window == 19 and over == 0  # a slot of the rate kept free


def _web_beside_bulk(seconds: float = 16.0) -> tuple[float, list[float], int, int]:
    """`AdaptiveRateLimiter` against the emulator's budget of 50/s (usage headers, no
    acceleration): 64 background workers beside one interactive call every 0.2 s.
    Background starts per second from second 4 on, the web calls' waits, our most
    starts the server counted in one second, and 429s."""
    from mpasync import clock
    from mpasync.adaptive.law import USAGE_HEADER
    from mpasync.emulator.ratelimit import RateLimits

    async def main() -> tuple[float, list[float], int, int]:
        limiter = AdaptiveRateLimiter()
        server = RateLimits(50.0)
        background: list[float] = []
        waits: list[float] = []
        peak = throttled = 0

        async def request(lane: Any) -> None:
            nonlocal peak, throttled
            await limiter.acquire("7", priority=lane)
            decision = server.acquire(1, 7, clock.now())
            if lane == BACKGROUND:
                background.append(clock.now())
            await asyncio.sleep(0.004)
            if not decision.admitted:
                throttled += 1
                await limiter.observe("7", 429, {"X-mp-rate-limit-exceeded": "account"})
                return
            peak = max(peak, decision.percentage_used)
            await limiter.observe("7", 200, {USAGE_HEADER: str(decision.percentage_used)})

        async def bulk() -> None:
            while True:
                await request(BACKGROUND)

        async def web() -> None:
            t0 = clock.now()
            await request(INTERACTIVE)
            waits.append(clock.now() - t0 - 0.004)

        start = clock.now()
        workers = [asyncio.create_task(bulk()) for _ in range(64)]
        calls = []
        while clock.now() < start + seconds:
            calls.append(asyncio.create_task(web()))
            await asyncio.sleep(0.2)
        await asyncio.gather(*calls)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        steady = [t for t in background if start + 4.0 <= t < start + seconds]
        return len(steady) / (seconds - 4.0), waits, peak, throttled

    return run(main())


def test_the_web_slots_come_out_of_the_headroom_target_usage_leaves() -> None:
    """Beside a web call every 0.2 s, bulk work under ``rate_limit="auto"`` gets
    ``target_usage`` of the budget less the web calls within it: at 50/s the rate is 45,
    and up to 2 web starts (half the 5 starts of headroom) are above it, so bulk gets
    45 - 1 (the slot kept free for the next web call) - 5 + 2 = 41/s (39/s when every web
    start was within the rate). The web still waits about one interval, usage stays at
    most halfway to 100 % (94 %) with no 429, as the law reads usage without them."""
    bulk, waits, peak, throttled = _web_beside_bulk()
    assert throttled == 0
    assert peak <= 94
    assert bulk >= 40.5, bulk
    waits.sort()
    assert waits[int(0.95 * len(waits))] <= 0.06, waits
