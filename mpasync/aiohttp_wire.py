"""The production `mpasync.wire.Wire`: one aiohttp session per client, bound to one loop.

The session is created lazily inside the running loop and closed by the client's
`aclose()`; a borrowed session is used as is and never closed. Sessions, semaphores and
timers belong to the loop they were made in, so using a client from a second loop is
refused with a clear error rather than failing deep inside asyncio. Every aiohttp
exception becomes a `WireError` here, raised outside the handler: nothing of aiohttp's
(whose request details carry the ``Authorization`` header) leaves this module, not even
as a ``__context__``.

Costs per request, measured (``benchmarks/``, and instruction counts under valgrind):
each exchange is bounded by `mpasync.timeouts.Timeouts` (one loop timer for every attempt
in flight) rather than aiohttp's ``ClientTimeout(total=...)`` (a timer and a timer
context per request, ~8 % of a small call's CPU; aiohttp keeps only the connect timeout,
armed for new connections alone); a body that has wholly arrived with its headers is
taken with ``read_nowait`` instead of awaiting ``read`` (~5 %; not when a trace config
asks to see chunks read); request headers come as a ``CIMultiDict``, which aiohttp takes
without converting.

Proxies: ``trust_env=True`` means what it means to aiohttp — ``HTTP(S)_PROXY`` and
``NO_PROXY`` — but is not handed to aiohttp itself, whose ``trust_env`` also looks up
``~/.netrc`` on every request (a thread-pool hop that tripled our CPU per request, and
credentials that would be added to the token request, or clash with our
``Authorization`` header). The environment is read once per wire and the answer kept
per host. The token request goes through the same wire, so through the same proxies.
"""

from __future__ import annotations

import asyncio
from urllib.request import proxy_bypass

import aiohttp
from aiohttp.helpers import proxies_from_env
from yarl import URL

from mpasync._reading import read_limited
from mpasync.errors import MParticleError, TransportError
from mpasync.timeouts import Timeouts
from mpasync.wire import BodyTooLarge, WireError, WireRequest, WireResponse

__all__ = ["AiohttpWire", "EnvProxies"]

Proxy = tuple[URL | None, aiohttp.BasicAuth | None]
_NO_PROXY: Proxy = (None, None)

# Failures after which the request provably never reached the server: no connection.
_NOT_SENT: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    *(getattr(aiohttp, n) for n in ("ConnectionTimeoutError",) if hasattr(aiohttp, n)),
)
# Failures after which it may have: the connection broke or the clock ran out mid-flight.
# (ValueError/OSError: aiohttp refusing a header or a socket error outside ClientError.)
_MAYBE_SENT = (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)


class EnvProxies:
    """``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``, read once, resolved once per host."""

    __slots__ = ("_by_scheme", "_hosts")

    def __init__(self) -> None:
        self._by_scheme = proxies_from_env()
        self._hosts: dict[tuple[str, str | None], Proxy] = {}

    def any(self) -> bool:
        """Does the environment name any proxy?"""
        return bool(self._by_scheme)

    def for_url(self, url: URL) -> Proxy:
        """The proxy (and its credentials) for ``url``, or ``(None, None)``: go direct."""
        if not self._by_scheme:
            return _NO_PROXY
        key = (url.scheme, url.host)
        found = self._hosts.get(key)
        if found is None:
            info = self._by_scheme.get(url.scheme)
            if info is None or (url.host is not None and proxy_bypass(url.host)):
                found = _NO_PROXY
            else:
                found = (info.proxy, info.proxy_auth)
            if len(self._hosts) < 1024:
                self._hosts[key] = found
        return found


class AiohttpWire:
    """A `mpasync.wire.Wire` over one aiohttp session (its own, or a borrowed one).

    ``connections`` sizes the pool of a session made here: the transport's semaphore
    bounds requests in flight, so the pool only has to hold them (plus a token fetch)
    and requests never queue inside aiohttp, where waiting would count against the
    per-attempt timeout.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        connections: int = 100,
        trust_env: bool = True,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self.session = session
        self.owned = session is None
        self.closed = False
        self._connections = connections
        self._trust_env = trust_env
        self._trace_configs = trace_configs
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The proxies of the session made here (None: go direct / borrowed session,
        #: which applies its own settings).
        self.proxies: EnvProxies | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        #: The attempts in flight and their timeouts (one timer for all), once bound.
        self._attempts: Timeouts | None = None
        #: The loop in which `get` has nothing to do (bound, session made, not closed):
        #: a caller may skip `get` when it runs there (a cheap check per request).
        self.ready_in: asyncio.AbstractEventLoop | None = None
        #: Take a body that has wholly arrived without awaiting `read` (no tracing asks
        #: to see it read); decided once the session is known.
        self._take_arrived = False

    def get(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop."""
        if self.closed:
            raise TransportError("the client is closed")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                # Sessions, semaphores and timers belong to the loop they were made in;
                # reusing them from another loop fails deep inside asyncio.
                raise MParticleError(
                    "this client was first used in another event loop; create one client "
                    "per event loop (e.g. inside the coroutine given to asyncio.run)"
                )
            self._loop = loop
        session = self.session
        if session is None:
            connector = aiohttp.TCPConnector(
                # TLS verification is aiohttp's default and is never turned off.
                limit=self._connections,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=30.0,
            )
            session = aiohttp.ClientSession(
                connector=connector, trust_env=False, trace_configs=self._trace_configs
            )
            if self._trust_env:
                proxies = EnvProxies()
                self.proxies = proxies if proxies.any() else None
            self.session = session
        self._take_arrived = not session.trace_configs
        if self._attempts is None:
            self._attempts = Timeouts(loop)
        self.ready_in = loop
        return session

    def connections_in_use(self) -> int:
        """Connections currently checked out of the pool (0 when idle)."""
        session = self.session
        if session is None or session.closed or session.connector is None:
            return 0
        return len(getattr(session.connector, "_acquired", ()))

    def _connect_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        # One ClientTimeout per distinct value (the per-attempt timeout, mostly). Only
        # connecting is left to aiohttp's timer (a pooled connection arms none); the
        # whole exchange is bounded by `Timeouts`.
        found = self._timeouts.get(seconds)
        if found is None:
            found = aiohttp.ClientTimeout(total=None, connect=seconds)
            if len(self._timeouts) < 64:
                self._timeouts[seconds] = found
        return found

    async def send(self, request: WireRequest) -> WireResponse:
        session = self.session
        if session is None:  # not made yet, or closed (the transport checked the loop)
            session = self.get()
        url = request.url
        proxies = self.proxies
        proxy, proxy_auth = proxies.for_url(url) if proxies is not None else _NO_PROXY
        attempts = self._attempts
        task = asyncio.current_task() if attempts is not None else None
        if attempts is not None and task is not None:
            attempts.start(task, request.timeout)
            timeout = self._timeouts.get(request.timeout) or self._connect_timeout(request.timeout)
        else:  # before `get` bound a loop (a borrowed session's first token), or no task
            timeout = aiohttp.ClientTimeout(total=request.timeout)
        failure: WireError | None = None
        try:
            # Awaited rather than entered (``async with``): one coroutine layer less; the
            # response is released below on every path.
            resp = await session.request(
                request.method,
                url,
                data=request.data,
                headers=request.headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            )
            try:
                limit = request.max_bytes
                headers = resp.headers
                declared = headers.get("Content-Length")
                # A plain body of declared length within the limit is read whole (aiohttp
                # stops at the declared length, so the declaration is the bound); anything
                # else streams under the limit (`read_limited`, which also refuses a
                # declared length over it).
                if (
                    declared is not None
                    and "Content-Encoding" not in headers
                    and int(declared) <= limit
                ):
                    content = resp.content
                    if content.is_eof() and self._take_arrived:
                        # All of it is here (a small answer mostly comes with its
                        # headers): take it without a wait, which costs ~5 % of a call.
                        body = content.read_nowait(-1)
                    else:
                        body = await resp.read()
                else:
                    body = await read_limited(resp, limit)
            finally:
                resp.release()
            return WireResponse(resp.status, headers, body)
        except asyncio.CancelledError:
            if attempts is None or task is None or not attempts.expired(task):
                raise
            # Our timeout, not a cancellation: the exchange may have reached the server.
            failure = WireError("timed out", sent=True, timed_out=True, kind="TimeoutError")
        except BodyTooLarge:
            raise
        except _NOT_SENT as exc:
            failure = _failure(exc, sent=False)
        except _MAYBE_SENT as exc:
            failure = _failure(exc, sent=True)
        finally:
            if attempts is not None and task is not None:
                attempts.stop(task)
        raise failure  # outside the handler: no aiohttp exception in __context__

    async def aclose(self) -> None:
        self.closed = True
        self.ready_in = None
        if self._attempts is not None:
            self._attempts.close()
        session, self.session = self.session, None
        if session is not None and self.owned and not session.closed:
            await session.close()


def _failure(exc: BaseException, *, sent: bool) -> WireError:
    timed_out = isinstance(exc, asyncio.TimeoutError)
    return WireError(_describe(exc), sent=sent, timed_out=timed_out, kind=type(exc).__name__)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: {exc.status} {exc.message}"  # not request_info
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
