"""The adaptive rate law (pure, fake clock) and `AdaptiveRateLimiter` (live, emulator).

The CUBIC vectors are the AWS SDKs' published ones (the same steps and values in the
Java, Swift, Kotlin and Rust SDKs' client-side rate limiter tests).
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiohttp
import pytest

from mpasync.adaptive import (
    AdaptiveRateLimiter,
    ControlLaw,
    RateState,
    cubic_decrease,
    cubic_rate,
    cubic_zero_point,
    measure_rate,
    parse_usage,
)
from mpasync.emulator import Emulator
from mpasync.errors import RequestValidationError

# ---- the AWS SDK CUBIC test vectors -----------------------------------------------------


class _SdkCubic:
    """The SDK tests' harness: last max rate, last throttle time, last calculated rate."""

    def __init__(self, last_max_rate: float, last_throttle_time: float) -> None:
        self.w_max = last_max_rate
        self.last_throttle = last_throttle_time
        self.last = 0.0

    def step(self, response: str, t: float) -> float:
        if response == "success":
            self.last = cubic_rate(self.w_max, self.last_throttle, t)
        else:
            self.w_max = self.last
            self.last_throttle = t
            self.last = cubic_decrease(self.last)
        return self.last


def test_cubic_zero_point_as_botocore() -> None:
    assert cubic_zero_point(10.0) == pytest.approx(1.9574338205844317)
    assert cubic_zero_point(8.0) == pytest.approx(1.8171205928321397)


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [
                ("success", 5.0, 7.0),
                ("success", 6.0, 9.64893600966),
                ("success", 7.0, 10.000030849917364),
                ("success", 8.0, 10.453284520772092),
                ("success", 9.0, 13.408697022224185),
                ("success", 10.0, 21.26626835427364),
                ("success", 11.0, 36.425998516920465),
            ],
            id="case1-successes",
        ),
        pytest.param(
            [
                ("success", 5.0, 7.0),
                ("success", 6.0, 9.64893600966),
                ("throttle", 7.0, 6.754255206761999),
                ("throttle", 8.0, 4.727978644733399),
                ("success", 9.0, 6.606547753887045),
                ("success", 10.0, 6.763279816944947),
                ("success", 11.0, 7.598174833907107),
                ("success", 12.0, 11.511232804773524),
            ],
            id="case2-throttles",
        ),
    ],
)
def test_aws_sdk_cubic_vectors(steps: list[tuple[str, float, float]]) -> None:
    cubic = _SdkCubic(last_max_rate=10.0, last_throttle_time=5.0)
    for response, t, expected in steps:
        assert cubic.step(response, t) == pytest.approx(expected, abs=1e-9), (response, t)


def test_aws_sdk_end_to_end_vector() -> None:
    """Case 3: measured rate and token-bucket rate, through the law's pure pieces.

    botocore's `ClientRateLimiter`: before the first throttle the rate to use is the
    measured one; the bucket's rate is the CUBIC value capped at twice the measured
    rate, and never below 0.5.
    """
    steps = [
        ("success", 0.2, 0.0, 0.5),
        ("success", 0.4, 0.0, 0.5),
        ("success", 0.6, 4.8, 0.5),
        ("success", 0.8, 4.8, 0.5),
        ("success", 1.0, 4.16, 0.5),
        ("success", 1.2, 4.16, 0.6912),
        ("success", 1.4, 4.16, 1.0976),
        ("success", 1.6, 5.632, 1.6384),
        ("success", 1.8, 5.632, 2.3328),
        ("throttle", 2.0, 4.3264, 3.02848),
        ("success", 2.2, 4.3264, 3.486639),
    ]
    measured, bucket, count = 0.0, 0.0, 0
    w_max, last_throttle, enabled, fill = 0.0, 0.0, False, 0.5
    for response, t, want_measured, want_fill in steps:
        measured, bucket, count = measure_rate(measured, bucket, count, t)
        if response == "success":
            new = cubic_rate(w_max, last_throttle, t)
        else:
            to_use = measured if not enabled else min(measured, fill)
            w_max, last_throttle, enabled = to_use, t, True
            new = cubic_decrease(to_use)
        fill = max(min(new, 2 * measured), 0.5)
        assert measured == pytest.approx(want_measured, abs=1e-6), t
        assert fill == pytest.approx(want_fill, abs=1e-6), t


def test_law_decrease_is_the_sdk_vector_without_headers() -> None:
    """The law's own 429 step matches case 2's first throttle (rate 9.6489 -> 6.7543)."""
    law = ControlLaw(initial_rate=10.0, use_headers=False)
    state = RateState(
        rate=9.64893600966, w_max=10.0, last_decrease=5.0, last_update=6.0, measured=100.0
    )
    after = law.on_throttle(state, None, 7.0)
    assert after.rate == pytest.approx(6.754255206761999)
    assert (after.w_max, after.last_decrease, after.decreased_at) == (9.64893600966, 7.0, 7.0)
    # case 2's second throttle, a second later
    second = law.on_throttle(replace_measured(after, 100.0), None, 8.0)
    assert second.rate == pytest.approx(4.727978644733399)
    # and regrows along CUBIC from there (capped at 2x measured, here the initial rate)
    later = law.on_success(replace_measured(after, 50.0), None, 9.0)
    assert later.rate == pytest.approx(cubic_rate(9.64893600966, 7.0, 9.0))


def replace_measured(state: RateState, measured: float) -> RateState:
    return RateState.from_dict({**state.to_dict(), "measured": measured})


# ---- the law with headers, on a fake clock ------------------------------------------------


class FakeServer:
    """A sliding-window account budget and a client paced exactly at the law's rate."""

    def __init__(self, budget: float, neighbour: float = 0.0) -> None:
        self.budget = budget
        self.neighbour = neighbour

    def usage(self, ours: float) -> float:
        return int(100 * (ours + self.neighbour) / self.budget) / 100


def test_headers_converge_to_target_share_of_budget() -> None:
    law = ControlLaw(initial_rate=10.0, target_usage=0.9)
    server = FakeServer(budget=150.0)
    state, now = law.initial(0.0), 0.0
    for _ in range(200):  # one answer per 50 ms; the window is full (steady state)
        now += 0.05
        sent = round(state.rate)
        state = law.on_success(state, server.usage(sent), now, sent=sent)
    assert 0.85 * 150 <= state.rate <= 0.9 * 150


def test_headers_adapt_to_a_neighbour_we_do_not_see() -> None:
    law = ControlLaw(target_usage=0.9)
    server = FakeServer(budget=150.0, neighbour=60.0)
    state, now = law.initial(0.0), 0.0
    for _ in range(400):
        now += 0.05
        sent = round(state.rate)
        state = law.on_success(state, server.usage(sent), now, sent=sent)
    # the fit separates our share from the neighbour's: ours settles at ~0.9 of the
    # 90/s left to us (less half a percent of reading resolution), not at 0.9*150 - 60
    assert state.budget == pytest.approx(150, rel=0.05)
    assert 78 <= state.rate <= 81


def test_first_readings_estimate_the_budget_without_overshoot() -> None:
    law = ControlLaw(initial_rate=10.0)
    state = law.initial(0.0)
    # 3 sent in a partly filled window were 2 % of the budget (150/s): read as 2.5 %,
    # room for 0.9 * 3 / 0.025 = 108/s; but 3 in 0.3 s is 10/s: no more than twice that
    state = law.on_success(state, 0.02, 0.3, sent=3)
    assert state.rate == 20.0
    # as what we send catches up, the rate follows at twice it, up to the room read
    state = law.on_success(state, 0.06, 1.0, sent=10)
    assert state.rate == 20.0
    state = law.on_success(state, 0.40, 1.5, sent=60)  # room for 133/s
    assert state.rate == 120.0
    state = law.on_success(state, 0.80, 2.0, sent=120)
    assert state.rate == pytest.approx(0.9 * 120 / 0.805)
    assert state.rate < 150


def test_usage_above_target_slows_down_before_a_429() -> None:
    law = ControlLaw(target_usage=0.9)
    state = RateState(rate=100.0, last_update=0.0)
    state = law.on_success(state, 0.97, 1.0, sent=100)
    assert state.rate == pytest.approx(0.9 * 100 / 0.975)


def test_speed_429_decreases_once_per_event_and_caps_regrowth() -> None:
    law = ControlLaw(target_usage=0.9)
    state = RateState(rate=120.0, last_update=0.0)
    state = law.on_throttle(state, "account", 1.0, sent=110, sent_at=0.99)
    assert state.rate == pytest.approx(0.7 * 110)
    # more 429s for requests sent before the decrease: no further decrease
    again = law.on_throttle(state, "account", 1.01, sent=110, sent_at=0.995)
    assert again.rate == state.rate
    # ... nor within the second after it (the server's window still holds the excess)
    assert law.on_throttle(state, "account", 1.5, sent=77, sent_at=1.2).rate == state.rate
    # a 429 for a request sent after it, a second later: a new event
    assert law.on_throttle(state, "account", 2.1, sent=77, sent_at=2.05).rate < state.rate
    # a roomy header within a second of the 429 does not undo it
    assert law.on_success(state, 0.30, 1.9, sent=60).rate == state.rate
    # later, headers may bring it back to where the 429 came, above only along CUBIC
    assert law.on_success(state, 0.30, 2.1, sent=60).rate == pytest.approx(110.0)
    above = law.on_success(state, 0.30, 8.0, sent=60).rate
    assert above == pytest.approx(cubic_rate(110.0, 1.0, 8.0))
    assert above > 110.0


def test_acceleration_429_with_headers_holds_then_doubles_per_second() -> None:
    law = ControlLaw(target_usage=0.9)
    state = RateState(rate=60.0, last_update=0.0)
    state = law.on_throttle(state, "acceleration", 1.0, sent=60, sent_at=0.99)
    assert state.rate == 60.0
    assert law.on_success(state, 0.10, 1.5, sent=60).rate == 60.0  # held
    assert law.on_success(state, 0.10, 2.5, sent=60).rate == pytest.approx(60 * 2**0.5)


def test_acceleration_429_keeps_the_rate_and_slows_growth() -> None:
    law = ControlLaw(target_usage=0.9, use_headers=False)
    state = RateState(rate=50.0, last_update=0.0, measured=1000.0)
    slow_start = law.on_success(state, None, 1.0).rate
    accel = law.on_throttle(state, "acceleration", 0.0)
    assert accel.rate == 50.0
    assert accel.w_max == 50.0
    assert law.on_success(accel, None, 1.0).rate < slow_start
    assert law.on_success(accel, None, 1.0).rate == pytest.approx(50.0, rel=0.01)


# ---- a limit that grows with what we sent (acceleration), and whole starts -----------------


def _seconds_under(
    law: ControlLaw, limit_of: Any, seconds: int, *, before_known: bool = True
) -> list[int]:
    """Whole seconds of a client that starts whatever the law's rate (``floor(rate)`` a
    second) and the limit allow, against a limit ``limit_of(before)`` (what a second may
    hold after one of ``before`` starts), read four times a second as a server reads it
    (counting the start itself, whole percent): the starts of each second."""
    state, now, before, counts = law.initial(0.0), 0.0, 0, []
    for _ in range(seconds):
        limit = limit_of(before)
        count = 0
        for _ in range(4):
            now += 0.25
            count = max(count, min(math.floor(state.rate), math.floor(limit)))
            usage = math.floor(100 * count / limit) / 100
            state = law.on_success(
                state, usage, now, sent=count, sent_before=before if before_known else None
            )
        counts.append(count)
        before = count
    return counts


def test_a_limit_that_grows_with_what_we_sent_is_aimed_at_closely() -> None:
    """An acceleration limit (1.3x the second before, from 15) is a fresh allowance each
    second: aiming at 0.9 of it compounds to 1.17x a second; read as one, the law keeps
    each second within a start or two of it and ramps at about 1.3 * 0.95."""
    law = ControlLaw(initial_rate=10.0, target_usage=0.9)

    def limit(before: int) -> float:
        return max(15.0, 1.3 * before)

    seen = _seconds_under(law, limit, 12)
    blind = _seconds_under(law, limit, 12, before_known=False)
    assert all(c <= limit(b) for b, c in zip([0, *seen], seen, strict=False))
    assert seen[-1] / seen[-5] >= 1.2**4  # about 1.24x a second
    assert blind[-1] / blind[-5] <= 1.18**4  # 0.9 of 1.3x
    assert seen[-1] > 1.4 * blind[-1]


def test_a_fixed_limit_is_never_read_as_one_that_grows() -> None:
    """A speed limit's multiple of the second before falls as we send more: the law keeps
    to target_usage all along (at most one whole start over it) and sees no growth."""
    law = ControlLaw(initial_rate=10.0, target_usage=0.9)
    counts = _seconds_under(law, lambda before: 150.0, 12)
    assert max(counts) <= 135
    assert counts[-1] >= 130


def test_an_acceleration_429_ends_the_close_aim() -> None:
    law = ControlLaw(target_usage=0.9)
    state = RateState(rate=60.0, last_update=0.0, acceleration=1.3)
    after = law.on_throttle(state, "acceleration", 1.0, sent=60, sent_at=0.99)
    assert after.acceleration == 0.0
    assert after.rate == 60.0
    # a speed 429 says nothing about acceleration
    assert law.on_throttle(state, "account", 1.0, sent=60).acceleration == 1.3


def test_a_full_window_rises_to_the_next_whole_start_within_target_usage() -> None:
    """The pacer admits floor(rate) starts a second: 44.9/s is 44 (88 % of 50). One more
    still reads 90 %, so the rate becomes 45; from 45 (90 %) one more would read 92 %."""
    law = ControlLaw(target_usage=0.9)
    state = RateState(rate=44.9, last_update=0.0)
    assert law.on_success(state, 0.88, 1.0, sent=44, sent_before=44).rate == 45.0
    at_45 = RateState(rate=45.5, last_update=0.0)
    assert law.on_success(at_45, 0.90, 1.0, sent=45, sent_before=45).rate == 45.5
    # not while the window has room (demand below the rate), nor without sent_before
    assert law.on_success(state, 0.88, 1.0, sent=35, sent_before=35).rate == 44.9
    assert law.on_success(state, 0.88, 1.0, sent=44).rate == 44.9


def test_without_headers_slow_start_doubles_per_second_capped_by_measured() -> None:
    law = ControlLaw(initial_rate=10.0, use_headers=False)
    state = RateState(rate=10.0, last_update=0.0, measured=100.0)
    assert law.on_success(state, None, 1.0).rate == pytest.approx(20.0)
    idle = RateState(rate=10.0, last_update=0.0, measured=0.0)
    assert law.on_success(idle, None, 5.0).rate == 10.0  # not above 2x measured / start


def test_bounds_and_state_round_trip() -> None:
    law = ControlLaw(initial_rate=10.0, min_rate=2.0, max_rate=50.0)
    state = law.initial(0.0)
    state = law.on_success(state, 0.0, 0.1, sent=10)
    assert state.rate == 50.0
    for i in range(20):
        state = law.on_throttle(state, "account", 1.0 + i)
    assert state.rate == 2.0
    assert RateState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial_rate": 0}, "initial_rate"),
        ({"min_rate": -1}, "min_rate"),
        ({"max_rate": float("inf")}, "max_rate"),
        ({"target_usage": 1.5}, "target_usage"),
        ({"target_usage": "0.9"}, "target_usage"),
        ({"min_rate": 5.0, "max_rate": 1.0}, "max_rate"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        AdaptiveRateLimiter(**kwargs)
    assert info.value.field == field


def test_parse_usage() -> None:
    assert parse_usage({"X-mp-rate-limit-percentage-used": "90"}) == 0.9
    assert parse_usage({"X-mp-rate-limit-percentage-used": '"7"'}) == 0.07
    assert parse_usage({"X-mp-rate-limit-percentage-used": "x"}) is None
    assert parse_usage({}) is None


# ---- the limiter, live against the emulator ------------------------------------------------


async def _drive(
    emu: Emulator, limiter: AdaptiveRateLimiter, n: int, path: str, scope: str | None = None
) -> list[int]:
    """n GETs through acquire/observe around raw aiohttp, 16 at a time; their statuses."""
    token = emu.issue_token()
    statuses: list[int] = []
    queue = iter(range(n))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for _ in queue:
                await limiter.acquire(scope)
                async with session.get(
                    emu.url(path), headers={"Authorization": f"Bearer {token}"}
                ) as resp:
                    await resp.read()
                    await limiter.observe(scope, resp.status, resp.headers)
                    statuses.append(resp.status)

        await asyncio.gather(*(worker() for _ in range(16)))
    return statuses


async def test_live_limiter_finds_a_hidden_budget() -> None:
    async with Emulator(apps=2, rate_limit=40) as emu:
        limiter = AdaptiveRateLimiter(initial_rate=5.0)
        statuses = await _drive(emu, limiter, 60, "/v1/apps?accountId=1")
    assert statuses.count(429) == 0
    assert 20 <= limiter.rate <= 40


async def test_live_app_429_backs_off_only_that_app() -> None:
    async with Emulator(apps=2, rate_limit=1000, app_rate_limit=20) as emu:
        # without headers, so that 429s (not usage readings) do the talking
        limiter = AdaptiveRateLimiter(initial_rate=50.0, use_headers=False)
        app_id = min(a.id for a in emu.state.apps_of(1))
        app, scope = f"/v1/apps/{app_id}?accountId=1", str(app_id)
        statuses = await _drive(emu, limiter, 40, app, scope)
    assert 429 in statuses
    sub = limiter.scope_rate(scope)
    assert sub is not None and sub < 50.0
    assert limiter.rate >= 50.0  # the account was not slowed
    assert limiter.scope_rate("999") is None


async def test_client_auto_converges_without_a_429_storm() -> None:
    """`Client(rate_limit="auto")` through the transport, against a budget it is not told."""
    async with Emulator(
        apps=1, rate_limit=60, acceleration_limit=2.0, acceleration_floor=30
    ) as emu:
        app_id = min(a.id for a in emu.state.apps_of(emu.account_id))
        async with emu.client(rate_limit="auto", max_concurrency=8) as mp:
            await asyncio.gather(*(mp.apps.get(app_id) for _ in range(80)))
        statuses = [e.status for e in emu.request_log if e.path.startswith("/v1/")]
    assert statuses.count(200) == 80
    assert statuses.count(429) <= 2


async def test_live_app_limit_read_in_headers_slows_only_that_app() -> None:
    """Usage is the highest of the limits that apply: an app reading near 100 % while the
    account reads low is its app limit, so that app gets its own limiter before a 429."""
    async with Emulator(apps=2, rate_limit=1000, app_rate_limit=20) as emu:
        limiter = AdaptiveRateLimiter(initial_rate=60.0)
        app_id = min(a.id for a in emu.state.apps_of(1))
        app, scope = f"/v1/apps/{app_id}?accountId=1", str(app_id)
        scoped, unscoped = await asyncio.gather(
            _drive(emu, limiter, 50, app, scope), _drive(emu, limiter, 100, "/v1/apps?accountId=1")
        )
    sub = limiter.scope_rate(scope)
    assert sub is not None and sub <= 20
    assert limiter.rate >= 60  # the account was not slowed
    # the first burst at the account's rate may overrun the app's window; then it is
    # paced by its own limiter
    assert scoped[-5:] == [200] * 5
    assert unscoped.count(429) == 0
