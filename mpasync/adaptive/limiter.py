"""`AdaptiveRateLimiter`: the in-process pacer ``Client(rate_limit="auto")`` uses, moved
by the `law` after every answer, with a limiter of its own for an app whose app limit
throttles; and `rate_control`, what a ``rate_limit`` option stands for.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace

from mpasync import clock
from mpasync.adaptive.law import ControlLaw, RateState, exceeded_limit, parse_usage
from mpasync.errors import RequestValidationError
from mpasync.limits import AdjustableRateLimiter, RateControl, RateLimiter
from mpasync.priority import INTERACTIVE, Priority

__all__ = ["AdaptiveRateLimiter", "rate_control"]

#: The pacer's own margin: small, since `target_usage` is the margin that matters here
#: (a fixed `RateLimiter` keeps 1 % because its rate is the user's hard limit).
_PACER_SAFETY = 0.002

APP = "app"


class _Window:
    """Our own starts in the last second (what the server's window counts of us), and in
    the second before it (what an acceleration limit compares that with)."""

    __slots__ = ("_before", "_starts")

    def __init__(self) -> None:
        self._starts: deque[float] = deque()
        self._before: deque[float] = deque()

    def record(self, now: float) -> tuple[int, int]:
        """Count a start at ``now``: our starts in the last second (this one included)
        and in the second before."""
        starts, before = self._starts, self._before
        cutoff = now - 1.0
        while starts and starts[0] <= cutoff:
            before.append(starts.popleft())
        while before and before[0] <= cutoff - 1.0:
            before.popleft()
        starts.append(now)
        return len(starts), len(before)

    def forget(self, start: float) -> None:
        """Un-count a start the server refused (a 429 does not count in its window)."""
        for starts in (self._starts, self._before):
            try:
                starts.remove(start)
            except ValueError:
                continue  # not in this one
            return

    @property
    def starts(self) -> deque[float]:
        return self._starts

    def count(self, now: float) -> int:
        cutoff = now - 1.0
        return sum(1 for t in self._starts if t > cutoff)


class _Scope:
    """One law state, its pacer and its window: the account, or one throttled app."""

    __slots__ = ("pacer", "read", "state", "target", "window")

    def __init__(self, state: RateState, target: float | None = None) -> None:
        self.state = state
        self.pacer = AdjustableRateLimiter(state.rate, safety=_PACER_SAFETY)
        self.window = _Window()
        self.read = False  # has a usage reading steered this scope's rate yet?
        # The account's target_usage: the headroom it leaves above the rate may hold
        # interactive starts (None: an app's scope, whose readings may be its app
        # limit's, keeps them within the rate).
        self.target = target

    def update(self, state: RateState, *, reading: bool = False) -> None:
        """Take the law's new state; ``reading``: it came from a usage reading (from then
        on the pacer fills its window fast, as the readings say how much room there is)."""
        self.state = state
        self.read = self.read or reading
        self.pacer.set_rate(state.rate, fill=self.read, headroom=self._headroom(state))

    def _headroom(self, state: RateState) -> int:
        """How many starts a second above the rate interactive starts may take: half of
        the whole starts ``target_usage`` leaves between the rate and the budget it aims
        at (none before a reading steered the rate, for an app's scope, or while the rate
        aims close to an acceleration limit: its margin is a start or so)."""
        if self.target is None or not self.read or state.acceleration:
            return 0
        room = math.floor(state.rate / self.target) - math.floor(state.rate)
        return max(0, room) // 2


# What `acquire` learned about this task's attempt, read back by `observe` in the same
# task: (limiter, start time, our starts in the account window and in the second before
# it, the same in the scope's, our starts in the account window above its rate).
_ATTEMPT: ContextVar[tuple[object, float, int, int, int, int, int] | None] = ContextVar(
    "mpasync_adaptive_attempt", default=None
)


class AdaptiveRateLimiter:
    """A rate limit that finds the account's budget from mParticle's signals.

    Use ``Client(rate_limit="auto")`` (this with defaults) or pass one, to share it
    between clients of the same account::

        limiter = AdaptiveRateLimiter(initial_rate=10.0, target_usage=0.9)
        async with Client(..., rate_limit=limiter) as mp:
            ...
        print(limiter.rate)

    Starts are paced at a rate `ControlLaw` moves after every answer, never more than
    the current rate in any one-second window (as a fixed ``rate_limit``); the room a
    rise opens is filled at up to twice the rate (`limits.AdjustableRateLimiter`). A 429 with
    ``X-mp-rate-limit-exceeded: app`` slows only that app's requests: the first one
    creates a limiter for that scope (at most ``max_scopes``, least recently used
    dropped), which requests to that app pass as well as the account's; from then on
    that app's usage readings steer its own limiter, since they may measure its limit.
    Beside background work, interactive starts may take up to half of the headroom
    ``target_usage`` leaves above the account's rate (usage then stays below halfway
    between ``target_usage`` and 100 %), so a web call does not come out of a bulk run's
    share; the law reads usage without them.
    With headers such a limiter is also made before any 429, when an app reads above
    ``target_usage`` while another scope read the account at least 10 points lower
    within the last second (usage is the highest of the limits that apply, so the app
    limit is what is nearly full).

    Args:
        initial_rate: requests/s before any signal.
        min_rate, max_rate: bounds of the rate (``max_rate=None``: unbounded).
        target_usage: the usage (0-1] of the account's limits to settle at.
        use_headers: False ignores ``X-mp-rate-limit-percentage-used`` (pure 429-driven
            CUBIC, as botocore).
        max_scopes: how many per-app limiters to keep.
    """

    def __init__(
        self,
        initial_rate: float = 10.0,
        min_rate: float = 0.5,
        max_rate: float | None = None,
        target_usage: float = 0.9,
        *,
        use_headers: bool = True,
        max_scopes: int = 256,
    ) -> None:
        if isinstance(max_scopes, bool) or not isinstance(max_scopes, int) or max_scopes < 1:
            raise RequestValidationError("max_scopes must be an integer >= 1", field="max_scopes")
        self.law = ControlLaw(
            initial_rate, min_rate, max_rate, target_usage, use_headers=use_headers
        )
        self.max_scopes = max_scopes
        self._account = _Scope(self.law.initial(clock.now()), target_usage)
        self._scopes: OrderedDict[str, _Scope] = OrderedDict()
        # Recent starts per scope before it has a limiter, to know what it sent.
        self._scope_windows: OrderedDict[str, _Window] = OrderedDict()
        self._other_reading_at = -math.inf
        # The last usage reading at or below target_usage of the last few scopes.
        self._low_readings: OrderedDict[str | None, tuple[float, float, int | None]] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"AdaptiveRateLimiter(rate={self.rate:.3g}, target_usage={self.law.target_usage:g}, "
            f"use_headers={self.law.use_headers}, scopes={len(self._scopes)})"
        )

    @property
    def rate(self) -> float:
        """The account-wide allowed requests per second now."""
        return self._account.state.rate

    @property
    def state(self) -> RateState:
        """The account-wide law state (read-only snapshot)."""
        return self._account.state

    def scope_rate(self, scope: str) -> float | None:
        """The allowed rate of one app's own limiter, or None when it has none."""
        sub = self._scopes.get(scope)
        return sub.state.rate if sub is not None else None

    def _scope_window(self, scope: str) -> _Window:
        window = self._scope_windows.get(scope)
        if window is None:
            window = self._scope_windows[scope] = _Window()
            if len(self._scope_windows) > self.max_scopes:
                self._scope_windows.popitem(last=False)
        else:
            self._scope_windows.move_to_end(scope)
        return window

    async def acquire(
        self,
        scope: str | None = None,
        *,
        priority: Priority = INTERACTIVE,
        deadline: float | None = None,
    ) -> None:
        """Wait for this attempt's turn (the app's limiter first, if it has one);
        interactive waiters first, `limits.Shed` when the turn is after ``deadline``."""
        sub = self._scopes.get(scope) if scope is not None else None
        if sub is not None:
            self._scopes.move_to_end(scope)  # type: ignore[arg-type]
            await sub.pacer.acquire(priority=priority, deadline=deadline)
        pacer = self._account.pacer
        await pacer.acquire(priority=priority, deadline=deadline)
        now = clock.now()
        sent, before = self._account.window.record(now)
        scope_sent, scope_before = (
            self._scope_window(scope).record(now) if scope is not None else (0, 0)
        )
        _ATTEMPT.set((self, now, sent, before, scope_sent, scope_before, pacer.over_rate()))

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """Feed one answer's status and headers to the law."""
        now = clock.now()
        attempt = _ATTEMPT.get()
        sent_at: float | None = None
        sent = before = scope_sent = scope_before = None
        over = 0
        if attempt is not None and attempt[0] is self:
            _, sent_at, sent, before, scope_sent, scope_before, over = attempt
            if not scope_sent:
                scope_sent = scope_before = None
            _ATTEMPT.set(None)
        sub = self._scopes.get(scope) if scope is not None else None
        law = self.law
        if status == 429:
            if sent_at is not None:
                self._account.window.forget(sent_at)
                if scope is not None and scope in self._scope_windows:
                    self._scope_windows[scope].forget(sent_at)
            kind = exceeded_limit(headers)
            if kind == APP and scope is not None:
                if sub is None:
                    sub = self._new_scope(scope, now)
                state = law.on_throttle(sub.state, kind, now, sent=scope_sent, sent_at=sent_at)
                sub.update(state)
                return
            account = self._account
            account.update(law.on_throttle(account.state, kind, now, sent=sent, sent_at=sent_at))
            return
        if status < 200 or status >= 300:
            return  # says nothing about the budget
        usage = parse_usage(headers)
        reads = usage is not None and law.use_headers
        if (
            sub is None
            and scope is not None
            and usage is not None
            and self._app_limited(scope, usage, sent, now)
        ):
            sub = self._new_scope(scope, now)
        if sub is not None:
            state = law.on_success(sub.state, usage, now, sent=scope_sent, sent_before=scope_before)
            sub.update(state, reading=reads)
            # An app with its own limiter may be reading its app limit, not the
            # account's: the account takes its readings only when nothing else spoke
            # within the last second (e.g. all traffic goes to that app).
            if now - self._other_reading_at <= 1.0:
                return
        elif usage is not None:
            self._other_reading_at = now
            if usage <= law.target_usage:
                lows = self._low_readings
                lows[scope] = (now, usage, sent)
                lows.move_to_end(scope)
                if len(lows) > 4:
                    lows.popitem(last=False)
        account = self._account
        if over and sent is not None and usage is not None:
            sent, usage = self._within_rate(sent, usage, over)
        state = law.on_success(account.state, usage, now, sent=sent, sent_before=before)
        account.update(state, reading=reads)

    def _within_rate(self, sent: int, usage: float, over: int) -> tuple[int, float]:
        """A reading whose window held ``over`` of our starts above the rate (interactive
        starts in the headroom, `_Scope._headroom`): as the law should read it, without
        them, so they do not pull the rate down. Each start is ``1 / B`` of the usage,
        with B the law's own estimate (the fitted budget, at least ``sent / usage``): a
        start takes off at most its share of the reading."""
        y = usage + 0.005  # the middle of the integer percent, as the law reads it
        budget = max(self._account.state.budget or 0.0, sent / y)
        return max(0, sent - over), max(0.0, usage - over / budget)

    def _app_limited(self, scope: str, usage: float, sent: int | None, now: float) -> bool:
        """Is this app's high reading its own (app) limit? Yes when, within the last
        second, another scope read the account below ``target_usage`` and at least 10
        points lower than this reading, both read at the same account window (the other
        reading scaled by the ratio of our starts in the window at each, when known: a
        window filling up reads higher later whatever the app)."""
        if usage <= self.law.target_usage:
            return False
        for other, (at, low, other_sent) in self._low_readings.items():
            if other == scope or now - at > 1.0:
                continue
            if sent and other_sent:
                low = low * sent / other_sent
            if usage - low >= 0.1:
                return True
        return False

    def _new_scope(self, scope: str, now: float) -> _Scope:
        window = self._scope_windows.get(scope)
        sent = window.count(now) if window is not None else 0
        start = min(self.rate, float(sent)) if sent else self.rate
        state = replace(self.law.initial(now), rate=start)
        sub = self._scopes[scope] = _Scope(state)
        if window is not None:
            sub.pacer.seed(window.starts)
        while len(self._scopes) > self.max_scopes:
            self._scopes.popitem(last=False)
        return sub


def rate_control(value: object) -> RateControl | None:
    """The limiter a ``rate_limit`` option stands for (None, a number, "auto", a limiter)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value != "auto":
            raise RequestValidationError(
                f"rate_limit must be a number, 'auto' or a rate limiter, got {value!r}",
                field="rate_limit",
            )
        return AdaptiveRateLimiter()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return RateLimiter(value)
    if isinstance(value, RateControl):
        return value
    raise RequestValidationError(
        f"rate_limit must be a number, 'auto' or a rate limiter, got {type(value).__name__}",
        field="rate_limit",
    )
