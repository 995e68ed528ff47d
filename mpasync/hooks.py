"""Hooks: callbacks that see every attempt and every retry, for metrics and tracing.

They receive plain facts (method, path without query, status, attempt number, elapsed
time, the server's rate-limit usage) and never a token, a secret or a header. A hook
that raises is logged and otherwise ignored: observing a request never fails it. Hooks
are plain functions called inline: an ``async def`` hook (whose coroutine nobody would
await) is refused with `RequestValidationError` when the `Hooks` are made. The same
fields travel as ``extra=`` on the transport's log records, so structured loggers can
use them.

>>> def on_attempt(a: Attempt) -> None:
...     metrics.observe(a.method, a.status, a.elapsed)
>>> Client(..., hooks=Hooks(on_attempt=on_attempt))
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from mpasync.errors import RequestValidationError

__all__ = ["Attempt", "Hooks", "RetryEvent"]

logger = logging.getLogger("mpasync")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt's outcome. ``status`` is None when no response came (``error`` says why)."""

    method: str
    path: str
    status: int | None
    attempt: int
    elapsed: float
    rate_limit_usage: int | None = None
    error: str | None = None

    def fields(self) -> dict[str, object]:
        """The attempt as a dict (the ``extra=`` of its log record)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """A retry about to happen: why, and after how long a wait (seconds)."""

    method: str
    path: str
    attempt: int
    reason: str
    delay: float

    def fields(self) -> dict[str, object]:
        """The retry as a dict (the ``extra=`` of its log record)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Hooks:
    """Per-attempt and per-retry callbacks (`Client(hooks=...)`). Either may be None."""

    on_attempt: Callable[[Attempt], object] | None = None
    on_retry: Callable[[RetryEvent], object] | None = None

    def __post_init__(self) -> None:
        for name in ("on_attempt", "on_retry"):
            _check_hook(getattr(self, name), name)

    def attempt(self, event: Attempt) -> None:
        if self.on_attempt is not None:
            try:
                _discard(self.on_attempt(event), "on_attempt")
            except Exception:
                logger.exception("on_attempt hook failed")

    def retry(self, event: RetryEvent) -> None:
        if self.on_retry is not None:
            try:
                _discard(self.on_retry(event), "on_retry")
            except Exception:
                logger.exception("on_retry hook failed")


def _is_async(fn: object) -> bool:
    """Whether calling ``fn`` makes a coroutine or an async generator (as far as can be
    told without calling it): ``async def`` functions, partials of them, and objects
    whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return True
    if inspect.isfunction(fn) or inspect.ismethod(fn) or not callable(fn):
        return False
    call = type(fn).__call__
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


def _check_hook(fn: object, name: str) -> None:
    if fn is None:
        return
    if not callable(fn):
        raise RequestValidationError(
            f"{name} must be a function taking one event, not {type(fn).__name__}", field=name
        )
    if _is_async(fn):
        raise RequestValidationError(
            f"{name} must be a plain function: hooks are called inline and an async one "
            "would never run (schedule your own task from a plain hook instead)",
            field=name,
        )


def _discard(result: object, name: str) -> None:
    """A hook that slipped past the check and returned an awaitable: close it (no "never
    awaited" warning at exit) and say once per call that it did not run."""
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()
        logger.warning(
            "%s hook returned an awaitable, which is not awaited: use a plain function", name
        )
