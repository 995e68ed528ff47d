"""Per-attempt timeouts on one timer: how the aiohttp wire bounds each exchange.

aiohttp's ``ClientTimeout(total=...)`` arms a loop timer and enters a timer context for
every request and cancels the timer after it: about 8 % of the CPU of a small call here
(``benchmarks/``). An attempt's timeout is far off and almost never reached, so
`Timeouts` keeps one loop timer for all the attempts in flight on a wire, armed at the
earliest due time. When it fires, each overdue attempt's task is cancelled, and where the
attempt awaits, that cancellation is turned back into a timeout (`expired`) as
``asyncio.timeout`` does: on Python 3.11+ the task is "uncancelled", and a cancellation
from elsewhere (before or after ours) still propagates as a cancellation. (Python 3.10
counts no cancellations: there, one arriving in the same instant as the timeout is taken
for the timeout, as aiohttp's own timer does.) Exact: an attempt times out when its time
is up, not at the next tick of a coarse clock.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Timeouts"]

Task = asyncio.Task[Any]

if sys.version_info >= (3, 11):
    _pending: Callable[[Task], int] = asyncio.Task.cancelling
else:  # no count of pending cancellations before 3.11 (nor `uncancel`)

    def _pending(task: Task) -> int:
        return 0


class Timeouts:
    """The attempts in flight in one event loop, each with the time it must end by.

    One attempt per task at a time (a task runs one exchange at a time): `start` before
    the exchange, `stop` after it on every path, and `expired` on a CancelledError.
    """

    __slots__ = ("_armed_at", "_due", "_fired", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        #: Task → (due time, how many cancellations it had pending when it started).
        self._due: dict[Task, tuple[float, int]] = {}
        self._fired: set[Task] = set()  # cancelled by us, not yet seen by the attempt
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    def __len__(self) -> int:
        return len(self._due)

    def start(self, task: Task, seconds: float) -> None:
        """``task``'s attempt must end within ``seconds``."""
        due = self._loop.time() + seconds
        self._due[task] = (due, _pending(task))
        if due < self._armed_at:  # mostly not: later attempts are due later
            self._arm(due)

    def stop(self, task: Task) -> None:
        """``task``'s attempt ended (however it ended)."""
        self._due.pop(task, None)
        if self._fired:
            self._fired.discard(task)

    def expired(self, task: Task) -> bool:
        """Call on a CancelledError in ``task``'s attempt: True when it was this timeout's
        alone (then the cancellation is spent: raise a timeout instead); False when it
        came from elsewhere, or from elsewhere as well (let it propagate)."""
        if task not in self._fired:
            return False
        self._fired.discard(task)
        if sys.version_info >= (3, 11):
            pending_before = self._due[task][1]
            return task.uncancel() <= pending_before
        return True

    def close(self) -> None:
        """Disarm the timer (the wire is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_at = math.inf

    def _arm(self, due: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(due, self._fire)
        self._armed_at = due

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = math.inf
        now = self._loop.time()
        nearest = math.inf
        for task, (due, _) in list(self._due.items()):
            if due <= now:
                if task not in self._fired:
                    self._fired.add(task)
                    task.cancel()
            elif due < nearest:
                nearest = due
        if nearest < math.inf:
            self._arm(nearest)
