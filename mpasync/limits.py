"""Limits the transport consults before each attempt: a concurrency cap and a rate cap;
and a weighted window limit for budgets that count units other than requests.

The transport does not know which rate limiter it holds: anything with the small
`RateControl` protocol will do (the fixed GCRA here, `mpasync.adaptive`'s adaptive one,
`mpasync.redis`'s fleet-wide one).

All are plain objects so the bulk engine and several callers of one client share them
(one budget per client), and tests can read how much of each is in use.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol, runtime_checkable

from mpasync import clock
from mpasync._checks import positive_number
from mpasync.errors import RequestValidationError
from mpasync.priority import INTERACTIVE, Lanes, Priority

__all__ = [
    "AdjustableRateLimiter",
    "ConcurrencyLimiter",
    "RateControl",
    "RateLimiter",
    "Shed",
    "WindowLimiter",
]


@runtime_checkable
class RateControl(Protocol):
    """What the transport needs from a rate limiter.

    ``scope`` is the app id (as a string) when the request targets one app, else None,
    so a limiter can slow one app's requests without slowing the account's.
    """

    @property
    def rate(self) -> float:
        """The requests per second currently allowed."""
        ...

    async def acquire(self, scope: str | None = None) -> None:
        """Wait for this attempt's turn to start.

        A limiter that also accepts the keywords ``priority`` (`mpasync.priority`) and
        ``deadline`` (a `mpasync.clock` time) serves interactive waiters first and raises
        `Shed` when its schedule has no slot before the deadline; the transport passes
        them to limiters whose ``acquire`` takes them.
        """
        ...

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """Learn from a response (its status and rate-limit headers)."""
        ...


class ConcurrencyLimiter:
    """At most ``capacity`` holders at once, in two priority lanes; an async context
    manager.

    Waiters are served interactive first (`mpasync.priority.Lanes`). Besides holding a
    permit (`acquire` / `release`), a background attempt may *reserve* one: `reserve`
    waits until a permit is free and no one waits to acquire one, then promises it to the
    caller without taking it; the caller waits for its rate slot holding nothing, then
    `claim`s the permit, which succeeds unless an interactive caller took it in the
    meantime (then the caller reserves again). So background attempts never sit on permits
    while they wait for rate slots, and at most ``capacity`` of them wait for slots.

    The permit is released on every exit path, cancellation included (``__aexit__``
    always runs once ``__aenter__`` has returned, and a cancelled ``acquire`` or
    ``reserve`` takes nothing).
    """

    __slots__ = ("_in_use", "_promised", "_queued", "_reserving", "_waiters", "capacity")

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise RequestValidationError(
                "max_concurrency must be an integer >= 1", field="max_concurrency"
            )
        self.capacity = capacity
        self._in_use = 0
        self._promised = 0  # permits reserved and not yet claimed
        self._waiters = Lanes()
        #: The lanes' two queues, read directly on the hot path (empty: no one waits).
        self._queued = self._waiters.queues
        self._reserving: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        """Permits currently held."""
        return self._in_use

    @property
    def available(self) -> int:
        """Permits free right now."""
        return self.capacity - self._in_use

    def try_acquire(self) -> bool:
        """Take a permit if one is free and no one waits for one (pair with `release`)."""
        if self._in_use < self.capacity:
            interactive, background = self._queued
            if not (interactive or background) or not self._waiters:
                self._in_use += 1
                return True
        return False

    async def acquire(self, priority: Priority = INTERACTIVE) -> None:
        """Take a permit (pair with `release`; a cancelled wait takes nothing)."""
        if self._in_use < self.capacity and not self._waiters:
            self._in_use += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.push(priority, fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # granted, then cancelled: give back
                self.release()
            raise

    def release(self) -> None:
        """Give a permit back."""
        self._in_use -= 1
        interactive, background = self._queued
        if interactive or background or self._reserving:
            self._wake()

    async def reserve(self) -> None:
        """Wait until a permit is free for a background attempt and promise it (pair with
        `claim` or `unreserve`; a cancelled wait promises nothing)."""
        reserving = self._reserving
        while reserving and reserving[0].done():
            reserving.popleft()
        if not reserving and self._free_for_reserve():
            self._promised += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reserving.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.unreserve()
            raise

    def claim(self) -> bool:
        """Turn a reservation into a permit: True if one is free and no one waits to
        acquire one; else False (the reservation ends; reserve again)."""
        self._promised -= 1
        if self._in_use < self.capacity and not self._waiters:
            self._in_use += 1
            return True
        self._wake()
        return False

    def unreserve(self) -> None:
        """End a reservation without claiming."""
        self._promised -= 1
        self._wake()

    def _free_for_reserve(self) -> bool:
        return self._in_use + self._promised < self.capacity and not self._waiters

    def _wake(self) -> None:
        if not self._reserving and self._waiters.empty():
            return  # the common case: no one waits
        while self._in_use < self.capacity:
            fut = self._waiters.pop()
            if fut is None:
                break
            self._in_use += 1
            fut.set_result(None)
        reserving = self._reserving
        while reserving and self._free_for_reserve():
            fut = reserving.popleft()
            if not fut.done():
                self._promised += 1
                fut.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Shed(Exception):
    """Internal: a limiter's schedule has no slot for this attempt before its deadline.

    ``retry_after`` is how long until the slot it would get. The transport turns it into
    a `RateLimitError` with ``retry_after`` set (nothing was sent)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"no rate slot before the deadline (next in {retry_after:.3f}s)")
        self.retry_after = retry_after


class RateLimiter:
    """Starts at most ``rate`` operations per second, with no burst: GCRA on actual starts.

    Why GCRA and not a token bucket: a bucket of size ``rate`` allows ``rate`` starts in
    one instant and ``rate`` more a second later, i.e. up to ``2 * rate`` in a one-second
    window that straddles a refill. GCRA spaces starts ``interval = (1 + safety) / rate``
    apart on a virtual timeline.

    The timeline advances with starts *as they happen*. Waiters queue in two priority
    lanes (interactive first, `mpasync.priority`), first come, first served within a
    lane, and one timer lets them go one at a time. Booking slots in advance (each
    caller reserving the next slot, then sleeping until it) keeps the bookings apart but
    not the starts: when the event loop stalls past several booked slots, their owners
    wake in the same iteration and start together (measured at a server: 204 starts in
    one second at 200/s after a 30 ms stall). Here a start that comes late moves the
    timeline with it, except for ``tolerance`` (half an interval, at most half the safety
    margin of a second), which absorbs ordinary timer lateness so the rate is still
    used. Any two starts ``k`` apart are thus at least ``k * interval - tolerance``
    apart, so a one-second window holds at most ``rate`` starts with margin for jitter
    between our clock and a server's. A waiter cancelled after its turn leaves that slot
    unused: the limit can be under-used, never exceeded.
    """

    __slots__ = ("_interval", "_next", "_timer", "_tolerance", "_waiters", "rate")

    # A fixed limit learns nothing from responses (`RateControl.observe`).
    observes = False

    def __init__(self, rate: float, *, safety: float = 0.01) -> None:
        self.rate = positive_number(rate, "rate_limit")
        self._interval = (1.0 + safety) / self.rate
        self._tolerance = min(self._interval, safety) / 2
        self._next = -math.inf  # earliest virtual time of the next start (loop clock)
        self._waiters = Lanes()
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g})"

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """A fixed rate ignores feedback."""

    async def acquire(
        self,
        scope: str | None = None,
        *,
        priority: Priority = INTERACTIVE,
        deadline: float | None = None,
    ) -> None:
        """Wait for this caller's turn (``scope`` is ignored: one timeline for all).

        Interactive waiters go first (`mpasync.priority.Lanes`). With a ``deadline``, a
        caller whose turn the schedule puts after it raises `Shed` at once.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiters and now >= self._ready_at(now, priority):
            self._start(now, priority)
            return
        if deadline is not None:
            turn = self.next_turn(priority, now)
            if turn > deadline:
                raise Shed(turn - now)
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.push(priority, fut)
        self._arm(loop, now)
        await fut

    def next_turn(self, priority: Priority, now: float) -> float:
        """The earliest time a new waiter in ``priority`` could start, by the schedule
        (a lower bound: the waiters ahead start one interval apart at best)."""
        ahead = self._waiters.ahead_of(priority)
        return max(now, self._ready_at(now, priority)) + ahead * self._interval

    def _ready_at(self, now: float, priority: Priority = INTERACTIVE) -> float:
        """The earliest loop time the next start in ``priority`` may happen (a subclass
        may add limits)."""
        return self._next

    def _arm(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """Set the timer for the next waiter's turn (sooner, if that waiter changed)."""
        lane = self._waiters.next_lane()
        if lane is None:
            return
        when = self._ready_at(now, lane)
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = loop.call_at(when, self._release)

    def _start(self, now: float, priority: Priority = INTERACTIVE) -> None:
        # The virtual time of this start: on schedule, or late by at most `tolerance`.
        virtual = self._next if self._next > now - self._tolerance else now - self._tolerance
        self._next = virtual + self._interval

    def _release(self) -> None:
        """Timer callback: let the next live waiter start; re-arm for the one after."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        lane = self._waiters.next_lane()  # skips waiters cancelled while queued
        if lane is not None and now >= self._ready_at(now, lane):
            fut = self._waiters.pop()
            if fut is not None:
                fut.set_result(None)
                self._start(now, lane)
        self._arm(loop, now)


#: `AdjustableRateLimiter` fills the room in its one-second window at up to this multiple
#: of its rate.
FILL_SPEED = 2.0


class AdjustableRateLimiter(RateLimiter):
    """A `RateLimiter` whose rate a controller moves (`mpasync.adaptive`): at most ``rate``
    starts in any one-second window, filled at up to `FILL_SPEED` times ``rate``.

    Two limits together: a log of our own starts admits one only while fewer than
    ``floor(rate)`` started in the last second (the window the server counts; slightly
    longer, for clock jitter between us and it), and the GCRA above spaces
    starts at least ``1 / (FILL_SPEED * rate)`` apart. At a steady rate the window is
    what binds, so no one-second window ever holds more than ``rate`` starts, as with a
    fixed limit. What the window adds is how a *rise* is used: the room a higher rate
    opens is filled within about half a second instead of spread over a whole one. That
    matters under an acceleration limit (api-facts §3.3), which lets a second hold only
    so much more than the second before: a smooth pacer sends each second's share too
    late to count there, and ramps in steps of a second (measured in
    `benchmarks/budget.py`: 1.16x the physical limit smooth, 1.14x filling the window).
    After a decrease nothing starts until the window is back under the new rate, where a
    smooth pacer would go on at once while the window still held the old rate's starts.

    The fast fill is for a rate that usage readings set (``fill=True``): they say how
    much room there is. A rate found by 429s alone (no header) probes, so it fills at the
    rate itself (measured: 429-only CUBIC at 2x fill varied 1.28x-1.52x, at 1x 1.30x).
    Below 2 requests/s a window of one second means nothing (it would admit one start a
    second whatever the rate); there the pacer is the plain GCRA at ``rate``.

    While interactive starts are in the window, background work leaves one slot free for
    the next (`mpasync.priority`). A controller that aims below the budget may give the
    pacer ``headroom`` (`set_rate`): interactive starts beside background work may then
    go that many above the rate, and those in the window count there rather than in
    background's share.
    """

    __slots__ = ("_cap", "_fill", "_headroom", "_interactive", "_safety", "_starts")

    def __init__(self, rate: float, *, fill: bool = False, safety: float = 0.002) -> None:
        super().__init__(rate, safety=safety)
        if not isinstance(fill, bool):
            raise RequestValidationError("fill must be a bool", field="fill")
        self._safety = safety
        self._starts: deque[float] = deque()
        self._interactive: deque[float] = deque()  # the interactive lane's starts in it
        self._cap = 0
        self._fill = fill
        self._headroom = 0
        self._pace(self.rate)

    def _pace(self, rate: float) -> None:
        self.rate = rate
        self._cap = int(rate) if rate >= 2.0 else 0
        speed = FILL_SPEED if self._cap and self._fill else 1.0
        self._interval = (1.0 + self._safety) / (rate * speed)
        self._tolerance = min(self._interval, self._safety) / 2

    def set_rate(
        self, rate: float, *, fill: bool | None = None, headroom: int | None = None
    ) -> None:
        """Use ``rate`` (and ``fill`` and ``headroom``, if given) from the next start on
        (the start already booked stays).

        ``headroom``: how many starts a second above ``rate`` the budget has room for
        that interactive starts beside background work may take (a controller aiming
        below the budget knows; 0: none, the interactive lane's slots are within the
        rate). See `over_rate`.

        A rise re-arms a waiting timer: a waiter held by the full window at the old rate
        may start as soon as the new one allows, not when the old one would have.
        """
        rate = positive_number(rate, "rate_limit")
        fill = self._fill if fill is None else fill
        if not isinstance(fill, bool):
            raise RequestValidationError("fill must be a bool", field="fill")
        room = self._headroom if headroom is None else headroom
        if isinstance(room, bool) or not isinstance(room, int) or room < 0:
            raise RequestValidationError("headroom must be an integer >= 0", field="headroom")
        if rate == self.rate and fill == self._fill and room == self._headroom:
            return
        rising = rate > self.rate or fill > self._fill or room > self._headroom
        self._fill = fill
        self._headroom = room
        self._pace(rate)
        if rising and self._timer is not None:
            loop = asyncio.get_running_loop()
            self._arm(loop, loop.time())

    def _ready_at(self, now: float, priority: Priority = INTERACTIVE) -> float:
        ready = self._next
        cap = self._cap
        if cap:
            starts = self._starts
            span = 1.0 + self._safety  # a hair longer than the server's (clock jitter)
            while starts and starts[0] + span <= now:
                starts.popleft()
            mine = self._interactive
            while mine and mine[0] + span <= now:
                mine.popleft()
            if priority == INTERACTIVE:
                if self._headroom and len(starts) > len(mine):
                    # Beside background work, interactive starts may take the headroom
                    # the budget has above the rate.
                    cap += self._headroom
            elif mine:
                # While the web is sending (an interactive start in the window), background
                # work leaves the window's last slot free: a web request behind work that
                # fills the window at twice the rate then finds it instead of waiting for
                # the window to slide. One slot, not one per web start: more would idle a
                # slot per web request (measured: 8 % of the rate at 50/s, 38 % at 10/s).
                # Web starts up to the headroom are above the rate, not in background's
                # share of it (the kept slot then comes out of the headroom too).
                cap = max(1, cap - 1 + min(len(mine), self._headroom))
            if len(starts) >= cap:
                # The start that must leave the window before another may begin.
                ready = max(ready, starts[len(starts) - cap] + span)
        return ready

    def _start(self, now: float, priority: Priority = INTERACTIVE) -> None:
        super()._start(now, priority)
        if self._cap:
            self._starts.append(now)
            if priority == INTERACTIVE:
                self._interactive.append(now)
        elif self._starts:
            self._starts.clear()
            self._interactive.clear()

    def over_rate(self) -> int:
        """Our starts in the window above ``floor(rate)``: interactive ones in the
        headroom (at most ``headroom``; 0 without it)."""
        return max(0, len(self._starts) - self._cap) if self._cap else 0

    def seed(self, starts: deque[float]) -> None:
        """Count starts made before this pacer existed (`mpasync.clock` times), so a
        new app limiter does not fill a window the server already holds them in."""
        self._starts = deque(sorted(starts))


class WindowLimiter:
    """At most ``capacity`` units start in any window of ``period`` seconds; weighted.

    For budgets that count something other than requests (the Analytics API allows 250
    *events* per second, and one batch request carries up to 100). A sliding-window log:
    each start is recorded as ``(time, weight)``; a start of weight ``w`` at time ``t`` is
    admitted only if the units recorded in ``(t - W, t]`` plus ``w`` stay within
    ``capacity``, where ``W = period * (1 + safety)``.

    Why that is enough: take any window ``[a, a + period)`` and the last start ``t_k`` in
    it. Every earlier start ``s`` in the window has ``s >= a > t_k - W``, so it was in
    the log when ``t_k`` was checked (checks and records happen with no await between
    them, so starts are totally ordered). The check bounded all of them plus ``w_k`` by
    ``capacity``. Unlike weighted GCRA, which charges a start *after* it happens (and so
    lets ``capacity + w`` through one window), nothing here is ever borrowed.

    Waiters are served first come, first served (an `asyncio.Lock`), so a large weight is
    never starved by a stream of small ones. A cancelled waiter records nothing.

    >>> events = WindowLimiter(250)
    >>> await events.acquire(100)   # a batch of 100 events
    """

    __slots__ = ("_lock", "_log", "_used", "_window", "capacity", "period")

    def __init__(self, capacity: float, *, period: float = 1.0, safety: float = 0.01) -> None:
        positive_number(capacity, "capacity")
        positive_number(period, "period")
        if isinstance(safety, bool) or not isinstance(safety, (int, float)) or safety < 0:
            raise RequestValidationError("safety must be a number >= 0", field="safety")
        self.capacity = float(capacity)
        self.period = float(period)
        self._window = self.period * (1.0 + safety)
        self._log: deque[tuple[float, float]] = deque()
        self._used = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"WindowLimiter(capacity={self.capacity:g}, period={self.period:g})"

    @property
    def in_use(self) -> float:
        """Units started within the current window."""
        self._prune(clock.now())
        return self._used

    def _check(self, weight: float) -> float:
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise RequestValidationError("weight must be a number > 0", field="weight")
        if weight > self.capacity:
            raise RequestValidationError(
                f"weight {weight:g} exceeds the capacity of {self.capacity:g} per "
                f"{self.period:g}s window and could never start",
                field="weight",
            )
        return float(weight)

    def _prune(self, now: float) -> None:
        # The same expression as the wait in `delay`, so an entry is either dropped here
        # or gives a positive wait there, whatever the float rounding.
        log, window = self._log, self._window
        while log and log[0][0] + window <= now:
            self._used -= log.popleft()[1]
        if not log:
            self._used = 0.0  # no float drift survives an empty window

    def delay(self, weight: float, now: float | None = None) -> float:
        """Seconds until ``weight`` units may start (0.0: now). Reserves nothing."""
        weight = self._check(weight)
        now = clock.now() if now is None else now
        self._prune(now)
        excess = self._used + weight - self.capacity
        if excess <= 1e-9:
            return 0.0
        freed = 0.0
        for started, units in self._log:
            freed += units
            if freed >= excess - 1e-9:
                return started + self._window - now
        return self._window  # unreachable: weight <= capacity

    def record(self, weight: float, now: float | None = None) -> None:
        """Record a start of ``weight`` units at ``now``; pair it with a zero `delay`."""
        weight = self._check(weight)
        self._log.append((clock.now() if now is None else now, weight))
        self._used += weight

    async def acquire(self, weight: float = 1) -> None:
        """Wait until ``weight`` units may start, then record them as started."""
        self._check(weight)
        async with self._lock:
            while True:
                now = clock.now()
                wait = self.delay(weight, now)
                if wait <= 0:
                    self.record(weight, now)
                    return
                # The loop may wake a hair early (its clock resolution); the check repeats.
                await asyncio.sleep(wait)
