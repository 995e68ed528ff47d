"""The emulator's per-server runtime (state, tokens, faults, limits, request log) and the small
request accessors every handler uses."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mpasync.emulator.auth import TokenStore
from mpasync.emulator.faults import FaultInjector
from mpasync.emulator.ratelimit import RateLimits
from mpasync.emulator.request_log import LoggedRequest
from mpasync.emulator.responses import not_found
from mpasync.emulator.state import EmulatorState, format_time, utcnow

__all__ = [
    "CURRENT",
    "RUNTIME",
    "RequestContext",
    "Runtime",
    "account_id",
    "json_body",
    "now",
    "path_int",
    "state_of",
]


@dataclass
class Runtime:
    """Everything one running emulator shares between its middleware and handlers."""

    state: EmulatorState
    tokens: TokenStore
    client_id: str
    client_secret: str
    audience: str
    token_latency: float = 0.0
    faults: FaultInjector = field(default_factory=FaultInjector)
    faults_on_token: bool = False
    limiter: RateLimits | None = None
    request_log: list[LoggedRequest] = field(default_factory=list)
    request_log_limit: int | None = None
    token_requests: int = 0
    #: Path prefixes of the other APIs (seeding, DSR, analytics): faults apply there too.
    other_prefixes: tuple[str, ...] = ()


RUNTIME = web.AppKey("mpasync_emulator_runtime", Runtime)


@dataclass
class RequestContext:
    """What the front door learned about the request being served."""

    body: Any = None
    bad_json: bool = False
    account_id: int | None = None
    #: Set by a handler serving one of two contradicting documented forms (see LoggedRequest).
    doc_variant: str | None = None


#: Set by the front door for each request. A context variable rather than request storage:
#: handlers run in the middleware's task, and it works the same on every aiohttp version.
CURRENT: ContextVar[RequestContext] = ContextVar("mpasync_emulator_request")


def state_of(request: web.Request) -> EmulatorState:
    """The emulator state behind a request."""
    return request.app[RUNTIME].state


def account_id(request: web.Request) -> int:
    """The `accountId` the front door validated for a v1 request."""
    value = CURRENT.get().account_id
    assert value is not None, "accountId is checked by the front door"
    return value


def json_body(request: web.Request) -> Any:
    """The request's parsed JSON body (None when there was none)."""
    return CURRENT.get().body


def path_int(request: web.Request, name: str) -> int:
    """An integer path parameter; anything else names no entity, so 404."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()):  # int() would read "٣" as 3
        raise not_found()
    return int(raw)


def now() -> str:
    """The current time in the v1 format."""
    return format_time(utcnow())
