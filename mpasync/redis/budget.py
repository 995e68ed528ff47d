"""The fleet's shared request budget: `RedisRateLimiter`, a GCRA on Redis's clock that
at most ``rate`` starts a second pass across every process sharing a key, fixed or learnt
from mParticle's answers (the adaptive law's state kept in Redis).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import secrets
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import fields

from redis.asyncio import Redis

from mpasync import clock
from mpasync._checks import positive_number
from mpasync.adaptive import (
    EXCEEDED_HEADER,
    AdaptiveRateLimiter,
    ControlLaw,
    RateState,
    parse_usage,
)
from mpasync.errors import RequestValidationError
from mpasync.limits import FILL_SPEED, RateLimiter, Shed
from mpasync.priority import INTERACTIVE, LaneLock, Priority
from mpasync.redis.connection import (
    _REDIS_ERRORS,
    _array,
    _connect,
    _Guard,
    _integer,
    _lua,
    _text,
    _UnusableReply,
    logger,
)

# The scripts (lua/*.lua: each says its KEYS, ARGV and reply). `_RESERVE` is the GCRA
# and the fleet's window rule; the other three keep the adaptive state.
_RESERVE = _lua("reserve")
_START = _lua("start")
_READ_STATE = _lua("read_state")
_WRITE_STATE = _lua("write_state")

#: The adaptive state outlives idle periods (a day), then starts afresh.
_STATE_TTL = 86400
#: Compare-and-set attempts per answer before it is dropped (counted in `conflicts`).
_CAS_TRIES = 10
#: Callers a fleet may queue on one budget (each process holds one booking at a time):
#: a booking further ahead than this many intervals (plus the window's span and a
#: second) is damaged state, as is one over `_MAX_HORIZON` seconds ahead.
_MAX_QUEUE = 64
_MAX_HORIZON = 300.0

# What `acquire` learned about this task's attempt, read back by `observe` in the same
# task: (limiter, start on Redis's clock in seconds, the fleet's starts in its window,
# and in the second before it).
_ATTEMPT: ContextVar[tuple[object, float, int, int] | None] = ContextVar(
    "mpasync_redis_attempt", default=None
)


_STATE_FIELDS = {f.name: f for f in fields(RateState)}


def _stored_state(raw: object) -> tuple[int, RateState, bool] | None:
    """(version, state, read) of a stored adaptive state, or None if it is not one.

    Every field must be a finite number (or None where the state allows it) and the rate
    positive: the law's arithmetic must never meet a string, an infinity or a NaN."""
    try:
        stored = json.loads(_text(raw))
    except (_UnusableReply, ValueError, RecursionError):
        return None
    if not isinstance(stored, dict) or not isinstance(stored.get("state"), dict):
        return None
    version = stored.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        return None
    values = {k: v for k, v in stored["state"].items() if k in _STATE_FIELDS}
    for name, value in values.items():
        if value is None and "None" in str(_STATE_FIELDS[name].type):
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            return None
    rate = values.get("rate")
    if rate is None or rate <= 0:
        return None
    try:
        state = RateState.from_dict(values)
    except (TypeError, ValueError):
        return None
    return version, state, stored.get("read") is True


def _exceeded_limit(headers: Mapping[str, str]) -> str | None:
    """Which limit a 429 names (``X-mp-rate-limit-exceeded``, lower case), else None."""
    raw = headers.get(EXCEEDED_HEADER)
    return raw.strip().strip('"').lower() if raw is not None else None


class RedisRateLimiter:
    """One request budget for a fleet: at most ``rate`` starts per second across every
    process sharing ``key`` on the same Redis, with no burst.

    A GCRA in one Lua script on Redis's clock (``TIME``, not each host's): each call
    reserves the next slot ``interval = (1 + safety) / rate`` after the previous one and
    sleeps until it. Within a process one caller at a time holds a reservation (the others
    queue first come, first served), so a stalled event loop can delay its one start but
    never release a bunch of booked starts together; and a caller that wakes more than
    ``safety / 2`` seconds after its slot gives it up and books again. Every start thus
    lies within ``safety / 2`` after its slot, and slots are ``(1 + safety) / rate``
    apart, so no one-second window holds more than ``rate`` starts.

    ``adaptive=True`` finds the budget from mParticle's signals with
    `mpasync.adaptive.ControlLaw` (``rate`` is then the starting rate), and the law's
    state lives in Redis: the fleet's rate, CUBIC curve and rate clock are one, so a 429
    seen by any process slows all of them, and the usage readings are compared with
    what the whole fleet sent. Each answer updates the state by compare-and-set (a
    version number), so concurrent updates from several processes are never lost
    silently. A 429 naming an ``app`` limit does not slow the account. The fleet's
    bookings also keep `limits.AdjustableRateLimiter`'s window rule (see `_RESERVE`): at
    most ``floor(rate)`` slots in any second, and once usage readings steer the rate, the
    room a rise opens is booked at up to twice the rate.

    If Redis is unreachable, slow (each operation is bounded by ``redis_timeout``, even
    when the caller is cancelled first) or answers nonsense, a local limiter at
    ``rate / expected_processes`` takes over (an `AdaptiveRateLimiter` starting there
    when adaptive), with one WARNING per outage, and Redis is tried again every few
    seconds. What Redis holds is checked: a booking further ahead than the rate can
    explain (more than 64 queued slots, or ``4 * expected_processes``, plus the window and
    a second; 300 s at most), as after Redis's clock steps back, is reset with a WARNING
    rather than park calls, and a damaged adaptive state is replaced.

    >>> budget = RedisRateLimiter("redis://127.0.0.1:6379/0", "platform-api", rate=100)
    >>> async with Client(..., rate_limit=budget) as mp: ...
    >>> await budget.aclose()

    Args:
        redis: a ``redis://`` URL, or a ``redis.asyncio.Redis`` (not closed by us).
        key: the budget's name; processes with the same key share it. Stored as
            ``{key_prefix}:rate:{len(key)}:{key}``, so no key meets another's internal
            keys (``x`` and ``x:state`` are two budgets). mParticle's budget is per
            account: name the account in it (`fleet_options` does).
        rate: requests per second for the whole fleet (with ``adaptive``: to start at,
            default 10).
        adaptive: learn the rate from the server's answers (see above).
        expected_processes: how many processes share the budget (for the fallback).
        safety: spacing margin, as in `RateLimiter`: 0.05 for a fixed ``rate``, 0.01 when
            adaptive (default None).
        min_rate, max_rate, target_usage, use_headers: the adaptive law's options, as
            `AdaptiveRateLimiter`'s.
        key_prefix: namespace of the Redis keys.
        redis_timeout: the bound on each Redis operation (and the socket timeouts of a
            client made from a URL).
    """

    def __init__(
        self,
        redis: str | Redis,
        key: str,
        rate: float | None = None,
        *,
        adaptive: bool = False,
        expected_processes: int = 1,
        safety: float | None = None,
        min_rate: float = 0.5,
        max_rate: float | None = None,
        target_usage: float = 0.9,
        use_headers: bool = True,
        key_prefix: str = "mpasync",
        redis_timeout: float = 2.0,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise RequestValidationError("key must be a non-empty string", field="key")
        if not isinstance(adaptive, bool):
            raise RequestValidationError("adaptive must be a bool", field="adaptive")
        self.law: ControlLaw | None = None
        if adaptive:
            self.law = ControlLaw(
                10.0 if rate is None else positive_number(rate, "rate"),
                min_rate,
                max_rate,
                target_usage,
                use_headers=use_headers,
            )
            rate = self.law.initial_rate
        elif rate is None:
            raise RequestValidationError("rate is required unless adaptive=True", field="rate")
        self._rate = positive_number(rate, "rate")
        if (
            isinstance(expected_processes, bool)
            or not isinstance(expected_processes, int)
            or expected_processes < 1
        ):
            raise RequestValidationError(
                "expected_processes must be an integer >= 1", field="expected_processes"
            )
        if safety is None:
            # A fixed budget is a promise: 5 % leaves room for the jitter between our
            # clocks and the server's. An adaptive one already aims below the limit
            # (target_usage), so it spaces starts as tightly as a local limiter.
            safety = 0.01 if adaptive else 0.05
        if isinstance(safety, bool) or not isinstance(safety, (int, float)) or safety < 0:
            raise RequestValidationError("safety must be a number >= 0", field="safety")
        if not isinstance(key_prefix, str) or not key_prefix:
            raise RequestValidationError(
                "key_prefix must be a non-empty string", field="key_prefix"
            )
        # The user's key is length-prefixed, so no key can end like another key's
        # internal parts: "x" gives "...:1:x" and "...:1:x:state", "x:state" gives
        # "...:7:x:state" (the length before the first ':' decides which key is whose).
        self.key = f"{key_prefix}:rate:{len(key)}:{key}"
        self._state_key = self.key + ":state"
        self._starts_key = self.key + ":starts"
        self._booked_key = self.key + ":booked"
        self.adaptive = adaptive
        self.expected_processes = expected_processes
        self.safety = float(safety)
        redis_timeout = positive_number(redis_timeout, "redis_timeout")
        self._redis, self._owns_redis = _connect(redis, redis_timeout)
        #: Closed by the `Client` it is given to (set by `fleet_options`, which made it).
        self.close_with_client = False
        self._reserve = self._redis.register_script(_RESERVE)
        self._start = self._redis.register_script(_START)
        self._read_state = self._redis.register_script(_READ_STATE)
        self._write_state = self._redis.register_script(_WRITE_STATE)
        self._guard = _Guard(
            f"pacing this process alone at rate / {expected_processes} until it is back",
            redis_timeout,
        )
        self._turn = LaneLock()
        self._local: RateLimiter | AdaptiveRateLimiter | None = None
        self._ids = itertools.count()
        self._name = secrets.token_hex(6)
        #: Compare-and-set races lost to other processes (each one retried).
        self.conflicts = 0
        #: Slots given up because their caller woke too late (each one booked again).
        self.late = 0
        #: Answers dropped after `_CAS_TRIES` lost races in a row.
        self.dropped = 0

    def __repr__(self) -> str:
        kind = ", adaptive" if self.adaptive else ""
        return f"RedisRateLimiter(key={self.key!r}, rate={self.rate:.3g}{kind})"

    @property
    def rate(self) -> float:
        """The fleet's allowed requests per second (as last seen from Redis)."""
        return self._rate

    @property
    def observes(self) -> bool:
        """Whether the transport should report answers (only an adaptive budget learns)."""
        return self.adaptive

    async def aclose(self) -> None:
        """Close the Redis client if we made it."""
        await self._guard.drain()
        if self._owns_redis:
            await self._redis.aclose()

    async def acquire(
        self,
        scope: str | None = None,
        *,
        priority: Priority = INTERACTIVE,
        deadline: float | None = None,
    ) -> None:
        """Wait for this caller's slot in the fleet's budget.

        A process books one slot at a time, and its callers take turns by lane
        (`mpasync.priority.LaneLock`): an interactive caller books next, before any
        background one, so across a fleet it waits for at most one booking per process.
        With a ``deadline``, a slot the fleet's schedule puts after it is given up at
        once (`limits.Shed`), as is a turn that the callers queued ahead cannot leave in
        time.
        """
        turn = self._turn
        if deadline is not None:
            ahead = turn.waiting(priority)
            soonest = clock.now() + ahead * (1.0 + self.safety) / self._rate
            if ahead and soonest > deadline:
                raise Shed(soonest - clock.now())
        await turn.acquire(priority)
        try:
            while self._guard.usable():
                loop = asyncio.get_running_loop()
                asked = loop.time()  # the slot is at least `wait` after this
                try:
                    wait, booking, _ = await self._book()
                    if deadline is not None and asked + wait > deadline:
                        # No slot in time: give it up (a booked one leaves the fleet's
                        # window; a fixed rate's passes unused: under-used, never over).
                        if booking is not None:
                            await self._guard.run(self._redis.zrem(self._booked_key, booking))
                        raise Shed(wait)
                    if wait > 0:
                        await asyncio.sleep(wait)
                        if loop.time() - (asked + wait) > self.safety / 2:
                            # Woke too late (a stalled loop): starting now could land next
                            # to the slots other processes booked since. Give the slot up
                            # (and its place in the fleet's window: nobody started in it)
                            # and book again; the budget is under-used, never exceeded.
                            self.late += 1
                            if booking is not None:
                                await self._guard.run(self._redis.zrem(self._booked_key, booking))
                            continue
                    if self.adaptive:
                        await self._record_start()
                except _REDIS_ERRORS as exc:
                    self._guard.failed(exc)
                    break
                self._guard.ok()
                return
            _ATTEMPT.set(None)
            await self._fallback().acquire(scope, priority=priority, deadline=deadline)
        finally:
            turn.release()

    async def _book(self) -> tuple[float, str | None, float]:
        """Reserve the next slot of the fleet's timeline: seconds until it, the booking's
        id in the fleet's window (None for a fixed rate, which keeps none), and the slot
        on Redis's clock (seconds)."""
        span = 1.0 + self.safety
        interval_us = span / self._rate * 1e6
        keys = [self.key, self._state_key, self._booked_key]
        booking = f"{self._name}:{next(self._ids)}"
        queue = max(_MAX_QUEUE, 4 * self.expected_processes)
        args: list[str | int | float] = [
            repr(interval_us),
            repr(span),
            booking,
            FILL_SPEED,
            queue,
            repr((2 * span + 1.0) * 1e6),
            repr(_MAX_HORIZON * 1e6),
        ]
        reply = _array(await self._guard.run(self._reserve(keys=keys, args=args)), 4)
        wait_us, raw_rate, repaired = _integer(reply[0]), _text(reply[1]), _integer(reply[2])
        rate = None
        if raw_rate:
            try:
                rate = float(raw_rate)
            except ValueError:
                rate = math.nan
            if not (math.isfinite(rate) and rate > 0):
                raise _UnusableReply("a rate that is not a positive number")
        if not 0 <= wait_us <= _MAX_HORIZON * 1e6:
            raise _UnusableReply(f"a wait of {wait_us} µs")
        if repaired:
            logger.warning(
                "the fleet budget %s held bookings further ahead than its rate explains "
                "(damaged, or Redis's clock stepped back); reset them",
                self.key,
            )
        if rate is not None:
            self._rate = rate
        return wait_us / 1e6, booking if rate is not None else None, _integer(reply[3]) / 1e6

    async def _record_start(self) -> None:
        """Count this start in the fleet's window, for `observe` in the same task."""
        member = f"{self._name}:{next(self._ids)}"
        reply = _array(
            await self._guard.run(self._start(keys=[self._starts_key], args=[member])), 3
        )
        _ATTEMPT.set((self, _integer(reply[0]) / 1e6, _integer(reply[1]), _integer(reply[2])))

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """Feed one answer to the fleet's adaptive state (only with ``adaptive=True``)."""
        law = self.law
        if law is None:
            return
        attempt = _ATTEMPT.get()
        if attempt is None or attempt[0] is not self:
            local = self._local
            if isinstance(local, AdaptiveRateLimiter):
                await local.observe(scope, status, headers)  # paced alone: learn alone
            return
        _ATTEMPT.set(None)
        _, started, sent, before = attempt
        if status == 429:
            kind = _exceeded_limit(headers)
            if kind == "app":
                return  # one app's limit: not the account's budget (the retry waits)
            await self._update(
                lambda s, now: law.on_throttle(s, kind, now, sent=sent, sent_at=started),
                _CAS_TRIES,
            )
        elif 200 <= status < 300:
            usage = parse_usage(headers)
            await self._update(
                lambda s, now: law.on_success(s, usage, now, sent=sent, sent_before=before),
                _CAS_TRIES,
                reading=usage is not None and law.use_headers,
            )

    async def _update(
        self, step: Callable[[RateState, float], RateState], tries: int, *, reading: bool = False
    ) -> None:
        """Apply ``step`` to the shared state by compare-and-set (optimistic, versioned).

        ``reading``: the step took a usage reading. The state then says so (``read``) for
        good, and `_RESERVE` fills the fleet's window fast (as the readings say how much
        room there is); a rate found by 429s alone fills at the rate itself.
        """
        assert self.law is not None
        try:
            for attempt in range(tries):
                if attempt:
                    # Lost a race: back off exponentially, with full jitter, so that
                    # processes answering in lockstep stop colliding even when a busy
                    # host stretches every read-to-write window (at most 50 ms a try).
                    await asyncio.sleep(random.uniform(0.0, min(0.05, 0.001 * 2**attempt)))
                reply = _array(await self._guard.run(self._read_state(keys=[self._state_key])), 3)
                now = _integer(reply[0]) + _integer(reply[1]) / 1e6
                raw = reply[2]
                if not isinstance(raw, (bytes, str)):
                    raise _UnusableReply(f"a {type(raw).__name__} where a state was expected")
                version, state, read = 0, self.law.initial(now), False
                if raw:
                    found = _stored_state(raw)
                    if found is None:
                        # Not ours, or damaged: start afresh rather than fail a call.
                        logger.warning(
                            "unreadable adaptive state at %s; replacing it", self._state_key
                        )
                    else:
                        version, state, read = found
                new = step(state, now)
                body = json.dumps(
                    {"version": version + 1, "state": new.to_dict(), "read": read or reading}
                )
                written = await self._guard.run(
                    self._write_state(keys=[self._state_key], args=[raw, body, _STATE_TTL])
                )
                if written == 1:
                    self._rate = new.rate
                    return
                self.conflicts += 1
            self.dropped += 1
            logger.debug("adaptive state busy: an answer was dropped after %d tries", tries)
        except _REDIS_ERRORS as exc:
            self._guard.failed(exc)

    def _fallback(self) -> RateLimiter | AdaptiveRateLimiter:
        local_rate = self._rate / self.expected_processes
        local = self._local
        if self.law is not None:
            if not isinstance(local, AdaptiveRateLimiter):
                law = self.law
                self._local = local = AdaptiveRateLimiter(
                    max(law.min_rate, local_rate),
                    law.min_rate,
                    law.max_rate,
                    law.target_usage,
                    use_headers=law.use_headers,
                )
            return local
        if not isinstance(local, RateLimiter) or local.rate != local_rate:
            self._local = local = RateLimiter(local_rate)
        return local
