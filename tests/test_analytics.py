"""AnalyticsClient against the local analytics routes (each call, field rules before sending,
batches of 100, retries) and the events-per-second budget, measured at the server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from aioresponses import CallbackResult, aioresponses

from mpasync import AdaptiveRateLimiter, RateLimiter
from mpasync.analytics import AnalyticsClient, AnalyticsEvent
from mpasync.errors import (
    BadRequestError,
    RequestValidationError,
    ServerError,
    UnprocessableEntityError,
)
from mpasync.limits import WindowLimiter
from mpasync.priority import BACKGROUND, in_lane
from tests import virtual_time

if TYPE_CHECKING:
    from tests.other_apis_fixtures import OtherApis

pytest_plugins = ["tests.other_apis_fixtures"]

VIRTUAL_URL = "https://analytics.example.test"


def heaviest_window(starts: Sequence[tuple[float, float]], period: float = 1.0) -> float:
    """The most units started in any half-open window ``[t, t + period)``."""
    ordered = sorted(starts)
    return max(sum(w for s, w in ordered if t <= s < t + period) for t, _ in ordered)


# ---------------------------------------------------------------- calls


async def test_track(analytics: AnalyticsClient, other_apis: OtherApis) -> None:
    await analytics.track("Registration", "user47", {"Gender": "Female", "Age": 23})
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    await analytics.track("Login", "user47", event_time=when)
    await analytics.track("Login", "user48", event_time="2024-01-02T03:04:05Z")
    await analytics.track("Login", "user49", event_time=1704164645.5)
    first, second, third, fourth = other_apis.state.events
    assert first == {
        "eventName": "Registration",
        "eventUniqueId": "user47",
        "properties": {"Gender": "Female", "Age": "23"},  # values go as strings
    }
    assert second["eventTime"] == 1704164645000  # a datetime goes as milliseconds
    assert third["eventTime"] == "2024-01-02T03:04:05Z"
    assert fourth["eventTime"] == 1704164645.5
    assert [r.events for r in other_apis.state.analytics_requests] == [1, 1, 1, 1]


async def test_identify_alias_suppress_delete(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    await analytics.identify("user47", {"Plan": "Free"})
    await analytics.identify("user47", {"Age": "23"})
    await analytics.alias("anon-1", "user47")
    await analytics.suppress("user48")
    await analytics.delete("user49")
    state = other_apis.state
    assert state.profiles == {"user47": {"Plan": "Free", "Age": "23"}}
    assert state.aliases == [("anon-1", "user47")]
    assert state.suppressed == {"user48"} and state.deleted == {"user49"}
    assert state.events == []


_LONG = "x" * 256


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"event_name": ""}, "event_name"),
        ({"event_name": _LONG}, "event_name"),
        ({"event_name": None}, "event_name"),
        ({"unique_id": ""}, "unique_id"),
        ({"unique_id": 47}, "unique_id"),
        ({"properties": {"": "x"}}, "properties"),
        ({"properties": {_LONG: "x"}}, "properties"),
        ({"properties": {"a": {"nested": 1}}}, "properties.a"),
        ({"properties": {"a": None}}, "properties.a"),
        ({"properties": {"a": [1, 2]}}, "properties.a"),
        ({"properties": {"a": float("inf")}}, "properties.a"),
        ({"properties": ["a"]}, "properties"),
        ({"event_time": -1}, "event_time"),
        ({"event_time": float("nan")}, "event_time"),
        ({"event_time": True}, "event_time"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"event_time": "1969-12-31T23:59:59Z"}, "event_time"),
        ({"event_time": dt.datetime(1969, 7, 20, tzinfo=dt.timezone.utc)}, "event_time"),
    ],
)
async def test_track_field_rules_send_nothing(
    analytics: AnalyticsClient, other_apis: OtherApis, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"event_name": "Login", "unique_id": "user47"}
    args.update(kwargs)
    with pytest.raises(RequestValidationError) as info:
        await analytics.track(**args)
    assert info.value.field == field
    assert other_apis.state.hits["analytics"] == 0


async def test_property_values_are_sent_as_strings(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    # The reference lists property values "as Strings" (the emulator answers 422 to
    # anything else): scalars are turned into their text before sending.
    given = {"s": "x", "i": 23, "f": 1.5, "big": 1e20, "t": True, "n": False, "neg": -7}
    await analytics.track("Registration", "user47", given)
    await analytics.identify("user47", {"Age": 23, "Pro": True})
    await analytics.track_batch(
        [
            {"eventName": "A", "eventUniqueId": "u1", "properties": {"n": 1}},
            AnalyticsEvent(event_name="B", unique_id="u2", properties={"ok": False}),
        ]
    )
    first, second, third = other_apis.state.events
    assert first["properties"] == {
        "s": "x",
        "i": "23",
        "f": "1.5",
        "big": "1e+20",
        "t": "true",
        "n": "false",
        "neg": "-7",
    }
    assert second["properties"] == {"n": "1"} and third["properties"] == {"ok": "false"}
    assert other_apis.state.profiles == {"user47": {"Age": "23", "Pro": "true"}}


async def test_other_calls_check_fields(analytics: AnalyticsClient, other_apis: OtherApis) -> None:
    with pytest.raises(RequestValidationError, match="unique_id"):
        await analytics.identify("", {})
    with pytest.raises(RequestValidationError, match="properties"):
        await analytics.identify("u", {"": "x"})
    with pytest.raises(RequestValidationError, match="new_id"):
        await analytics.alias("a", _LONG)
    with pytest.raises(RequestValidationError, match="unique_id"):
        await analytics.suppress("")
    with pytest.raises(RequestValidationError, match="unique_id"):
        await analytics.delete(None)  # type: ignore[arg-type]
    assert other_apis.state.hits["analytics"] == 0


async def test_wrong_api_key_is_400(other_apis: OtherApis) -> None:
    async with AnalyticsClient("wrong-key", base_url=other_apis.analytics_url) as client:
        with pytest.raises(BadRequestError):
            await client.track("Login", "user47")
        assert "wrong-key" not in repr(client)


async def test_422_from_the_server() -> None:
    body = {"errors": [{"code": "VALIDATION_ERROR", "message": "eventName is too long"}]}
    with aioresponses() as mocked:
        mocked.post("https://api.indicative.com/service/event", status=422, payload=body)
        async with AnalyticsClient("key") as client:
            with pytest.raises(UnprocessableEntityError) as info:
                await client.track("Login", "user47")
        [call] = next(iter(mocked.requests.values()))
    assert info.value.messages == ["eventName is too long"]
    assert call.kwargs["headers"].get("Authorization") is None  # the key is in the body


async def test_track_is_not_retried_after_a_5xx(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    other_apis.state.fail_next("analytics", 500)
    with pytest.raises(ServerError):
        await analytics.track("Login", "user47")
    assert other_apis.state.hits["analytics"] == 1  # the event may have been recorded


async def test_429_is_retried_and_identify_after_a_5xx(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    other_apis.state.fail_next("analytics", 429, retry_after=0)
    await analytics.track("Login", "user47")
    other_apis.state.fail_next("analytics", 503)
    await analytics.identify("user47", {"Plan": "Pro"})  # setting a property twice is harmless
    assert other_apis.state.hits["analytics"] == 4
    assert len(other_apis.state.events) == 1


# ---------------------------------------------------------------- batches


def event_arrivals() -> tuple[list[tuple[float, float]], Any]:
    """The (loop time, events) of each request at the wire, and the aioresponses
    callback that records them (answering 200)."""
    arrivals: list[tuple[float, float]] = []

    async def arrive(url: Any, **kwargs: Any) -> CallbackResult:
        sent = json.loads(kwargs["data"])["events"]
        arrivals.append((asyncio.get_running_loop().time(), float(len(sent))))
        return CallbackResult(status=200, payload={})

    return arrivals, arrive


def event(i: int) -> dict[str, Any]:
    return {"eventName": "View", "eventUniqueId": f"user{i}", "properties": {"n": str(i)}}


async def test_250_events_make_three_batches(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    report = await analytics.track_batch(event(i) for i in range(250))
    assert report.ok and report.events_sent == 250
    sizes = sorted(r.events for r in other_apis.state.analytics_requests)
    assert sizes == [50, 100, 100]
    assert len(other_apis.state.events) == 250
    assert report.batches[2] == list(range(200, 250))


async def test_batch_accepts_models_and_both_spellings(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    events: list[Any] = [
        AnalyticsEvent(event_name="A", unique_id="u1", event_time=1700000000000),
        {"event_name": "B", "unique_id": "u2", "event_time": dt.datetime(2024, 1, 1)},
        {"eventName": "C", "eventUniqueId": "u3", "apiKey": "ignored"},
    ]
    report = await analytics.track_batch(events, batch_size=2)
    assert report.ok and report.total == 2
    assert [e["eventName"] for e in other_apis.state.events] == ["A", "B", "C"]
    assert other_apis.state.events[1]["eventTime"] == 1704067200000
    assert "apiKey" not in other_apis.state.events[2]


async def test_bad_events_fail_alone(analytics: AnalyticsClient, other_apis: OtherApis) -> None:
    events: list[Any] = [event(i) for i in range(5)]
    events[1] = {"eventName": "", "eventUniqueId": "u"}
    events[3] = {"eventName": "X", "eventUniqueId": "u", "properties": {"p": None}}
    events.append("not an event")
    report = await analytics.track_batch(events, concurrency=1)
    fields = {report.batches[i][0]: e.field for i, e in report.failed.items()}  # type: ignore[attr-defined]
    assert fields == {1: "events[1].event_name", 3: "events[3].properties.p", 5: "events[5]"}
    assert report.events_sent == 3
    assert [r.events for r in other_apis.state.analytics_requests] == [3]


async def test_a_misspelt_event_key_fails_naming_the_closest_field(
    analytics: AnalyticsClient, other_apis: OtherApis
) -> None:
    # Issue 10: a typo is an error, not a silently dropped field (here: the event time).
    events: list[Any] = [
        {"eventName": "X", "eventUniqueId": "u", "eventTme": 1700000000},
        {"event_name": "Y", "unique_id": "u", "propertys": {"a": "b"}},
        {"eventName": "Z", "eventUniqueId": "u", "when": 5},
    ]
    report = await analytics.track_batch(events, batch_size=1, concurrency=1)
    assert set(report.failed) == {0, 1, 2}
    for i, (typo, suggestion) in enumerate(
        [("eventTme", "eventTime"), ("propertys", "properties"), ("when", None)]
    ):
        error = report.failed[i]
        assert error.field.startswith(f"events[{i}]")  # type: ignore[attr-defined]
        assert typo in str(error)
        if suggestion:
            assert f"'{suggestion}'" in str(error)
    assert other_apis.state.analytics_requests == []


async def test_track_batch_arguments(analytics: AnalyticsClient) -> None:
    with pytest.raises(RequestValidationError):
        await analytics.track_batch(event(1))  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError):
        await analytics.track_batch([event(1)], batch_size=101)


# ---------------------------------------------------------------- the events budget


def test_no_second_sees_more_than_250_events() -> None:
    """350 events in batches of 100, 8 at a time: no one-second window sees more than 250
    events, where the client decides and at the wire. On a virtual clock (arrivals are
    timed by the loop, with no scheduling jitter), so every window is checked whole."""
    admitted: list[tuple[float, float]] = []

    class Spy(WindowLimiter):
        def record(self, weight: float, now: float | None = None) -> None:
            admitted.append((asyncio.get_running_loop().time() if now is None else now, weight))
            super().record(weight, now)

    arrivals, arrive = event_arrivals()

    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(f"{VIRTUAL_URL}/service/event/batch", callback=arrive, repeat=True)
            async with AnalyticsClient("key", base_url=VIRTUAL_URL) as client:
                client.events = Spy(250)
                started = loop.time()
                report = await client.track_batch((event(i) for i in range(350)), concurrency=8)
                return report.ok, loop.time() - started

    ok, elapsed = virtual_time.run(main())
    assert ok
    # Where the client decides: 200 at once, the last 150 one window later.
    assert sorted(w for _, w in admitted) == [50, 100, 100, 100]
    assert heaviest_window(admitted) <= 250
    assert elapsed >= 1.0  # the budget forced a wait
    # And at the wire.
    assert sum(w for _, w in arrivals) == 350
    assert heaviest_window(arrivals) <= 250


def test_a_plain_track_goes_before_a_bulk_runs_queued_events() -> None:
    """40 events queued by a bulk run (background) at 10 events/s, then one plain
    ``track`` (a web request's): it takes the next room in the budget, about a second
    later, not its place behind the backlog (three seconds). On a virtual clock."""

    async def arrive(url: Any, **kwargs: Any) -> CallbackResult:
        return CallbackResult(status=200, payload={})

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(f"{VIRTUAL_URL}/service/event", callback=arrive, repeat=True)
            async with AnalyticsClient("key", base_url=VIRTUAL_URL, events_per_second=10) as client:

                async def bulk() -> None:
                    with in_lane(BACKGROUND):
                        await asyncio.gather(*(client.track("bulk", f"user{i}") for i in range(40)))

                backlog = asyncio.ensure_future(bulk())
                await asyncio.sleep(0.05)  # the backlog is queued
                started = loop.time()
                await client.track("web", "user-web")
                web = loop.time() - started
                await backlog
                return web, loop.time() - started

    web, everything = virtual_time.run(main())
    assert everything >= 3.0  # the budget held the backlog back
    assert web <= 1.1, web  # the plain call waited for room, not for the backlog


def test_request_rate_limit() -> None:
    """12 requests at ``rate_limit=10``: no one-second window sees more than 10 reach the
    wire. On a virtual clock (arrival times are the loop's, with no scheduling jitter), so
    the window is checked whole, with no margin a busy machine could eat."""
    arrivals: list[tuple[float, float]] = []

    async def arrive(url: Any, **kwargs: Any) -> CallbackResult:
        arrivals.append((asyncio.get_running_loop().time(), 1.0))
        return CallbackResult(status=200, payload={})

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(f"{VIRTUAL_URL}/service/suppress", callback=arrive, repeat=True)
            async with AnalyticsClient("key", base_url=VIRTUAL_URL, rate_limit=10) as client:
                started = loop.time()
                await asyncio.gather(*(client.suppress(f"user{i}") for i in range(12)))
                return loop.time() - started

    elapsed = virtual_time.run(main())
    assert len(arrivals) == 12
    assert heaviest_window(arrivals) == 10  # the limit, reached and not passed
    assert elapsed >= 1.0  # the 11th had to wait for the first window to pass


def _paced_batches(
    events: int, batch_size: int, **options: Any
) -> tuple[list[tuple[float, float]], float]:
    """Send ``events`` events in batches through an `AnalyticsClient` built with
    ``options``, on a virtual clock; the (time, events) of each request at the wire and
    the run's duration."""

    arrivals, arrive = event_arrivals()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(f"{VIRTUAL_URL}/service/event/batch", callback=arrive, repeat=True)
            async with AnalyticsClient("key", base_url=VIRTUAL_URL, **options) as client:
                started = loop.time()
                report = await client.track_batch(
                    (event(i) for i in range(events)), batch_size=batch_size, concurrency=8
                )
                assert report.ok and report.events_sent == events
                return loop.time() - started

    elapsed = virtual_time.run(main())
    return arrivals, elapsed


def test_events_per_second_caps_events_not_requests() -> None:
    """``events_per_second=50``: 120 events in batches of 10 (12 requests) reach the wire
    at most 50 events in any one-second window, so in three windows; requests are not
    limited beyond that (5 go out at once)."""
    arrivals, elapsed = _paced_batches(120, 10, events_per_second=50)
    assert sum(w for _, w in arrivals) == 120
    assert heaviest_window(arrivals) == 50  # the budget, reached and not passed
    assert 2.0 <= elapsed < 3.0
    assert heaviest_window([(t, 1.0) for t, _ in arrivals]) == 5


def test_rate_limit_caps_requests_not_events() -> None:
    """``rate_limit=2`` means what it means on every client, requests per second: 6
    batches of 50 go 2 per window, so 100 events per second, well under the default
    events budget (250), which stays as it was."""
    arrivals, elapsed = _paced_batches(300, 50, rate_limit=2)
    assert len(arrivals) == 6
    assert heaviest_window([(t, 1.0) for t, _ in arrivals]) == 2
    assert heaviest_window(arrivals) == 100
    assert 2.0 <= elapsed < 3.0


def test_both_limits_hold_together() -> None:
    """``events_per_second=100`` and ``rate_limit=3`` at once, 8 batches of 40: each
    window holds at most 100 events (2 batches, the tighter limit) and 3 requests."""
    arrivals, _ = _paced_batches(320, 40, events_per_second=100, rate_limit=3)
    assert len(arrivals) == 8
    assert heaviest_window(arrivals) <= 100
    assert heaviest_window([(t, 1.0) for t, _ in arrivals]) <= 3


def test_the_events_budget_holds_at_the_wire_under_any_rate_limit() -> None:
    """1, 99 and 100 events under ``events_per_second=100`` and a limiter object of 2
    requests per second: the second batch's turn comes half a second late, so the events
    are counted when the request really starts, and the third waits for that. (Counted
    at admission and sent at the limiter's turn, 199 events met in one window.)"""

    arrivals, arrive = event_arrivals()

    async def together() -> None:
        options: dict[str, Any] = {"events_per_second": 100, "rate_limit": RateLimiter(2)}
        with aioresponses() as m:
            m.post(f"{VIRTUAL_URL}/service/event/batch", callback=arrive, repeat=True)
            async with AnalyticsClient("key", base_url=VIRTUAL_URL, **options) as client:
                started = [
                    asyncio.ensure_future(client.track_batch([event(i) for i in range(size)]))
                    for size in (1, 99, 100)
                ]
                reports = await asyncio.gather(*started)
                assert all(report.ok for report in reports)

    virtual_time.run(together())
    assert [w for _, w in arrivals] == [1, 99, 100]
    assert heaviest_window(arrivals) <= 100


def test_a_retry_waits_for_its_own_turn() -> None:
    """``rate_limit=2``: four calls each answered 429 once (Retry-After: 0) make eight
    attempts, and no one-second window sees more than two of them: a retry takes a turn
    like any attempt, as on every client."""
    starts: list[tuple[float, float]] = []
    refused: set[str] = set()

    async def arrive(url: Any, **kwargs: Any) -> CallbackResult:
        starts.append((asyncio.get_running_loop().time(), 1.0))
        who = json.loads(kwargs["data"])["uniqueId"]
        if who not in refused:
            refused.add(who)
            return CallbackResult(status=429, headers={"Retry-After": "0"}, payload={})
        return CallbackResult(status=200, payload={})

    async def main() -> None:
        with aioresponses() as m:
            m.post(f"{VIRTUAL_URL}/service/suppress", callback=arrive, repeat=True)
            async with AnalyticsClient("key", base_url=VIRTUAL_URL, rate_limit=2) as client:
                await asyncio.gather(*(client.suppress(f"user{i}") for i in range(4)))

    virtual_time.run(main())
    assert len(starts) == 8
    assert heaviest_window(starts) == 2


def test_rate_limit_takes_every_form_the_other_clients_take(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``rate_limit`` becomes the limiter `mpasync.Client` would make of it (a number: a
    `RateLimiter`; ``"auto"``: an `AdaptiveRateLimiter`; a limiter: itself), which the
    transport consults through the admission's pacing. None changes the events budget,
    and none is warned about: ``rate_limit`` has always meant requests per second here
    (``events_per_second`` is the events budget)."""
    caplog.set_level(logging.DEBUG, logger="mpasync")
    fixed = AnalyticsClient("key", rate_limit=10)
    assert isinstance(fixed.requests, RateLimiter) and fixed.requests.rate == 10
    auto = AnalyticsClient("key", rate_limit="auto")
    assert isinstance(auto.requests, AdaptiveRateLimiter)
    mine = RateLimiter(5)
    given = AnalyticsClient("key", rate_limit=mine)
    assert given.requests is mine
    for client in (fixed, auto, given):
        limiter = client.transport.limiter
        assert limiter is not None and limiter.rate == client.requests.rate  # type: ignore[union-attr]
        assert client.events.capacity == 250
    assert AnalyticsClient("key").requests is None
    assert AnalyticsClient("key").transport.limiter is None
    assert AnalyticsClient("key", events_per_second=40, rate_limit=10).events.capacity == 40
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    for bad in (0, -1, float("nan"), "fast"):
        with pytest.raises(RequestValidationError, match="rate_limit"):
            AnalyticsClient("key", rate_limit=bad)  # type: ignore[arg-type]


async def test_window_limiter_holds_every_window() -> None:
    limiter = WindowLimiter(20, period=0.1)
    rng = random.Random(7)
    starts: list[tuple[float, float]] = []

    async def one(weight: int) -> None:
        await limiter.acquire(weight)
        starts.append((time.monotonic(), weight))

    await asyncio.gather(*(one(rng.randint(1, 7)) for _ in range(30)))
    assert heaviest_window(starts, 0.1) <= 20
    assert limiter.in_use <= 20


async def test_window_limiter_is_first_come_first_served() -> None:
    limiter = WindowLimiter(10, period=0.1)
    order: list[str] = []

    async def one(name: str, weight: int) -> None:
        await limiter.acquire(weight)
        order.append(name)

    await limiter.acquire(6)
    # The big one queues first; small ones that would fit now must not overtake it.
    await asyncio.gather(one("big", 10), one("small-1", 1), one("small-2", 1))
    assert order == ["big", "small-1", "small-2"]


def test_window_limiter_rejects_impossible_weights() -> None:
    limiter = WindowLimiter(250)
    with pytest.raises(RequestValidationError):
        limiter.delay(251)
    with pytest.raises(RequestValidationError):
        limiter.delay(0)
    with pytest.raises(RequestValidationError):
        WindowLimiter(0)
    assert limiter.delay(250) == 0.0
    assert "250" in repr(limiter)


def test_client_arguments() -> None:
    with pytest.raises(RequestValidationError):
        AnalyticsClient("")
    with pytest.raises(RequestValidationError):
        AnalyticsClient("key", events_per_second=0)
    client = AnalyticsClient("secret-key", events_per_second=50)
    assert "secret-key" not in repr(client) and "50" in repr(client)
