"""Adaptive rate control from mParticle's rate-limit signals: a pure control law
(`ControlLaw` over a serialisable `RateState`) and the in-process `AdaptiveRateLimiter`
that paces requests with it (``Client(rate_limit="auto")``).

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
  filling beside traffic we do not see). Integer percentages are read as their middle
  (``usage + 0.5 %``).
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
same code runs in-process here and with the state kept in Redis (`mpasync.redis`). Any
time gap (an idle month), a clock that steps back, and any finite state read back give a
finite rate within the bounds: growth is counted in a bounded number of doublings, CUBIC's
clock is clipped, and a state's times ahead of ``now`` move back with the clock.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from mpasync import clock
from mpasync._checks import positive_number
from mpasync.errors import RequestValidationError
from mpasync.limits import AdjustableRateLimiter, RateControl, RateLimiter
from mpasync.priority import INTERACTIVE, Priority

__all__ = [
    "ACCELERATION",
    "BETA",
    "EXCEEDED_HEADER",
    "SCALE_CONSTANT",
    "USAGE_HEADER",
    "AdaptiveRateLimiter",
    "ControlLaw",
    "RateState",
    "cubic_decrease",
    "cubic_rate",
    "cubic_zero_point",
    "measure_rate",
    "parse_usage",
    "rate_control",
]

#: botocore's CUBIC constants (``botocore/retries/throttling.py``).
BETA = 0.7
SCALE_CONSTANT = 0.4
#: botocore's `RateClocker`: smoothing of the measured rate, updated every half second.
_SMOOTHING = 0.8
_BUCKET = 0.5
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
#: The rate never exceeds twice what we achieved (our starts in one second, the highest
#: reported within this many seconds), or `initial_rate` if that is higher: a rate never
#: tried is a burst waiting to happen (botocore caps at twice its measured rate too).
_ACHIEVED_SECONDS = 1.0
_ACHIEVED_FACTOR = 2.0
#: In the state's first second ``sent`` counts a window still filling: it is read as a
#: rate over the time since the state began, but never over less than this.
_ACHIEVED_MIN_SPAN = 0.1
#: Bounds that keep every step's arithmetic finite whatever the time gap or the state
#: read back: growth counts at most this many doublings, CUBIC's clock at most this
#: many seconds either side of its zero point, and counts and rates stay below `_HUGE`.
_MAX_DOUBLINGS = 30.0
_CUBIC_SPAN = 1e5
_HUGE = 1e12
#: Usage readings above this (1000 %) are read as this: any such reading means "full".
_MAX_USAGE = 10.0
#: The pacer's own margin: small, since `target_usage` is the margin that matters here
#: (a fixed `RateLimiter` keeps 1 % because its rate is the user's hard limit).
_PACER_SAFETY = 0.002

USAGE_HEADER = "X-mp-rate-limit-percentage-used"
EXCEEDED_HEADER = "X-mp-rate-limit-exceeded"
ACCELERATION = "acceleration"
APP = "app"


# ---- CUBIC, as botocore (pure functions; the AWS SDKs' test vectors check these) --------


def cubic_zero_point(w_max: float, *, beta: float = BETA, c: float = SCALE_CONSTANT) -> float:
    """Seconds after a decrease at which the CUBIC curve is back at ``w_max`` (K)."""
    return float(math.pow(max(0.0, w_max) * (1.0 - beta) / c, 1.0 / 3.0))


def cubic_rate(
    w_max: float, last_decrease: float, now: float, *, beta: float = BETA, c: float = SCALE_CONSTANT
) -> float:
    """The CUBIC rate ``now``: ``C * (t - K)^3 + w_max`` with ``t`` since the decrease.

    ``t - K`` is taken within `_CUBIC_SPAN` seconds (about a day) either way, so any
    time gap or clock step gives a finite rate (the law bounds it further).
    """
    k = cubic_zero_point(w_max, beta=beta, c=c)
    dt = min(max(now - last_decrease - k, -_CUBIC_SPAN), _CUBIC_SPAN)
    return c * dt**3 + w_max


def cubic_decrease(rate_to_use: float, *, beta: float = BETA) -> float:
    """The rate after a throttle at ``rate_to_use`` (which becomes the new ``w_max``)."""
    return rate_to_use * beta


def measure_rate(
    measured: float, bucket: float, count: int, now: float
) -> tuple[float, float, int]:
    """botocore's `RateClocker.record` as a pure step: one response at ``now``.

    Returns ``(measured, bucket, count)``: responses are counted per half-second bucket
    and the per-second rate of each finished span is smoothed into ``measured``.
    """
    this_bucket = math.floor(now / _BUCKET) * _BUCKET
    count += 1
    if this_bucket > bucket:
        current = count / (this_bucket - bucket)
        measured = current * _SMOOTHING + measured * (1.0 - _SMOOTHING)
        return measured, this_bucket, 0
    return measured, bucket, count


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


def _exceeded(headers: Mapping[str, str]) -> str | None:
    raw = headers.get(EXCEEDED_HEADER)
    return raw.strip().strip('"').lower() if raw is not None else None


# ---- the control law -----------------------------------------------------------------------


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


def _sent(sent: object) -> float | None:
    """A count of our starts the law can use (None: unknown)."""
    if isinstance(sent, bool) or not isinstance(sent, (int, float)):
        return None
    if not sent >= 0:  # also NaN
        return None
    return float(min(sent, _HUGE))


def _usage(usage: object) -> float | None:
    """A usage fraction the law can use (None: no reading)."""
    if isinstance(usage, bool) or not isinstance(usage, (int, float)):
        return None
    if not usage >= 0:  # also NaN
        return None
    return float(min(usage, _MAX_USAGE))


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
            bucket=math.floor(now / _BUCKET) * _BUCKET,
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
        self, state: RateState, usage: float | None, now: float, sent: int | None = None
    ) -> RateState:
        """A non-429 answer at ``now``.

        Args:
            usage: ``X-mp-rate-limit-percentage-used`` / 100, or None when absent.
            sent: our starts in the one-second window that ended when this request
                started (this one included): what the server counted from us. None
                falls back to the current rate (and to the measured response rate for
                what we achieved).
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
            if target > state.rate and usage < (1.0 + self.target_usage) / 2:
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
        else:
            # botocore: never more than twice the measured rate (so an idle client does
            # not accumulate a rate it has never tried), but never below the start.
            rate = min(ceiling, max(2.0 * new.measured, self.initial_rate))
        return replace(new, rate=self._bound(rate, new))

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
            return replace(new, rate=rate, w_max=rate, last_decrease=now - k, accelerated_at=now)
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


# ---- the limiter -----------------------------------------------------------------------------


class _Window:
    """Our own starts in the last second (what the server's window counts of us)."""

    __slots__ = ("_starts",)

    def __init__(self) -> None:
        self._starts: deque[float] = deque()

    def record(self, now: float) -> int:
        starts = self._starts
        cutoff = now - 1.0
        while starts and starts[0] <= cutoff:
            starts.popleft()
        starts.append(now)
        return len(starts)

    def forget(self, start: float) -> None:
        """Un-count a start the server refused (a 429 does not count in its window)."""
        try:
            self._starts.remove(start)
        except ValueError:
            pass  # already out of the window

    @property
    def starts(self) -> deque[float]:
        return self._starts

    def count(self, now: float) -> int:
        cutoff = now - 1.0
        return sum(1 for t in self._starts if t > cutoff)


class _Scope:
    """One law state, its pacer and its window: the account, or one throttled app."""

    __slots__ = ("pacer", "read", "state", "window")

    def __init__(self, state: RateState) -> None:
        self.state = state
        self.pacer = AdjustableRateLimiter(state.rate, safety=_PACER_SAFETY)
        self.window = _Window()
        self.read = False  # has a usage reading steered this scope's rate yet?

    def update(self, state: RateState, *, reading: bool = False) -> None:
        """Take the law's new state; ``reading``: it came from a usage reading (from then
        on the pacer fills its window fast, as the readings say how much room there is)."""
        self.state = state
        self.read = self.read or reading
        self.pacer.set_rate(state.rate, fill=self.read)


# What `acquire` learned about this task's attempt, read back by `observe` in the same
# task: (limiter, start time, our starts in the account window, in the scope's window).
_ATTEMPT: ContextVar[tuple[object, float, int, int] | None] = ContextVar(
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
        self._account = _Scope(self.law.initial(clock.now()))
        self._scopes: OrderedDict[str, _Scope] = OrderedDict()
        # Recent starts per scope before it has a limiter, to know what it sent.
        self._scope_windows: OrderedDict[str, _Window] = OrderedDict()
        self._other_reading_at = -math.inf
        # The last usage reading at or below target_usage of the last few scopes.
        self._low_readings: OrderedDict[str | None, tuple[float, float]] = OrderedDict()

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
        await self._account.pacer.acquire(priority=priority, deadline=deadline)
        now = clock.now()
        sent = self._account.window.record(now)
        scope_sent = self._scope_window(scope).record(now) if scope is not None else 0
        _ATTEMPT.set((self, now, sent, scope_sent))

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        """Feed one answer's status and headers to the law."""
        now = clock.now()
        attempt = _ATTEMPT.get()
        sent_at: float | None = None
        sent: int | None = None
        scope_sent: int | None = None
        if attempt is not None and attempt[0] is self:
            sent_at, sent, scope_sent = attempt[1], attempt[2], attempt[3] or None
            _ATTEMPT.set(None)
        sub = self._scopes.get(scope) if scope is not None else None
        law = self.law
        if status == 429:
            if sent_at is not None:
                self._account.window.forget(sent_at)
                if scope is not None and scope in self._scope_windows:
                    self._scope_windows[scope].forget(sent_at)
            kind = _exceeded(headers)
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
            and self._app_limited(scope, usage, now)
        ):
            sub = self._new_scope(scope, now)
        if sub is not None:
            sub.update(law.on_success(sub.state, usage, now, sent=scope_sent), reading=reads)
            # An app with its own limiter may be reading its app limit, not the
            # account's: the account takes its readings only when nothing else spoke
            # within the last second (e.g. all traffic goes to that app).
            if now - self._other_reading_at <= 1.0:
                return
        elif usage is not None:
            self._other_reading_at = now
            if usage <= law.target_usage:
                lows = self._low_readings
                lows[scope] = (now, usage)
                lows.move_to_end(scope)
                if len(lows) > 4:
                    lows.popitem(last=False)
        account = self._account
        account.update(law.on_success(account.state, usage, now, sent=sent), reading=reads)

    def _app_limited(self, scope: str, usage: float, now: float) -> bool:
        """Is this app's high reading its own (app) limit? Yes when, within the last
        second, another scope read the account at least 10 points lower and below
        ``target_usage``: the account is not what is nearly full."""
        if usage <= self.law.target_usage:
            return False
        return any(
            other != scope and now - at <= 1.0 and usage - low >= 0.1
            for other, (at, low) in self._low_readings.items()
        )

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
