"""The transport options every client class takes, written once.

`Client`, `SeedingClient`, `DSRClient` and `AnalyticsClient` all accept these keywords
(``**options``) and hand them to their `Transport` unchanged; the transport validates
them. `with_options` makes a view of a client with some of them changed per call.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import aiohttp

from mpasync.errors import RequestValidationError
from mpasync.hooks import Hooks
from mpasync.retry import RetryPolicy

if TYPE_CHECKING:
    from mpasync.limits import RateControl
    from mpasync.priority import Priority

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "TransportOptions", "check_option_names"]

DEFAULT_MAX_RESPONSE_BYTES = 32 << 20


class TransportOptions(TypedDict, total=False):
    """Keyword options shared by every client class.

    - ``max_concurrency`` (32): requests in flight for this client (a semaphore).
    - ``rate_limit`` (None): requests per second (a number, fixed GCRA pacing), ``"auto"``
      (an `mpasync.AdaptiveRateLimiter` driven by mParticle's rate-limit headers), or any
      `mpasync.limits.RateControl` (e.g. `mpasync.redis.RedisRateLimiter`); None = off.
    - ``retry`` (`RetryPolicy()`): which failures are retried and how long to wait.
    - ``timeout`` (30.0): seconds per attempt; also bounds the wait for a token.
    - ``deadline`` (None): total seconds for one call across attempts, waits and retries.
    - ``max_response_bytes`` (32 MiB): a body larger than this after decompression fails
      with `ResponseTooLargeError` as soon as it passes the limit.
    - ``trust_env`` (True): use ``HTTP(S)_PROXY`` / ``NO_PROXY`` as aiohttp reads them.
    - ``session`` (None): an `aiohttp.ClientSession` to borrow; never closed by mpasync.
    - ``hooks`` (None): `mpasync.hooks.Hooks` called per attempt and per retry.
    - ``trace_configs`` (None): aiohttp ``TraceConfig``s for the client's own session
      (e.g. OpenTelemetry's aiohttp instrumentation).
    - ``priority`` (None): the lane of this client's requests, ``"interactive"`` or
      ``"background"`` (`mpasync.priority`); None: interactive, or background inside a
      bulk run.
    """

    max_concurrency: int
    rate_limit: float | str | RateControl | None
    retry: RetryPolicy | None
    timeout: float
    deadline: float | None
    max_response_bytes: int
    trust_env: bool
    session: aiohttp.ClientSession | None
    hooks: Hooks | None
    trace_configs: Sequence[aiohttp.TraceConfig] | None
    priority: Priority | None


_NAMES = frozenset(TransportOptions.__annotations__)


def check_option_names(
    options: Mapping[str, Any] | Sequence[str],
    known: Collection[str] = _NAMES,
    *,
    where: str = "",
) -> None:
    """Refuse an unknown option by name, suggesting the closest valid one (``known``: the
    names that are valid here; ``where``: what takes them, named in the message)."""
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown option {name!r}{hint}"
            if where:
                message = f"{where}: {message}; it takes {', '.join(known)}"
            raise RequestValidationError(message, field=name)
