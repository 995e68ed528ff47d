"""Authentication: the single-flight OAuth token cache, and the auth schemes the transport uses.

`TokenCache` follows Go's singleflight: one in-flight fetch that every waiter shares
through `asyncio.shield`, so a cancelled waiter never cancels it for the others; the
result is cached for the token's lifetime, a failure is reported to every waiter and
not cached. The transport talks to an `Auth` (`BearerAuth` over a cache, or
`BasicAuth` for the workspace-key APIs) and never sees how credentials are made.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from typing import Protocol

import msgspec
from yarl import URL

from mpasync import clock
from mpasync._checks import positive_number
from mpasync._redact import basic_credential, redactor
from mpasync._version import __version__
from mpasync.errors import RequestValidationError, TokenError
from mpasync.retry import RetryPolicy, parse_retry_after
from mpasync.wire import BodyTooLarge, Wire, WireError, WireRequest, WireResponse

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_TOKEN_URL",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "TokenCache",
]

DEFAULT_TOKEN_URL = "https://sso.auth.mparticle.com/oauth/token"
DEFAULT_AUDIENCE = "https://api.mparticle.com"

logger = logging.getLogger("mpasync")


# A token goes into an HTTP header verbatim: visible ASCII only (no CR, LF, NUL, space).
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


def header_safe_token(token: object) -> bool:
    """Whether ``token`` can be sent as a bearer token: a non-empty string of visible ASCII.

    The check on the token endpoint's answer, also applied to tokens shared through Redis.
    """
    return isinstance(token, str) and _TOKEN_CHARS.fullmatch(token) is not None


_MIN_LIFETIME = 60.0
_MAX_LIFETIME = 365 * 24 * 3600.0
_DEFAULT_LIFETIME = 28800.0
_MAX_TOKEN_BODY = 1 << 16
_TOKEN_HEADERS = {
    "User-Agent": f"mpasync/{__version__}",
    "Content-Type": "application/json",
    "Accept": "application/json",
}
# Fields of a token-endpoint body whose values must never be echoed anywhere.
_TOKEN_FIELDS = re.compile(
    r'("(?:access_token|refresh_token|id_token|token|client_secret)"\s*:\s*)"[^"]*"?',
    re.IGNORECASE,
)


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is refreshed: 10% of its life, at most 5 minutes.

    An 8-hour token is refreshed 5 minutes early; a 2-second test token 0.2 s early.
    """
    return min(300.0, max(0.0, lifetime) * 0.1)


def safe_url(url: str) -> str:
    """``url`` for reprs, messages and logs: any ``user:password@`` removed."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "(invalid URL)"
    if parsed.user is not None or parsed.password is not None:
        return str(parsed.with_user(None))
    return url


class TokenCache:
    """Single-flight cache of an OAuth2 client-credentials access token.

    Any number of concurrent `get()` calls on a cold or expired cache cause exactly one
    token request. Once a token is within its refresh margin, callers keep getting it
    while one background fetch replaces it. Share one cache between several `Client`s
    (``Client(token_cache=cache)``) to share the token.

    What the endpoint answers is checked before it is cached: a token that is empty, not
    a string or not header-safe is a `TokenError`; an ``expires_in`` that is not positive
    and finite, or longer than a year, is clamped (with a WARNING). Redirects are never
    followed (the secret would go to another origin). A 429/503 with ``Retry-After``
    makes the cache refuse new fetches until then (each caller gets a `TokenError` with
    ``retry_after``, which the transport waits out) instead of hammering the endpoint.
    That pause is at most ``max_retry_after`` seconds (as `RetryPolicy.max_retry_after`
    caps the API's own ``Retry-After``): a longer one fails the call at once with the
    server's ``retry_after``, and the endpoint is tried again after the capped pause.

    Subclasses change *where* a token comes from by overriding `_acquire_token` (see
    `mpasync.redis.RedisTokenCache`); the single flight stays here.

    >>> cache = TokenCache("id", "secret")
    >>> token = await cache.get()
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = DEFAULT_TOKEN_URL,
        audience: str = DEFAULT_AUDIENCE,
        timeout: float = 30.0,
        max_retry_after: float = RetryPolicy.max_retry_after,
    ) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise RequestValidationError("client_id is required", field="client_id")
        if not isinstance(client_secret, str) or not client_secret:
            raise RequestValidationError("client_secret is required", field="client_secret")
        if not isinstance(token_url, str) or not token_url.startswith(("http://", "https://")):
            raise RequestValidationError("token_url must be an http(s) URL", field="token_url")
        positive_number(timeout, "timeout")
        if (
            isinstance(max_retry_after, bool)
            or not isinstance(max_retry_after, (int, float))
            or not math.isfinite(max_retry_after)
            or max_retry_after < 0
        ):
            raise RequestValidationError(
                "max_retry_after must be a finite number >= 0", field="max_retry_after"
            )
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.audience = audience
        self.timeout = float(timeout)
        #: The longest ``Retry-After`` pause the endpoint can impose on this cache.
        self.max_retry_after = float(max_retry_after)
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._inflight: asyncio.Task[str] | None = None
        self._background_after = 0.0
        self._blocked_until = 0.0
        self._blocked_error: TokenError | None = None
        #: Token requests made so far (successful or not).
        self.fetch_count = 0

    def __repr__(self) -> str:
        state = "cached" if self._token is not None else "empty"
        return (
            f"{type(self).__name__}(client_id={self.client_id!r}, "
            f"token_url={safe_url(self.token_url)!r}, {state})"
        )

    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the client secret, the Basic form of the client
        credentials, and the cached token (for `mpasync._redact`)."""
        known = (self._client_secret, basic_credential(self.client_id, self._client_secret))
        return known + ((self._token,) if self._token else ())

    @property
    def expires_at(self) -> float:
        """`clock.now()` at which the cached token expires (0 when empty)."""
        return self._expires_at if self._token is not None else 0.0

    async def get(self, wire: Wire | None = None, *, timeout: float | None = None) -> str:
        """Return a valid bearer token, fetching one if needed (at most one fetch at a time).

        ``wire`` carries the fetch if one starts (a client passes the one its requests go
        through: the same proxies, response cap, hooks and tracing); without it a
        short-lived aiohttp one is made (a fetch happens once per token lifetime).
        ``timeout`` bounds how long this caller waits for a fetch in flight (the fetch
        itself goes on for the others).
        """
        token = self._token
        if token is not None:
            now = clock.now()
            if now < self._refresh_at:
                return token
            if now < self._expires_at:
                if now >= self._background_after and now >= self._blocked_until:
                    self._start_fetch(wire)  # refresh ahead, keep serving the valid token
                return token
        if self._inflight is None:
            wait = self._blocked_until - clock.now()
            if wait > 0 and self._blocked_error is not None:
                blocked = self._blocked_error
                raise TokenError(str(blocked), status=blocked.status, retry_after=wait)
        task = asyncio.shield(self._start_fetch(wire))
        if timeout is None:
            return await task
        try:
            return await asyncio.wait_for(task, timeout)
        except asyncio.TimeoutError:
            pass
        raise TokenError(
            f"token endpoint {safe_url(self.token_url)} did not answer within {timeout:g}s"
        )

    def fresh(self) -> str | None:
        """The cached token if it is not yet due for refresh, else None (no waiting,
        no fetch started): the fast path of `get`."""
        token = self._token
        if token is not None and clock.now() < self._refresh_at:
            return token
        return None

    def invalidate(self, token: str) -> bool:
        """Drop ``token`` if it is still the cached one; True when it was dropped.

        A burst of 401s carrying the same stale token thus causes one refresh.
        """
        if token and self._token == token:
            self._token = None
            self._expires_at = self._refresh_at = 0.0
            return True
        return False

    def _start_fetch(self, wire: Wire | None) -> asyncio.Task[str]:
        task = self._inflight
        if task is not None and task.get_loop() is not asyncio.get_running_loop():
            task = None  # left over from a loop that is gone: it can never finish here
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(wire))
            task.add_done_callback(self._fetch_done)
            self._inflight = task
        return task

    def _fetch_done(self, task: asyncio.Task[str]) -> None:
        if self._inflight is task:
            self._inflight = None
        # Mark the exception retrieved: every waiter may have gone (cancelled) already,
        # or this was a background refresh nobody awaits.
        if not task.cancelled() and task.exception() is not None:
            logger.debug("token fetch failed: %s", task.exception())
            # A failed refresh-ahead is retried at most once a second while the old
            # token is still valid, not on every call.
            self._background_after = clock.now() + 1.0

    async def _fetch(self, wire: Wire | None) -> str:
        started = clock.now()
        token, lifetime = await self._acquire_token(wire)
        self._token = token
        self._expires_at = started + lifetime
        self._refresh_at = self._expires_at - refresh_margin(lifetime)
        return token

    async def _acquire_token(self, wire: Wire | None) -> tuple[str, float]:
        """Where a token comes from: ``(token, lifetime in seconds)``. Here, the endpoint."""
        return await self._request_token(wire)

    async def _request_token(self, wire: Wire | None) -> tuple[str, float]:
        """POST to the token endpoint once; return a checked ``(token, lifetime)``."""
        self.fetch_count += 1
        payload = msgspec.json.encode(
            {
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "audience": self.audience,
                "grant_type": "client_credentials",
            }
        )
        where = safe_url(self.token_url)
        request = WireRequest(
            "POST", URL(self.token_url), _TOKEN_HEADERS, payload, self.timeout, _MAX_TOKEN_BODY
        )
        failure: str | None = None
        try:
            response = await _send(wire, request)
        except WireError as exc:
            if exc.timed_out:
                failure = f"token endpoint {where} did not answer within {self.timeout:g}s"
            else:
                failure = f"token endpoint {where} unreachable: {exc.kind}"
        except BodyTooLarge:
            failure = f"token endpoint {where} sent a body over {_MAX_TOKEN_BODY} bytes"
        if failure is not None:
            raise TokenError(failure)  # outside the handler: a clean __context__
        status, headers, body = response.status, response.headers, response.body
        if 300 <= status < 400:
            location = headers.get("Location")
            raise TokenError(
                f"token endpoint {where} answered {status} "
                f"(Location: {redacted_location(location)}); redirects are not followed",
                status=status,
            )
        if not 200 <= status < 300:
            retry_after = (
                parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
            )
            message = f"token endpoint {where} returned {status}: {self._scrub(body)}"
            cap = self.max_retry_after
            if retry_after is not None and retry_after > cap:
                message += (
                    f" (Retry-After {retry_after:.0f}s is over the {cap:g}s cap: "
                    f"not waited for; the endpoint is tried again in {cap:g}s)"
                )
            error = TokenError(message, status=status, retry_after=retry_after)
            if retry_after:
                # Never blocked longer than the cap, whatever the endpoint asked for.
                self._blocked_until = clock.now() + min(retry_after, cap)
                self._blocked_error = error
            raise error
        return self._checked(body, where)

    def _checked(self, body: bytes, where: str) -> tuple[str, float]:
        """The token and lifetime of a 2xx body, or a `TokenError` that echoes none of it."""
        try:
            data = msgspec.json.decode(body)
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError, ValueError):
            data = None
        if not isinstance(data, dict):
            raise TokenError(f"token endpoint {where} returned a body that is not a JSON object")
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenError(f"token endpoint {where} returned no access_token string")
        if not header_safe_token(token):
            raise TokenError(
                f"token endpoint {where} returned an access_token with characters "
                "not allowed in an HTTP header"
            )
        raw = data.get("expires_in", _DEFAULT_LIFETIME)
        try:
            lifetime = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError, OverflowError):
            raise TokenError(
                f"token endpoint {where} returned an expires_in that is not a number"
            ) from None
        if not math.isfinite(lifetime) or lifetime <= 0:
            logger.warning(
                "token endpoint %s returned expires_in=%r; using %gs", where, raw, _MIN_LIFETIME
            )
            lifetime = _MIN_LIFETIME
        elif lifetime > _MAX_LIFETIME:
            logger.warning(
                "token endpoint %s returned expires_in=%r (over a year); using one year",
                where,
                raw,
            )
            lifetime = _MAX_LIFETIME
        logger.debug("token fetched (expires in %.0fs)", lifetime)
        return token, lifetime

    def _scrub(self, body: bytes) -> str:
        """A short, secret-free excerpt of a token-endpoint error body: every credential
        masked in the whole text before it is cut (`mpasync._redact`)."""
        redact = redactor(self.secrets())
        try:
            data = msgspec.json.decode(body)
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError, ValueError):
            data = None
        text = ""
        if isinstance(data, dict):
            for key in ("error_description", "message", "error"):
                value = data.get(key)
                if isinstance(value, str) and value:
                    text = " ".join(redact(value).split())[:300]
                    break
        if not text:
            text = _TOKEN_FIELDS.sub(r'\1"***"', body.decode("utf-8", "replace"))
            text = redact.excerpt(text.encode(), 300)
        return text or "(empty body)"


async def _send(wire: Wire | None, request: WireRequest) -> WireResponse:
    """``request`` over ``wire``, or over a short-lived aiohttp wire (the environment's
    proxies, never ~/.netrc credentials) when there is none."""
    if wire is not None:
        return await wire.send(request)
    from mpasync.aiohttp_wire import AiohttpWire  # only a cache used without a client

    own = AiohttpWire(connections=1)
    try:
        return await own.send(request)
    finally:
        await own.aclose()


def redacted_location(location: str | None) -> str:
    """A redirect's ``Location`` for messages: no userinfo, no query, no fragment."""
    if not location:
        return "(none)"
    try:
        url = URL(location)
        return str(url.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "(unreadable)"


class Auth(Protocol):
    """What the transport needs from an auth scheme."""

    async def authorize(self, wire: Wire, timeout: float | None = None) -> tuple[str, str]:
        """The ``Authorization`` header value, and the credential it carries.

        ``wire`` carries any request credentials need (the client's own wire, through
        the transport's reporting); ``timeout`` bounds the wait for credentials that must
        be fetched first."""
        ...

    def unauthorized(self, credential: str) -> bool:
        """A 401 came back for ``credential``: True if replaying once may succeed."""
        ...


# An `Auth` may also offer ``ready() -> tuple[str, str] | None``: `authorize`'s answer
# when it needs no wait, else None (the transport's fast path: no coroutine per call).


def auth_secrets(auth: Auth) -> tuple[str, ...]:
    """The credentials ``auth`` holds, to mask wherever a server might echo them. An
    `Auth` may offer them with a ``secrets()`` method (every scheme here does)."""
    secrets = getattr(auth, "secrets", None)
    return tuple(secrets()) if callable(secrets) else ()


class BearerAuth:
    """OAuth2 bearer tokens from a `TokenCache`; a 401 drops the token and replays once."""

    __slots__ = ("_header", "cache")

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache
        self._header = ("", "")  # the last token and its header value

    def ready(self) -> tuple[str, str] | None:
        """`authorize`'s answer when it needs no wait (a fresh cached token), else None."""
        token = self.cache.fresh()
        if token is None:
            return None
        if token != self._header[1]:
            self._header = ("Bearer " + token, token)
        return self._header

    def __repr__(self) -> str:
        return f"BearerAuth({self.cache!r})"

    async def authorize(self, wire: Wire, timeout: float | None = None) -> tuple[str, str]:
        token = await self.cache.get(wire, timeout=timeout)
        return "Bearer " + token, token

    def unauthorized(self, credential: str) -> bool:
        self.cache.invalidate(credential)
        return True

    def secrets(self) -> tuple[str, ...]:
        return self.cache.secrets()


class BasicAuth:
    """HTTP Basic with a workspace key and secret (seeding, DSR); a 401 is final."""

    __slots__ = ("_header", "_secrets", "key")

    def __init__(self, key: str, secret: str) -> None:
        self.key = key
        credential = basic_credential(key, secret)
        self._header = "Basic " + credential
        self._secrets = (secret, credential)

    def __repr__(self) -> str:
        return f"BasicAuth(key={self.key!r})"

    def ready(self) -> tuple[str, str]:
        """`authorize`'s answer, which never waits."""
        return self._header, ""

    async def authorize(self, wire: Wire, timeout: float | None = None) -> tuple[str, str]:
        return self._header, ""

    def unauthorized(self, credential: str) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return self._secrets


class NoAuth:
    """No ``Authorization`` header (the Analytics API carries its key in the body)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NoAuth()"

    def ready(self) -> tuple[str, str]:
        """`authorize`'s answer, which never waits."""
        return "", ""

    async def authorize(self, wire: Wire, timeout: float | None = None) -> tuple[str, str]:
        return "", ""

    def unauthorized(self, credential: str) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return ()
