"""The emulator's per-account rate limit: a sliding one-second window log.

At most `max(1, int(rate))` requests per account are admitted in any one-second interval;
the next one gets a 429 with `Retry-After` (whole seconds, at least 1) and
`X-mp-rate-limit-exceeded: account`. Rejected requests do not count against the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["RateDecision", "SlidingWindowLimiter"]

_WINDOW = 1.0


@dataclass(frozen=True)
class RateDecision:
    """The outcome for one request: admitted or not, and the headers' values."""

    admitted: bool
    percentage_used: int
    retry_after: int = 0


class SlidingWindowLimiter:
    """Admit at most `rate` requests per key (account) in any one-second window."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate_limit must be positive")
        self.rate = rate
        self.capacity = max(1, int(rate))
        self._hits: dict[int, deque[float]] = {}

    def acquire(self, key: int, now: float) -> RateDecision:
        """Record a request for `key` at monotonic time `now` if the window has room."""
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - _WINDOW
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self.capacity:
            retry_after = max(1, math.ceil(hits[0] + _WINDOW - now))
            return RateDecision(False, 100, retry_after)
        hits.append(now)
        return RateDecision(True, (100 * len(hits)) // self.capacity)
