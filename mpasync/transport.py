"""The transport: every request's path from a `Request` to a decoded result.

All policy lives here, once: URL building, auth (with one replay after a 401), the
concurrency and rate limits, per-attempt timeouts and the call's total deadline, retries
with backoff and ``Retry-After``, the response size cap, error mapping and decoding.
Resource methods only describe requests; the options come checked (`mpasync.options`).

Order of an attempt: credentials → concurrency permit → rate slot → the wire (the
per-attempt timeout starts here, so queueing for a permit or a slot never eats it) →
release. Everything is released on every path, cancellation included. The wire
(`mpasync.wire.Wire`; `mpasync.aiohttp_wire.AiohttpWire` in production) sends one
request and reads at most ``max_response_bytes`` of its body; it never follows a
redirect, so a 3xx is a `RedirectError`. The token request goes over the same wire,
through the same reporting (hooks, debug log), with the same cap and no redirects.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import anyio
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from mpasync import clock
from mpasync._redact import Redactor, redactor
from mpasync._version import __version__
from mpasync.aiohttp_wire import AiohttpWire
from mpasync.auth import Auth, auth_secrets
from mpasync.errors import (
    APIError,
    DeadlineExceededError,
    ErrorItem,
    MParticleError,
    RateLimitError,
    RequestValidationError,
    TokenError,
    TransportError,
)
from mpasync.failures import (
    DECODE_FAILURES,
    deadline_error,
    decode_failure,
    error_for,
    own_chain,
    safe_url_of,
    too_large_error,
)
from mpasync.hooks import Attempt, Hooks, RetryEvent
from mpasync.limits import ConcurrencyLimiter, RateControl, Shed
from mpasync.options import Options, TransportOptions
from mpasync.priority import INTERACTIVE, Priority, lane_of
from mpasync.request import Request
from mpasync.retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after
from mpasync.wire import BodyTooLarge, Headers, Wire, WireError, WireRequest, WireResponse

if TYPE_CHECKING:
    import aiohttp

__all__ = ["USER_AGENT", "Root", "Transport", "TransportStats"]

T = TypeVar("T")

logger = logging.getLogger("mpasync")

USER_AGENT = f"mpasync/{__version__}"

_encoder = msgspec.json.Encoder()


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


class _Keep:
    """Sentinel: `with_options` leaves an option as it is."""


class Transport:
    """Sends `Request`s over one wire under one set of limits.

    The wire is an aiohttp session (the transport's own, created lazily inside the
    running loop, or a borrowed ``session=``, used as is and never closed) unless the
    ``wire=`` option gives another. The options are `mpasync.options.Options`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        roots: Mapping[str, Root],
        user_agent: str = USER_AGENT,
        options: TransportOptions | Options | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        opts = Options.of(options)
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
        self.concurrency = ConcurrencyLimiter(opts.max_concurrency)
        #: The rate limiter the ``rate_limit`` option stands for (None: no limit).
        self.limiter = opts.rate_limit
        self._observe = (
            self.limiter.observe
            if self.limiter is not None and getattr(self.limiter, "observes", True)
            else None
        )
        self._lanes = _takes_lanes(self.limiter)
        self.wire: Wire = (
            opts.wire
            if opts.wire is not None
            else AiohttpWire(
                opts.session,
                connections=self.concurrency.capacity + 2,
                trust_env=opts.trust_env,
                trace_configs=list(opts.trace_configs) if opts.trace_configs else None,
            )
        )
        self._aiohttp = self.wire if isinstance(self.wire, AiohttpWire) else None
        #: The wire as credentials see it: the same reporting as the API's requests.
        self._auth_wire = _ReportingWire(self)
        #: Credentials without a wait, when the auth can tell (see `mpasync.auth.Auth`).
        self._ready: Callable[[], tuple[str, str] | None] = getattr(auth, "ready", lambda: None)
        self._is_view = False
        #: The headers every request carries: read-only (a wire cannot change what the
        #: next request sends) and case-insensitive, which aiohttp takes as they are.
        self._headers = _with({"User-Agent": user_agent}, "Accept", "application/json")
        self._json_headers = _with(self._headers, "Content-Type", "application/json")
        self._auth_value = ""
        self._auth_headers = self._headers
        self._rng = random.Random()
        self._urls: dict[tuple[str, str], URL] = {}
        self.stats = TransportStats()
        self._use(opts)

    def _use(self, options: Options) -> None:
        """Read the per-call options (those a `with_options` view may change)."""
        self.options = options
        self.retry: RetryPolicy = options.retry
        self.timeout: float = options.timeout
        self.deadline: float | None = options.deadline
        self.priority: Priority | None = options.priority
        self.hooks: Hooks | None = options.hooks
        self.max_response_bytes: int = options.max_response_bytes

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
        """A view sharing this transport's wire, token, limits and stats, with other
        per-call options. Cheap: no new session, nothing to close."""
        changes: dict[str, Any] = {}
        if timeout is not None:
            changes["timeout"] = timeout
        if retry is not None:
            changes["retry"] = retry
        if deadline is not _Keep:
            changes["deadline"] = deadline
        if priority is not None:
            changes["priority"] = priority
        options = self.options.replace(**changes)
        view = copy.copy(self)
        view._is_view = True
        view._use(options)
        return view

    # -- the wire's lifecycle ----------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (created on first use inside the running loop); a
        `TransportError` when the wire is not aiohttp's."""
        wire = self.wire
        if not isinstance(wire, AiohttpWire):
            raise TransportError(f"this transport sends over {type(wire).__name__}, not aiohttp")
        return wire.get()

    def connections_in_use(self) -> int:
        """Connections currently checked out of the pool (0 when idle)."""
        count: Callable[[], int] | None = getattr(self.wire, "connections_in_use", None)
        return count() if count is not None else 0

    async def aclose(self) -> None:
        """Close the wire if this transport owns it. Idempotent; a view closes nothing."""
        if not self._is_view:
            await self.wire.aclose()

    # -- the request path ---------------------------------------------------------------

    def url(self, request: Request[Any]) -> URL:
        """The absolute URL of a request: root prefix + path + root query + own query."""
        if request.query is None:  # the common case, kept per path (a bounded memo)
            key = (request.api, request.path)
            found = self._urls.get(key)
            if found is None:
                found = self._build_url(request)
                if len(self._urls) < 4096:
                    self._urls[key] = found
            return found
        return self._build_url(request)

    def _build_url(self, request: Request[Any]) -> URL:
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
        wire = self._aiohttp
        if wire is not None and wire.ready_in is not asyncio.get_running_loop():
            wire.get()  # a closed client, or another loop: refused before all else
        method = request.method
        url = self._urls.get((request.api, request.path)) if request.query is None else None
        if url is None:
            url = self.url(request)
        data: bytes | None = None
        headers = self._headers
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
            headers = self._json_headers
        idempotent = (
            request.idempotent if request.idempotent is not None else method in IDEMPOTENT_METHODS
        )
        policy = self.retry
        deadline_at = clock.now() + self.deadline if self.deadline is not None else None
        call = _Call(method, url, data, headers, request.scope, deadline_at)
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
                    response = await self._attempt(call, attempt)
                except _Retryable as exc:
                    failure = exc
                except _Unauthorized as exc:
                    unauthorized = exc
                if failure is not None:
                    own_chain(failure)
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
                        f"{method} {safe_url_of(url)} failed after {attempt} attempt(s): {last}"
                        + ("; the request may have been applied" if maybe else ""),
                        method=method,
                        url=safe_url_of(url),
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
                    raise self._error(unauthorized.response, call) from None

                status = response.status
                if 200 <= status < 300:
                    try:
                        return request.decode(response.body)
                    except DECODE_FAILURES as exc:
                        bad = decode_failure(exc, response.body, method, url, self._redactor(call))
                    raise bad from None  # outside the handler: a clean __context__
                last = f"HTTP {status}"
                if policy.should_retry_status(status) and attempt < policy.max_attempts:
                    # A 429 is a refusal before processing, so even a POST may be retried.
                    if idempotent or status == 429 or policy.retry_unsafe:
                        delay = parse_retry_after(response.headers.get("Retry-After"))
                        if delay is None or delay <= policy.max_retry_after:
                            if await self._pause(method, url, attempt, last, delay, deadline_at):
                                continue
                raise self._error(response, call)
        except MParticleError as error:
            # Python 3.10 makes the CancelledError asyncio was handling when it woke this
            # task (after aiohttp's timeout) the __context__ of whatever it raises next.
            own_chain(error)
            raise

    def _redactor(self, call: _Call) -> Redactor:
        """Masks every credential of this client, and the one this call sent."""
        sent = (call.credential,) if call.credential else ()
        return redactor(self._secrets + auth_secrets(self.auth) + sent)

    def _error(self, response: WireResponse, call: _Call) -> APIError:
        return error_for(response, call.method, call.url, self._redactor(call))

    def _deadline_error(
        self, method: str, url: URL, attempts: int, last: str, idempotent: bool
    ) -> DeadlineExceededError:
        assert self.deadline is not None
        return deadline_error(method, url, self.deadline, attempts, last, idempotent)

    async def _attempt(self, call: _Call, attempt: int) -> WireResponse:
        """One attempt: credentials → a permit and a rate slot → the wire → release.

        Written as one coroutine (no helper coroutine per step) because it runs once per
        request: each layer of coroutines costs every request a little CPU.
        """
        ready = self._ready()  # the common case: credentials at hand, no coroutine
        if ready is None:
            ready = await self._credentials(call.deadline_at)
        authorization, call.credential = ready
        if authorization == self._auth_value and call.headers is self._headers:
            headers = self._auth_headers  # the common case: made once per credential
        else:
            headers = self._with_credentials(call.headers, authorization)
        # The common case without a rate limit: a permit free and no one waiting.
        if self.limiter is not None or not self.concurrency.try_acquire():
            await self._admission(call, lane_of(self.priority))
        failure: _Retryable | None = None
        too_large: BodyTooLarge | None = None
        try:
            # Within the per-attempt timeout and what is left of the deadline.
            timeout = self.timeout
            if call.deadline_at is not None:
                timeout = max(0.001, min(timeout, call.deadline_at - clock.now()))
            self.stats.attempts += 1
            request = WireRequest(
                call.method, call.url, headers, call.data, timeout, self.max_response_bytes
            )
            if self.hooks is None and not logger.isEnabledFor(logging.DEBUG):
                response = await self.wire.send(request)  # nothing to report
            else:
                response = await self._over_wire(request, attempt, call.credential)
        except BodyTooLarge as exc:
            too_large = exc
        except WireError as exc:
            failure = _Retryable(self._redactor(call)(exc.reason), sent=exc.sent)
        finally:
            self.concurrency.release()
        # Raised outside the handlers: nothing of the wire's stays in __context__.
        if too_large is not None:
            raise too_large_error(
                call.method, call.url, too_large.status, self.max_response_bytes
            ) from None
        if failure is not None:
            raise failure from None
        headers_in = response.headers
        usage = _usage(headers_in)
        if usage is not None:
            self.stats.rate_limit_usage = usage
        if self._observe is not None:
            await self._observe(call.scope, response.status, headers_in)
        if response.status == 401 and call.credential:
            raise _Unauthorized(response)
        return response

    def _with_credentials(
        self, headers: CIMultiDictProxy[str], authorization: str
    ) -> CIMultiDictProxy[str]:
        """``headers`` with the auth's ``Authorization`` (one copy per credential kept
        for the common headers)."""
        if not authorization:
            return headers
        if headers is not self._headers:
            return _with(headers, "Authorization", authorization)
        self._auth_headers = _with(headers, "Authorization", authorization)
        self._auth_value = authorization
        return self._auth_headers

    async def _credentials(self, deadline_at: float | None) -> tuple[str, str]:
        """The auth's header and credential, waiting at most the per-attempt timeout
        (and what is left of the deadline) for a token to be fetched."""
        wait = self.timeout
        if deadline_at is not None:
            wait = min(wait, max(0.001, deadline_at - clock.now()))
        try:
            return await self.auth.authorize(self._auth_wire, wait)
        except TokenError as exc:
            too_long = exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after
            if not too_long and (exc.status is None or exc.status == 429 or exc.status >= 500):
                raise _Retryable(str(exc), sent=False, delay=exc.retry_after, final=exc) from None
            raise  # a Retry-After over the policy's cap is not waited for, as for the API

    async def _admission(self, call: _Call, lane: Priority) -> None:
        """A permit and a rate slot (`_admit`), within the deadline; a `RateLimitError`
        at once when the limiter has no slot before it."""
        deadline_at = call.deadline_at
        try:
            if deadline_at is None:
                await self._admit(call.scope, lane, None)
            else:
                await self._admit_within(call.scope, lane, deadline_at)
        except Shed as shed:
            raise RateLimitError(
                429,
                [ErrorItem("shed", "not sent: the rate limit has no slot before the deadline")],
                method=call.method,
                url=safe_url_of(call.url),
                retry_after=shed.retry_after,
                shed=True,
            ) from None

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

    async def _over_wire(self, request: WireRequest, attempt: int, credential: str) -> WireResponse:
        """The one place a request goes on the wire (the API's and the token endpoint's),
        reported to the hooks and the debug log (``credential``: what this request sent,
        masked in what is reported)."""
        if self.hooks is None and not logger.isEnabledFor(logging.DEBUG):
            return await self.wire.send(request)
        started = time.perf_counter()
        try:
            response = await self.wire.send(request)
        except WireError as exc:
            elapsed = time.perf_counter() - started
            sent = (credential,) if credential else ()
            reason = redactor(self._secrets + auth_secrets(self.auth) + sent)(exc.reason)
            self._report(request, None, attempt, elapsed, None, reason)
            raise
        elapsed = time.perf_counter() - started
        status = response.status
        self._report(request, status, attempt, elapsed, _usage(response.headers), None)
        return response

    def _report(
        self,
        request: WireRequest,
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
        path = request.url.path
        event = Attempt(request.method, path, status, attempt, elapsed, usage, error)
        if debug:
            logger.debug(
                "%s %s -> %s (attempt %d, %.3fs)",
                request.method,
                path,
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


class _Call(msgspec.Struct):
    """What stays the same across the attempts of one call."""

    method: str
    url: URL
    data: bytes | None
    headers: CIMultiDictProxy[str]
    scope: str | None
    deadline_at: float | None
    #: The credential the latest attempt sent (masked in whatever the server echoes).
    credential: str = ""


class _Unauthorized(Exception):
    """Internal: a 401 to a credential that may be refreshed (the call knows which)."""

    def __init__(self, response: WireResponse) -> None:
        super().__init__("401")
        self.response = response


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


def _usage(headers: Headers) -> int | None:
    value = headers.get("X-mp-rate-limit-percentage-used")
    if value is None:
        return None
    try:
        return max(0, min(1000, int(value.strip())))
    except ValueError:
        return None


def _with(headers: Mapping[str, str], name: str, value: str) -> CIMultiDictProxy[str]:
    """``headers`` and ``name: value``, read-only."""
    out = CIMultiDict(headers)
    out[name] = value
    return CIMultiDictProxy(out)


def _query_string(query: Mapping[str, str]) -> str:
    return "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())


class _ReportingWire:
    """The transport's wire as credentials see it: the token request goes through the
    same reporting (hooks, debug log) as the API's requests, on the same wire."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def send(self, request: WireRequest) -> WireResponse:
        return await self._transport._over_wire(request, 1, "")

    async def aclose(self) -> None:
        """Nothing: the transport closes its wire."""
