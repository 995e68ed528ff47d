"""The one aiohttp session a client (and its `with_options` views) uses, bound to one loop.

Created lazily inside the running loop, closed by the client's `aclose()`; a borrowed
session is used as is and never closed. Sessions, semaphores and timers belong to the
loop they were made in, so using a client from a second loop is refused with a clear
error rather than failing deep inside asyncio.
"""

from __future__ import annotations

import asyncio

import aiohttp

from mpasync.errors import MParticleError, TransportError

__all__ = ["SessionPool"]


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
                connector=connector,
                trust_env=self._trust_env,
                trace_configs=self._trace_configs,
            )
            self.session = session
        return session

    async def aclose(self) -> None:
        self.closed = True
        session, self.session = self.session, None
        if session is not None and self.owned and not session.closed:
            await session.close()
