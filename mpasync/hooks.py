"""Hooks: callbacks that see every attempt and every retry, for metrics and tracing.

They receive plain facts (method, path without query, status, attempt number, elapsed
time, the server's rate-limit usage) and never a token, a secret or a header. A hook
that raises is logged and otherwise ignored: observing a request never fails it. The
same fields travel as ``extra=`` on the transport's log records, so structured loggers
can use them.

>>> def on_attempt(a: Attempt) -> None:
...     metrics.observe(a.method, a.status, a.elapsed)
>>> Client(..., hooks=Hooks(on_attempt=on_attempt))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

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

    def attempt(self, event: Attempt) -> None:
        if self.on_attempt is not None:
            try:
                self.on_attempt(event)
            except Exception:
                logger.exception("on_attempt hook failed")

    def retry(self, event: RetryEvent) -> None:
        if self.on_retry is not None:
            try:
                self.on_retry(event)
            except Exception:
                logger.exception("on_retry hook failed")
