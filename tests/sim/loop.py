"""The simulation's loop: `tests.virtual_time` with a deadlock an error (every party of a
simulation is in this process, so an idle loop with no timer can never wake)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from tests.virtual_time import START, VirtualTimeLoop
from tests.virtual_time import run as _run

T = TypeVar("T")

#: The simulation's name for it.
VirtualClockLoop = VirtualTimeLoop


def run_virtual(main: Coroutine[Any, Any, T], *, start: float = START) -> T:
    """Run ``main`` to completion on a fresh virtual-time loop and close it."""
    return _run(main, start=start, deadlock_is_error=True)
