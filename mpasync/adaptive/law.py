"""The adaptive rate law: a pure `ControlLaw` over a serialisable `RateState`, driven by
mParticle's rate-limit signals (the in-process pacer around it is `limiter`, the
fleet-wide one `mpasync.redis`).

The signals (api-facts §3.3): 2xx answers carry ``X-mp-rate-limit-percentage-used`` (the
highest usage across the account's speed and acceleration limits); a 429 carries
``Retry-After`` and ``X-mp-rate-limit-exceeded`` naming the limit (``org``, ``account``,
``app``, ``feed``, ``workspace`` or ``acceleration``).

How the law uses them:

- **Usage on 2xx** (with ``use_headers``). The server counts requests in a one-second
  window and reports ``usage``; we count our own starts in the same window (``sent``).
  Usage is account-wide: ``usage = (sent + others) / B``. Alone, ``B >= sent / usage``
  (a bound that holds whatever the window's fill, so the first answers already say
  roughly how far the limit is). Readings at different ``sent`` (the ramp, a decrease)
  separate the two: a decaying least-squares fit of usage against ``sent`` gives the
  slope ``1 / B``, and then ``others = usage * B - sent`` at each answer. The target is
  ``target_usage`` of what the others leave us: ``target_usage * (B - others)``
  (``target_usage * B`` when we are alone). The rate rises to the target (while usage
  is below the midpoint between ``target_usage`` and 100 %), and when usage is above
  ``target_usage`` it drops to the target at once: we slow down *before* a 429. Below
  ``target_usage`` nothing lowers it (a low estimate there comes from a window still
  filling beside traffic we do not see), except that when the pacer's window was full
  and one more whole start a second would still read at most ``target_usage``, the
  rate rises to that whole start (the pacer admits ``floor(rate)`` a second). Integer
  percentages are read as their middle (``usage + 0.5 %``).
- **A limit that grows with us** (with ``sent_before``, our starts in the second before
  the window). An acceleration limit lets a second hold only a multiple of the second
  before, so the limit a reading implies, divided by ``sent_before``, stays at that
  multiple however much we send, where a fixed limit's multiple falls as we send more.
  While it holds (at least 1.2, within 5 % of itself as ``sent_before`` grows 10 %), the
  rate aims at 95 % of that limit, at least one start short of it, rather than at
  ``target_usage``: a margin taken anew each second compounds (0.9 of a limit growing
  1.3x a second ramps at 1.17x). A reading whose multiple falls below it (another limit,
  e.g. the speed, now binds) is read as above, and an acceleration 429 ends it until the
  readings show it again.
- **Speed 429** (any id but ``acceleration``): multiplicative decrease, ``rate = beta *
  min(rate, what we really sent)``, once per congestion event (answers to requests sent
  before the last decrease do not decrease again). For one second (the server's window)
  the rate does not rise, so a 429 is never undone by the next answer; then headers may
  bring it back up to where the 429 came (``w_max``), and above that only along
  botocore's CUBIC curve from the decrease. Without headers: CUBIC alone.
- **Acceleration 429**: the rate is kept and the curve is re-anchored on its plateau at
  the current rate (``w_max = rate``, epoch ``K`` seconds ago): CUBIC's slowest growth.
  With headers (which report acceleration usage too): no rise for one second, then at
  most a doubling per second from ``w_max``.
- **No header** (servers that send none, or ``use_headers=False``): pure 429-driven
  control as botocore's adaptive retry mode (CUBIC, ``beta = 0.7``, ``C = 0.4``, rate
  capped at twice the measured response rate), with an exponential slow start
  (doubling per second) until the first 429 instead of botocore's unlimited start,
  because starts must never burst.

- **What we achieved** bounds it all: the rate never exceeds twice the highest rate we
  sent at in the last second (``sent`` per second; botocore's measured rate when
  ``sent`` is unknown), or ``initial_rate`` if that is higher. Readings that promise
  room (usage 0 %, or a usage that stays put whatever we send) thus raise the rate one
  doubling at a time as the sending follows, and after an idle night the rate starts
  again from what is really sent, not from a ceiling grown while nothing was.

The law is pure: every method takes the state and ``now`` and returns a new state, so the
same code runs in-process (`limiter`) and with the state kept in Redis (`mpasync.redis`). Any
time gap (an idle month), a clock that steps back, and any finite state read back give a
finite rate within the bounds: growth is counted in a bounded number of doublings, CUBIC's
clock is clipped, and a state's times ahead of ``now`` move back with the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from mpasync._checks import positive_number
from mpasync.adaptive.cubic import (
    BETA,
    BUCKET_SECONDS,
    SCALE_CONSTANT,
    cubic_decrease,
    cubic_rate,
    cubic_zero_point,
    measure_rate,
)
from mpasync.errors import RequestValidationError

__all__ = [
    "ACCELERATION",
    "EXCEEDED_HEADER",
    "USAGE_HEADER",
    "ControlLaw",
    "RateState",
    "exceeded_limit",
    "parse_usage",
]

#: Slow start (no 429 yet, no header): the rate doubles every second.
_SLOW_START_DOUBLING = 1.0
#: Percentages are integers: 90 may mean anything in [90 %, 91 %).
_USAGE_RESOLUTION = 0.01
#: The budget fit (usage against what we sent): memory, and when to trust it.
_FIT_SECONDS = 2.0
_FIT_MIN_READINGS = 8.0
_FIT_MIN_SPREAD = 3.0
_FIT_MIN_R2 = 0.8
#: After a 429, usage readings may not raise the rate for this long (the server's window).
_HOLD_SECONDS = 1.0
#: An acceleration limit lets one second hold only so much more than the second before
#: (``sent_before``): the limit a reading implies is then a multiple of that. It counts
#: as one when the multiple is at least `_ACCEL_MIN` (more than `target_usage`'s own
#: margin explains), from at least `_ACCEL_MIN_BEFORE` starts, and stays within
#: `_ACCEL_TOLERANCE` of itself while ``sent_before`` grows by `_ACCEL_STEP` (a speed
#: limit's multiple falls as we send more); readings compared are at most `_ACCEL_SPAN`
#: apart.
_ACCEL_MIN = 1.2
_ACCEL_MIN_BEFORE = 2.0
_ACCEL_TOLERANCE = 0.95
_ACCEL_STEP = 1.1
_ACCEL_SPAN = 1.0
#: While it grows with us, the rate aims at this share of the acceleration limit, less at
#: least `_ACCEL_SPARE` starts, not at `target_usage`: a margin taken anew each second
#: compounds (0.9 of a limit growing 1.3x a second ramps at 1.17x a second).
_ACCEL_AIM = 0.95
_ACCEL_SPARE = 1.0
#: The rate never exceeds twice what we achieved (our starts in one second, the highest
#: reported within this many seconds), or `initial_rate` if that is higher: a rate never
#: tried is a burst waiting to happen (botocore caps at twice its measured rate too).
_ACHIEVED_SECONDS = 1.0
_ACHIEVED_FACTOR = 2.0
#: In the state's first second ``sent`` counts a window still filling: it is read as a
#: rate over the time since the state began, but never over less than this.
_ACHIEVED_MIN_SPAN = 0.1
#: Bounds that keep every step's arithmetic finite whatever the time gap or the state
#: read back: growth counts at most this many doublings (CUBIC's clock is clipped in
#: `cubic.cubic_rate`), and counts and rates stay below `_HUGE`.
_MAX_DOUBLINGS = 30.0
_HUGE = 1e12
#: Usage readings above this (1000 %) are read as this: any such reading means "full".
_MAX_USAGE = 10.0

USAGE_HEADER = "X-mp-rate-limit-percentage-used"
EXCEEDED_HEADER = "X-mp-rate-limit-exceeded"
ACCELERATION = "acceleration"


def parse_usage(headers: Mapping[str, str]) -> float | None:
    """``X-mp-rate-limit-percentage-used`` as a fraction (``"90"`` -> 0.9), else None."""
    raw = headers.get(USAGE_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw.strip().strip('"'))
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return min(value / 100.0, _MAX_USAGE)


def _doubling(rate: float, seconds: float) -> float:
    """``rate`` doubled once per `_SLOW_START_DOUBLING` over ``seconds`` (at most
    `_MAX_DOUBLINGS` times: no time gap overflows it; the achieved-rate cap binds long
    before)."""
    doublings = min(max(seconds, 0.0) / _SLOW_START_DOUBLING, _MAX_DOUBLINGS)
    return rate * math.pow(2.0, doublings)


def exceeded_limit(headers: Mapping[str, str]) -> str | None:
    """``X-mp-rate-limit-exceeded`` lower-cased (the limit a 429 names), else None."""
    raw = headers.get(EXCEEDED_HEADER)
    return raw.strip().strip('"').lower() if raw is not None else None


@dataclass(frozen=True)
class RateState:
    """Everything the law remembers; JSON-able (`to_dict` / `from_dict`).

    Attributes:
        rate: the allowed requests per second now.
        w_max: CUBIC's rate at the last decrease (0.0 before the first one).
        last_decrease: when the CUBIC curve starts (None: no 429 yet, slow start).
        decreased_at: when the last multiplicative decrease happened (None: never);
            answers to requests sent before it do not decrease again.
        accelerated_at: when the last acceleration 429 came (None: never).
        last_update: time of the last step (slow start grows with elapsed time).
        measured: the smoothed response rate (botocore's `RateClocker`).
        bucket, count: the rate clock's current half-second bucket and its count.
        budget: the account budget (requests/s at 100 %) fitted from usage readings.
        fit_*: the decaying least-squares sums behind `budget`.
        achieved, achieved_at: the highest rate we achieved lately (``sent`` per second,
            or the measured rate when not told) and when; the rate stays within twice it.
        since: when this state began (no start before it can be in ``sent``).
        accel_ratio, accel_before, accel_at: the reading acceleration is judged against:
            the limit it implied over ``sent_before``, that ``sent_before``, and when.
        acceleration: the factor an acceleration limit was seen to grow by (0.0: none
            seen, or no longer).

    Any finite values are a state the law can step from (times ahead of ``now`` are a
    clock that went back, out-of-range values are brought back in range), so a state
    read back from storage never makes a step fail.
    """

    rate: float
    w_max: float = 0.0
    last_decrease: float | None = None
    decreased_at: float | None = None
    accelerated_at: float | None = None
    last_update: float = 0.0
    measured: float = 0.0
    bucket: float = 0.0
    count: int = 0
    budget: float | None = None
    fit_n: float = 0.0
    fit_x: float = 0.0
    fit_y: float = 0.0
    fit_xx: float = 0.0
    fit_xy: float = 0.0
    fit_yy: float = 0.0
    fit_at: float = 0.0
    achieved: float = 0.0
    achieved_at: float = 0.0
    since: float = 0.0
    accel_ratio: float = 0.0
    accel_before: float = 0.0
    accel_at: float = 0.0
    acceleration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (``json.dumps``-able)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RateState:
        """The state `to_dict` returned (unknown keys ignored, missing ones defaulted).

        Raises ValueError when it is not one: ``rate`` missing, or a field that is not a
        finite number (or None, where None is allowed).
        """
        if not isinstance(data, Mapping) or "rate" not in data:
            raise ValueError("not a rate state")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if value is None and f.name in _OPTIONAL:
                values[f.name] = None
            elif f.name == "count":
                values[f.name] = _whole(value)
            else:
                values[f.name] = _finite(value, f.name)
        return cls(**values)


_OPTIONAL = frozenset({"last_decrease", "decreased_at", "accelerated_at", "budget"})


def _finite(value: object, name: str) -> float:
    """A stored number as a float, else ValueError (bools, strings, NaN, infinities and
    integers too large for a float are not ours)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"rate state field {name} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"rate state field {name} is out of range") from None
    if not math.isfinite(number):
        raise ValueError(f"rate state field {name} is not finite")
    return number


def _whole(value: object) -> int:
    """A stored count: an integer (or a float with an integral value), else ValueError."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _finite(value, "count")
    if not number.is_integer():
        raise ValueError("rate state field count is not an integer")
    return int(number)


def _bounded(value: float, default: float, low: float, high: float) -> float:
    """``value`` within [low, high]; ``default`` when it is not a finite number."""
    try:
        if not math.isfinite(value):
            return default
    except (TypeError, OverflowError):
        return default
    return min(max(float(value), low), high)


def _count(value: object, cap: float) -> float | None:
    """A non-negative number the law can use, at most ``cap`` (None: unknown)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not value >= 0:  # also NaN
        return None
    return float(min(value, cap))


def _sent(sent: object) -> float | None:
    """A count of our starts the law can use (None: unknown)."""
    return _count(sent, _HUGE)


def _usage(usage: object) -> float | None:
    """A usage fraction the law can use (None: no reading)."""
    return _count(usage, _MAX_USAGE)


class ControlLaw:
    """The adaptive rate law: pure functions of (`RateState`, signal, ``now``).

    >>> law = ControlLaw(initial_rate=10.0, min_rate=0.5, max_rate=None, target_usage=0.9)
    >>> s = law.initial(now=0.0)
    >>> s = law.on_success(s, usage=0.30, now=0.5, sent=5)     # 5 sent were 30 %
    >>> round(s.rate, 1)   # 0.9 * 5 / 0.305: B is at least 16.4
    14.8
    >>> s = law.on_success(s, usage=0.30, now=1.0, sent=10)    # 10 sent were 30 %
    >>> s.rate   # room for 0.9 * 10 / 0.305 = 29.5, but at most twice the 10/s achieved
    20.0
    >>> law.on_throttle(s, "account", now=0.6).rate < s.rate   # multiplicative decrease
    True
    """

    __slots__ = ("beta", "c", "initial_rate", "max_rate", "min_rate", "target_usage", "use_headers")

    def __init__(
        self,
        initial_rate: float = 10.0,
        min_rate: float = 0.5,
        max_rate: float | None = None,
        target_usage: float = 0.9,
        *,
        use_headers: bool = True,
        beta: float = BETA,
        c: float = SCALE_CONSTANT,
    ) -> None:
        min_v = positive_number(min_rate, "min_rate")
        init_v = positive_number(initial_rate, "initial_rate")
        max_v = None if max_rate is None else positive_number(max_rate, "max_rate")
        target = positive_number(target_usage, "target_usage")
        if target > 1.0:
            raise RequestValidationError("target_usage must be in (0, 1]", field="target_usage")
        if max_v is not None and max_v < min_v:
            raise RequestValidationError("max_rate must be >= min_rate", field="max_rate")
        if not isinstance(use_headers, bool):
            raise RequestValidationError("use_headers must be a bool", field="use_headers")
        if not 0.0 < beta < 1.0:
            raise RequestValidationError("beta must be in (0, 1)", field="beta")
        positive_number(c, "c")
        self.min_rate = min_v
        self.max_rate = max_v
        self.initial_rate = self._clamp(init_v)
        self.target_usage = target
        self.use_headers = use_headers
        self.beta = float(beta)
        self.c = float(c)

    def __repr__(self) -> str:
        return (
            f"ControlLaw(initial_rate={self.initial_rate:g}, min_rate={self.min_rate:g}, "
            f"max_rate={self.max_rate}, target_usage={self.target_usage:g}, "
            f"use_headers={self.use_headers})"
        )

    def _clamp(self, rate: float) -> float:
        if self.max_rate is not None:
            rate = min(rate, self.max_rate)
        return max(rate, self.min_rate)

    def initial(self, now: float) -> RateState:
        """The state at ``now`` for a fresh limiter: ``initial_rate``, slow start."""
        return RateState(
            rate=self.initial_rate,
            last_update=now,
            bucket=math.floor(now / BUCKET_SECONDS) * BUCKET_SECONDS,
            achieved_at=now,
            since=now,
        )

    def _settle(self, state: RateState, now: float) -> RateState:
        """``state`` as a step at ``now`` may use it, whatever it went through.

        Every time in it is at or before ``now``: the law writes ``now`` into
        ``last_update`` at each step, so a ``last_update`` ahead of ``now`` is a clock
        that went back (another host's clock after a fail-over, a corrected Redis
        clock); all its times move back by as much, as if no time had passed since the
        last step. Values out of range (from storage, or built by hand) are brought
        back in range, and a fit whose sums cannot be right starts afresh.
        """
        last = _bounded(state.last_update, now, -math.inf, math.inf)
        shift = last - now if last > now else 0.0

        def when(t: float) -> float:
            return min(_bounded(t, now, -math.inf, math.inf) - shift, now)

        def maybe(t: float | None) -> float | None:
            return None if t is None else when(t)

        count = state.count
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= _HUGE:
            count = int(_bounded(count, 0.0, 0.0, _HUGE))
        budget = state.budget
        if budget is not None:
            budget = _bounded(budget, 0.0, 0.0, _HUGE) or None
        sums = (state.fit_n, state.fit_x, state.fit_y, state.fit_xx, state.fit_xy, state.fit_yy)
        # Sums of positive terms: each finite, in [0, _HUGE ** 2] (else -1.0 != v).
        if not all(_bounded(v, -1.0, 0.0, _HUGE**2) == v for v in sums):
            sums = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return replace(
            state,
            rate=self._clamp(_bounded(state.rate, self.initial_rate, 0.0, _HUGE)),
            w_max=_bounded(state.w_max, 0.0, 0.0, _HUGE),
            last_decrease=maybe(state.last_decrease),
            decreased_at=maybe(state.decreased_at),
            accelerated_at=maybe(state.accelerated_at),
            last_update=when(last),
            measured=_bounded(state.measured, 0.0, 0.0, _HUGE),
            bucket=when(state.bucket),
            count=count,
            budget=budget,
            fit_n=sums[0],
            fit_x=sums[1],
            fit_y=sums[2],
            fit_xx=sums[3],
            fit_xy=sums[4],
            fit_yy=sums[5],
            fit_at=when(state.fit_at),
            achieved=_bounded(state.achieved, 0.0, 0.0, _HUGE),
            achieved_at=when(state.achieved_at),
            since=when(state.since),
            accel_ratio=_bounded(state.accel_ratio, 0.0, 0.0, _HUGE),
            accel_before=_bounded(state.accel_before, 0.0, 0.0, _HUGE),
            accel_at=when(state.accel_at),
            acceleration=_bounded(state.acceleration, 0.0, 0.0, _HUGE),
        )

    def _clock(self, state: RateState, now: float, sent: float | None) -> RateState:
        """The rate clock and the achieved rate at ``now`` (``sent``: our starts in the
        last second; None: take the measured response rate instead, as botocore)."""
        measured, bucket, count = measure_rate(state.measured, state.bucket, state.count, now)
        measured = min(measured, _HUGE)
        if sent is None:
            sample = measured
        else:
            # A window younger than a second holds less than a second's worth.
            sample = sent / min(1.0, max(_ACHIEVED_MIN_SPAN, now - state.since))
        achieved, achieved_at = state.achieved, state.achieved_at
        if sample >= achieved or now - achieved_at > _ACHIEVED_SECONDS:
            achieved, achieved_at = sample, now
        return replace(
            state,
            measured=measured,
            bucket=bucket,
            count=count,
            last_update=now,
            achieved=achieved,
            achieved_at=achieved_at,
        )

    def _bound(self, rate: float, state: RateState) -> float:
        """``rate`` within [min_rate, max_rate] and within twice what we achieved lately
        (or ``initial_rate``): whatever the readings say, the rate never runs ahead of
        what was tried by more than one doubling."""
        if math.isnan(rate):
            rate = state.rate
        rate = min(rate, max(_ACHIEVED_FACTOR * state.achieved, self.initial_rate))
        return self._clamp(rate)

    def _ceiling(self, state: RateState, now: float) -> float:
        """How high the rate may grow ``now`` without a header: slow start or CUBIC."""
        if state.last_decrease is None:
            return _doubling(state.rate, now - state.last_update)
        return cubic_rate(state.w_max, state.last_decrease, now, beta=self.beta, c=self.c)

    def on_success(
        self,
        state: RateState,
        usage: float | None,
        now: float,
        sent: int | None = None,
        sent_before: int | None = None,
    ) -> RateState:
        """A non-429 answer at ``now``.

        Args:
            usage: ``X-mp-rate-limit-percentage-used`` / 100, or None when absent.
            sent: our starts in the one-second window that ended when this request
                started (this one included): what the server counted from us. None
                falls back to the current rate (and to the measured response rate for
                what we achieved).
            sent_before: our starts in the second before that window (what an
                acceleration limit compares it with); None: acceleration is not judged.
        """
        state = self._settle(state, now)
        ours_sent = _sent(sent)
        usage = _usage(usage)
        ceiling = self._ceiling(state, now)
        new = self._clock(state, now, ours_sent)
        if self.use_headers and usage is not None:
            ours = ours_sent if ours_sent is not None and ours_sent > 0 else state.rate
            y = usage + _USAGE_RESOLUTION / 2  # the middle of the integer percent
            new = self._fit(new, ours, y, now)
            # The budget: fitted, but never below what this reading proves (the others
            # send >= 0, so B >= ours / usage).
            budget = max(new.budget or 0.0, ours / y)
            # Our target share: target_usage of what the others leave us.
            target = self.target_usage * (ours + budget * (1.0 - y))
            new, multiple = self._acceleration(new, ours, usage, _sent(sent_before), now)
            if self._accelerating(new, multiple):
                # The limit grows with what we send: aim close to it (it is a fresh
                # allowance each second), less a margin of whole starts.
                room = ours + ours / (usage + _USAGE_RESOLUTION) * (1.0 - usage - _USAGE_RESOLUTION)
                target = max(target, min(_ACCEL_AIM * room, room - _ACCEL_SPARE))
                if target > state.rate:
                    rate = min(target, max(self._after_429(state, now, ceiling), state.rate))
                else:
                    rate = min(target, state.rate)
            elif target > state.rate and usage < (1.0 + self.target_usage) / 2:
                if ours_sent is None:
                    # We cannot tell what we sent: grow along slow start / CUBIC.
                    rate = min(target, max(ceiling, state.rate))
                else:
                    rate = min(target, max(self._after_429(state, now, ceiling), state.rate))
            elif usage > self.target_usage:
                rate = min(target, state.rate)  # slow down before a 429
            else:
                # Below the target usage nothing asks us to slow down (a low estimate
                # here comes from a window still filling beside traffic we do not see).
                rate = state.rate
                if multiple is not None and multiple < _ACCEL_MIN and not new.acceleration:
                    rate = self._whole_start(rate, ours, usage)
        else:
            # botocore: never more than twice the measured rate (so an idle client does
            # not accumulate a rate it has never tried), but never below the start.
            rate = min(ceiling, max(2.0 * new.measured, self.initial_rate))
        return replace(new, rate=self._bound(rate, new))

    def _acceleration(
        self, state: RateState, ours: float, usage: float, before: float | None, now: float
    ) -> tuple[RateState, float | None]:
        """Judge whether the limit grows with what we send (an acceleration limit).

        Returns the state and this reading's *multiple*: the limit it implies (at least
        ``ours / usage``) over ``before``, our starts in the second before (None when
        unknown). Under an acceleration limit the multiple is its factor whatever we send;
        under a fixed limit it falls as ``before`` grows. So when ``before`` has grown by
        `_ACCEL_STEP` since the reference reading, a multiple that held up (and is above
        `_ACCEL_MIN`) says acceleration, one that fell says no.
        """
        if before is None or before < _ACCEL_MIN_BEFORE:
            return state, None
        multiple = ours / (usage + _USAGE_RESOLUTION) / before
        if (
            state.accel_before < _ACCEL_MIN_BEFORE
            or now - state.accel_at > _ACCEL_SPAN
            or before < state.accel_before
        ):
            state = replace(state, accel_ratio=multiple, accel_before=before, accel_at=now)
        elif before >= _ACCEL_STEP * state.accel_before:
            held = multiple >= _ACCEL_MIN and multiple >= _ACCEL_TOLERANCE * state.accel_ratio
            state = replace(
                state,
                accel_ratio=multiple,
                accel_before=before,
                accel_at=now,
                acceleration=multiple if held else 0.0,
            )
        return state, multiple

    @staticmethod
    def _accelerating(state: RateState, multiple: float | None) -> bool:
        """Does this reading show the acceleration limit still growing with us? (No when
        its multiple fell below the factor: another limit, e.g. the speed, now binds.)"""
        return (
            multiple is not None
            and state.acceleration > 0
            and multiple >= _ACCEL_MIN
            and multiple >= _ACCEL_TOLERANCE * state.acceleration
        )

    def _whole_start(self, rate: float, ours: float, usage: float) -> float:
        """``rate``, or the next whole start above it when the pacer's window was (about)
        full (it admits ``floor(rate)`` starts a second) and a window of that many starts
        would still read at most ``target_usage``."""
        whole = math.floor(rate)
        if ours >= whole - 1 and usage * (whole + 1) / ours <= self.target_usage + 1e-9:
            return max(rate, whole + 1.0)
        return rate

    def _after_429(self, state: RateState, now: float, cubic: float) -> float:
        """How high usage readings may lift the rate after 429s (``inf``: no limit)."""
        events = [t for t in (state.decreased_at, state.accelerated_at) if t is not None]
        if not events:
            return math.inf  # no 429 yet: the reading is the best estimate there is
        if now - max(events) < _HOLD_SECONDS:
            return state.rate  # the server's window still holds what caused it
        if state.accelerated_at is not None and state.accelerated_at >= max(events):
            return max(cubic, _doubling(state.w_max, now - state.accelerated_at - _HOLD_SECONDS))
        return max(cubic, state.w_max)

    def _fit(self, state: RateState, x: float, y: float, now: float) -> RateState:
        """Fold one reading into the least-squares fit ``usage = (sent + others) / B``.

        One reading cannot tell our share of the usage from the others'; readings at
        different ``sent`` (a ramp, a decrease) can: the slope is ``1 / B``. The sums
        decay with a time constant of `_FIT_SECONDS`; while ``sent`` barely varies
        (steady state) the last budget found is kept.
        """
        decay = math.exp(-max(0.0, now - state.fit_at) / _FIT_SECONDS)
        n = state.fit_n * decay + 1.0
        sx = state.fit_x * decay + x
        sy = state.fit_y * decay + y
        sxx = state.fit_xx * decay + x * x
        sxy = state.fit_xy * decay + x * y
        syy = state.fit_yy * decay + y * y
        budget = state.budget
        mean_x, mean_y = sx / n, sy / n
        var_x = sxx / n - mean_x * mean_x
        var_y = syy / n - mean_y * mean_y
        cov = sxy / n - mean_x * mean_y
        if (
            n >= _FIT_MIN_READINGS
            and var_x > 0
            and var_y > 0
            and math.sqrt(var_x) >= max(_FIT_MIN_SPREAD, 0.15 * mean_x)
            and cov > 0
            and cov * cov / (var_x * var_y) >= _FIT_MIN_R2
        ):
            budget = min(var_x / cov, _HUGE)
        if not all(math.isfinite(v) and v <= _HUGE**2 for v in (sx, sxx, sxy, syy)):
            # Only readings no server sends get here: start the fit afresh.
            n = sx = sy = sxx = sxy = syy = 0.0
        return replace(
            state,
            fit_n=n,
            fit_x=sx,
            fit_y=sy,
            fit_xx=sxx,
            fit_xy=sxy,
            fit_yy=syy,
            fit_at=now,
            budget=budget,
        )

    def on_throttle(
        self,
        state: RateState,
        kind: str | None,
        now: float,
        *,
        sent: int | None = None,
        sent_at: float | None = None,
    ) -> RateState:
        """A 429 at ``now``; ``kind`` is ``X-mp-rate-limit-exceeded`` (None if absent).

        ``sent`` is as in `on_success`; ``sent_at`` is when the throttled request started:
        answers to requests sent before the last decrease do not decrease again (the
        congestion event was already answered). Both may be None (botocore then
        decreases on every 429).
        """
        state = self._settle(state, now)
        ours_sent = _sent(sent)
        if sent_at is not None and not math.isfinite(sent_at):
            sent_at = None
        new = self._clock(state, now, ours_sent)
        if kind == ACCELERATION:
            # Keep the rate; put it on the flat top of a CUBIC curve (slowest growth).
            rate = self._bound(state.rate, new)
            k = cubic_zero_point(rate, beta=self.beta, c=self.c)
            return replace(
                new,
                rate=rate,
                w_max=rate,
                last_decrease=now - k,
                accelerated_at=now,
                acceleration=0.0,  # what the readings said was too much: judge afresh
            )
        if state.decreased_at is not None and (
            (sent_at is not None and sent_at < state.decreased_at)
            or now - state.decreased_at < _HOLD_SECONDS
        ):
            # The same congestion event: the server's window still holds its excess.
            return replace(new, rate=self._bound(state.rate, new))
        reference = state.rate
        if ours_sent is not None and ours_sent > 0:
            reference = min(reference, ours_sent)
        elif new.measured > 0:
            reference = min(reference, new.measured)
        rate = self._bound(cubic_decrease(reference, beta=self.beta), new)
        return replace(new, rate=rate, w_max=reference, last_decrease=now, decreased_at=now)
