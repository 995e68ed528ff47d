"""The one aiohttp session a client (and its `with_options` views) uses, bound to one loop,
and the proxies it goes through.

Created lazily inside the running loop, closed by the client's `aclose()`; a borrowed
session is used as is and never closed. Sessions, semaphores and timers belong to the
loop they were made in, so using a client from a second loop is refused with a clear
error rather than failing deep inside asyncio.

Proxies: ``trust_env=True`` means what it means to aiohttp — ``HTTP(S)_PROXY`` and
``NO_PROXY`` — but is not handed to aiohttp itself, whose ``trust_env`` also looks up
``~/.netrc`` on every request (a thread-pool hop that tripled our CPU per request, and
credentials that would be added to the token request, or clash with our
``Authorization`` header). The environment is read once per session and the answer kept
per host.
"""

from __future__ import annotations

import asyncio
import weakref
from urllib.request import proxy_bypass

import aiohttp
from aiohttp.helpers import proxies_from_env
from yarl import URL

from mpasync.errors import MParticleError, TransportError

__all__ = ["EnvProxies", "SessionPool", "proxy_for"]

Proxy = tuple[URL | None, aiohttp.BasicAuth | None]
_NO_PROXY: Proxy = (None, None)
_SESSION_PROXIES: weakref.WeakKeyDictionary[aiohttp.ClientSession, EnvProxies] = (
    weakref.WeakKeyDictionary()
)


class EnvProxies:
    """``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``, read once, resolved once per host."""

    __slots__ = ("_by_scheme", "_hosts")

    def __init__(self) -> None:
        self._by_scheme = proxies_from_env()
        self._hosts: dict[tuple[str, str | None], Proxy] = {}

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


def proxy_for(session: aiohttp.ClientSession | None, url: URL) -> Proxy:
    """The proxy a request on ``session`` goes through: the environment's for a session
    mpasync made with ``trust_env=True`` (or for no session at all), else none (a
    borrowed session applies its own settings)."""
    if session is None:
        return EnvProxies().for_url(url)
    proxies = _SESSION_PROXIES.get(session)
    return proxies.for_url(url) if proxies is not None else _NO_PROXY


class SessionPool:
    """The session a transport and its `with_options` views share, bound to one loop."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        *,
        connections: int,
        trust_env: bool,
        trace_configs: list[aiohttp.TraceConfig] | None,
    ) -> None:
        self.session = session
        self.owned = session is None
        self.closed = False
        self._connections = connections
        self._trust_env = trust_env
        self._trace_configs = trace_configs
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The proxies of the session this pool made (None: go direct / borrowed session).
        self.proxies: EnvProxies | None = None

    def get(self) -> aiohttp.ClientSession:
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
                # The semaphore bounds requests in flight; the pool only has to hold them
                # (plus a token fetch), so requests never queue inside aiohttp, where
                # waiting would count against the per-attempt timeout. TLS verification
                # is aiohttp's default and is never turned off.
                limit=self._connections,
                limit_per_host=0,
                ttl_dns_cache=300,
                keepalive_timeout=30.0,
            )
            session = aiohttp.ClientSession(
                connector=connector, trust_env=False, trace_configs=self._trace_configs
            )
            if self._trust_env:
                self.proxies = EnvProxies()
                _SESSION_PROXIES[session] = self.proxies
            self.session = session
        return session

    async def aclose(self) -> None:
        self.closed = True
        session, self.session = self.session, None
        if session is not None and self.owned and not session.closed:
            await session.close()
