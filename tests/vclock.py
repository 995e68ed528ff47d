"""A virtual-time event loop for tests: time jumps ahead whenever the loop would wait.

`mpasync.clock.now()` reads the running loop's ``time()``, and ``asyncio.sleep``, timeouts
and ``call_later`` are scheduled on it, so on this loop a test of hours runs in
milliseconds and what it measures does not depend on how busy the machine is. Only for
tests whose I/O is mocked (aioresponses): a real socket would not answer in virtual time.

>>> def test_something() -> None:
...     run(main())          # main() sleeps, waits and expires on the virtual clock
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["VirtualClockLoop", "run"]


class _JumpingSelector:
    """Wraps the loop's selector: when nothing is ready, jump to the next timer instead
    of blocking until it."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualClockLoop) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:  # nothing scheduled: only I/O (e.g. the loop's self-pipe) can wake it
            return self._inner.select(None)
        events = self._inner.select(0)
        if not events and timeout > 0:
            # asyncio caps one wait at a day; jump straight to the next timer instead.
            scheduled = self._loop._scheduled  # type: ignore[attr-defined]
            due = scheduled[0].when() - self._loop.time() if scheduled else timeout
            self._loop.advance(max(timeout, due))
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector loop whose clock starts at 1000.0 and moves only when the loop is idle."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual_now = 1000.0
        # A timer is due when it is within the clock's resolution of now; keep that above
        # a float's spacing even at times centuries ahead (1e-9 would vanish there and the
        # loop would spin on a timer it never finds due).
        self._clock_resolution = 1e-3
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type,assignment]

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead (what an idle wait of that long would do)."""
        self._virtual_now += seconds


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh `VirtualClockLoop`."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
