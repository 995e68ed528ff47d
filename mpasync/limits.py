"""Limits the transport consults before each attempt: a concurrency cap and a rate cap.

Both are plain objects so the bulk engine and several callers of one client share them
(one budget per client), and tests can read how much of each is in use.
"""

from __future__ import annotations

import asyncio
import math
import time
from types import TracebackType

from mpasync.errors import RequestValidationError

__all__ = ["ConcurrencyLimiter", "RateLimiter"]


class ConcurrencyLimiter:
    """At most ``capacity`` holders at once; an async context manager.

    The permit is released on every exit path, cancellation included (``__aexit__``
    always runs once ``__aenter__`` has returned, and a cancelled ``acquire`` takes
    nothing).
    """

    __slots__ = ("_in_use", "_sem", "capacity")

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise RequestValidationError(
                "max_concurrency must be an integer >= 1", field="max_concurrency"
            )
        self.capacity = capacity
        self._sem = asyncio.Semaphore(capacity)
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Permits currently held."""
        return self._in_use

    @property
    def available(self) -> int:
        """Permits free right now."""
        return self.capacity - self._in_use

    async def __aenter__(self) -> None:
        await self._sem.acquire()
        self._in_use += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._in_use -= 1
        self._sem.release()


class RateLimiter:
    """Starts at most ``rate`` operations per second, with no burst: GCRA at zero tolerance.

    Why GCRA and not a token bucket: a bucket of size ``rate`` allows ``rate`` starts in
    one instant and ``rate`` more a second later, i.e. up to ``2 * rate`` in a one-second
    window that straddles a refill. GCRA with zero burst tolerance spaces starts at least
    ``1 / rate`` apart, so *every* one-second window holds at most ``rate`` starts.
    Each caller reserves the next slot on the timeline (no lock, no queue: one float),
    then sleeps until it. ``safety`` (default 1%) widens the spacing a hair so that
    jitter between our clock and a server's cannot make the server count ``rate + 1``.
    A cancelled waiter's slot is simply left unused: the limit can be under-used,
    never exceeded.
    """

    __slots__ = ("_interval", "_next", "rate")

    def __init__(self, rate: float, *, safety: float = 0.01) -> None:
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not math.isfinite(rate)
            or rate <= 0
        ):
            raise RequestValidationError("rate_limit must be a number > 0", field="rate_limit")
        self.rate = float(rate)
        self._interval = (1.0 + safety) / self.rate
        self._next = 0.0

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        now = time.monotonic()
        slot = self._next if self._next > now else now
        self._next = slot + self._interval
        while True:
            delay = slot - time.monotonic()
            if delay <= 0:
                return
            await asyncio.sleep(delay)
