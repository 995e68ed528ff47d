"""Secrets never leak: DEBUG logs, reprs and exception messages through a fail-and-retry run."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web

from mpasync import (
    AnalyticsClient,
    Client,
    DSRClient,
    MParticleError,
    RetryPolicy,
    SeedingClient,
    TokenCache,
)
from tests.fakeapi import CLIENT_ID, CLIENT_SECRET, FakeAPI, envelope


async def test_no_secret_or_token_in_logs_reprs_or_errors(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script = iter([500, 401, 503, 200, 422, 401, 401])

    async def flaky(request: web.Request) -> web.StreamResponse:
        status = next(script, 200)
        if status == 200:
            return envelope({"id": 1, "name": "App"})
        if status == 401:
            fake_api.valid_tokens.clear()
        return web.json_response(
            {"errors": [{"code": "E", "message": f"failure {status}"}]}, status=status
        )

    fake_api.handler = flaky
    texts: list[str] = []
    async with Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=fake_api.base_url,
        token_url=fake_api.token_url,
        retry=RetryPolicy(backoff_base=0.01),
    ) as mp:
        texts += [repr(mp), repr(mp.transport), repr(mp.token_cache), str(mp.transport.auth)]
        app = await mp.apps.get(1)  # 500 → retry → 401 → refresh/replay → 503 → retry → 200
        texts.append(repr(app))
        for _ in range(2):
            try:
                await mp.apps.get(1)
            except MParticleError as exc:
                texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        # A token endpoint failure, too.
        fake_api.token_status = 401
        fake_api.token_body = b'{"error": "nope ' + CLIENT_SECRET.encode() + b'"}'
        fake_api.valid_tokens.clear()
        try:
            await mp.apps.get(1)
        except MParticleError as exc:
            texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    tokens = [t for t in fake_api.requests[0].headers.get("Authorization", "").split()][1:]
    issued = {f"tok-{n}-abcdef" for n in range(1, 10)}
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    blob = "\n".join(texts)
    assert any("retry" in r.getMessage() for r in caplog.records)  # the run did retry
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert "failure 422" in blob  # the API error surfaced
    assert "token endpoint" in blob  # and so did the token failure
    assert CLIENT_SECRET not in blob
    for token in issued | set(tokens):
        assert token not in blob, token


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_token_cache_repr_never_shows_secret() -> None:
    cache = TokenCache(CLIENT_ID, CLIENT_SECRET)
    client = Client(token_cache=cache, account_id=3)
    assert CLIENT_SECRET not in repr(cache) + repr(client) + repr(client.transport)


# -- echoed credentials (issue 18): a server or WAF that echoes the request ---------------

ECHO_ID = "echo-client"
ECHO_SECRET = 'cs/ec+ret"q\\z-' + "x" * 20  # needs escaping in JSON, and in URLs
BASIC_KEY = "workspace-key"
BASIC_SECRET = 'bs/ec+ret"q\\z-' + "y" * 20
ANALYTICS_KEY = 'ak/ey+"\\-' + "k" * 20
TOKEN = "tok/" + "Ab+9" * 120  # long: an excerpt cut would leave half of it behind


def forms(secret: str) -> set[str]:
    """Every form the client sends a secret in, or a server may echo it in."""
    escaped = json.dumps(secret)[1:-1]
    found = {
        secret,
        escaped,
        escaped.replace("/", "\\/"),
        quote(secret, safe=""),
        quote_plus(secret),
    }
    if len(secret) > 100:  # long enough to be cut: no 24-character piece of it either
        found |= {secret[:24], secret[-24:], secret[200:224]}
    return found


SECRETS = {
    "client secret": forms(ECHO_SECRET),
    "client basic credential": forms(b64(f"{ECHO_ID}:{ECHO_SECRET}")),
    "bearer token": forms(TOKEN),
    "basic secret": forms(BASIC_SECRET),
    "basic credential": forms(b64(f"{BASIC_KEY}:{BASIC_SECRET}")),
    "analytics key": forms(ANALYTICS_KEY),
}


def texts(value: object, seen: set[int] | None = None) -> list[str]:
    """Every string reachable from ``value``: for an exception its str and repr, args,
    attributes, __cause__ and __context__, recursively (not its traceback's frames)."""
    seen = set() if seen is None else seen
    if id(value) in seen or value is None or isinstance(value, (int, float, bool)):
        return []
    seen.add(id(value))
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    found: list[str] = []
    if isinstance(value, BaseException):
        found += [str(value), repr(value), "".join(traceback.format_exception(value))]
        found += texts(value.args, seen)
        found += texts(value.__cause__, seen)
        found += texts(value.__context__, seen)
    if isinstance(value, dict):
        for k, v in value.items():
            found += texts(k, seen) + texts(v, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            found += texts(item, seen)
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        found += texts(attrs, seen)
    for name in getattr(type(value), "__slots__", ()):
        found += texts(getattr(value, name, None), seen)
    return found


def leaks(errors: list[BaseException]) -> list[str]:
    blob = "\n".join(t for e in errors for t in texts(e))
    return [f"{name}: {form!r}" for name, fs in SECRETS.items() for form in fs if form in blob]


class EchoServer:
    """An API and token endpoint that echo every request back in their answers."""

    def __init__(self) -> None:
        self.status = 400
        self.mode = "json"
        self.token_status = 200
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def token(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        if self.token_status == 200:
            return web.json_response({"access_token": TOKEN, "expires_in": 3600})
        basic = b64(f"{ECHO_ID}:{ECHO_SECRET}")
        return web.Response(
            status=self.token_status,
            text=f"WAF blocked: body={raw} basic=Basic {basic} raw={ECHO_SECRET} "
            f"url={quote(ECHO_SECRET, safe='')}",
        )

    async def api(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        raw = await request.text()
        echo = f"you sent Authorization: {auth} with body {raw}"
        if self.mode == "json":
            body = json.dumps(
                {"errors": [{"code": auth, "message": echo}], "message": echo, "raw": raw}
            )
            return web.Response(status=self.status, text=body, content_type="application/json")
        if self.mode == "redirect":
            return web.Response(status=302, headers={"Location": f"/login/{auth[7:]}?{raw}"})
        # Plain text, the credential starting just before the excerpt's 200-character cut.
        headers = {"X-mp-rate-limit-exceeded": auth, "Retry-After": "0"}
        pad = "." * 150
        return web.Response(status=self.status, text=f"{pad} {echo} {pad}", headers=headers)

    async def __aenter__(self) -> EchoServer:
        app = web.Application()
        app.router.add_post("/oauth/token", self.token)
        app.router.add_route("*", "/{tail:.*}", self.api)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


FAST = RetryPolicy(max_attempts=2, backoff_base=0.0)


async def collect(call: Any) -> list[BaseException]:
    try:
        await call
    except MParticleError as exc:
        return [exc]
    raise AssertionError("the call should have failed")


async def test_echoed_credentials_are_masked_everywhere_in_our_errors() -> None:
    errors: list[BaseException] = []
    async with EchoServer() as echo:
        async with Client(
            ECHO_ID,
            ECHO_SECRET,
            1,
            base_url=echo.url,
            token_url=f"{echo.url}/oauth/token",
            retry=FAST,
        ) as mp:
            for status, mode in [
                (401, "json"),  # refreshed, replayed, then AuthenticationError
                (400, "json"),
                (500, "text"),
                (429, "text"),
                (200, "text"),  # a 2xx that does not decode: DecodeError
                (302, "redirect"),
            ]:
                echo.status, echo.mode = status, mode
                errors += await collect(mp.apps.get(1))
            echo.mode = "json"
            errors += await collect(mp.apps.create(name="Shop", platforms=["iOS"]))
            echo.token_status = 400  # the token endpoint echoes its own request
            mp.token_cache.invalidate(TOKEN)
            errors += await collect(mp.apps.get(1))
        async with SeedingClient(BASIC_KEY, BASIC_SECRET, base_url=echo.url, retry=FAST) as s:
            for status, mode in [(401, "json"), (400, "text"), (503, "json")]:
                echo.status, echo.mode = status, mode
                errors += await collect(s.seed({"mpid": 1, "attributes": {"a": "b"}}))
        async with DSRClient(BASIC_KEY, BASIC_SECRET, base_url=echo.url, retry=FAST) as d:
            echo.status, echo.mode = 403, "text"
            errors += await collect(d.status("00000000-0000-0000-0000-000000000000"))
        async with AnalyticsClient(ANALYTICS_KEY, base_url=echo.url, retry=FAST) as a:
            for status, mode in [(400, "json"), (400, "text"), (500, "json"), (302, "redirect")]:
                echo.status, echo.mode = status, mode
                errors += await collect(a.track("Login", "user-1"))
    kinds = {type(e).__name__ for e in errors}
    assert {"AuthenticationError", "BadRequestError", "ServerError", "RateLimitError"} <= kinds
    assert {"DecodeError", "RedirectError", "TokenError", "PermissionDeniedError"} <= kinds
    assert leaks(errors) == []
    # The echo did reach our errors (masked), so the check above is not vacuous.
    assert any("you sent Authorization: Bearer ***" in t for e in errors for t in texts(e))
    assert any("WAF blocked" in str(e) for e in errors)


def test_no_internal_exception_carries_the_token() -> None:
    """The 401 path used to leave an internal exception holding the bearer token as the
    __context__ of AuthenticationError; now no link of the chain is foreign."""

    async def main() -> list[BaseException]:
        async with EchoServer() as echo:
            echo.status = 401
            async with Client(
                ECHO_ID, ECHO_SECRET, 1, base_url=echo.url, token_url=f"{echo.url}/oauth/token"
            ) as mp:
                return await collect(mp.apps.get(1))

    (error,) = asyncio.run(main())
    chain = []
    link: BaseException | None = error
    while link is not None and len(chain) < 10:
        chain.append(link)
        link = link.__cause__ or link.__context__
    assert all(type(e).__module__.startswith("mpasync.errors") for e in chain), chain
    assert leaks([error]) == []
