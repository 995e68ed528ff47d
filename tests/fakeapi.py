"""A small scriptable HTTP server on 127.0.0.1 for transport and auth tests.

It counts token requests, tracks requests in flight and arrival times, and lets each
test swap in its own handler for API routes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mpasync import Client

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cr3t-never-print-me"


def envelope(*items: object, data_type: str = "application") -> web.Response:
    return web.json_response({"data": list(items), "dataType": data_type, "errors": None})


async def ok_handler(request: web.Request) -> web.StreamResponse:
    return envelope({"id": 1, "name": "App"})


class FakeAPI:
    """Token endpoint at /oauth/token; every other path goes to ``self.handler``."""

    def __init__(self) -> None:
        self.handler: Handler = ok_handler
        self.token_requests = 0
        self.token_delay = 0.0
        self.token_status = 200
        self.token_body: bytes | None = None
        #: When set, answers every token request (after counting it).
        self.token_handler: Handler | None = None
        self.token_times: list[float] = []
        self.token_ttl = 28800.0
        self.valid_tokens: set[str] = set()
        self.check_tokens = True
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[web.Request] = []
        self._counter = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    def new_token(self) -> str:
        token = f"tok-{next(self._counter)}-abcdef"
        self.valid_tokens.add(token)
        return token

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.token_requests += 1
        self.token_times.append(time.monotonic())
        if self.token_handler is not None:
            return await self.token_handler(request)
        body = await request.json()
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.token_status != 200:
            return web.Response(
                status=self.token_status,
                body=self.token_body or b'{"error": "invalid_client"}',
                content_type="application/json",
            )
        assert body["grant_type"] == "client_credentials"
        if body["client_id"] != CLIENT_ID or body["client_secret"] != CLIENT_SECRET:
            return web.json_response({"error": "access_denied"}, status=401)
        return web.json_response(
            {"access_token": self.new_token(), "expires_in": self.token_ttl, "token_type": "Bearer"}
        )

    async def _api(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.append(time.monotonic())
        self.requests.append(request)
        if self.check_tokens:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
                return web.json_response(
                    {"data": None, "errors": [{"code": "UNAUTHORIZED", "message": "bad token"}]},
                    status=401,
                )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.handler(request)
        finally:
            self.in_flight -= 1

    async def start(self) -> FakeAPI:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_route("*", "/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events inside any half-open window of ``window`` seconds."""
    times = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def client_for(api: FakeAPI, **options: Any) -> Client:
    """A `Client` of ``api``: its token endpoint, account 1, no proxy from the environment."""
    return Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=api.base_url,
        token_url=api.token_url,
        trust_env=False,
        **options,
    )
