"""An asyncio loop on virtual time, for tests about time: waits take no wall time.

`VirtualTimeLoop.time()` is a number the loop moves itself: whenever nothing is ready to
run and no socket has anything to read, it jumps to the next timer instead of sleeping
(trio's ``MockClock(autojump_threshold=0)``, aiotools' ``VirtualClock``). mpasync reads
time through `mpasync.clock.now()`, the running loop's ``time()``, so its pacers, token
expiry, backoff and deadlines all follow, and what a test measures does not depend on how
busy the machine is. Nothing here reads the wall clock: with no real sockets and seeded
randomness a run is a function of its inputs (the simulation, `tests/sim`, relies on it).

Sockets still work (polled without blocking), but a test that waits on a real server
should not use this loop: time would race ahead of it.

    def test_something() -> None:
        run(main())   # main() is a coroutine; returns its result
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["START", "VirtualTimeLoop", "run"]

START = 1_000_000.0  # far from 0, so "time 0" bugs show


class _JumpSelector(selectors.BaseSelector):
    """Polls the real selector without blocking; an idle wait moves virtual time instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop
        self._real = selectors.DefaultSelector()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # nothing scheduled: only a socket can wake us
            if self._loop.deadlock_is_error:
                raise RuntimeError("deadlock on a virtual clock: nothing is scheduled")
            return self._real.select(None)
        self._loop.jump(timeout)
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock jumps over idle time.

    ``deadlock_is_error``: an idle loop with no timer raises instead of waiting for a
    socket (in a simulation every party is in this process, so that is a deadlock).
    """

    def __init__(self, start: float = START, *, deadlock_is_error: bool = False) -> None:
        self._now = float(start)
        self.deadlock_is_error = deadlock_is_error
        super().__init__(selector=_JumpSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never back: it is monotonic, as ``loop.time()``)."""
        if seconds > 0:
            self._now += seconds

    def jump(self, timeout: float) -> None:
        """An idle wait of ``timeout``: straight to the next timer. asyncio caps one wait
        at a day, and far ahead (a Retry-After in year 9999) ``now + timeout`` can round
        below the timer's time: landing on the timer's own time makes it due."""
        scheduled = self._scheduled  # type: ignore[attr-defined]
        target = self._now + timeout
        if scheduled:
            target = max(target, scheduled[0].when())
        self._now = target


def run(
    main: Coroutine[Any, Any, T], *, start: float = START, deadlock_is_error: bool = False
) -> T:
    """Run ``main`` to completion on a fresh virtual-time loop, then close the loop."""
    loop = VirtualTimeLoop(start, deadlock_is_error=deadlock_is_error)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
