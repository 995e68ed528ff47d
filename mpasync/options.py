"""The transport options every client class takes, written once, checked once.

`Client`, `SeedingClient`, `DSRClient` and `AnalyticsClient` all accept these keywords
(``**options``, described by `TransportOptions`) and hand them on unchanged; `Options`
checks them once into one immutable value the transport reads. `with_options` makes a
view of a client with some of them changed per call (`Options.replace`, which checks only
what changes, with the same checks).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import aiohttp

from mpasync._checks import positive_number
from mpasync.errors import RequestValidationError
from mpasync.hooks import Hooks
from mpasync.priority import Priority, check_priority
from mpasync.retry import RetryPolicy

if TYPE_CHECKING:
    from mpasync.limits import RateControl
    from mpasync.wire import Wire

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Options", "TransportOptions", "check_option_names"]

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
    - ``wire`` (None): the `mpasync.wire.Wire` requests go out on (e.g. a
      `mpasync.wire.MockWire` in tests); None: an aiohttp session (``session``, or the
      client's own).
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
    wire: Wire | None


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


def _retry(value: object) -> RetryPolicy:
    if value is None:
        return RetryPolicy()
    if not isinstance(value, RetryPolicy):
        raise RequestValidationError("retry must be a RetryPolicy", field="retry")
    return value


def _max_concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestValidationError(
            "max_concurrency must be an integer >= 1", field="max_concurrency"
        )
    return value


def _max_response_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestValidationError(
            "max_response_bytes must be an integer >= 1", field="max_response_bytes"
        )
    return value


def _trust_env(value: object) -> bool:
    if not isinstance(value, bool):
        raise RequestValidationError("trust_env must be True or False", field="trust_env")
    return value


def _hooks(value: object) -> Hooks | None:
    if value is not None and not isinstance(value, Hooks):
        raise RequestValidationError("hooks must be a mpasync.hooks.Hooks", field="hooks")
    return value


def _session(value: object) -> aiohttp.ClientSession | None:
    if value is not None and not isinstance(value, aiohttp.ClientSession):
        raise RequestValidationError("session must be an aiohttp.ClientSession", field="session")
    return value


def _trace_configs(value: object) -> tuple[aiohttp.TraceConfig, ...] | None:
    if value is None:
        return None
    traces: tuple[object, ...]
    try:
        traces = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        traces = (value,)
    if not all(isinstance(t, aiohttp.TraceConfig) for t in traces):
        raise RequestValidationError(
            "trace_configs must be aiohttp.TraceConfig objects", field="trace_configs"
        )
    return traces  # type: ignore[return-value]


def _wire(value: object) -> Wire | None:
    if value is None:
        return None
    if not callable(getattr(value, "send", None)) or not callable(getattr(value, "aclose", None)):
        raise RequestValidationError(
            "wire must be a mpasync.wire.Wire (send(request) and aclose())", field="wire"
        )
    return value  # type: ignore[return-value]


def _optional_seconds(name: str) -> Callable[[object], float | None]:
    def check(value: object) -> float | None:
        return None if value is None else positive_number(value, name)

    return check


def _limiter(value: object) -> RateControl | None:
    from mpasync.adaptive import rate_control  # the limiters load only with the transport

    return rate_control(value)


def _priority(value: object) -> Priority | None:
    return None if value is None else check_priority(value)


#: Each option's check: the value as given -> the value kept (or RequestValidationError).
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "max_concurrency": _max_concurrency,
    "rate_limit": _limiter,
    "retry": _retry,
    "timeout": lambda v: positive_number(v, "timeout"),
    "deadline": _optional_seconds("deadline"),
    "max_response_bytes": _max_response_bytes,
    "trust_env": _trust_env,
    "session": _session,
    "hooks": _hooks,
    "trace_configs": _trace_configs,
    "priority": _priority,
    "wire": _wire,
}


@dataclass(frozen=True, slots=True)
class Options:
    """The transport options, checked: what a `Transport` and its views read.

    Built once from the keywords a client was given (`Options.of`); a `with_options` view
    gets `replace`'s copy. ``rate_limit`` is kept as the limiter it stands for (a number
    or ``"auto"`` becomes a new limiter; a limiter is kept as given).
    """

    max_concurrency: int = 32
    rate_limit: RateControl | None = None
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    timeout: float = 30.0
    deadline: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    trust_env: bool = True
    session: aiohttp.ClientSession | None = None
    hooks: Hooks | None = None
    trace_configs: tuple[aiohttp.TraceConfig, ...] | None = None
    priority: Priority | None = None
    wire: Wire | None = None

    @classmethod
    def of(cls, options: Mapping[str, Any] | Options | None = None) -> Options:
        """``options`` (keywords as `TransportOptions` describes them) checked, or a
        `RequestValidationError` naming the first bad one. An `Options` is kept as is."""
        if isinstance(options, Options):
            return options
        given = dict(options or {})
        check_option_names(given)
        checked = {name: _CHECKS[name](value) for name, value in given.items()}
        made = cls(**checked)
        made._check_together()
        return made

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes`` (checked as `of` checks them)."""
        check_option_names(changes)
        checked = {name: _CHECKS[name](value) for name, value in changes.items()}
        made = dataclasses.replace(self, **checked)
        made._check_together()
        return made

    def _check_together(self) -> None:
        if self.trace_configs is not None and self.session is not None:
            raise RequestValidationError(
                "trace_configs apply to the client's own session; add them to the "
                "borrowed session instead",
                field="trace_configs",
            )
        if self.wire is not None and self.session is not None:
            raise RequestValidationError(
                "pass either wire= or session=, not both (a session is one kind of wire)",
                field="wire",
            )
