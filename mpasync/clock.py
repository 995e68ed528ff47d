"""Where mpasync reads the time: one function, so tests can run hours on a virtual clock.

Every wait, pace, expiry, backoff and deadline in mpasync reads `now()`: the running
event loop's clock (``loop.time()``, monotonic seconds), or ``time.monotonic()`` outside
a loop (the two are the same clock for asyncio's own loops). A loop whose ``time()`` is
virtual therefore moves every timer in mpasync at once, and ``asyncio.sleep`` and
``anyio`` timeouts follow it (`tests/sim` runs a simulated week that way).

Wall-clock time (``time.time()``) is read only where a wall date is meant: HTTP dates in
``Retry-After`` and timestamps written to journals.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["now"]


def now() -> float:
    """Monotonic seconds on the running loop's clock (``time.monotonic()`` outside one)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
