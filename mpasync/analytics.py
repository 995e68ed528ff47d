"""`AnalyticsClient`: the mParticle Analytics (formerly Indicative) REST API — track events
singly or in batches of up to 100, identify, alias, suppress and delete users — paced to
the API's budget of 250 *events* per second.

Property values: the reference lists them "as Strings", so they are sent as strings. A str
goes as given; an int or a finite float goes as its decimal text (``23`` -> ``"23"``,
``1.5`` -> ``"1.5"``); a bool as ``"true"``/``"false"``. Anything else (None, lists, dicts,
NaN) is refused with `RequestValidationError` naming the property, before sending.

>>> async with AnalyticsClient(api_key) as a:
...     await a.track("Registration", "user47", {"Plan": "Free"})
...     report = await a.track_batch(events)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from mpasync import clock
from mpasync._checks import fail as _fail
from mpasync._lifecycle import TransportOwner, each
from mpasync._validate import parse_datetime, to_model
from mpasync.adaptive import rate_control
from mpasync.auth import NoAuth
from mpasync.bulk import BulkReport, OnProgress, RunOptions, run
from mpasync.decoding import empty
from mpasync.errors import RequestValidationError
from mpasync.limits import ConcurrencyLimiter, RateControl, WindowLimiter
from mpasync.models.base import Model
from mpasync.options import TransportOptions
from mpasync.priority import BACKGROUND, Priority, lane_of
from mpasync.request import Request, path
from mpasync.transport import Root, Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_ANALYTICS_URL",
    "EVENTS_PER_SECOND",
    "MAX_BATCH_EVENTS",
    "AnalyticsClient",
    "AnalyticsEvent",
    "TrackReport",
    "event_payload",
    "property_value",
]

DEFAULT_ANALYTICS_URL = "https://api.indicative.com"
#: The API's rate limit, counted in events (a batch of 100 counts 100).
EVENTS_PER_SECOND = 250
#: The recommended largest batch.
MAX_BATCH_EVENTS = 100
_MAX_LENGTH = 255

_EVENT = path("service", "event")
_BATCH = path("service", "event", "batch")
_IDENTIFY = path("service", "identify")
_ALIAS = path("service", "alias")
_SUPPRESS = path("service", "suppress")
_DELETE = path("service", "delete")

#: What a property value may be given as; it is always sent as a string.
PropertyValue = str | int | float | bool
EventTime = int | float | str | dt.datetime


class AnalyticsEvent(Model, kw_only=True):
    """One event for `AnalyticsClient.track_batch`; dicts with the same keys (or the API's
    ``eventName``, ``eventUniqueId``, ``eventTime``) work too.

    ``event_time`` is unix seconds or milliseconds, an ISO 8601 string, or (outside this
    model's type, in dicts and `AnalyticsClient.track`) a ``datetime``; absent means "now".
    ``properties`` values are sent as strings (see the module's docstring).
    """

    event_name: str = msgspec.field(name="eventName")
    unique_id: str = msgspec.field(name="eventUniqueId")
    # Values are checked (and turned into strings) by the client, which names the property.
    properties: dict[str, Any] | None = None
    event_time: int | float | str | None = msgspec.field(default=None, name="eventTime")


# ---------------------------------------------------------------- field rules


def _text(value: object, where: str) -> str:
    """A name or id: a string of 1 to 255 characters."""
    if not isinstance(value, str):
        _fail(where, f"must be a string, not {type(value).__name__}")
    if not 1 <= len(value) <= _MAX_LENGTH:
        _fail(where, f"must be 1 to {_MAX_LENGTH} characters long, got {len(value)}")
    return value


def property_value(value: object, where: str) -> str:
    """A property value as the API types it, a string: numbers as their decimal text,
    booleans as ``"true"``/``"false"``; anything else is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            _fail(where, f"must be a finite number, got {value!r}")
        return repr(value)  # the shortest text that reads back as the same float
    _fail(
        where,
        f"must be a string (numbers and booleans are sent as strings), got {type(value).__name__}",
    )


def _properties(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        _fail(where, f"must be a dict of property names to values, not {type(value).__name__}")
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not 1 <= len(name) <= _MAX_LENGTH:
            _fail(
                where, f"property names must be strings of 1 to {_MAX_LENGTH} characters: {name!r}"
            )
        result[name] = property_value(item, f"{where}.{name}")
    return result


def _event_time(value: object, where: str) -> int | float | str:
    """Unix seconds or milliseconds (sent as given), a datetime (sent as milliseconds) or an
    ISO 8601 string (sent as given); never before 1970, which the API rejects."""
    if isinstance(value, bool):
        _fail(where, "must be a number, a datetime or an ISO 8601 string, not a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            _fail(where, f"must be a non-negative unix time, got {value!r}")
        return value
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
        millis = math.floor(moment.timestamp() * 1000)
        if millis < 0:
            _fail(where, f"{value.isoformat()} is before 1970")
        return millis
    if isinstance(value, str):
        text = value.strip()
        parsed_time = parse_datetime(text)
        if parsed_time is None:
            _fail(where, f"{value!r} is not an ISO 8601 date-time")
        moment = parsed_time
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        if moment.timestamp() < 0:
            _fail(where, f"{value!r} is before 1970")
        return value
    _fail(where, f"must be a number, a datetime or an ISO 8601 string, not {type(value).__name__}")


#: Python names of `AnalyticsEvent` fields and the API's names they stand for.
_WIRE_NAMES = {"event_name": "eventName", "unique_id": "eventUniqueId", "event_time": "eventTime"}


def event_payload(
    event_name: object,
    unique_id: object,
    properties: object = None,
    event_time: object = None,
    *,
    where: str = "",
) -> dict[str, Any]:
    """One event in the API's JSON, checked (names and ids 1 to 255 characters, property
    names 1 to 255, no time before 1970); ``where`` prefixes field names in errors."""
    body: dict[str, Any] = {
        "eventName": _text(event_name, f"{where}event_name"),
        "eventUniqueId": _text(unique_id, f"{where}unique_id"),
    }
    if properties is not None:
        body["properties"] = _properties(properties, f"{where}properties")
    if event_time is not None:
        body["eventTime"] = _event_time(event_time, f"{where}event_time")
    return body


def _coerce_event(event: object, where: str) -> dict[str, Any]:
    """One batch event from a model or a dict: dicts go through the shared conversion, so
    a misspelt key is an error naming the closest field."""
    if isinstance(event, Mapping):
        given: dict[Any, Any] = {}
        for key, value in event.items():
            if key == "apiKey":
                continue  # the API disregards a per-event key in batches
            if isinstance(value, dt.datetime) and key in ("eventTime", "event_time"):
                value = _event_time(value, f"{where}event_time")  # outside the model's type
            wire = _WIRE_NAMES.get(key) if isinstance(key, str) else None
            given[wire if wire is not None and wire not in event else key] = value
        event = given
    model = to_model(event, AnalyticsEvent, where.rstrip("."))
    return event_payload(
        model.event_name, model.unique_id, model.properties, model.event_time, where=where
    )


@dataclass
class TrackReport(BulkReport[int]):
    """A `BulkReport` keyed by batch index; ``batches[i]`` lists the positions (in the
    input) of the events batch ``i`` carried. An event that fails the field rules is
    never sent: it gets a batch of its own that fails with `RequestValidationError`."""

    batches: dict[int, list[int]] = field(default_factory=dict)

    @property
    def events_sent(self) -> int:
        """Events in batches the API accepted."""
        return sum(len(self.batches[i]) for i in self.succeeded)


# ---------------------------------------------------------------- client


class _PacedAtAdmission:
    """The transport's side of the ``rate_limit`` limiter of an `AnalyticsClient`, which
    takes each request's turn at admission, beside the events budget.

    A call's first attempt then goes without waiting again (its turn was taken a moment
    before, in the same task), every later attempt of that call (a retry) waits for a
    turn of its own, and every response is passed on to the limiter, so ``"auto"``
    learns from them as it does on any client. Turns are kept per task because the
    transport runs a call's attempts in the task that called it.
    """

    __slots__ = ("_turns", "limiter", "observes")

    def __init__(self, limiter: RateControl) -> None:
        self.limiter = limiter
        self.observes = getattr(limiter, "observes", True)
        self._turns: set[asyncio.Task[Any]] = set()

    @property
    def rate(self) -> float:
        """The limiter's current requests per second."""
        return self.limiter.rate

    async def take_turn(self) -> None:
        """Wait for a turn now, for the current task's next attempt (admission)."""
        await self.limiter.acquire(None)
        self._turns.add(_current_task())

    def forget_turn(self) -> None:
        """Drop a turn the current task did not use (its call ended before an attempt)."""
        self._turns.discard(_current_task())

    async def acquire(self, scope: str | None = None) -> None:
        """The transport's wait before an attempt: none for the one admission let in."""
        task = _current_task()
        if task in self._turns:
            self._turns.discard(task)
            return
        await self.limiter.acquire(scope)

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """Pass a response on to the limiter."""
        await self.limiter.observe(scope, status, headers)

    def __repr__(self) -> str:
        return f"{self.limiter!r} (paced at admission)"


def _current_task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None, "mpasync calls run in a task"
    return task


class AnalyticsClient(TransportOwner):
    """The Analytics REST API client. The API key travels in each body (no auth header).

    Shares the core transport (pool, retries, errors, ``timeout`` per attempt, a borrowed
    ``session`` never closed) and adds the API's budget: ``events_per_second`` (default
    250) is a `WindowLimiter` that counts events, so no one-second window sees more
    events start than that, however they are split into requests. ``rate_limit`` means
    what it means on every client: requests per second (a number, ``"auto"`` or a
    limiter object, the same limiter `mpasync.Client` would make of it), and every
    attempt, a retry too, waits for its turn.

    Why the budget holds at the wire, not just in the limiter: every call first takes a
    permit of this client's own ``max_concurrency`` gate, then is admitted by the budget
    and the rate limit together (one lock: the events fit, then the request's turn comes,
    then the events are recorded), and only then handed to the transport, whose equally
    sized semaphore is therefore never full: nothing waits between admission and
    sending. The transport's limiter is `_PacedAtAdmission`, which lets that first
    attempt through (its turn was taken at admission), paces retries, and passes every
    response on to the limiter (so ``"auto"`` learns from them).

    Retries follow the default policy: a POST is retried only when it provably was not
    processed (no connection, or a 429). Tracked events are not idempotent, so a 5xx or a
    lost response is not retried (``RetryPolicy(retry_unsafe=True)`` would). Identify,
    alias, suppress and delete set state, so repeating them is harmless and they are
    retried like idempotent calls. A retry is sent without taking budget again; it only
    follows an attempt the API did not count.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_ANALYTICS_URL,
        events_per_second: float = EVENTS_PER_SECOND,
        **options: Unpack[TransportOptions],
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise RequestValidationError("api_key is required", field="api_key")
        if (
            isinstance(events_per_second, bool)
            or not isinstance(events_per_second, (int, float))
            or not events_per_second >= 1
        ):
            raise RequestValidationError(
                "events_per_second must be a number >= 1", field="events_per_second"
            )
        self._api_key = api_key
        #: The limiter ``rate_limit`` stands for (requests per second), or None.
        self.requests = rate_control(options.get("rate_limit"))
        self._paced = _PacedAtAdmission(self.requests) if self.requests is not None else None
        self._transport = Transport(
            base_url=base_url,
            auth=NoAuth(),
            roots={"": Root("", {})},
            options={**options, "rate_limit": self._paced},
            secrets=(api_key,),  # sent in every body: masked wherever a server echoes it
        )
        self._gate = ConcurrencyLimiter(self._transport.concurrency.capacity)
        #: The events budget (shared by every call of this client).
        self.events = WindowLimiter(events_per_second)
        #: One caller at a time decides against the budgets: a lock with the two lanes
        #: (a plain call's ``track`` goes before a bulk run's queued calls).
        self._admission = ConcurrencyLimiter(1)

    def __repr__(self) -> str:
        return (
            f"AnalyticsClient(base_url={self._transport.base_url!r}, "
            f"events_per_second={self.events.capacity:g}, "
            f"max_concurrency={self._gate.capacity})"
        )

    # -- sending ------------------------------------------------------------------------

    async def _admit(self, events: int, lane: Priority) -> None:
        """Wait until ``events`` (maybe 0) fit the budget and the request's turn comes
        (``rate_limit``); record the events as starting then."""
        await self._admission.acquire(lane)
        try:
            while events:
                wait = self.events.delay(events, clock.now())
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self._paced is not None:
                # The events still fit when the turn comes: windows only empty with time,
                # and no one else records while this lock is held.
                await self._paced.take_turn()
            if events:
                self.events.record(events, clock.now())
        finally:
            self._admission.release()

    async def _post(
        self, where: str, body: dict[str, Any], *, events: int = 0, idempotent: bool = False
    ) -> None:
        body = {"apiKey": self._api_key, **body}
        lane = lane_of(None)  # a bulk run's calls are background; a plain call's, not
        await self._gate.acquire(lane)
        try:
            await self._admit(events, lane)
            try:
                await self._transport.send(
                    Request("POST", where, empty, api="", body=body, idempotent=idempotent)
                )
            finally:
                if self._paced is not None:
                    self._paced.forget_turn()
        finally:
            self._gate.release()

    # -- the API ------------------------------------------------------------------------

    async def track(
        self,
        event_name: str,
        unique_id: str,
        properties: Mapping[str, PropertyValue] | None = None,
        event_time: EventTime | None = None,
    ) -> None:
        """Track one event: ``POST /service/event``.

        ``event_name`` and ``unique_id`` are 1 to 255 characters; ``properties`` maps names
        (1 to 255 characters) to strings (numbers and booleans are sent as their text,
        ``23`` -> ``"23"``, ``True`` -> ``"true"``; the API truncates values at 255
        characters); ``event_time`` is unix seconds or milliseconds, a
        datetime or an ISO 8601 string, not before 1970 (default: when it arrives).
        """
        body = event_payload(event_name, unique_id, properties, event_time)
        await self._post(_EVENT, body, events=1)

    async def track_batch(
        self,
        events: Iterable[AnalyticsEvent | Mapping[str, Any]]
        | AsyncIterable[AnalyticsEvent | Mapping[str, Any]],
        *,
        batch_size: int = MAX_BATCH_EVENTS,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        priority: Priority = BACKGROUND,
    ) -> TrackReport:
        """Track many events: ``POST /service/event/batch`` per batch of up to 100.

        ``events`` is read lazily; batches go out ``concurrency`` at a time (default: the
        client's ``max_concurrency``) as the events budget allows. The report is keyed by
        batch index (see `TrackReport`); check ``report.ok``.

        >>> report = await a.track_batch(
        ...     {"eventName": "Login", "eventUniqueId": uid} for uid in user_ids)
        """
        options = RunOptions(concurrency, fail_fast, on_progress, priority=priority)
        if isinstance(events, (str, bytes, Mapping, msgspec.Struct)) or not isinstance(
            events, (Iterable, AsyncIterable)
        ):
            raise RequestValidationError(
                "events must be an iterable or async iterable of events", field="events"
            )
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= MAX_BATCH_EVENTS
        ):
            raise RequestValidationError(
                f"batch_size must be an integer from 1 to {MAX_BATCH_EVENTS}", field="batch_size"
            )
        size = min(batch_size, int(self.events.capacity))  # a batch must fit the budget
        report = TrackReport()
        bodies: dict[int, list[dict[str, Any]] | RequestValidationError] = {}

        async def batches() -> AsyncIterator[int]:
            index = 0
            batch: list[dict[str, Any]] = []
            positions: list[int] = []
            position = -1
            async for event in each(events):
                position += 1
                try:
                    payload = _coerce_event(event, f"events[{position}].")
                except RequestValidationError as exc:
                    report.batches[index] = [position]
                    bodies[index] = exc
                    yield index
                    index += 1
                    continue
                batch.append(payload)
                positions.append(position)
                if len(batch) == size:
                    report.batches[index], bodies[index] = positions, batch
                    yield index
                    index += 1
                    batch, positions = [], []
            if batch:
                report.batches[index], bodies[index] = positions, batch
                yield index

        async def send(index: int) -> None:
            batch = bodies.pop(index)
            if isinstance(batch, RequestValidationError):
                raise batch
            await self._post(_BATCH, {"events": batch}, events=len(batch))

        await run(
            send,
            batches(),
            options.with_default_concurrency(self._gate.capacity),
            stats=self._transport.stats,
            report=report,
        )
        return report

    async def identify(self, unique_id: str, properties: Mapping[str, PropertyValue]) -> None:
        """Set user properties: ``POST /service/identify``; they persist until overwritten.
        Values are sent as strings, as in `track`."""
        body = {
            "uniqueId": _text(unique_id, "unique_id"),
            "properties": _properties(properties, "properties"),
        }
        await self._post(_IDENTIFY, body, idempotent=True)

    async def alias(self, previous_id: str, new_id: str) -> None:
        """Merge user ``previous_id`` (often anonymous) into ``new_id``: ``POST /service/alias``."""
        body = {"previousId": _text(previous_id, "previous_id"), "newId": _text(new_id, "new_id")}
        await self._post(_ALIAS, body, idempotent=True)

    async def suppress(self, unique_id: str) -> None:
        """Stop processing future data for a user: ``POST /service/suppress``."""
        await self._post(_SUPPRESS, {"uniqueId": _text(unique_id, "unique_id")}, idempotent=True)

    async def delete(self, unique_id: str) -> None:
        """Irrevocably delete a user's data, and suppress it: ``POST /service/delete``."""
        await self._post(_DELETE, {"uniqueId": _text(unique_id, "unique_id")}, idempotent=True)
