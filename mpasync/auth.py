"""Authentication: the single-flight OAuth token cache, and the auth schemes the transport uses.

`TokenCache` follows Go's singleflight: one in-flight fetch that every waiter shares
through `asyncio.shield`, so a cancelled waiter never cancels it for the others; the
result is cached for the token's lifetime, a failure is reported to every waiter and
not cached. The transport talks to an `Auth` (`BearerAuth` over a cache, or
`BasicAuth` for the workspace-key APIs) and never sees how credentials are made.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Protocol

import aiohttp
import msgspec

from mpasync.errors import TokenError

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


class _TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: float = 28800.0
    token_type: str = "Bearer"


_token_decoder = msgspec.json.Decoder(_TokenResponse, strict=False)


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is refreshed: 10% of its life, at most 5 minutes.

    An 8-hour token is refreshed 5 minutes early; a 2-second test token 0.2 s early.
    """
    return min(300.0, max(0.0, lifetime) * 0.1)


class TokenCache:
    """Single-flight cache of an OAuth2 client-credentials access token.

    Any number of concurrent `get()` calls on a cold or expired cache cause exactly one
    token request. Once a token is within its refresh margin, callers keep getting it
    while one background fetch replaces it. Share one cache between several `Client`s
    (``Client(token_cache=cache)``) to share the token.

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
    ) -> None:
        if not client_id or not client_secret:
            from mpasync.errors import RequestValidationError

            raise RequestValidationError(
                "client_id and client_secret are required", field="client_secret"
            )
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.audience = audience
        self.timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._inflight: asyncio.Task[str] | None = None
        self._background_after = 0.0
        #: Token requests made so far (successful or not).
        self.fetch_count = 0

    def __repr__(self) -> str:
        state = "cached" if self._token is not None else "empty"
        return f"TokenCache(client_id={self.client_id!r}, token_url={self.token_url!r}, {state})"

    @property
    def expires_at(self) -> float:
        """`time.monotonic()` at which the cached token expires (0 when empty)."""
        return self._expires_at if self._token is not None else 0.0

    async def get(self, session: aiohttp.ClientSession | None = None) -> str:
        """Return a valid bearer token, fetching one if needed (at most one fetch at a time).

        ``session`` is used for the fetch if one starts; without it a short-lived session
        is made (a fetch happens once per token lifetime).
        """
        token = self._token
        if token is not None:
            now = time.monotonic()
            if now < self._refresh_at:
                return token
            if now < self._expires_at:
                if now >= self._background_after:
                    self._start_fetch(session)  # refresh ahead, keep serving the valid token
                return token
        return await asyncio.shield(self._start_fetch(session))

    def invalidate(self, token: str) -> bool:
        """Drop ``token`` if it is still the cached one; True when it was dropped.

        A burst of 401s carrying the same stale token thus causes one refresh.
        """
        if token and self._token == token:
            self._token = None
            self._expires_at = self._refresh_at = 0.0
            return True
        return False

    def _start_fetch(self, session: aiohttp.ClientSession | None) -> asyncio.Task[str]:
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(session))
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
            self._background_after = time.monotonic() + 1.0

    async def _fetch(self, session: aiohttp.ClientSession | None) -> str:
        self.fetch_count += 1
        payload = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "audience": self.audience,
            "grant_type": "client_credentials",
        }
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            if session is not None and not session.closed:
                status, body = await self._post(session, payload, timeout)
            else:
                async with aiohttp.ClientSession() as own:
                    status, body = await self._post(own, payload, timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise TokenError(
                f"token endpoint {self.token_url} unreachable: {type(exc).__name__}"
            ) from None
        if not 200 <= status < 300:
            raise TokenError(
                f"token endpoint {self.token_url} returned {status}: {self._scrub(body)}",
                status=status,
            )
        try:
            parsed = _token_decoder.decode(body)
        except msgspec.MsgspecError:
            raise TokenError(
                f"token endpoint {self.token_url} returned an unreadable body: {self._scrub(body)}",
                status=status,
            ) from None
        lifetime = max(0.0, float(parsed.expires_in))
        self._token = parsed.access_token
        self._expires_at = started + lifetime
        self._refresh_at = self._expires_at - refresh_margin(lifetime)
        logger.debug("token fetched (expires in %.0fs)", lifetime)
        return parsed.access_token

    async def _post(
        self,
        session: aiohttp.ClientSession,
        payload: dict[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> tuple[int, bytes]:
        async with session.post(self.token_url, json=payload, timeout=timeout) as resp:
            return resp.status, await resp.read()

    def _scrub(self, body: bytes) -> str:
        """A short, secret-free excerpt of a token-endpoint body for error messages."""
        text = body[:300].decode("utf-8", "replace").strip()
        try:
            data = msgspec.json.decode(body)
        except msgspec.MsgspecError:
            data = None
        if isinstance(data, dict):
            for key in ("error_description", "message", "error"):
                value = data.get(key)
                if isinstance(value, str) and value:
                    text = value[:300]
                    break
        return text.replace(self._client_secret, "***") or "(empty body)"


class Auth(Protocol):
    """What the transport needs from an auth scheme."""

    async def authorize(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        """The ``Authorization`` header value, and the credential it carries."""
        ...

    def unauthorized(self, credential: str) -> bool:
        """A 401 came back for ``credential``: True if replaying once may succeed."""
        ...


class BearerAuth:
    """OAuth2 bearer tokens from a `TokenCache`; a 401 drops the token and replays once."""

    __slots__ = ("cache",)

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache

    def __repr__(self) -> str:
        return f"BearerAuth({self.cache!r})"

    async def authorize(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        token = await self.cache.get(session)
        return "Bearer " + token, token

    def unauthorized(self, credential: str) -> bool:
        self.cache.invalidate(credential)
        return True


class BasicAuth:
    """HTTP Basic with a workspace key and secret (seeding, DSR); a 401 is final."""

    __slots__ = ("_header", "key")

    def __init__(self, key: str, secret: str) -> None:
        self.key = key
        raw = f"{key}:{secret}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return f"BasicAuth(key={self.key!r})"

    async def authorize(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        return self._header, ""

    def unauthorized(self, credential: str) -> bool:
        return False


class NoAuth:
    """No ``Authorization`` header (the Analytics API carries its key in the body)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NoAuth()"

    async def authorize(self, session: aiohttp.ClientSession) -> tuple[str, str]:
        return "", ""

    def unauthorized(self, credential: str) -> bool:
        return False
