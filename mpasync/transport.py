"""The transport: every request's path from a `Request` to a decoded result.

All policy lives here, once: URL building, auth (with one replay after a 401), the
concurrency and rate limits, per-attempt timeouts and the call's total deadline, retries
with backoff and ``Retry-After``, the response size cap, error mapping and decoding.
Resource methods only describe requests.

Order of an attempt: credentials → concurrency permit → rate slot → HTTP (the
per-attempt timeout starts here, so queueing for a permit or a slot never eats it)
→ read the body, at most ``max_response_bytes`` of it → release. Everything is released
on every path, cancellation included. Redirects are never followed: a 3xx is a
`RedirectError`. No exception from aiohttp leaves this module, not even as the
``__context__`` of ours (aiohttp's request details carry the ``Authorization`` header).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import anyio
import msgspec
from multidict import CIMultiDictProxy
from yarl import URL

from mpasync import clock
from mpasync._checks import positive_number
from mpasync._reading import BodyTooLarge, read_limited, whole_within
from mpasync._redact import Redactor, redactor
from mpasync._version import __version__
from mpasync.adaptive import rate_control
from mpasync.auth import Auth, auth_secrets, redacted_location, safe_url
from mpasync.decoding import parse_errors
from mpasync.errors import (
    APIError,
    DeadlineExceededError,
    DecodeError,
    ErrorItem,
    MParticleError,
    RateLimitError,
    RedirectError,
    RequestValidationError,
    ResponseTooLargeError,
    TokenError,
    TransportError,
    error_for_status,
)
from mpasync.hooks import Attempt, Hooks, RetryEvent
from mpasync.limits import ConcurrencyLimiter, RateControl, Shed
from mpasync.options import DEFAULT_MAX_RESPONSE_BYTES, TransportOptions, check_option_names
from mpasync.priority import INTERACTIVE, Priority, check_priority, lane_of
from mpasync.request import Request
from mpasync.retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after
from mpasync.session import SessionPool

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
# (ValueError/OSError: aiohttp refusing a header or a socket error outside ClientError.)
_MAYBE_SENT = (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)


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
    """Counters for what the transport did; the bulk engine reports deltas of ``retries``.

    ``rate_limit_usage`` is the last ``X-mp-rate-limit-percentage-used`` the server sent
    (0-100), None until one arrives.
    """

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    replays_401: int = 0
    rate_limit_usage: int | None = None


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


def _optional(value: object, name: str) -> float | None:
    return None if value is None else positive_number(value, name)


class _Keep:
    """Sentinel: `with_options` leaves an option as it is."""


class Transport:
    """Sends `Request`s over one pooled aiohttp session under one set of limits.

    Owns its session unless one is borrowed (``session=``); a borrowed session is used
    as is and never closed. The session is created lazily inside the running loop. The
    options are those of `mpasync.options.TransportOptions`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        roots: Mapping[str, Root],
        user_agent: str = USER_AGENT,
        options: TransportOptions | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        opts: Mapping[str, Any] = options or {}
        check_option_names(opts)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise RequestValidationError("base_url must be an http(s) URL", field="base_url")
        try:
            parsed = URL(base_url)
        except (ValueError, TypeError):
            raise RequestValidationError("base_url is not a valid URL", field="base_url") from None
        if parsed.user is not None or parsed.password is not None:
            # Credentials in a URL end up in logs and in aiohttp's own Authorization
            # header; the client authenticates with its own credentials instead.
            raise RequestValidationError(
                "base_url must not contain user:password@ credentials", field="base_url"
            )
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        #: Credentials outside the auth scheme (e.g. a key sent in the body), masked in
        #: errors like the auth's own.
        self._secrets = tuple(s for s in secrets if s)
        self._roots = {
            name: (self.base_url + root.prefix, _query_string(root.query), root.unavailable)
            for name, root in roots.items()
        }
        self.concurrency = ConcurrencyLimiter(opts.get("max_concurrency", 32))
        #: The rate limiter the ``rate_limit`` option stands for (None: no limit).
        self.limiter = rate_control(opts.get("rate_limit"))
        self._observe = (
            self.limiter.observe
            if self.limiter is not None and getattr(self.limiter, "observes", True)
            else None
        )
        retry = opts.get("retry")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise RequestValidationError("retry must be a RetryPolicy", field="retry")
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = positive_number(opts.get("timeout", 30.0), "timeout")
        self.deadline = _optional(opts.get("deadline"), "deadline")
        priority = opts.get("priority")
        self.priority = None if priority is None else check_priority(priority)
        self._lanes = _takes_lanes(self.limiter)
        limit = opts.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise RequestValidationError(
                "max_response_bytes must be an integer >= 1", field="max_response_bytes"
            )
        self.max_response_bytes = limit
        trust_env = opts.get("trust_env", True)
        if not isinstance(trust_env, bool):
            raise RequestValidationError("trust_env must be True or False", field="trust_env")
        hooks = opts.get("hooks")
        if hooks is not None and not isinstance(hooks, Hooks):
            raise RequestValidationError("hooks must be a mpasync.hooks.Hooks", field="hooks")
        self.hooks = hooks
        session = opts.get("session")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise RequestValidationError(
                "session must be an aiohttp.ClientSession", field="session"
            )
        traces = opts.get("trace_configs")
        if traces is not None:
            traces = list(traces)
            if not all(isinstance(t, aiohttp.TraceConfig) for t in traces):
                raise RequestValidationError(
                    "trace_configs must be aiohttp.TraceConfig objects", field="trace_configs"
                )
            if session is not None:
                raise RequestValidationError(
                    "trace_configs apply to the client's own session; add them to the "
                    "borrowed session instead",
                    field="trace_configs",
                )
        self._pool = SessionPool(
            session,
            connections=self.concurrency.capacity + 2,
            trust_env=trust_env,
            trace_configs=traces,
        )
        self._is_view = False
        self._client_timeout = aiohttp.ClientTimeout(total=self.timeout)
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._auth_value = ""
        self._auth_headers = self._headers
        self._rng = random.Random()
        self.stats = TransportStats()

    def __repr__(self) -> str:
        return (
            f"Transport(base_url={self.base_url!r}, max_concurrency={self.concurrency.capacity}, "
            f"rate_limit={self.limiter!r}, auth={self.auth!r})"
        )

    @property
    def rate(self) -> RateControl | None:
        """The old name of `limiter` (``t.rate.rate`` read as a limiter's rate)."""
        return self.limiter

    def with_options(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        deadline: float | type[_Keep] | None = _Keep,
        priority: Priority | None = None,
    ) -> Transport:
        """A view sharing this transport's session, token, limits and stats, with other
        per-call options. Cheap: no new session, nothing to close."""
        view = copy.copy(self)
        view._is_view = True
        if timeout is not None:
            view.timeout = positive_number(timeout, "timeout")
            view._client_timeout = aiohttp.ClientTimeout(total=view.timeout)
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise RequestValidationError("retry must be a RetryPolicy", field="retry")
            view.retry = retry
        if deadline is not _Keep:
            view.deadline = _optional(deadline, "deadline")
        if priority is not None:
            view.priority = check_priority(priority)
        return view

    # -- session lifecycle -------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop."""
        return self._pool.get()

    @property
    def _session(self) -> aiohttp.ClientSession | None:
        return self._pool.session

    def connections_in_use(self) -> int:
        """Connections currently checked out of the pool (0 when idle)."""
        session = self._pool.session
        if session is None or session.closed or session.connector is None:
            return 0
        acquired = getattr(session.connector, "_acquired", ())
        return len(acquired)

    async def aclose(self) -> None:
        """Close the session if this transport owns it. Idempotent; a view closes nothing."""
        if not self._is_view:
            await self._pool.aclose()

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
            except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                data = None
            else:
                reason = ""
            if reason:
                redact = redactor(self._secrets + auth_secrets(self.auth))
                raise RequestValidationError(
                    f"request body is not JSON-encodable: {redact(reason)}"
                )
            headers = {**headers, "Content-Type": "application/json"}
        idempotent = (
            request.idempotent if request.idempotent is not None else method in IDEMPOTENT_METHODS
        )
        scope = _scope(request) if self._observe is not None else None
        policy = self.retry
        deadline_at = clock.now() + self.deadline if self.deadline is not None else None
        call = _Call(session, method, url, data, headers, scope, deadline_at)
        self.stats.requests += 1
        attempt = 0
        replayed = False
        last = ""
        try:
            while True:
                attempt += 1
                if deadline_at is not None and clock.now() >= deadline_at:
                    raise self._deadline_error(method, url, attempt - 1, last, idempotent)
                # Handled outside the `except` blocks, so that no internal exception (nor
                # the credential a 401 was for) becomes the __context__ of what we raise.
                failure: _Retryable | None = None
                unauthorized: _Unauthorized | None = None
                try:
                    status, resp_headers, body = await self._attempt(call, attempt)
                except _Retryable as exc:
                    failure = exc
                except _Unauthorized as exc:
                    unauthorized = exc
                if failure is not None:
                    _own_chain(failure)
                    last = failure.reason
                    safe = idempotent or not failure.sent or policy.retry_unsafe
                    if attempt < policy.max_attempts and safe:
                        if await self._pause(
                            method, url, attempt, last, failure.delay, deadline_at
                        ):
                            continue
                        if failure.final is None:  # the deadline, not the policy, ended it
                            error = self._deadline_error(
                                method, url, attempt, last, not failure.sent
                            )
                            raise error from None
                    if failure.final is not None:
                        raise failure.final from None
                    maybe = failure.sent and method not in ("GET", "HEAD", "OPTIONS")
                    raise TransportError(
                        f"{method} {_safe_url(url)} failed after {attempt} attempt(s): {last}"
                        + ("; the request may have been applied" if maybe else ""),
                        method=method,
                        url=_safe_url(url),
                        maybe_applied=maybe,
                    ) from None
                if unauthorized is not None:
                    if not replayed and self.auth.unauthorized(call.credential):
                        replayed = True
                        attempt -= 1  # the replay after a refresh is not a retry
                        self.stats.replays_401 += 1
                        logger.debug(
                            "%s %s: 401, token refreshed, replaying once", method, url.path
                        )
                        continue
                    raise self._error(401, unauthorized.headers, unauthorized.body, call) from None

                if 200 <= status < 300:
                    return self._decode(request, body, call)
                last = f"HTTP {status}"
                if policy.should_retry_status(status) and attempt < policy.max_attempts:
                    # A 429 is a refusal before processing, so even a POST may be retried.
                    if idempotent or status == 429 or policy.retry_unsafe:
                        delay = parse_retry_after(resp_headers.get("Retry-After"))
                        if delay is None or delay <= policy.max_retry_after:
                            if await self._pause(method, url, attempt, last, delay, deadline_at):
                                continue
                raise self._error(status, resp_headers, body, call)
        except MParticleError as error:
            # Python 3.10 makes the CancelledError asyncio was handling when it woke this
            # task (after aiohttp's timeout) the __context__ of whatever it raises next.
            _own_chain(error)
            raise

    def _redactor(self, call: _Call) -> Redactor:
        """Masks every credential of this client, and the one this call sent."""
        sent = (call.credential,) if call.credential else ()
        return redactor(self._secrets + auth_secrets(self.auth) + sent)

    def _decode(self, request: Request[T], body: bytes, call: _Call) -> T:
        method, url = call.method, call.url
        try:
            return request.decode(body)
        except DecodeError as exc:
            redact = self._redactor(call)
            exc.method, exc.url = method, _safe_url(url)
            exc.excerpt = redact.excerpt(body)  # the decoder's own excerpt is not scrubbed
            exc.args = (f"{redact(str(exc.args[0]))} ({method} {exc.url})",)
            _own_chain(exc)  # the decoder's own error (msgspec's) stays behind
            raise
        except MParticleError:
            raise
        except (ValueError, TypeError, RecursionError, KeyError, IndexError) as exc:
            # A decoder tripped over a hostile body (invalid UTF-8, absurd nesting...).
            reason = type(exc).__name__
        where = f"{method} {_safe_url(url)}"
        raise DecodeError(
            f"response does not fit its model: {reason} ({where})",
            excerpt=self._redactor(call).excerpt(body),
            method=method,
            url=_safe_url(url),
        )

    async def _attempt(self, call: _Call, attempt: int) -> tuple[int, CIMultiDictProxy[str], bytes]:
        session, headers, scope, deadline_at = (
            call.session,
            call.headers,
            call.scope,
            call.deadline_at,
        )
        wait = self.timeout
        if deadline_at is not None:
            wait = min(wait, max(0.001, deadline_at - clock.now()))
        try:
            authorization, credential = await self.auth.authorize(session, wait)
            call.credential = credential
        except TokenError as exc:
            too_long = exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after
            if not too_long and (exc.status is None or exc.status == 429 or exc.status >= 500):
                raise _Retryable(str(exc), sent=False, delay=exc.retry_after, final=exc) from None
            raise  # a Retry-After over the policy's cap is not waited for, as for the API
        if authorization:
            if headers is self._headers:  # the common case: one dict per credential
                if authorization != self._auth_value:
                    self._auth_headers = {**headers, "Authorization": authorization}
                    self._auth_value = authorization
                headers = self._auth_headers
            else:
                headers = {**headers, "Authorization": authorization}
        lane = lane_of(self.priority)
        try:
            if deadline_at is None:
                await self._admit(scope, lane, None)
            else:
                await self._admit_within(scope, lane, deadline_at)
        except Shed as shed:
            raise RateLimitError(
                429,
                [ErrorItem("shed", "not sent: the rate limit has no slot before the deadline")],
                method=call.method,
                url=_safe_url(call.url),
                retry_after=shed.retry_after,
                shed=True,
            ) from None
        try:
            result = await self._exchange(call, headers, attempt)
        finally:
            self.concurrency.release()
        if result[0] == 401 and credential:
            raise _Unauthorized(result[1], result[2])
        return result

    async def _admit(self, scope: str | None, lane: Priority, deadline_at: float | None) -> None:
        """Take a concurrency permit and a rate slot, in ``lane`` (`mpasync.priority`).

        An interactive attempt takes a permit (before any waiting background attempt),
        then its rate slot (again first). A background attempt reserves a permit, waits
        for its slot holding nothing, then claims the permit; if an interactive attempt
        took it meanwhile, the slot passes unused (the rate is under-used, never
        exceeded) and the attempt tries again. On any exit without both, nothing is kept.
        """
        permits = self.concurrency
        if lane == INTERACTIVE or self.limiter is None:
            await permits.acquire(lane)
            try:
                await self._slot(scope, lane, deadline_at)
            except BaseException:
                permits.release()
                raise
            return
        while True:
            await permits.reserve()
            try:
                await self._slot(scope, lane, deadline_at)
            except BaseException:
                permits.unreserve()
                raise
            if permits.claim():
                return

    async def _slot(self, scope: str | None, lane: Priority, deadline_at: float | None) -> None:
        rate = self.limiter
        if rate is None:
            return
        if self._lanes:
            await rate.acquire(scope, priority=lane, deadline=deadline_at)  # type: ignore[call-arg]
        else:
            await rate.acquire(scope)

    async def _admit_within(self, scope: str | None, lane: Priority, deadline_at: float) -> None:
        """`_admit`, or fail with the deadline (nothing kept)."""
        with anyio.move_on_after(deadline_at - clock.now()):
            await self._admit(scope, lane, deadline_at)
            return
        raise DeadlineExceededError(
            f"deadline of {self.deadline:g}s exceeded while waiting for a request slot"
        )

    async def _exchange(
        self, call: _Call, headers: dict[str, str], attempt: int
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        session, method, url, data = call.session, call.method, call.url, call.data
        deadline_at = call.deadline_at
        timeout = self._client_timeout
        if deadline_at is not None:
            left = deadline_at - clock.now()
            if left < self.timeout:
                timeout = aiohttp.ClientTimeout(total=max(0.001, left))
        self.stats.attempts += 1
        started = time.perf_counter()
        failure: _Retryable | None = None
        too_large = False
        status = 0
        try:
            proxies = self._pool.proxies
            proxy, proxy_auth = proxies.for_url(url) if proxies is not None else (None, None)
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as resp:
                status = resp.status
                resp_headers = resp.headers
                limit = self.max_response_bytes
                # The common case (a plain body of declared length) skips the streaming
                # reader's extra await; both enforce the same limit.
                if whole_within(resp, limit):
                    body = await resp.read()
                else:
                    body = await read_limited(resp, limit)
        except BodyTooLarge:
            too_large = True
        except _NOT_SENT as exc:
            failure = _Retryable(self._redactor(call)(_describe(exc)), sent=False)
        except _MAYBE_SENT as exc:
            failure = _Retryable(self._redactor(call)(_describe(exc)), sent=True)
        # Raised outside the handlers: no aiohttp exception stays in __context__.
        if too_large:
            where = _safe_url(url)
            # A 2xx to a write means the server took it: only its answer was too big.
            maybe = 200 <= status < 300 and method not in ("GET", "HEAD", "OPTIONS")
            raise ResponseTooLargeError(
                f"{method} {where}: response body over max_response_bytes="
                f"{self.max_response_bytes} (HTTP {status})"
                + ("; the request may have been applied" if maybe else ""),
                limit=self.max_response_bytes,
                method=method,
                url=where,
                maybe_applied=maybe,
            )
        elapsed = time.perf_counter() - started
        if failure is not None:
            self._report(method, url, None, attempt, elapsed, None, failure.reason)
            raise failure
        usage = _usage(resp_headers)
        if usage is not None:
            self.stats.rate_limit_usage = usage
        if self.hooks is not None or logger.isEnabledFor(logging.DEBUG):
            self._report(method, url, status, attempt, elapsed, usage, None)
        if self._observe is not None:
            await self._observe(call.scope, status, resp_headers)
        return status, resp_headers, body

    def _report(
        self,
        method: str,
        url: URL,
        status: int | None,
        attempt: int,
        elapsed: float,
        usage: int | None,
        error: str | None,
    ) -> None:
        hooks = self.hooks
        debug = logger.isEnabledFor(logging.DEBUG)
        if hooks is None and not debug:
            return
        event = Attempt(method, url.path, status, attempt, elapsed, usage, error)
        if debug:
            logger.debug(
                "%s %s -> %s (attempt %d, %.3fs)",
                method,
                url.path,
                status if status is not None else error,
                attempt,
                elapsed,
                extra=event.fields(),
            )
        if hooks is not None:
            hooks.attempt(event)

    async def _pause(
        self,
        method: str,
        url: URL,
        attempt: int,
        reason: str,
        retry_after: float | None,
        deadline_at: float | None,
    ) -> bool:
        """Wait before the next attempt; False when the wait would pass the deadline."""
        policy = self.retry
        if retry_after is not None:
            delay = policy.after_retry_after(retry_after, self._rng)
        else:
            delay = policy.backoff(attempt, self._rng)
        if deadline_at is not None and clock.now() + delay >= deadline_at:
            logger.warning(
                "%s %s: %s; not retrying: a %.2fs wait would pass the deadline",
                method,
                url.path,
                reason,
                delay,
            )
            return False
        self.stats.retries += 1
        event = RetryEvent(method, url.path, attempt, reason, delay)
        logger.warning(
            "%s %s: %s; retry %d/%d in %.2fs",
            method,
            url.path,
            reason,
            attempt,
            policy.max_attempts - 1,
            delay,
            extra=event.fields(),
        )
        if self.hooks is not None:
            self.hooks.retry(event)
        await asyncio.sleep(delay)
        return True

    def _deadline_error(
        self, method: str, url: URL, attempts: int, last: str, idempotent: bool
    ) -> DeadlineExceededError:
        maybe = bool(last) and not idempotent
        return DeadlineExceededError(
            f"{method} {_safe_url(url)}: deadline of {self.deadline:g}s exceeded after "
            f"{attempts} attempt(s)" + (f": {last}" if last else ""),
            method=method,
            url=_safe_url(url),
            maybe_applied=maybe,
        )

    def _error(
        self, status: int, headers: CIMultiDictProxy[str], body: bytes, call: _Call
    ) -> APIError:
        """The typed error for a response; whatever the server echoed of our
        credentials is masked in every part of it (`mpasync._redact`)."""
        cls = error_for_status(status)
        redact = self._redactor(call)
        errors = [
            ErrorItem(redact(code) if code is not None else None, redact(message))
            for code, message in parse_errors(body)
        ]
        common: dict[str, Any] = {
            "method": call.method,
            "url": _safe_url(call.url),
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


@dataclass(slots=True)  # not frozen: one per request, and frozen __init__ is slow
class _Call:
    """What stays the same across the attempts of one call."""

    session: aiohttp.ClientSession
    method: str
    url: URL
    data: bytes | None
    headers: dict[str, str]
    scope: str | None
    deadline_at: float | None
    #: The credential the latest attempt sent (masked in whatever the server echoes).
    credential: str = ""


class _Unauthorized(Exception):
    """Internal: a 401 to a credential that may be refreshed (the call knows which)."""

    def __init__(self, headers: CIMultiDictProxy[str], body: bytes) -> None:
        super().__init__("401")
        self.headers = headers
        self.body = body


def _own_chain(exc: BaseException) -> None:
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


def _takes_lanes(rate: object) -> bool:
    """Does this limiter's ``acquire`` take ``priority`` and ``deadline`` (ours do; a
    user's `RateControl` may not)?"""
    acquire = getattr(rate, "acquire", None)
    if acquire is None:
        return False
    try:
        params = inspect.signature(acquire).parameters
    except (TypeError, ValueError):
        return False
    return "priority" in params and "deadline" in params


def _scope(request: Request[Any]) -> str | None:
    """The app a v1 request is for (``/apps/{id}/...``), for per-app rate control."""
    path = request.path
    if request.api == "v1" and path.startswith("/apps/"):
        return path[6:].split("/", 1)[0] or None
    return None


def _usage(headers: CIMultiDictProxy[str]) -> int | None:
    value = headers.get("X-mp-rate-limit-percentage-used")
    if value is None:
        return None
    try:
        return max(0, min(1000, int(value.strip())))
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: {exc.status} {exc.message}"  # not request_info
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _safe_url(url: URL) -> str:
    """The URL for messages: no userinfo (basic-auth credentials never go in URLs anyway)."""
    return safe_url(str(url))


def _query_string(query: Mapping[str, str]) -> str:
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())
