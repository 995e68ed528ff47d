"""Retry policy: which failures are retried, and how long to wait between attempts.

Backoff is exponential with *full* jitter (AWS architecture blog): the wait is drawn
uniformly from ``[0, min(backoff_max, backoff_base * 2**(n-1))]``. A server's
``Retry-After`` (seconds or an HTTP date) wins over backoff, plus a little jitter so
that callers rate-limited together do not all come back in the same millisecond.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from mpasync.errors import RequestValidationError

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy", "parse_retry_after"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How the transport retries.

    - ``max_attempts``: attempts per request, the first included (1 = never retry).
    - ``backoff_base`` / ``backoff_max``: exponential backoff with full jitter, in seconds.
    - ``retry_on``: statuses worth another attempt. Connection errors and timeouts are
      always retried (within ``max_attempts``).
    - ``retry_unsafe``: also retry POSTs that may have reached the server (a 5xx, a
      dropped connection, a timeout). Off by default: a POST is retried only when it
      provably was not processed (the connection could not be opened, or a 429).
    - ``max_retry_after``: a ``Retry-After`` longer than this is not waited for; the
      request fails with `RateLimitError` (or `ServerError`) at once.

    >>> RetryPolicy(max_attempts=8, backoff_max=10.0)
    >>> RetryPolicy.disabled()
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_on: tuple[int, ...] = (429, 500, 502, 503, 504)
    retry_unsafe: bool = False
    max_retry_after: float = 300.0
    _retry_on: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise RequestValidationError(
                "max_attempts must be an integer >= 1", field="max_attempts"
            )
        for name in ("backoff_base", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise RequestValidationError(f"{name} must be a finite number >= 0", field=name)
        object.__setattr__(self, "_retry_on", frozenset(self.retry_on))

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries (the 401 token refresh still replays once)."""
        return cls(max_attempts=1)

    def should_retry_status(self, status: int) -> bool:
        """Whether a response status is worth another attempt."""
        return status in self._retry_on

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2.0 ** (attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)

    def after_retry_after(self, seconds: float, rng: random.Random | None = None) -> float:
        """The wait for a server-given ``Retry-After``: the value plus up to 10% (>= 50 ms)."""
        spread = max(0.05, 0.1 * seconds)
        return seconds + (rng or random).uniform(0.0, spread)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns None when the header is absent or unreadable; never a negative number.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
