"""mpasync: the asyncio client for mParticle's Platform API.

>>> from mpasync import Client
>>> async with Client(client_id="...", client_secret="...", account_id=1) as mp:
...     apps = await mp.apps.list()
"""

import logging

from mpasync import dsr
from mpasync._version import __version__
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

# A library logs; the application decides where logs go (no "last resort" stderr output).
logging.getLogger("mpasync").addHandler(logging.NullHandler())

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
    "UnprocessableEntityError",
    "__version__",
    "dsr",
]
