"""The transport's and the token cache's trust boundaries (issue 10).

Each test here failed on the code before it: redirects followed with the secret, token
bodies echoed, credentials in URLs printed, aiohttp exceptions (carrying the
Authorization header) chained under ours, unbounded bodies, unbounded waits, tokens
cached unchecked, and foreign exceptions escaping.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from mpasync import AnalyticsClient, Client, DSRClient, RetryPolicy, SeedingClient, TokenCache
from mpasync.errors import (
    DeadlineExceededError,
    MParticleError,
    RateLimitError,
    RedirectError,
    RequestValidationError,
    ResponseTooLargeError,
    TokenError,
    TransportError,
)
from mpasync.hooks import Attempt, Hooks, RetryEvent
from tests.fakeapi import CLIENT_ID, CLIENT_SECRET, FakeAPI, client_for, envelope


class Origin:
    """Another origin: records whatever reaches it and hands out a token."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _any(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path_qs, await request.read()))
        return web.json_response({"access_token": "stolen-token", "expires_in": 3600})

    async def start(self) -> Origin:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest_asyncio.fixture
async def other() -> AsyncIterator[Origin]:
    origin = await Origin().start()
    try:
        yield origin
    finally:
        await origin.stop()


def client(api: FakeAPI, **options: Any) -> Client:
    options.setdefault("retry", RetryPolicy(max_attempts=2, backoff_base=0.01))
    return client_for(api, **options)


def chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def redirect_to(origin: Origin, status: int = 307) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        location = f"http://user:pw@127.0.0.1:{origin.port}/steal?key=leak#frag"
        return web.Response(status=status, headers={"Location": location})

    return handler


# -- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_token_endpoint_redirect_is_an_error_and_never_followed(
    fake_api: FakeAPI, other: Origin, status: int
) -> None:
    fake_api.token_handler = redirect_to(other, status)
    async with client(fake_api) as mp:
        with pytest.raises(TokenError) as caught:
            await mp.apps.list()
    message = str(caught.value)
    assert str(status) in message
    assert f"127.0.0.1:{other.port}/steal" in message
    assert "pw" not in message and "leak" not in message and "user" not in message
    assert other.seen == []  # neither the secret nor anything else went there


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_api_redirect_is_a_typed_error(fake_api: FakeAPI, other: Origin, status: int) -> None:
    fake_api.handler = redirect_to(other, status)
    async with client(fake_api) as mp:
        with pytest.raises(RedirectError) as caught:
            await mp.apps.list()
    err = caught.value
    assert err.status == status
    assert err.location == f"http://127.0.0.1:{other.port}/steal"
    assert "leak" not in str(err) and "pw" not in str(err)
    assert other.seen == []


async def test_key_apis_never_follow_redirects(fake_api: FakeAPI, other: Origin) -> None:
    fake_api.check_tokens = False
    fake_api.handler = redirect_to(other, 307)
    async with AnalyticsClient("analytics-key-XYZ", base_url=fake_api.base_url) as a:
        with pytest.raises(RedirectError):
            await a.track("signup", "user-1")
    async with SeedingClient("k", "seed-secret", base_url=fake_api.base_url) as s:
        with pytest.raises(RedirectError):
            await s.seed(
                {
                    "environment": "production",
                    "mpid": 1,
                    "calculated_attributes": {
                        "workspace": [
                            {
                                "attribute_name": "LTV",
                                "calculation_type": "sum",
                                "cutoff_date": "2019-12-01",
                                "seed": {"value": 1.0},
                            }
                        ]
                    },
                }
            )
    async with DSRClient("k", "dsr-secret", base_url=fake_api.base_url) as d:
        with pytest.raises(RedirectError):
            await d.discovery()
    assert other.seen == []  # the apiKey in the analytics body went nowhere


# -- the token never appears -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "TOPSECRETTOKEN123", "expires_in": "3600s"},
        {"access_token": "TOPSECRETTOKEN123", "expires_in": [1]},
        {"access_token": ["TOPSECRETTOKEN123"]},
    ],
)
async def test_unreadable_token_body_is_never_echoed(
    fake_api: FakeAPI, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    fake_api.token_handler = handler
    caplog.set_level(logging.DEBUG, logger="mpasync")
    async with client(fake_api) as mp:
        with pytest.raises(TokenError) as caught:
            await mp.apps.list()
        report = await mp.bulk.map(lambda i: mp.apps.get(i), [1, 2])
    texts = [str(e) for e in chain(caught.value)] + [caplog.text, repr(report.failed)]
    texts += [str(e) for e in report.failed.values()]
    for text in texts:
        assert "TOPSECRETTOKEN123" not in text
        assert CLIENT_SECRET not in text


async def test_token_error_body_is_scrubbed_of_token_fields(fake_api: FakeAPI) -> None:
    fake_api.token_status = 400
    fake_api.token_body = b'{"access_token": "TOPSECRETTOKEN123", "detail": "nope"}'
    async with client(fake_api) as mp:
        with pytest.raises(TokenError) as caught:
            await mp.apps.list()
    assert "TOPSECRETTOKEN123" not in str(caught.value)
    assert "detail" in str(caught.value)


# -- credentials in URLs -----------------------------------------------------------------


async def test_userinfo_in_token_url_is_never_printed(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mpasync")
    url = f"http://proxyuser:PROXYPASS@127.0.0.1:{fake_api.port}/oauth/token"
    fake_api.token_status = 503
    mp = Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=fake_api.base_url,
        token_url=url,
        retry=RetryPolicy(max_attempts=2, backoff_base=0.01),
    )
    async with mp:
        with pytest.raises(TokenError) as caught:
            await mp.apps.list()
    for text in (repr(mp), repr(mp.token_cache), str(caught.value), caplog.text):
        assert "PROXYPASS" not in text


def test_userinfo_in_base_url_is_refused_without_echo() -> None:
    with pytest.raises(RequestValidationError) as caught:
        Client(CLIENT_ID, CLIENT_SECRET, 1, base_url="https://u:BASEPASS@api.example.com")
    assert "BASEPASS" not in str(caught.value)


def test_a_foreign_link_in_our_chain_is_cut() -> None:
    """Python 3.10 chains asyncio's own CancelledError (the one that woke a task after
    aiohttp's timeout) to what the task raises next; the retry loop cuts it off, keeping
    our own links. (On 3.11+ the test above cannot see this; on 3.10 it does.)"""
    from mpasync.failures import own_chain as _own_chain
    from mpasync.transport import _Retryable

    token = TokenError("token endpoint timed out")
    token.__context__ = asyncio.CancelledError()
    failure = _Retryable("timed out", sent=False, final=token)
    failure.__context__ = token
    _own_chain(failure)
    assert failure.__context__ is token
    assert token.__context__ is None and token.__cause__ is None
    loop_a, loop_b = _Retryable("a", sent=False), _Retryable("b", sent=False)
    loop_a.__context__, loop_b.__context__ = loop_b, loop_a
    _own_chain(loop_a)  # a cycle ends the walk
    assert loop_a.__context__ is loop_b


async def test_no_aiohttp_exception_reachable_from_ours(fake_api: FakeAPI) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)
        return envelope()

    fake_api.handler = hang
    async with client(fake_api, timeout=0.2) as mp:
        with pytest.raises(TransportError) as caught:
            await mp.apps.list()
    for exc in chain(caught.value):
        assert type(exc).__module__.startswith("mpasync"), type(exc)
        assert "Authorization" not in repr(vars(exc))
        assert "Bearer" not in str(exc)


async def test_connection_refused_chain_is_clean() -> None:
    mp = Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url="http://127.0.0.1:9",
        token_url="http://127.0.0.1:9/oauth/token",
        retry=RetryPolicy(max_attempts=1),
        trust_env=False,
    )
    async with mp:
        with pytest.raises(MParticleError) as caught:
            await mp.apps.list()
    for exc in chain(caught.value):
        assert type(exc).__module__.startswith("mpasync"), type(exc)


# -- proxies -----------------------------------------------------------------------------


async def test_proxy_from_environment_and_opt_out(
    fake_api: FakeAPI, other: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `other` plays the proxy: a plain-HTTP proxy receives the absolute URL.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{other.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = "http://api.mparticle.invalid"
    async with Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=target,
        token_url=f"{target}/oauth/token",
        retry=RetryPolicy(max_attempts=1),
    ) as mp:
        try:
            await mp.apps.list()  # the "proxy" answers a token, then no app list
        except MParticleError:
            pass
    # api.mparticle.invalid does not resolve: only the proxy can have carried these.
    assert [(m, p) for m, p, _ in other.seen] == [
        ("POST", "/oauth/token"),
        ("GET", "/v1/apps?accountId=1"),
    ]

    before = len(other.seen)
    async with Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=fake_api.base_url,
        token_url=fake_api.token_url,
        trust_env=False,
    ) as mp:
        await mp.apps.list()
        assert mp.transport.session().connector is not None
    assert len(other.seen) == before  # trust_env=False: straight to the server


def test_tls_verification_cannot_be_turned_off() -> None:
    with pytest.raises(RequestValidationError):
        Client(CLIENT_ID, CLIENT_SECRET, 1, verify_ssl=False)  # type: ignore[call-arg]


# -- response size -----------------------------------------------------------------------


async def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(fake_api: FakeAPI) -> None:
    # 256 MiB of zeros compress to ~256 KiB; the cap is 8 MiB.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(256)) + compressor.flush()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    fake_api.handler = handler
    async with client(fake_api, max_response_bytes=8 << 20) as mp:
        gc.collect()
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as caught:
                await mp.apps.list()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert caught.value.limit == 8 << 20
        assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB"
        assert mp.transport.connections_in_use() == 0


async def test_large_plain_body_is_refused_while_streaming(fake_api: FakeAPI) -> None:
    sent = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            for _ in range(50):  # 50 MiB, no Content-Length
                await resp.write(b" " * (1 << 20))
                sent += 1
        except (ConnectionError, RuntimeError):
            pass
        return resp

    fake_api.handler = handler
    async with client(fake_api, max_response_bytes=1 << 20) as mp:
        with pytest.raises(ResponseTooLargeError):
            await mp.apps.list()
        assert mp.transport.connections_in_use() == 0


async def test_declared_length_over_cap_fails_before_reading(fake_api: FakeAPI) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"[" + b" " * 5000 + b"]", content_type="application/json")

    fake_api.handler = handler
    async with client(fake_api, max_response_bytes=1000) as mp:
        with pytest.raises(ResponseTooLargeError):
            await mp.apps.list()


def test_max_response_bytes_is_checked() -> None:
    for bad in (0, -1, 1.5, "big", True):
        with pytest.raises(RequestValidationError):
            Client(CLIENT_ID, CLIENT_SECRET, 1, max_response_bytes=bad)  # type: ignore[arg-type]


# -- deadlines ---------------------------------------------------------------------------


async def test_retry_after_beyond_the_deadline_fails_at_once(fake_api: FakeAPI) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"errors": []}, status=429, headers={"Retry-After": "299"})

    fake_api.handler = handler
    async with client(fake_api, timeout=1.0, deadline=5.0, retry=RetryPolicy()) as mp:
        with pytest.raises(RateLimitError) as caught:
            await asyncio.wait_for(mp.apps.list(), 30)
    assert caught.value.retry_after == 299
    assert len(fake_api.requests) == 1  # no second attempt, no waiting


async def test_deadline_bounds_attempts_and_backoff(fake_api: FakeAPI) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.5)
        return envelope()

    fake_api.handler = hang
    retry = RetryPolicy(max_attempts=50, backoff_base=0.01, backoff_max=0.02)
    async with client(fake_api, timeout=0.2, deadline=0.7, retry=retry) as mp:
        with pytest.raises(DeadlineExceededError) as caught:
            await asyncio.wait_for(mp.apps.list(), 30)
    assert len(fake_api.requests) < 10  # the deadline, not max_attempts, ended it
    assert "deadline" in str(caught.value)


async def test_deadline_covers_waiting_for_a_permit(fake_api: FakeAPI) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.5)
        return envelope()

    fake_api.handler = slow
    async with client(fake_api, max_concurrency=1, deadline=0.2) as mp:
        first = asyncio.ensure_future(mp.with_options(deadline=None).apps.list())
        await asyncio.sleep(0.05)
        with pytest.raises(DeadlineExceededError):
            await mp.apps.list()
        await first
        assert mp.transport.concurrency.in_use == 0


async def test_client_timeout_bounds_the_token_fetch(fake_api: FakeAPI) -> None:
    fake_api.token_delay = 1.5
    async with client(fake_api, timeout=0.3, retry=RetryPolicy(max_attempts=1)) as mp:
        with pytest.raises(TokenError):
            await asyncio.wait_for(mp.apps.list(), 10)


async def test_shared_cache_wait_is_bounded_by_each_clients_timeout(fake_api: FakeAPI) -> None:
    fake_api.token_delay = 1.5
    cache = TokenCache(CLIENT_ID, CLIENT_SECRET, token_url=fake_api.token_url, timeout=60)
    async with Client(
        account_id=1,
        base_url=fake_api.base_url,
        token_cache=cache,
        timeout=0.3,
        retry=RetryPolicy(max_attempts=1),
        trust_env=False,
    ) as mp:
        with pytest.raises(TokenError):
            await asyncio.wait_for(mp.apps.list(), 10)


async def test_token_endpoint_retry_after_is_honoured(fake_api: FakeAPI) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "1"}
            )
        return web.json_response({"access_token": fake_api.new_token(), "expires_in": 3600})

    fake_api.token_handler = handler
    async with client(fake_api, retry=RetryPolicy(max_attempts=3, backoff_base=0.001)) as mp:
        await asyncio.gather(*(mp.apps.list() for _ in range(20)))
    assert fake_api.token_requests == 2
    gap = fake_api.token_times[1] - fake_api.token_times[0]
    assert gap >= 0.95  # waited out Retry-After instead of retrying at once


# -- token sanity ------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", None, 42, "abc\r\nX-Evil: 1", "tok\x00en", "tok en", "é"])
async def test_bad_access_token_is_an_error_and_never_cached(
    fake_api: FakeAPI, token: object
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"access_token": token, "expires_in": 28800})

    fake_api.token_handler = handler
    async with client(fake_api, retry=RetryPolicy(max_attempts=1)) as mp:
        for _ in range(2):
            with pytest.raises(TokenError):
                await mp.apps.list()
    assert fake_api.token_requests == 2  # nothing was cached
    assert fake_api.requests == []  # and nothing was sent with it


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(0, 60.0), (-5, 60.0), ("NaN", 60.0), (1e12, 365 * 24 * 3600.0), ("Infinity", 60.0)],
)
async def test_absurd_expires_in_is_clamped_with_a_warning(
    fake_api: FakeAPI, expires_in: object, lifetime: float, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = json.dumps({"access_token": fake_api.new_token(), "expires_in": expires_in})
        return web.Response(text=body, content_type="application/json")

    fake_api.token_handler = handler
    caplog.set_level(logging.WARNING, logger="mpasync")
    async with client(fake_api) as mp:
        started = time.monotonic()
        await mp.apps.list()
        await mp.apps.list()
        remaining = mp.token_cache.expires_at - started
    assert fake_api.token_requests == 1
    assert abs(remaining - lifetime) < 5
    assert "expires_in" in caplog.text


# -- only mpasync errors escape ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'{"data": [{"id": 1, "name": "\xff\xfe"}]}'),
        (200, b"[" * 100_000),
        (400, b'{"errors": [{"message": "\xc3\x28"}]}'),
        (400, b'{"errors": ' + b"[" * 100_000),
        (500, b"\xff" * 10),
        (
            200,
            b'{"data": [{"id": 1, "name": "x", "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}]}",
        ),
    ],
)
async def test_hostile_bodies_raise_only_mpasync_errors(
    fake_api: FakeAPI, status: int, body: bytes
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type="application/json")

    fake_api.handler = handler
    async with client(fake_api, retry=RetryPolicy.disabled()) as mp:
        try:
            await mp.apps.list()
        except MParticleError:
            pass


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"[" * 100_000, b'{"access_token": "\xc3\x28"}'])
async def test_hostile_token_bodies_are_token_errors(fake_api: FakeAPI, body: bytes) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    fake_api.token_handler = handler
    async with client(fake_api, retry=RetryPolicy.disabled()) as mp:
        with pytest.raises(TokenError):
            await mp.apps.list()


def test_a_client_used_under_two_event_loops_says_so() -> None:
    api = FakeAPI()

    async def start() -> None:
        await api.start()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(start())
        mp = client(api)

        async def once() -> int:
            return len(await mp.apps.list())

        assert loop.run_until_complete(once()) == 1
        with pytest.raises(MParticleError) as caught:
            asyncio.run(once())
        assert "event loop" in str(caught.value)
        loop.run_until_complete(mp.aclose())
    finally:
        loop.run_until_complete(api.stop())
        loop.close()


# -- outcome unknown ---------------------------------------------------------------------


async def test_a_write_whose_answer_was_lost_may_have_been_applied(fake_api: FakeAPI) -> None:
    async def lose(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.close()  # applied, but the answer never comes
        return web.Response()

    fake_api.handler = lose
    async with client(fake_api, retry=RetryPolicy(max_attempts=2, backoff_base=0.01)) as mp:
        with pytest.raises(TransportError) as caught:
            await mp.apps.update(1, name="x")
        assert caught.value.maybe_applied
        assert "may have been applied" in str(caught.value)
        with pytest.raises(TransportError) as read:
            await mp.apps.list()
        assert not read.value.maybe_applied


# -- per-call options and hooks (issue 13) -----------------------------------------------


def test_with_options_refuses_a_misspelt_option_with_a_suggestion() -> None:
    mp = Client(client_id="id", client_secret="s3cret", account_id=1)
    with pytest.raises(RequestValidationError, match=r"'timeuot' \(did you mean 'timeout'\?\)"):
        mp.with_options(timeuot=5)
    with pytest.raises(RequestValidationError, match="unknown option 'colour'"):
        mp.with_options(colour="red")


async def test_with_options_shares_the_pool_and_applies_its_options(fake_api: FakeAPI) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.3)
        return envelope()

    async with client(fake_api, retry=RetryPolicy.disabled()) as mp:
        await mp.apps.list()
        view = mp.with_options(timeout=0.05)
        assert view.transport.session() is mp.transport.session()
        assert view.transport.concurrency is mp.transport.concurrency
        assert view.token_cache is mp.token_cache
        fake_api.handler = slow
        with pytest.raises(TransportError):
            await view.apps.list()
        assert len(await mp.apps.list()) == 0  # the parent keeps its 30 s timeout
        await view.aclose()  # closes nothing
        assert not mp.transport.session().closed
    assert fake_api.token_requests == 1


async def test_hooks_see_attempts_and_retries_but_no_secrets(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({}, status=503)
        return web.json_response(
            {"data": [], "errors": None}, headers={"X-mp-rate-limit-percentage-used": "42"}
        )

    fake_api.handler = flaky
    attempts: list[Attempt] = []
    retries: list[RetryEvent] = []
    hooks = Hooks(on_attempt=attempts.append, on_retry=retries.append)
    caplog.set_level(logging.DEBUG, logger="mpasync")
    async with client(fake_api, hooks=hooks, retry=RetryPolicy(backoff_base=0.01)) as mp:
        await mp.apps.list()
        assert mp.rate_limit_usage == 42
    # The token request goes through the same reporting as the API's requests.
    token, *attempts = attempts
    assert (token.method, token.path, token.status) == ("POST", "/oauth/token", 200)
    assert [a.status for a in attempts] == [503, 200]
    assert attempts[1].rate_limit_usage == 42 and attempts[1].attempt == 2
    assert attempts[0].path == "/v1/apps" and attempts[0].method == "GET"
    assert len(retries) == 1 and retries[0].reason == "HTTP 503"
    records = [r for r in caplog.records if getattr(r, "status", None) == 200]
    assert [r.path for r in records] == ["/oauth/token", "/v1/apps"]  # type: ignore[attr-defined]
    for event in [*attempts, *retries]:
        assert "tok-" not in repr(event) and CLIENT_SECRET not in repr(event)


async def test_a_failing_hook_never_fails_the_call(fake_api: FakeAPI) -> None:
    def boom(event: Attempt) -> None:
        raise RuntimeError("hook bug")

    async with client(fake_api, hooks=Hooks(on_attempt=boom)) as mp:
        assert len(await mp.apps.list()) == 1


def test_unknown_option_names_the_closest() -> None:
    with pytest.raises(RequestValidationError) as caught:
        Client(CLIENT_ID, CLIENT_SECRET, 1, max_concurency=4)  # type: ignore[call-arg]
    assert "max_concurrency" in str(caught.value)


@pytest.mark.parametrize("account", ["٣", "²", "1.0", "-1", " ", "0x1"])
def test_account_id_is_ascii_digits_only(account: str) -> None:
    with pytest.raises(RequestValidationError):
        Client(CLIENT_ID, CLIENT_SECRET, account)


async def test_netrc_credentials_are_never_added(
    fake_api: FakeAPI, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's own trust_env would add these to the token request (and clash with the
    # Authorization header on API calls); mpasync reads only the proxy variables.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrcuser password NETRCPASS\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[str | None] = []
    original = fake_api._token

    async def spy(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        fake_api.token_handler = None
        return await original(request)

    fake_api.token_handler = spy
    async with Client(
        CLIENT_ID, CLIENT_SECRET, 1, base_url=fake_api.base_url, token_url=fake_api.token_url
    ) as mp:
        assert len(await mp.apps.list()) == 1
    assert seen == [None]
    assert all("Basic" not in r.headers.get("Authorization", "") for r in fake_api.requests)
