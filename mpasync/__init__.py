"""mpasync: the asyncio client for mParticle's Platform API.

>>> from mpasync import Client
>>> async with Client(client_id="...", client_secret="...", account_id=1) as mp:
...     apps = await mp.apps.list()
"""

from mpasync._version import __version__
from mpasync.auth import TokenCache
from mpasync.client import Client
from mpasync.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    MethodNotAllowedError,
    MParticleError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    TokenError,
    TransportError,
    UnprocessableEntityError,
)
from mpasync.retry import RetryPolicy

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "DecodeError",
    "MParticleError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "RetryPolicy",
    "ServerError",
    "TokenCache",
    "TokenError",
    "TransportError",
    "UnprocessableEntityError",
    "__version__",
]
