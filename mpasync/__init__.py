"""mpasync: the asyncio client for mParticle's Platform API.

>>> from mpasync import Client
>>> async with Client(client_id="...", client_secret="...", account_id=1) as mp:
...     apps = await mp.apps.list()

The names below load on first use (PEP 562), so ``import mpasync`` (and the pytest plugin
``mpasync.testing``, which every pytest run of a project with mpasync installed loads)
costs almost nothing until a client is made.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from mpasync._version import __version__

if TYPE_CHECKING:
    from mpasync import dsr
    from mpasync.adaptive import AdaptiveRateLimiter
    from mpasync.analytics import AnalyticsClient
    from mpasync.auth import TokenCache
    from mpasync.client import Client
    from mpasync.dsr import DSRClient
    from mpasync.errors import (
        APIError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        DeadlineExceededError,
        DecodeError,
        JournalError,
        MethodNotAllowedError,
        MParticleError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        RedirectError,
        RequestValidationError,
        ResponseTooLargeError,
        ServerError,
        TokenError,
        TransportError,
        UnprocessableEntityError,
    )
    from mpasync.limits import RateLimiter
    from mpasync.retry import RetryPolicy
    from mpasync.seeding import SeedingClient
    from mpasync.transport import TransportStats

# A library logs; the application decides where logs go (no "last resort" stderr output).
logging.getLogger("mpasync").addHandler(logging.NullHandler())

_ERRORS = (
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DeadlineExceededError",
    "DecodeError",
    "JournalError",
    "MParticleError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "RequestValidationError",
    "ResponseTooLargeError",
    "ServerError",
    "TokenError",
    "TransportError",
    "UnprocessableEntityError",
)

#: Where each public name lives.
_HOMES: dict[str, str] = {
    **dict.fromkeys(_ERRORS, "mpasync.errors"),
    "AdaptiveRateLimiter": "mpasync.adaptive",
    "AnalyticsClient": "mpasync.analytics",
    "Client": "mpasync.client",
    "DSRClient": "mpasync.dsr",
    "RateLimiter": "mpasync.limits",
    "RetryPolicy": "mpasync.retry",
    "SeedingClient": "mpasync.seeding",
    "TokenCache": "mpasync.auth",
    "TransportStats": "mpasync.transport",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        if name == "dsr":
            return importlib.import_module("mpasync.dsr")
        raise AttributeError(f"module 'mpasync' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "APIError",
    "AdaptiveRateLimiter",
    "AnalyticsClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "DSRClient",
    "DeadlineExceededError",
    "DecodeError",
    "JournalError",
    "MParticleError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "RedirectError",
    "RequestValidationError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SeedingClient",
    "ServerError",
    "TokenCache",
    "TokenError",
    "TransportError",
    "TransportStats",
    "UnprocessableEntityError",
    "__version__",
    "dsr",
]
