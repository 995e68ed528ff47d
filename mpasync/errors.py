"""The exception hierarchy: every failure a caller can see is one of these.

`APIError` subclasses are keyed by HTTP status (like httpx/openai); `error_for_status`
picks the class. Messages carry the method, a secret-free URL and the server's errors,
never a token or a client secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DeadlineExceededError",
    "DecodeError",
    "ErrorItem",
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
    "error_for_status",
]


class ErrorItem(NamedTuple):
    """One entry of a server's error list: `(code, message)`."""

    code: str | None
    message: str


class MParticleError(Exception):
    """Base class of every error raised by mpasync."""


class RequestValidationError(MParticleError, ValueError):
    """Bad input caught on the client before anything was sent.

    `field` names the offending argument or body field (dotted path), when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        # Every message names its field, whoever raised it.
        if field and field not in message:
            message = f"{field}: {message}"
        super().__init__(message)
        self.field = field


class JournalError(MParticleError):
    """A bulk run's journal cannot be used: another job's, locked by another run, unreadable
    or unwritable. The message is one line naming the file and what is wrong.

    `report` is the run's `BulkReport` when the error stopped a run (every item taken is in
    it), None when the journal was refused before anything was sent.
    """

    def __init__(self, message: str, *, path: str = "", report: Any = None) -> None:
        super().__init__(message)
        self.path = path
        self.report = report


class TransportError(MParticleError):
    """A connection failure or timeout that persisted after every retry.

    ``maybe_applied`` is True when the last attempt may have reached the server (the
    connection broke or the clock ran out after the request was sent): a write may then
    have been applied although no answer came back. The message says so.
    """

    def __init__(
        self, message: str, *, method: str = "", url: str = "", maybe_applied: bool = False
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.maybe_applied = maybe_applied


class DeadlineExceededError(TransportError):
    """The call's total ``deadline`` (attempts, waits and retries together) ran out."""


class ResponseTooLargeError(MParticleError):
    """A response body grew past ``max_response_bytes`` (counted after decompression).

    The body was not kept: reading stopped at the limit and the connection was dropped.
    ``maybe_applied`` is True when the answer was a 2xx to a write (anything but GET, HEAD
    and OPTIONS): the server accepted it, so it may have been applied although its answer
    could not be read. The message says so. As on `TransportError`.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        method: str = "",
        url: str = "",
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.method = method
        self.url = url
        self.maybe_applied = maybe_applied


class TokenError(MParticleError):
    """The OAuth token endpoint failed. Carries its status and message, never the secret.

    ``retry_after`` is the endpoint's ``Retry-After`` (seconds) on a 429/503, if it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class DecodeError(MParticleError):
    """A response body that does not fit its model. `excerpt` is a short prefix of the body."""

    def __init__(self, message: str, *, excerpt: str = "", method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.excerpt = excerpt
        self.method = method
        self.url = url


class APIError(MParticleError):
    """A non-2xx response. `errors` is the server's error list as `(code, message)` items."""

    def __init__(
        self,
        status: int,
        errors: Sequence[ErrorItem] = (),
        *,
        method: str = "",
        url: str = "",
        body_excerpt: str = "",
    ) -> None:
        self.status = status
        self.errors: list[ErrorItem] = list(errors)
        self.method = method
        self.url = url
        self.body_excerpt = body_excerpt
        super().__init__(self._format())

    @property
    def messages(self) -> list[str]:
        """Just the messages of `errors`."""
        return [e.message for e in self.errors]

    def _format(self) -> str:
        head = f"{self.status} {type(self).__name__}"
        if self.method or self.url:
            head += f" for {self.method} {self.url}".rstrip()
        if self.errors:
            detail = "; ".join(
                f"{e.code}: {e.message}" if e.code else e.message for e in self.errors
            )
            return f"{head}: {detail}"
        if self.body_excerpt:
            return f"{head}: {self.body_excerpt}"
        return head


class BadRequestError(APIError):
    """400: the request body or parameters were rejected."""


class AuthenticationError(APIError):
    """401: authentication failed (also: a v1 call without accountId)."""


class PermissionDeniedError(APIError):
    """403: the credentials may not call this method."""


class NotFoundError(APIError):
    """404: the entity does not exist or belongs to another account."""


class MethodNotAllowedError(APIError):
    """405: the HTTP method is not supported here."""


class ConflictError(APIError):
    """409: a duplicate request is already in progress (DSR API)."""


class UnprocessableEntityError(APIError):
    """422: the request broke a business rule; `errors` says which."""


class RateLimitError(APIError):
    """429 after every retry. `retry_after` is the server's requested wait in seconds."""

    def __init__(
        self,
        status: int,
        errors: Sequence[ErrorItem] = (),
        *,
        method: str = "",
        url: str = "",
        body_excerpt: str = "",
        retry_after: float | None = None,
        exceeded: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.exceeded = exceeded
        super().__init__(status, errors, method=method, url=url, body_excerpt=body_excerpt)


class ServerError(APIError):
    """5xx after every retry."""


class RedirectError(APIError):
    """A 3xx: mpasync never follows redirects (a redirect could carry credentials to another
    origin). ``location`` is the ``Location`` header without userinfo or query."""

    def __init__(
        self,
        status: int,
        errors: Sequence[ErrorItem] = (),
        *,
        method: str = "",
        url: str = "",
        body_excerpt: str = "",
        location: str = "",
    ) -> None:
        self.location = location
        super().__init__(status, errors, method=method, url=url, body_excerpt=body_excerpt)

    def _format(self) -> str:
        head = f"{self.status} {type(self).__name__} for {self.method} {self.url}"
        where = self.location or "(no Location header)"
        return f"{head}: redirects are not followed (Location: {where})"


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIError]:
    """The `APIError` subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return RedirectError
    return _BY_STATUS.get(status, APIError)
