"""What a failed call raises: a typed error for a non-2xx response, for a body that did
not decode or was too large, for a deadline that ran out.

Every error is built here, with whatever the server echoed of our credentials masked in
every part of it (`mpasync._redact`), and with no exception of a library left in its
chain (`own_chain`): aiohttp's and msgspec's carry request details and raw bodies.
"""

from __future__ import annotations

from typing import Any, TypeVar

from yarl import URL

from mpasync._redact import Redactor
from mpasync.auth import redacted_location, safe_url
from mpasync.decoding import parse_errors
from mpasync.errors import (
    APIError,
    DeadlineExceededError,
    DecodeError,
    ErrorItem,
    MParticleError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    error_for_status,
)
from mpasync.retry import parse_retry_after
from mpasync.wire import WireResponse

__all__ = [
    "DECODE_FAILURES",
    "deadline_error",
    "decode_failure",
    "error_for",
    "own_chain",
    "safe_url_of",
    "too_large_error",
]

T = TypeVar("T")


def decode_failure(
    exc: Exception, body: bytes, method: str, url: URL, redact: Redactor
) -> MParticleError:
    """What to raise when a 2xx body did not decode: the decoder's `DecodeError` naming
    the call (its excerpt masked), another mpasync error as it is, or a `DecodeError`
    for a decoder that tripped over a hostile body (invalid UTF-8, absurd nesting...)."""
    if isinstance(exc, DecodeError):
        exc.method, exc.url = method, safe_url_of(url)
        exc.excerpt = redact.excerpt(body)  # the decoder's own excerpt is not scrubbed
        exc.args = (f"{redact(str(exc.args[0]))} ({method} {exc.url})",)
        own_chain(exc)  # the decoder's own error (msgspec's) stays behind
        return exc
    if isinstance(exc, MParticleError):
        return exc
    where = f"{method} {safe_url_of(url)}"
    return DecodeError(
        f"response does not fit its model: {type(exc).__name__} ({where})",
        excerpt=redact.excerpt(body),
        method=method,
        url=safe_url_of(url),
    )


#: What a decoder may raise on a hostile body (besides mpasync's own errors).
DECODE_FAILURES = (MParticleError, ValueError, TypeError, RecursionError, KeyError, IndexError)


def error_for(response: WireResponse, method: str, url: URL, redact: Redactor) -> APIError:
    """The typed error for a non-2xx response."""
    status, headers, body = response.status, response.headers, response.body
    cls = error_for_status(status)
    errors = [
        ErrorItem(redact(code) if code is not None else None, redact(message))
        for code, message in parse_errors(body)
    ]
    common: dict[str, Any] = {
        "method": method,
        "url": safe_url_of(url),
        "body_excerpt": "" if errors else redact.excerpt(body),
    }
    if cls is RateLimitError:
        exceeded = headers.get("X-mp-rate-limit-exceeded")
        return RateLimitError(
            status,
            errors,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            exceeded=redact(exceeded) if exceeded is not None else None,
            **common,
        )
    if cls is RedirectError:
        location = redact(redacted_location(headers.get("Location")))
        return RedirectError(status, errors, location=location, **common)
    return cls(status, errors, **common)


def too_large_error(method: str, url: URL, status: int, limit: int) -> ResponseTooLargeError:
    """A body over ``max_response_bytes``; a 2xx to a write means the server took it,
    only its answer was too big."""
    where = safe_url_of(url)
    maybe = 200 <= status < 300 and method not in ("GET", "HEAD", "OPTIONS")
    return ResponseTooLargeError(
        f"{method} {where}: response body over max_response_bytes={limit} (HTTP {status})"
        + ("; the request may have been applied" if maybe else ""),
        limit=limit,
        method=method,
        url=where,
        maybe_applied=maybe,
    )


def deadline_error(
    method: str, url: URL, deadline: float, attempts: int, last: str, idempotent: bool
) -> DeadlineExceededError:
    """The call's total ``deadline`` ran out after ``attempts`` (the last failed with
    ``last``, if any)."""
    maybe = bool(last) and not idempotent
    return DeadlineExceededError(
        f"{method} {safe_url_of(url)}: deadline of {deadline:g}s exceeded after "
        f"{attempts} attempt(s)" + (f": {last}" if last else ""),
        method=method,
        url=safe_url_of(url),
        maybe_applied=maybe,
    )


def own_chain(exc: BaseException) -> None:
    """Cut ``exc``'s chain at the first link that is not an mpasync exception.

    Our errors are raised outside every ``except`` block, so on Python 3.11+ their
    ``__context__`` is clean. On 3.10 it is not always: a task woken by a cancelled future
    (aiohttp's timeout cancels the request) runs on inside asyncio's own handler of that
    CancelledError, which becomes the context of whatever the task raises next.
    """
    cur: BaseException | None = exc
    seen: set[int] = set()
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        nxt = cur.__cause__ or cur.__context__
        if nxt is not None and not type(nxt).__module__.startswith("mpasync"):
            cur.__cause__ = None
            cur.__context__ = None
            return
        cur = nxt


def safe_url_of(url: URL) -> str:
    """The URL for messages: no userinfo (basic-auth credentials never go in URLs anyway)."""
    return safe_url(str(url))
