"""Properties of the pure adaptive law (`ControlLaw`) over arbitrary answer sequences,
and the regressions of issue 18: an idle night made every call fail with OverflowError,
and usage readings that promised room (0 % on every answer, or 30 % whatever we sent)
raised the rate far beyond anything ever sent.

The law takes the time as an input, so hypothesis drives it over gaps from nothing to
30 days and clocks that step back, with no waiting; the limiters run on an event loop
whose clock the test moves.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpasync.adaptive import (
    EXCEEDED_HEADER,
    USAGE_HEADER,
    AdaptiveRateLimiter,
    ControlLaw,
    RateState,
    parse_usage,
)
from mpasync.limits import AdjustableRateLimiter
from tests.fakeapi import max_in_window

#: Just past 17 minutes: 2 ** 1024 is the first power of two a float cannot hold.
MINUTES_17 = 17 * 60.0 + 10.0
DAYS_30 = 30 * 86400.0
#: A Redis-backed state's clock is Redis's TIME: seconds since 1970.
EPOCH_NOW = 1.76e9


# ---- the harness: the law fed as `AdaptiveRateLimiter` feeds it --------------------------


@dataclass(frozen=True)
class Answer:
    """One step: ``gap`` seconds after the previous one (negative: the clock stepped
    back) a request starts and is answered with ``status`` and ``headers``."""

    gap: float
    status: int
    headers: Mapping[str, str]
    sent_known: bool = True


def feed(
    law: ControlLaw,
    state: RateState,
    now: float,
    answer: Answer,
    sent: int | None,
    before: int | None = None,
) -> RateState:
    """What `AdaptiveRateLimiter.observe` does with one answer (account scope)."""
    if answer.status == 429:
        raw = answer.headers.get(EXCEEDED_HEADER)
        kind = raw.strip().strip('"').lower() if raw is not None else None
        return law.on_throttle(state, kind, now, sent=sent, sent_at=now)
    if 200 <= answer.status < 300:
        usage = parse_usage(answer.headers)
        return law.on_success(state, usage, now, sent=sent, sent_before=before)
    return state  # a 5xx says nothing about the budget


def round_trip(state: RateState) -> RateState:
    """Through JSON as `RedisRateLimiter` stores it (strict JSON: no NaN, no Infinity)."""
    return RateState.from_dict(json.loads(json.dumps(state.to_dict(), allow_nan=False)))


def check_bounds(law: ControlLaw, state: RateState) -> None:
    assert math.isfinite(state.rate)
    assert law.min_rate <= state.rate
    if law.max_rate is not None:
        assert state.rate <= law.max_rate


def run(law: ControlLaw, start: float, answers: list[Answer]) -> Iterator[tuple[RateState, float]]:
    """Feed ``answers`` from ``law.initial(start)``, checking at every step that the state
    survives JSON and behaves the same after it; yields (state, the achieved bound)
    after every step of the law.

    The bound is the spec of "what we achieved", computed here from the starts
    themselves: the most starts in one second (per second; over the time since the
    start while that is shorter, never under 0.1 s) at any step in the last second.
    """
    state = law.initial(start)
    now = start
    # The limiter's `_Window`: our starts in the last second, and in the second before.
    window: deque[float] = deque()
    earlier: deque[float] = deque()
    samples: list[tuple[float, float]] = []
    for answer in answers:
        now += answer.gap
        while window and window[0] <= now - 1.0:
            earlier.append(window.popleft())
        while earlier and earlier[0] <= now - 2.0:
            earlier.popleft()
        window.append(now)
        sent = len(window) if answer.sent_known else None
        before = len(earlier) if answer.sent_known else None
        decoded = round_trip(state)
        assert decoded == state
        new = feed(law, state, now, answer, sent, before)
        assert feed(law, decoded, now, answer, sent, before) == new  # the same after JSON
        if answer.status == 429:
            window.remove(now)  # a refused start does not count in the server's window
        if new is state:
            continue  # a 5xx: the law did not step
        if sent is not None:
            samples.append((now, sent))
        state = new
        check_bounds(law, state)
        recent = [
            count / min(1.0, max(0.1, t - start)) for t, count in samples if t >= now - 1.000001
        ]
        yield state, max(recent, default=0.0)


# ---- strategies ---------------------------------------------------------------------------

gaps = st.one_of(
    st.floats(0.0, 0.05),  # a busy client
    st.floats(0.0, 0.05),
    st.floats(0.0, 2.0),
    st.floats(0.0, DAYS_30),
    st.sampled_from([MINUTES_17, 3600.0, 86400.0, DAYS_30]),
    st.floats(-86400.0, 0.0),  # the clock stepped back
)
usage_values = st.one_of(
    st.sampled_from(["0", "30", "100", "90", "95", "7", '"7"', " 12 "]),  # the server's
    st.sampled_from(["x", "", "nan", "inf", "-inf", "-5", "1e308", "1e400", "0x10", "9" * 400]),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
exceeded_values = st.one_of(
    st.sampled_from(["account", "acceleration", "app", "org", '"Acceleration"', ""]),
    st.text(max_size=12),
)


@st.composite
def answers(draw: st.DrawFn, *, sent_always: bool) -> Answer:
    status = draw(st.sampled_from([200, 200, 200, 201, 204, 429, 429, 500, 503]))
    headers: dict[str, str] = {}
    if draw(st.integers(0, 4)):
        headers[USAGE_HEADER] = draw(usage_values)
    if status == 429 and draw(st.booleans()):
        headers[EXCEEDED_HEADER] = draw(exceeded_values)
    sent_known = True if sent_always else draw(st.integers(0, 4)) > 0
    return Answer(draw(gaps), status, headers, sent_known)


@st.composite
def laws(draw: st.DrawFn) -> ControlLaw:
    min_rate = draw(st.floats(0.01, 50.0))
    max_rate = draw(st.one_of(st.none(), st.floats(min_rate, 10_000.0)))
    return ControlLaw(
        initial_rate=draw(st.floats(0.01, 1000.0)),
        min_rate=min_rate,
        max_rate=max_rate,
        target_usage=draw(st.floats(0.05, 1.0)),
        use_headers=draw(st.booleans()),
    )


starts = st.one_of(st.just(0.0), st.just(EPOCH_NOW), st.floats(-1e6, 1e10))
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- the properties -----------------------------------------------------------------------


@_SETTINGS
@given(
    law=laws(),
    start=starts,
    steps=st.lists(answers(sent_always=False), max_size=60),
)
def test_any_sequence_gives_a_finite_rate_within_bounds_that_survives_json(
    law: ControlLaw, start: float, steps: list[Answer]
) -> None:
    for _ in run(law, start, steps):
        pass


@_SETTINGS
@given(
    law=laws().filter(lambda law: law.max_rate is None),
    start=starts,
    steps=st.lists(answers(sent_always=True), max_size=60),
)
def test_the_rate_stays_within_twice_what_was_achieved(
    law: ControlLaw, start: float, steps: list[Answer]
) -> None:
    for state, achieved in run(law, start, steps):
        assert state.rate <= max(2.0 * achieved, law.initial_rate) * (1 + 1e-9)


_OPTIONAL = ("last_decrease", "decreased_at", "accelerated_at", "budget")
finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e4, 1e4),
    st.integers(-(10**6), 10**6),
)
odd_states = st.builds(
    RateState,
    **{
        f.name: st.one_of(st.none(), finite) if f.name in _OPTIONAL else finite
        for f in fields(RateState)
        if f.name != "count"
    },
    count=st.integers(-(10**30), 10**30),
)


@_SETTINGS
@given(
    law=laws(),
    state=odd_states,
    now=starts,
    steps=st.lists(answers(sent_always=False), max_size=10),
)
def test_any_finite_state_read_back_steps_without_error(
    law: ControlLaw, state: RateState, now: float, steps: list[Answer]
) -> None:
    state = round_trip(state)  # valid JSON in, whatever the values
    for answer in steps:
        now += answer.gap
        new = feed(law, state, now, answer, 1 if answer.sent_known else None)
        if new is not state:  # the law stepped (a 5xx leaves the state as it was)
            check_bounds(law, new)
        state = round_trip(new)


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@_SETTINGS
@given(
    data=st.dictionaries(st.sampled_from([f.name for f in fields(RateState)] + ["x"]), json_values)
)
def test_from_dict_gives_a_state_or_a_value_error(data: dict[str, object]) -> None:
    law = ControlLaw()
    try:
        state = RateState.from_dict(data)
    except ValueError:
        return  # mpasync.redis.budget replaces such a state
    check_bounds(law, law.on_success(state, 0.5, EPOCH_NOW, sent=3))
    check_bounds(law, law.on_throttle(state, "account", EPOCH_NOW, sent=3))


# ---- regressions: an idle night -----------------------------------------------------------


def _busy(law: ControlLaw, *, usage: float | None, seconds: float = 3.0) -> RateState:
    """A few seconds of answers every 20 ms, as a limiter would feed them."""
    state, now = law.initial(0.0), 0.0
    while now < seconds:
        now += 0.02
        state = law.on_success(state, usage, now, sent=int(min(state.rate, 50 * now)))
    return state


@pytest.mark.parametrize("idle", [MINUTES_17, DAYS_30])
@pytest.mark.parametrize("use_headers", [True, False])
def test_an_answer_after_an_idle_night_is_sane(idle: float, use_headers: bool) -> None:
    law = ControlLaw(use_headers=use_headers)
    state = _busy(law, usage=0.2)
    now = state.last_update + idle
    after = law.on_success(state, 0.01, now, sent=1)
    check_bounds(law, after)
    assert after.rate <= law.initial_rate  # one start in the last second: no more
    again = law.on_success(after, 0.01, now + 0.1, sent=2)
    check_bounds(law, again)


@pytest.mark.parametrize("idle", [MINUTES_17, DAYS_30])
def test_readings_after_an_acceleration_429_and_an_idle_night_are_sane(idle: float) -> None:
    law = ControlLaw()
    state = _busy(law, usage=0.2)
    state = law.on_throttle(state, "acceleration", 3.01, sent=40, sent_at=3.0)
    now = 3.01 + idle
    after = law.on_success(state, 0.05, now, sent=1)
    check_bounds(law, after)
    assert after.rate <= law.initial_rate


@pytest.mark.parametrize("step_back", [0.5, 3600.0, DAYS_30])
def test_a_clock_that_steps_back_is_as_if_no_time_passed(step_back: float) -> None:
    law = ControlLaw()
    state = law.on_throttle(_busy(law, usage=0.5), "account", 3.01, sent=60, sent_at=3.0)
    back = state.last_update - step_back
    after = law.on_success(state, 0.5, back, sent=60)
    same = law.on_success(state, 0.5, state.last_update, sent=60)
    assert after.rate == pytest.approx(same.rate)
    assert after.decreased_at == pytest.approx(back)  # the 429 moved back with the clock


# ---- regressions: readings that promise room ----------------------------------------------


def _ramp(usage: float, seconds: float) -> tuple[float, list[float]]:
    """The law with its pacer on a virtual clock, every answer (10 ms later) reading
    ``usage``, 8 requests at a time: the rate after ``seconds``, and the starts."""
    law = ControlLaw()
    state = law.initial(0.0)
    pacer = AdjustableRateLimiter(state.rate, fill=True)
    window: deque[float] = deque()
    in_flight: deque[tuple[float, int]] = deque()
    starts: list[float] = []
    now = 0.0
    while now < seconds:
        start_at = max(now, pacer._ready_at(now)) if len(in_flight) < 8 else math.inf
        reply_at = in_flight[0][0] + 0.01 if in_flight else math.inf
        if start_at <= reply_at:
            now = start_at
            pacer._start(now)
            starts.append(now)
            while window and window[0] <= now - 1.0:
                window.popleft()
            window.append(now)
            in_flight.append((now, len(window)))
        else:
            now = reply_at
            _, sent = in_flight.popleft()
            state = law.on_success(state, usage, now, sent=sent)
            pacer.set_rate(state.rate)
    return state.rate, starts


@pytest.mark.parametrize(("usage", "seconds"), [(0.0, 2.0), (0.30, 3.0)])
def test_readings_that_promise_room_raise_the_rate_only_with_what_is_sent(
    usage: float, seconds: float
) -> None:
    rate, starts = _ramp(usage, seconds)
    last_second = sum(1 for t in starts if t > seconds - 1.0)
    assert rate <= 2.0 * max(last_second, max_in_window(starts)) + 1
    assert rate > 10.0  # it does rise (the readings say there is room)


# ---- the limiters after a 30-day idle, on a virtual clock ---------------------------------


class _MovableClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock the test can move forward at will."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset


def _on_movable_clock(main: object) -> None:
    loop = _MovableClockLoop()
    try:
        loop.run_until_complete(main(loop))  # type: ignore[operator]
    finally:
        loop.close()


@pytest.mark.parametrize("idle", [MINUTES_17, DAYS_30])
@pytest.mark.parametrize("use_headers", [True, False])
@pytest.mark.parametrize("throttled", [True, False])
def test_adaptive_limiter_after_a_long_idle(
    idle: float, use_headers: bool, throttled: bool
) -> None:
    async def main(loop: _MovableClockLoop) -> None:
        limiter = AdaptiveRateLimiter(initial_rate=200.0, use_headers=use_headers)
        for usage in ("5", "10", "20"):
            await limiter.acquire()
            await limiter.observe(None, 200, {USAGE_HEADER: usage})
        if throttled:
            await limiter.acquire()
            await limiter.observe(None, 429, {EXCEEDED_HEADER: "acceleration"})
        loop.offset += idle
        for usage in ("1", "2", "0", "100"):  # 100 % last: it slows the pacer
            await limiter.acquire()
            await limiter.observe(None, 200, {USAGE_HEADER: usage})
        assert math.isfinite(limiter.rate)
        assert limiter.law.min_rate <= limiter.rate <= 200.0

    _on_movable_clock(main)


@pytest.mark.parametrize("idle", [MINUTES_17, DAYS_30])
def test_redis_adaptive_limiter_after_a_long_idle(idle: float) -> None:
    """The fleet's state is on Redis's clock (which the test cannot move): it is written
    as a fleet idle for ``idle`` would have left it, after an acceleration 429."""
    from redis.asyncio import Redis

    from mpasync.redis import RedisRateLimiter
    from tests.redis.server import RedisServer, redis_server_binary

    binary = redis_server_binary()
    if binary is None:
        pytest.fail("no redis-server binary (see tests/redis/conftest.py)")
    server = RedisServer(binary).start()

    async def main() -> None:
        r = Redis.from_url(server.url)
        seconds, micros = await r.time()
        then = seconds + micros / 1e6 - idle
        law = ControlLaw(initial_rate=20.0)
        state = law.on_success(law.initial(then - 1.0), 0.1, then - 0.5, sent=8)
        state = law.on_throttle(state, "acceleration", then, sent=12, sent_at=then - 0.01)
        body = {"version": 7, "state": state.to_dict(), "read": True}
        await r.set("mpasync:rate:4:idle:state", json.dumps(body))
        limiter = RedisRateLimiter(server.url, "idle", 20, adaptive=True)
        try:
            for usage in ("1", "50", "0"):
                await limiter.acquire()
                await limiter.observe(None, 200, {USAGE_HEADER: usage})
            stored = json.loads(await r.get("mpasync:rate:4:idle:state"))
            assert stored["version"] == 10  # every answer was taken, none dropped
            rate = RateState.from_dict(stored["state"]).rate
            assert law.min_rate <= rate <= 20.0
            assert limiter._local is None  # paced through Redis all along
        finally:
            await limiter.aclose()
            await r.aclose()

    try:
        asyncio.run(main())
    finally:
        server.stop()
