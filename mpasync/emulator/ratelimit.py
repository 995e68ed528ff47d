"""The emulator's rate limits: speed per account (and optionally per app), acceleration per
account, and a simulated neighbour that uses part of the account's budget.

The model (documented for tests and benchmarks; mParticle does not publish its own):

- **Speed** (`rate`): at most ``max(1, int(rate))`` requests per account are admitted in
  any one-second interval (a sliding window log). The next one gets a 429 with
  ``X-mp-rate-limit-exceeded: account`` and ``Retry-After`` = whole seconds until the
  oldest admitted request leaves the window (at least 1).
- **App speed** (`app_rate`): the same per (account, app) for requests under
  ``/v1/apps/{id}``; a 429 says ``app``.
- **Acceleration** (`acceleration`, a factor, with `acceleration_floor`): the requests
  admitted in the last second may be at most ``max(floor, factor * those admitted in the
  second before)``. At a steady rate the two seconds hold the same count, so only a rise
  faster than ``factor`` per second (above the floor) is refused: 429 ``acceleration``,
  ``Retry-After: 1``.
- **Neighbour** (`neighbour`, a share of `rate`): another consumer of each account,
  sending ``neighbour * rate`` requests per second, evenly spaced, already running when
  the account's first request arrives (the two seconds before it are filled). Its
  requests are always admitted and count in the account's windows (speed and
  acceleration), so the client sees their effect only through usage and 429s.
- Rejected requests do not count. Every admitted request reports
  ``X-mp-rate-limit-percentage-used``: the highest usage, in whole percent (floor), of the
  limits that apply to it, counting itself (count / capacity for speed; count / allowed
  for acceleration).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["RateDecision", "RateLimits", "SlidingWindowLimiter"]

_WINDOW = 1.0
ACCOUNT = "account"
APP = "app"
ACCELERATION = "acceleration"


@dataclass(frozen=True)
class RateDecision:
    """The outcome for one request: admitted or not, and the headers' values."""

    admitted: bool
    percentage_used: int
    retry_after: int = 0
    #: The limit that refused it (`X-mp-rate-limit-exceeded`): account, app, acceleration.
    exceeded: str | None = None


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number")
    return float(value)


def _trim(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()


class SlidingWindowLimiter:
    """Admit at most `rate` requests per key in any one-second window."""

    def __init__(self, rate: float) -> None:
        rate_v = _positive("rate_limit", rate)
        assert rate_v is not None
        self.rate = rate_v
        self.capacity = max(1, int(rate_v))
        self._hits: dict[object, deque[float]] = {}

    def acquire(self, key: object, now: float) -> RateDecision:
        """Record a request for `key` at monotonic time `now` if the window has room."""
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        _trim(hits, now - _WINDOW)
        if len(hits) >= self.capacity:
            retry_after = max(1, math.ceil(hits[0] + _WINDOW - now))
            return RateDecision(False, 100, retry_after, ACCOUNT)
        hits.append(now)
        return RateDecision(True, (100 * len(hits)) // self.capacity)


class _Account:
    """One account's admitted requests: the last second and the second before."""

    __slots__ = ("neighbour_next", "older", "recent")

    def __init__(self) -> None:
        self.recent: deque[float] = deque()  # admitted in (now - 1, now]
        self.older: deque[float] = deque()  # admitted in (now - 2, now - 1]
        self.neighbour_next: float | None = None

    def advance(self, now: float) -> None:
        cutoff = now - _WINDOW
        recent, older = self.recent, self.older
        while recent and recent[0] <= cutoff:
            older.append(recent.popleft())
        _trim(older, cutoff - _WINDOW)


class RateLimits:
    """Every limit of one emulator; `acquire` decides one request.

    Args:
        rate: requests/s per account (None: no speed limit).
        app_rate: requests/s per app (None: none).
        acceleration: the factor by which one second's count may exceed the previous
            second's (None: no acceleration limit), e.g. 2.0.
        acceleration_floor: a second may always hold this many requests.
        neighbour: share (0 <= s < 1) of `rate` another consumer of each account uses.
    """

    def __init__(
        self,
        rate: float | None = None,
        *,
        app_rate: float | None = None,
        acceleration: float | None = None,
        acceleration_floor: float = 50.0,
        neighbour: float = 0.0,
    ) -> None:
        self.rate = _positive("rate_limit", rate)
        self.app_rate = _positive("app_rate_limit", app_rate)
        self.acceleration = _positive("acceleration_limit", acceleration)
        floor = _positive("acceleration_floor", acceleration_floor)
        assert floor is not None
        self.acceleration_floor = floor
        if self.acceleration is not None and self.acceleration <= 1.0:
            raise ValueError("acceleration_limit must be a factor > 1")
        if isinstance(neighbour, bool) or not 0.0 <= neighbour < 1.0:
            raise ValueError("neighbour must be a share in [0, 1)")
        if neighbour and self.rate is None:
            raise ValueError("neighbour needs a rate_limit (it is a share of it)")
        self.neighbour = float(neighbour)
        self._capacity = max(1, int(self.rate)) if self.rate is not None else 0
        self._app_capacity = max(1, int(self.app_rate)) if self.app_rate is not None else 0
        self._accounts: dict[int, _Account] = {}
        self._apps: dict[tuple[int, int], deque[float]] = {}
        #: Requests the neighbour made (all admitted), for tests and benchmarks.
        self.neighbour_requests = 0

    @property
    def active(self) -> bool:
        """True when any limit is configured."""
        return self.rate is not None or self.app_rate is not None or self.acceleration is not None

    def _neighbour(self, account: _Account, now: float) -> None:
        if not self.neighbour or self.rate is None:
            return
        spacing = 1.0 / (self.neighbour * self.rate)
        at = account.neighbour_next
        if at is None:
            at = now - 2 * _WINDOW  # it was already running (its seconds are full)
        elif at < now - 2 * _WINDOW:  # idle for a while: only the last two seconds matter
            at += math.floor((now - 2 * _WINDOW - at) / spacing) * spacing
        while at <= now:
            account.recent.append(at)
            self.neighbour_requests += 1
            at += spacing
        account.neighbour_next = at

    def acquire(self, account_id: int, app_id: int | None, now: float) -> RateDecision:
        """Decide a request of `account_id` (to `app_id`, if any) at monotonic `now`."""
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = _Account()
        self._neighbour(account, now)
        account.advance(now)
        count = len(account.recent) + 1  # with this request
        usage = 0.0
        if self.rate is not None:
            if count > self._capacity:
                oldest = account.recent[len(account.recent) - self._capacity]
                retry_after = max(1, math.ceil(oldest + _WINDOW - now))
                return RateDecision(False, 100, retry_after, ACCOUNT)
            usage = count / self._capacity
        app_hits: deque[float] | None = None
        if self.app_rate is not None and app_id is not None:
            app_hits = self._apps.get((account_id, app_id))
            if app_hits is None:
                app_hits = self._apps[(account_id, app_id)] = deque()
            _trim(app_hits, now - _WINDOW)
            if len(app_hits) >= self._app_capacity:
                retry_after = max(1, math.ceil(app_hits[0] + _WINDOW - now))
                return RateDecision(False, 100, retry_after, APP)
            usage = max(usage, (len(app_hits) + 1) / self._app_capacity)
        if self.acceleration is not None:
            allowed = max(self.acceleration_floor, self.acceleration * len(account.older))
            if count > allowed:
                return RateDecision(False, 100, 1, ACCELERATION)
            usage = max(usage, count / allowed)
        account.recent.append(now)
        if app_hits is not None:
            app_hits.append(now)
        return RateDecision(True, min(100, int(100 * usage + 1e-9)))
