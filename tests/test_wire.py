"""The seam at the wire: a client over an in-memory `MockWire`, no aiohttp involved.

The token request goes over the same wire as the API's requests; the wire's failures
map to the transport's typed errors; the scope of a request travels on the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from mpasync import Client
from mpasync.errors import (
    RequestValidationError,
    ResponseTooLargeError,
    TokenError,
    TransportError,
)
from mpasync.options import Options
from mpasync.request import Request
from mpasync.retry import RetryPolicy
from mpasync.wire import BodyTooLarge, MockWire, WireError, WireRequest, WireResponse

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"
SECRET = "s3cr3t-value"
APP = {"data": [{"id": 7, "name": "Seven", "platforms": []}], "errors": None}
TOKEN = {"access_token": "tok-1", "expires_in": 3600}


def answer(status: int, payload: object, headers: Mapping[str, str] | None = None) -> WireResponse:
    return WireResponse(status, dict(headers or {}), json.dumps(payload).encode())


def client(wire: MockWire, **options: object) -> Client:
    options.setdefault("retry", RetryPolicy(backoff_base=0.001, backoff_max=0.001))
    return Client(
        "cid",
        SECRET,
        1,
        base_url=BASE,
        token_url=TOKEN_URL,
        wire=wire,
        **options,  # type: ignore[arg-type]
    )


def api(handler_for_api: object) -> MockWire:
    """A wire answering the token endpoint, and the API with ``handler_for_api``."""

    def handler(request: WireRequest) -> WireResponse:
        if str(request.url) == TOKEN_URL:
            return answer(200, TOKEN)
        return handler_for_api(request)  # type: ignore[operator, no-any-return]

    return MockWire(handler)


async def test_a_call_and_its_token_go_over_the_same_wire() -> None:
    wire = api(lambda request: answer(200, APP))
    async with client(wire) as mp:
        app = await mp.apps.get(7)
    assert app.id == 7 and app.name == "Seven"
    token, get = wire.requests
    assert (token.method, str(token.url)) == ("POST", TOKEN_URL)
    assert json.loads(token.data or b"") == {
        "client_id": "cid",
        "client_secret": SECRET,
        "audience": "https://api.mparticle.com",
        "grant_type": "client_credentials",
    }
    assert token.max_bytes == 1 << 16  # the token body's own cap
    assert (get.method, str(get.url)) == ("GET", f"{BASE}/v1/apps/7?accountId=1")
    assert get.headers["Authorization"] == "Bearer tok-1"
    assert get.max_bytes == mp.transport.max_response_bytes
    assert wire.closed  # the client closes the wire it was given


async def test_a_wire_cannot_change_what_later_requests_send() -> None:
    tampered: list[str] = []

    def handler(request: WireRequest) -> WireResponse:
        try:
            request.headers["X-Injected"] = "1"  # type: ignore[index]
        except TypeError:
            tampered.append("refused")
        return answer(200, APP)

    wire = api(handler)
    async with client(wire) as mp:
        await mp.apps.get(7)
        await mp.apps.get(7)
    assert tampered == ["refused", "refused"]
    assert all("X-Injected" not in r.headers for r in wire.requests)


async def test_reprs_show_no_credentials() -> None:
    wire = api(lambda request: answer(200, APP))
    async with client(wire) as mp:
        await mp.apps.get(7)
    token, get = wire.requests
    for request in (token, get):
        shown = repr(request)
        assert "tok-1" not in shown and SECRET not in shown and "Bearer" not in shown
    assert "Authorization" in repr(get)  # the header's name only
    described = Request("POST", "/events", bytes, body={"apiKey": "key-123"})
    assert "key-123" not in repr(described) and "/events" in repr(described)


async def test_a_view_closes_nothing_and_shares_the_wire() -> None:
    wire = api(lambda request: answer(200, APP))
    async with client(wire) as mp:
        view = mp.with_options(timeout=5)
        await view.apps.get(7)
        await view.aclose()
        assert not wire.closed
        assert wire.requests[-1].timeout == 5
        await mp.apps.get(7)
        assert wire.requests[-1].timeout == 30


async def test_a_connection_never_made_is_retried_even_for_a_post() -> None:
    failures = [WireError("refused", sent=False)]

    def handler(request: WireRequest) -> WireResponse:
        if failures:
            raise failures.pop()
        return answer(200, {"data": [{"id": 9, "name": "n", "platforms": []}], "errors": None})

    async with client(api(handler)) as mp:
        created = await mp.apps.create(name="n", platforms=["iOS"])
    assert created.id == 9
    assert mp.transport.stats.retries == 1


async def test_a_post_that_may_have_been_sent_is_not_retried() -> None:
    def handler(request: WireRequest) -> WireResponse:
        raise WireError("connection reset", sent=True)

    wire = api(handler)
    async with client(wire) as mp:
        with pytest.raises(TransportError) as caught:
            await mp.apps.create(name="n", platforms=["iOS"])
    assert caught.value.maybe_applied
    assert "connection reset" in str(caught.value)
    assert [r.method for r in wire.requests] == ["POST", "POST"]  # token, then one attempt


async def test_a_body_over_the_cap_is_a_typed_error() -> None:
    wire = api(lambda request: answer(200, {"data": ["x" * 100]}))
    async with client(wire, max_response_bytes=50) as mp:
        with pytest.raises(ResponseTooLargeError) as caught:
            await mp.apps.list()
    assert caught.value.limit == 50


async def test_a_token_endpoint_failing_on_the_wire_is_a_token_error() -> None:
    def handler(request: WireRequest) -> WireResponse:
        if str(request.url) == TOKEN_URL:
            raise WireError("timed out", sent=True, timed_out=True)
        return answer(200, APP)

    async with client(MockWire(handler), retry=RetryPolicy(max_attempts=1)) as mp:
        with pytest.raises(TokenError, match="did not answer within"):
            await mp.apps.get(7)


async def test_a_huge_token_body_is_refused() -> None:
    def handler(request: WireRequest) -> WireResponse:
        raise BodyTooLarge(200)

    async with client(MockWire(handler), retry=RetryPolicy(max_attempts=1)) as mp:
        with pytest.raises(TokenError, match="body over"):
            await mp.apps.get(7)


class Recording:
    """A rate limiter that records the scope of every start."""

    rate = 1000.0

    def __init__(self) -> None:
        self.scopes: list[str | None] = []

    async def acquire(self, scope: str | None = None) -> None:
        self.scopes.append(scope)

    async def observe(self, scope: str | None, status: int, headers: Mapping[str, str]) -> None:
        pass


async def test_the_scope_travels_on_the_request() -> None:
    def handler(request: WireRequest) -> WireResponse:
        if request.url.path.endswith("/datapoints"):
            return answer(200, {"data": [], "errors": None})
        return answer(200, APP)

    limiter = Recording()
    async with client(api(handler), rate_limit=limiter) as mp:
        await mp.apps.get(7)
        await mp.apps.list()
        await mp.datapoints.list(12)
        await mp.datapoint_filters.list(13, "webhook")
    assert limiter.scopes == ["7", None, "12", "13"]


def test_options_are_checked_once_and_replace_checks_what_changes() -> None:
    options = Options.of({"timeout": 5, "max_concurrency": 4})
    assert (options.timeout, options.max_concurrency, options.deadline) == (5, 4, None)
    assert options.replace(deadline=9).deadline == 9
    assert options.replace(deadline=9).timeout == 5
    with pytest.raises(RequestValidationError, match="timeout"):
        options.replace(timeout=0)
    with pytest.raises(RequestValidationError, match="did you mean 'timeout'"):
        Options.of({"timeuot": 1})
    with pytest.raises(RequestValidationError, match="wire"):
        Options.of({"wire": object()})
    assert Options.of(options) is options


async def test_a_wire_and_a_session_together_are_refused() -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        with pytest.raises(RequestValidationError, match="either wire= or session="):
            client(MockWire(lambda r: answer(200, APP)), session=session)


def _readme_wire_snippet() -> str:
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    found = re.search(
        r"<!-- wire-snippet:start -->\s*```python\n(.*?)```", readme.read_text("utf-8"), re.S
    )
    assert found is not None
    return found.group(1)


async def test_the_readme_mock_wire_snippet_runs_as_written() -> None:
    scope: dict[str, object] = {"Client": Client}
    exec(_readme_wire_snippet(), scope)
    mp = scope["mp"]
    assert isinstance(mp, Client)
    async with mp:
        assert await mp.apps.list() == []
