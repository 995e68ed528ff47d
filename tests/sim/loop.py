"""An asyncio event loop on virtual time: ``time()`` is a number the loop moves itself.

When no callback is ready, asyncio asks its selector to wait until the next timer; this
selector checks for real I/O without blocking and, if there is none, moves the virtual
clock to that timer instead of sleeping (trio's ``MockClock(autojump_threshold=0)``,
aiotools' ``VirtualClock``). A simulated week thus runs as fast as its callbacks, and
every timer in mpasync follows (`mpasync.clock.now` is the running loop's ``time()``).

Nothing here reads the wall clock, so a run is a function of its inputs: with no real
sockets and seeded randomness, the same seed gives the same sequence of events.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Polls real I/O (the loop's self-pipe) without blocking; a wait jumps the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Nothing ready and no timer: a real loop would sleep forever. In a
            # simulation that is a deadlock (every party is in this process).
            raise RuntimeError("simulation deadlock: nothing is scheduled")
        assert self.loop is not None
        self.loop.advance(timeout)
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector loop whose ``time()`` starts at ``start`` and only moves by `advance`
    (which the loop does itself whenever it would otherwise wait for a timer)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual = float(start)
        # Timers due within this resolution run together; keep it tiny so a jump never
        # runs a timer early in any way a test could see.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never back: it is monotonic, as ``loop.time()``)."""
        if seconds > 0:
            self._virtual += seconds


def run_virtual(main: Coroutine[Any, Any, T], *, start: float = 1_000_000.0) -> T:
    """Run ``main`` to completion on a fresh `VirtualClockLoop` and close it."""
    loop = VirtualClockLoop(start)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
