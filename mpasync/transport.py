"""The transport: every request's path from a `Request` to a decoded result.

All policy lives here, once: URL building, auth (with one replay after a 401), the
concurrency and rate limits, per-attempt timeouts, retries with backoff and
``Retry-After``, error mapping and decoding. Resource methods only describe requests.

Order of an attempt: credentials → concurrency permit → rate slot → HTTP (the
per-attempt timeout starts here, so queueing for a permit or a slot never eats it)
→ read body → release. Everything is released on every path, cancellation included.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from multidict import CIMultiDictProxy
from yarl import URL

from mpasync._version import __version__
from mpasync.auth import Auth
from mpasync.decoding import excerpt, parse_errors
from mpasync.errors import (
    APIError,
    DecodeError,
    MParticleError,
    RateLimitError,
    RequestValidationError,
    TokenError,
    TransportError,
    error_for_status,
)
from mpasync.limits import ConcurrencyLimiter, RateLimiter
from mpasync.request import Request
from mpasync.retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after

__all__ = ["USER_AGENT", "Root", "Transport", "TransportStats"]

T = TypeVar("T")

logger = logging.getLogger("mpasync")

USER_AGENT = f"mpasync/{__version__}"

_encoder = msgspec.json.Encoder()

# Failures after which the request provably never reached the server: no connection.
_NOT_SENT: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    *(getattr(aiohttp, n) for n in ("ConnectionTimeoutError",) if hasattr(aiohttp, n)),
)
# Failures after which it may have: the connection broke or the clock ran out mid-flight.
_MAYBE_SENT = (aiohttp.ClientError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class Root:
    """Where one API family lives under the base URL, and the query it always carries."""

    prefix: str
    query: Mapping[str, str]
    #: When set, requests to this root fail with this message before anything is sent
    #: (e.g. v1 calls on a client built without an account id).
    unavailable: str | None = None


@dataclass(slots=True)
class TransportStats:
    """Counters for what the transport did; the bulk engine reports deltas of ``retries``."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    replays_401: int = 0


class _Retryable(Exception):
    """Internal: an attempt failed in a way the retry loop may retry."""

    def __init__(
        self,
        reason: str,
        *,
        sent: bool,
        delay: float | None = None,
        final: MParticleError | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.delay = delay
        #: What to raise once retries are spent, instead of a TransportError.
        self.final = final


class Transport:
    """Sends `Request`s over one pooled aiohttp session under one set of limits.

    Owns its session unless one is borrowed (``session=``); a borrowed session is used
    as is and never closed. The session is created lazily inside the running loop.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        roots: Mapping[str, Root],
        max_concurrency: int = 32,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise RequestValidationError("base_url must be an http(s) URL", field="base_url")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise RequestValidationError("timeout must be a number > 0", field="timeout")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise RequestValidationError("retry must be a RetryPolicy", field="retry")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._roots = {
            name: (self.base_url + root.prefix, _query_string(root.query), root.unavailable)
            for name, root in roots.items()
        }
        self.concurrency = ConcurrencyLimiter(max_concurrency)
        self.rate = RateLimiter(rate_limit) if rate_limit is not None else None
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = float(timeout)
        self._client_timeout = aiohttp.ClientTimeout(total=self.timeout)
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._auth_value = ""
        self._auth_headers = self._headers
        self._rng = random.Random()
        self.stats = TransportStats()

    def __repr__(self) -> str:
        return (
            f"Transport(base_url={self.base_url!r}, max_concurrency={self.concurrency.capacity}, "
            f"rate_limit={self.rate.rate if self.rate else None}, auth={self.auth!r})"
        )

    # -- session lifecycle -------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop."""
        if self._closed:
            raise TransportError("the client is closed")
        session = self._session
        if session is None:
            connector = aiohttp.TCPConnector(
                # The semaphore bounds requests in flight; the pool only has to hold them
                # (plus a token fetch), so requests never queue inside aiohttp, where
                # waiting would count against the per-attempt timeout.
                limit=self.concurrency.capacity + 2,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=30.0,
            )
            session = aiohttp.ClientSession(connector=connector)
            self._session = session
        return session

    def connections_in_use(self) -> int:
        """Connections currently checked out of the pool (0 when idle)."""
        session = self._session
        if session is None or session.closed or session.connector is None:
            return 0
        acquired = getattr(session.connector, "_acquired", ())
        return len(acquired)

    async def aclose(self) -> None:
        """Close the session if this transport owns it. Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    # -- the request path ---------------------------------------------------------------

    def url(self, request: Request[Any]) -> URL:
        """The absolute URL of a request: root prefix + path + root query + own query."""
        try:
            prefix, root_query, unavailable = self._roots[request.api]
        except KeyError:
            raise RequestValidationError(f"unknown API root {request.api!r}") from None
        if unavailable:
            raise RequestValidationError(unavailable)
        query = root_query
        if request.query:
            extra = _query_string(request.query)
            query = f"{query}&{extra}" if query and extra else (query or extra)
        text = prefix + request.path + ("?" + query if query else "")
        return URL(text, encoded=True)

    async def send(self, request: Request[T]) -> T:
        """Send a request under the client's limits and policy; return its decoded result."""
        session = self.session()
        method = request.method
        url = self.url(request)
        data: bytes | None = None
        headers = self._headers  # never mutated: a copy is made where it must differ
        if request.body is not None:
            try:
                data = _encoder.encode(request.body)
            except (TypeError, msgspec.MsgspecError) as exc:
                raise RequestValidationError(f"request body is not JSON-encodable: {exc}") from None
            headers = {**headers, "Content-Type": "application/json"}
        idempotent = (
            request.idempotent if request.idempotent is not None else method in IDEMPOTENT_METHODS
        )
        policy = self.retry
        self.stats.requests += 1
        attempt = 0
        replayed = False
        while True:
            attempt += 1
            try:
                status, resp_headers, body = await self._attempt(
                    session, method, url, data, headers, attempt
                )
            except _Retryable as failure:
                safe = idempotent or not failure.sent or policy.retry_unsafe
                if attempt < policy.max_attempts and safe:
                    await self._pause(method, url, attempt, failure.reason, failure.delay)
                    continue
                if failure.final is not None:
                    raise failure.final from None
                raise TransportError(
                    f"{method} {_safe_url(url)} failed after {attempt} attempt(s): "
                    f"{failure.reason}",
                    method=method,
                    url=_safe_url(url),
                ) from None
            except _Unauthorized as unauth:
                if not replayed and self.auth.unauthorized(unauth.credential):
                    replayed = True
                    attempt -= 1  # the replay after a refresh is not a retry
                    self.stats.replays_401 += 1
                    logger.debug("%s %s: 401, token refreshed, replaying once", method, url.path)
                    continue
                raise self._error(401, unauth.headers, unauth.body, method, url) from None

            if 200 <= status < 300:
                try:
                    return request.decode(body)
                except DecodeError as exc:
                    exc.method, exc.url = method, _safe_url(url)
                    exc.args = (f"{exc.args[0]} ({method} {_safe_url(url)})",)
                    raise
            if policy.should_retry_status(status) and attempt < policy.max_attempts:
                # A 429 is a refusal before processing, so even a POST may be retried.
                if idempotent or status == 429 or policy.retry_unsafe:
                    delay = parse_retry_after(resp_headers.get("Retry-After"))
                    if delay is None or delay <= policy.max_retry_after:
                        await self._pause(method, url, attempt, f"HTTP {status}", delay)
                        continue
            raise self._error(status, resp_headers, body, method, url)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        data: bytes | None,
        headers: dict[str, str],
        attempt: int,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        try:
            authorization, credential = await self.auth.authorize(session)
        except TokenError as exc:
            if exc.status is None or exc.status == 429 or exc.status >= 500:
                raise _Retryable(str(exc), sent=False, final=exc) from None
            raise
        if authorization:
            if headers is self._headers:  # the common case: one dict per credential
                if authorization != self._auth_value:
                    self._auth_headers = {**headers, "Authorization": authorization}
                    self._auth_value = authorization
                headers = self._auth_headers
            else:
                headers = {**headers, "Authorization": authorization}
        async with self.concurrency:
            if self.rate is not None:
                await self.rate.acquire()
            self.stats.attempts += 1
            started = time.perf_counter()
            try:
                async with session.request(
                    method, url, data=data, headers=headers, timeout=self._client_timeout
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
            except _NOT_SENT as exc:
                raise _Retryable(_describe(exc), sent=False) from None
            except _MAYBE_SENT as exc:
                raise _Retryable(_describe(exc), sent=True) from None
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (attempt %d, %.3fs)",
                method,
                url.path,
                status,
                attempt,
                time.perf_counter() - started,
            )
        if status == 401 and credential:
            raise _Unauthorized(credential, resp_headers, body)
        return status, resp_headers, body

    async def _pause(
        self, method: str, url: URL, attempt: int, reason: str, retry_after: float | None
    ) -> None:
        policy = self.retry
        if retry_after is not None:
            delay = policy.after_retry_after(retry_after, self._rng)
        else:
            delay = policy.backoff(attempt, self._rng)
        self.stats.retries += 1
        logger.warning(
            "%s %s: %s; retry %d/%d in %.2fs",
            method,
            url.path,
            reason,
            attempt,
            policy.max_attempts - 1,
            delay,
        )
        await asyncio.sleep(delay)

    def _error(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        body: bytes,
        method: str,
        url: URL,
    ) -> APIError:
        cls = error_for_status(status)
        errors = parse_errors(body)
        common: dict[str, Any] = {
            "method": method,
            "url": _safe_url(url),
            "body_excerpt": "" if errors else excerpt(body),
        }
        if cls is RateLimitError:
            return RateLimitError(
                status,
                errors,
                retry_after=parse_retry_after(headers.get("Retry-After")),
                exceeded=headers.get("X-mp-rate-limit-exceeded"),
                **common,
            )
        return cls(status, errors, **common)


class _Unauthorized(Exception):
    def __init__(self, credential: str, headers: CIMultiDictProxy[str], body: bytes) -> None:
        super().__init__("401")
        self.credential = credential
        self.headers = headers
        self.body = body


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _safe_url(url: URL) -> str:
    """The URL for messages: no userinfo (basic-auth credentials never go in URLs anyway)."""
    return str(url.with_user(None)) if url.user or url.password else str(url)


def _query_string(query: Mapping[str, str]) -> str:
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())
