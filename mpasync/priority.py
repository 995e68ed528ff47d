"""Priority lanes: a plain call goes before bulk work that shares its budget.

Two lanes. ``"interactive"`` is what a plain call is (a web request waiting for an
answer); ``"background"`` is what every request a bulk helper sends is (`mpasync.bulk`,
the filter migrations, seeding and DSR bulk runs, analytics batches, the CLI's runs).
``mp.with_options(priority=...)`` and the bulk helpers' ``priority=`` choose otherwise.

Which lane a request is in is decided in this order: the client view's own ``priority``
option (``with_options(priority=...)``), else the lane of the bulk run the request is
sent from (`lane_of` reads the run's context, set by `in_lane`), else interactive. A
bulk run's lane travels in a context variable because the function a run maps is the
user's own, calling the user's client: the run cannot hand the lane to each call.

Limiters keep their waiters in a `Lanes` queue: an interactive waiter is served before
any background one, except that while both lanes wait, every `BACKGROUND_TURN`-th turn
goes to the background lane, so a busy web backend cannot starve a migration: the
background lane gets everything the interactive lane leaves unused, and at least
``1 / BACKGROUND_TURN`` of the turns when both are busy.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from mpasync.errors import RequestValidationError

__all__ = [
    "BACKGROUND",
    "BACKGROUND_TURN",
    "INTERACTIVE",
    "LaneLock",
    "Lanes",
    "Priority",
    "check_priority",
    "in_lane",
    "lane_of",
]

Priority = Literal["interactive", "background"]
INTERACTIVE: Priority = "interactive"
BACKGROUND: Priority = "background"

#: While both lanes wait, one turn in this many goes to the background lane (a minimum
#: share of 20 %); when the interactive lane is empty, the background lane gets them all.
BACKGROUND_TURN = 5

_RUN_LANE: ContextVar[Priority | None] = ContextVar("mpasync_priority", default=None)


def check_priority(value: object, field: str = "priority") -> Priority:
    """``value`` as a lane, or a `RequestValidationError` naming both lanes."""
    if value == INTERACTIVE:
        return INTERACTIVE
    if value == BACKGROUND:
        return BACKGROUND
    raise RequestValidationError(
        f"{field} must be 'interactive' or 'background', got {value!r}", field=field
    )


def lane_of(explicit: Priority | None) -> Priority:
    """The lane of a request: the view's own option, else the bulk run's, else
    interactive."""
    if explicit is not None:
        return explicit
    return _RUN_LANE.get() or INTERACTIVE


@contextmanager
def in_lane(priority: Priority) -> Iterator[None]:
    """Requests sent inside (by this task and tasks it starts) default to ``priority``."""
    token = _RUN_LANE.set(priority)
    try:
        yield
    finally:
        _RUN_LANE.reset(token)


class Lanes:
    """Waiting futures in two lanes; `pop` gives the next live one by the lane rule.

    Futures cancelled while queued are skipped (their owners left).
    """

    __slots__ = ("_background", "_interactive", "_streak", "queues")

    def __init__(self) -> None:
        self._interactive: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._streak = 0  # interactive turns in a row while background waited
        #: Both queues, for a caller's cheap "is anything queued?" (live or not).
        self.queues = (self._interactive, self._background)

    def push(self, priority: Priority, fut: asyncio.Future[None]) -> None:
        (self._background if priority == BACKGROUND else self._interactive).append(fut)

    def empty(self) -> bool:
        """True when no future is queued at all (live or not): a cheap first check."""
        return not (self._interactive or self._background)

    def _prune(self) -> None:
        for queue in (self._interactive, self._background):
            while queue and queue[0].done():
                queue.popleft()

    def __bool__(self) -> bool:
        self._prune()
        return bool(self._interactive or self._background)

    def waiting(self, priority: Priority) -> int:
        """Live waiters in one lane."""
        queue = self._background if priority == BACKGROUND else self._interactive
        return sum(1 for fut in queue if not fut.done())

    def ahead_of(self, priority: Priority) -> int:
        """How many turns a new waiter in ``priority`` would wait for, by the lane rule."""
        interactive = self.waiting(INTERACTIVE)
        background = self.waiting(BACKGROUND)
        share = BACKGROUND_TURN - 1  # interactive turns per background turn, both waiting
        if priority == INTERACTIVE:
            return interactive + min(background, (interactive + self._streak) // share)
        return background + min(interactive, (background + 1) * share)

    def next_lane(self) -> Priority | None:
        """The lane `pop` would serve now, or None when no one waits."""
        self._prune()
        interactive, background = self._interactive, self._background
        if interactive and (not background or self._streak < BACKGROUND_TURN - 1):
            return INTERACTIVE
        return BACKGROUND if background else None

    def pop(self) -> asyncio.Future[None] | None:
        """The next live waiter (removed), or None."""
        self._prune()
        interactive, background = self._interactive, self._background
        if interactive and (not background or self._streak < BACKGROUND_TURN - 1):
            self._streak = self._streak + 1 if background else 0
            return interactive.popleft()
        if background:
            self._streak = 0
            return background.popleft()
        return None


class LaneLock:
    """A mutex whose waiters are served by the lane rule (`Lanes`): who books next in a
    limiter that books one slot at a time (`mpasync.redis.RedisRateLimiter`)."""

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters = Lanes()

    def waiting(self, priority: Priority) -> int:
        """Turns ahead of a new waiter in ``priority`` (the holder's included)."""
        return self._waiters.ahead_of(priority) + (1 if self._held else 0)

    async def acquire(self, priority: Priority = INTERACTIVE) -> None:
        """Take the lock (pair with `release`; a cancelled wait takes nothing)."""
        if not self._held and not self._waiters:
            self._held = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.push(priority, fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # handed over, then cancelled
                self.release()
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter by the lane rule, or free it."""
        fut = self._waiters.pop()
        if fut is None:
            self._held = False
        else:
            fut.set_result(None)  # stays held: ownership passes
