"""Transport unit tests with aioresponses: URLs, headers, error mapping, envelopes, retries."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aioresponses import aioresponses

from mpasync import (
    APIError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    DecodeError,
    MethodNotAllowedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnprocessableEntityError,
    __version__,
)
from mpasync.decoding import bare, empty, envelope_list, envelope_one, parse_errors
from mpasync.models import App, Feed
from mpasync.request import Request, path
from mpasync.retry import parse_retry_after

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"
SECRET = "client-secret-xyz"
ENVELOPE = {"data": [{"id": 7, "name": "Shop"}], "dataType": "application", "errors": None}


@pytest.fixture
def mocked() -> Any:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload={"access_token": "tok-1", "expires_in": 28800}, repeat=True)
        yield m


@pytest_asyncio.fixture
async def mp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    # Backoff waits are recorded, not slept.
    monkeypatch.setattr("mpasync.transport.asyncio.sleep", fake_sleep)
    client = Client("cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    async with client:
        yield client


def calls(m: Any, method: str, url: str) -> list[Any]:
    from yarl import URL

    for (meth, u), value in m.requests.items():
        if meth == method and str(u) == str(URL(url)):
            return list(value)
    return []


# -- URL building -------------------------------------------------------------------------


def test_path_percent_encodes_every_segment() -> None:
    assert path("apps", 1, "a/b") == "/apps/1/a%2Fb"
    assert path("services", "..") == "/services/%2E%2E"
    assert path("users", "a b?c#d") == "/users/a%20b%3Fc%23d"
    with pytest.raises(RequestValidationError):
        path("apps", "")
    with pytest.raises(RequestValidationError):
        path("apps", None)


async def test_v1_urls_carry_account_id(mp: Client) -> None:
    url = mp.transport.url(Request("GET", path("apps", 3), empty))
    assert str(url) == f"{BASE}/v1/apps/3?accountId=42"


async def test_v2_urls_have_no_account_id(mp: Client) -> None:
    req = Request(
        "GET",
        path("workspaces", 9, "calculatedattributes"),
        empty,
        api="v2",
        query={"name": "a b&c"},
    )
    url = mp.transport.url(req)
    assert str(url) == f"{BASE}/platform/v2/workspaces/9/calculatedattributes?name=a%20b%26c"


async def test_hostile_names_cannot_change_the_path(mp: Client) -> None:
    url = mp.transport.url(Request("GET", path("services", "../../accounts"), empty))
    assert url.raw_path == "/v1/services/..%2F..%2Faccounts"
    url = mp.transport.url(Request("GET", path("services", ".."), empty))
    assert url.raw_path == "/v1/services/%2E%2E"


async def test_v1_without_account_id_fails_before_sending(mocked: Any) -> None:
    async with Client("cid", SECRET, base_url=BASE, token_url=TOKEN_URL) as mp:
        with pytest.raises(RequestValidationError, match="account_id"):
            await mp.apps.list()
    assert len(mocked.requests) == 0


# -- headers --------------------------------------------------------------------------------


async def test_headers_on_get_and_put(mocked: Any, mp: Client) -> None:
    mocked.get(f"{BASE}/v1/apps/7?accountId=42", payload=ENVELOPE)
    mocked.put(f"{BASE}/v1/apps/7?accountId=42", status=202)
    await mp.apps.get(7)
    await mp.apps.update(7, name="New")
    (get,) = calls(mocked, "GET", f"{BASE}/v1/apps/7?accountId=42")
    headers = get.kwargs["headers"]
    assert headers["Authorization"] == "Bearer tok-1"
    assert headers["User-Agent"] == f"mpasync/{__version__}"
    assert "Content-Type" not in headers
    (put,) = calls(mocked, "PUT", f"{BASE}/v1/apps/7?accountId=42")
    assert put.kwargs["headers"]["Content-Type"] == "application/json"
    assert put.kwargs["data"] == b'{"name":"New"}'
    (token,) = calls(mocked, "POST", TOKEN_URL)
    assert token.kwargs["headers"]["Content-Type"] == "application/json"
    assert json.loads(token.kwargs["data"]) == {
        "client_id": "cid",
        "client_secret": SECRET,
        "audience": "https://api.mparticle.com",
        "grant_type": "client_credentials",
    }


# -- status → error mapping --------------------------------------------------------------------

ERRORS = {
    "data": None,
    "errors": [{"code": "VALIDATION_ERROR", "message": "App name already exists."}],
}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (405, MethodNotAllowedError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (418, APIError),
    ],
)
async def test_status_maps_to_error_class(mocked: Any, mp: Client, status: int, cls: type) -> None:
    mocked.post(f"{BASE}/v1/apps?accountId=42", status=status, payload=ERRORS)
    with pytest.raises(cls) as info:
        await mp.apps.create(name="Shop", platforms=["iOS"])
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.errors == [("VALIDATION_ERROR", "App name already exists.")]
    assert err.method == "POST"
    assert err.url == f"{BASE}/v1/apps?accountId=42"
    assert "App name already exists." in str(err)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (429, RateLimitError),
    ],
)
async def test_retryable_statuses_raise_after_max_attempts(
    mocked: Any, mp: Client, status: int, cls: type
) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(url, status=status, payload=ERRORS, repeat=True)
    with pytest.raises(cls) as info:
        await mp.apps.get(7)
    assert info.value.status == status
    assert len(calls(mocked, "GET", url)) == 4  # RetryPolicy().max_attempts
    assert len(mp.sleeps) == 3  # type: ignore[attr-defined]
    assert mp.transport.stats.retries == 3


async def test_401_refreshes_token_and_replays_once(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(url, status=401, payload=ERRORS)
    mocked.get(url, payload=ENVELOPE)
    app = await mp.apps.get(7)
    assert app.id == 7
    assert len(calls(mocked, "POST", TOKEN_URL)) == 2  # dropped and refreshed once
    assert len(calls(mocked, "GET", url)) == 2


async def test_second_401_raises_authentication_error(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(url, status=401, payload=ERRORS, repeat=True)
    with pytest.raises(AuthenticationError) as info:
        await mp.apps.get(7)
    assert info.value.status == 401
    assert len(calls(mocked, "GET", url)) == 2


async def test_unreadable_error_body_keeps_an_excerpt(mocked: Any, mp: Client) -> None:
    mocked.get(f"{BASE}/v1/apps/7?accountId=42", status=404, body="<html>Not here</html>")
    with pytest.raises(NotFoundError) as info:
        await mp.apps.get(7)
    assert info.value.errors == []
    assert "<html>Not here</html>" in str(info.value)


def test_parse_errors_dialects() -> None:
    assert parse_errors(b'{"errors":[{"code":"A","message":"m"}]}') == [("A", "m")]
    dsr = b'{"code":400,"message":"Bad","errors":[{"domain":"d","reason":"r","message":"x"}]}'
    assert parse_errors(dsr) == [("r", "x")]
    assert parse_errors(b'{"error":{"code":409,"message":"dup"}}') == [("409", "dup")]
    assert parse_errors(b'{"message":"plain"}') == [(None, "plain")]
    assert parse_errors(b"not json") == []
    assert parse_errors(b"") == []


# -- envelopes and bodies -----------------------------------------------------------------------


def test_envelope_variants() -> None:
    assert envelope_one(App)(b'{"data":[{"id":"5","name":"A"}],"dataType":"application"}').id == 5
    feed = envelope_one(Feed)(b'{"data":[{"id":689,"data_type":"Partner Feed"}],"data_type":"x"}')
    assert feed.id == 689
    assert envelope_list(App)(b'{"data":null,"dataType":"application","errors":null}') == []
    assert bare(list[App])(b'[{"id":1,"name":"a"},{"id":2,"name":"b"}]')[1].name == "b"
    assert bare(int)(b"123") == 123
    assert empty(b"") is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"id": 1',
        b"<html>502</html>",
        b'{"data": [{"name": "no id"}]}',
        b'{"data": []}',
        b'{"data": "x"}',
        b"",
    ],
)
def test_malformed_bodies_raise_decode_error_with_excerpt(body: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        envelope_one(App)(body)
    assert info.value.excerpt == body[:200].decode(errors="replace").strip()


async def test_decode_error_names_the_request(mocked: Any, mp: Client) -> None:
    mocked.get(f"{BASE}/v1/apps/7?accountId=42", body="{oops")
    with pytest.raises(DecodeError) as info:
        await mp.apps.get(7)
    assert info.value.method == "GET"
    assert "/v1/apps/7" in str(info.value)
    assert info.value.excerpt == "{oops"


# -- Retry-After --------------------------------------------------------------------------------


def test_parse_retry_after_both_formats() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)


async def test_retry_after_seconds_is_honoured(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(url, status=429, headers={"Retry-After": "3"})
    mocked.get(url, payload=ENVELOPE)
    await mp.apps.get(7)
    (delay,) = mp.sleeps  # type: ignore[attr-defined]
    assert 3.0 <= delay <= 3.3 + 1e-9  # the value plus a little jitter


async def test_retry_after_http_date_is_honoured(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    mocked.get(url, status=503, headers={"Retry-After": when})
    mocked.get(url, payload=ENVELOPE)
    await mp.apps.get(7)
    (delay,) = mp.sleeps  # type: ignore[attr-defined]
    assert 17.0 <= delay <= 22.1


async def test_retry_after_beyond_limit_fails_at_once(mocked: Any) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(
        url, status=429, headers={"Retry-After": "900", "X-mp-rate-limit-exceeded": "account"}
    )
    async with Client("cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL) as mp:
        with pytest.raises(RateLimitError) as info:
            await mp.apps.get(7)
    assert info.value.retry_after == 900
    assert info.value.exceeded == "account"


def test_backoff_is_full_jitter_capped() -> None:
    import random

    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(1)
    waits = [policy.backoff(n, rng) for n in range(1, 10) for _ in range(50)]
    assert min(waits) >= 0.0
    assert max(waits) <= 4.0
    assert max(policy.backoff(1, rng) for _ in range(200)) <= 0.5
    assert max(policy.backoff(8, rng) for _ in range(200)) > 2.0  # reaches past the base


def test_retry_policy_validates() -> None:
    with pytest.raises(RequestValidationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(RequestValidationError):
        RetryPolicy(backoff_base=-1)


# -- POST safety ---------------------------------------------------------------------------------


async def test_post_not_retried_after_a_5xx(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps?accountId=42"
    mocked.post(url, status=503, repeat=True)
    with pytest.raises(ServerError):
        await mp.apps.create(name="Shop", platforms=["iOS"])
    assert len(calls(mocked, "POST", url)) == 1


async def test_post_not_retried_after_the_connection_broke(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps?accountId=42"
    mocked.post(url, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(TransportError, match="1 attempt"):
        await mp.apps.create(name="Shop", platforms=["iOS"])
    assert len(calls(mocked, "POST", url)) == 1


async def test_post_retried_when_never_sent_and_on_429(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps?accountId=42"
    conn_key = aiohttp.client_reqrep.ConnectionKey(
        "api.example.test", 443, True, None, None, None, None
    )
    mocked.post(url, exception=aiohttp.ClientConnectorError(conn_key, OSError(111, "refused")))
    mocked.post(url, status=429, headers={"Retry-After": "0"})
    mocked.post(url, status=201, payload=ENVELOPE)
    app = await mp.apps.create(name="Shop", platforms=["iOS"])
    assert app.id == 7
    assert len(calls(mocked, "POST", url)) == 3


async def test_post_retried_when_caller_opts_in(mocked: Any) -> None:
    url = f"{BASE}/v1/apps?accountId=42"
    mocked.post(url, status=503)
    mocked.post(url, status=201, payload=ENVELOPE)
    policy = RetryPolicy(retry_unsafe=True, backoff_base=0.0)
    async with Client("cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL, retry=policy) as mp:
        app = await mp.apps.create(name="Shop", platforms=["iOS"])
    assert app.id == 7


async def test_put_retried_after_connection_drop(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.put(url, exception=aiohttp.ServerDisconnectedError())
    mocked.put(url, exception=asyncio.TimeoutError())
    mocked.put(url, status=202)
    await mp.apps.update(7, name="x")
    assert len(calls(mocked, "PUT", url)) == 3


async def test_transport_error_after_retries_are_spent(mocked: Any, mp: Client) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(url, exception=asyncio.TimeoutError(), repeat=True)
    with pytest.raises(TransportError, match="timed out") as info:
        await mp.apps.get(7)
    assert info.value.method == "GET"
    assert len(calls(mocked, "GET", url)) == 4


async def test_disabled_retries_make_one_attempt(mocked: Any) -> None:
    url = f"{BASE}/v1/apps/7?accountId=42"
    mocked.get(url, status=503, repeat=True)
    async with Client(
        "cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL, retry=RetryPolicy.disabled()
    ) as mp:
        with pytest.raises(ServerError):
            await mp.apps.get(7)
    assert len(calls(mocked, "GET", url)) == 1


async def test_transient_token_failure_is_retried() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, status=503)
        m.post(TOKEN_URL, payload={"access_token": "tok-9", "expires_in": 100})
        m.get(re.compile(rf"{re.escape(BASE)}/v1/apps/7.*"), payload=ENVELOPE)
        async with Client(
            "cid",
            SECRET,
            42,
            base_url=BASE,
            token_url=TOKEN_URL,
            retry=RetryPolicy(backoff_base=0.0),
        ) as mp:
            assert (await mp.apps.get(7)).id == 7


async def test_closed_client_refuses_requests(mocked: Any) -> None:
    mp = Client("cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL)
    await mp.aclose()
    with pytest.raises(TransportError, match="closed"):
        await mp.apps.list()


def test_client_argument_validation() -> None:
    with pytest.raises(RequestValidationError):
        Client("cid", "", 1)
    with pytest.raises(RequestValidationError):
        Client("cid", "s", "abc")
    with pytest.raises(RequestValidationError):
        Client("cid", "s", 1, max_concurrency=0)
    with pytest.raises(RequestValidationError):
        Client("cid", "s", 1, rate_limit=-5)
    with pytest.raises(RequestValidationError):
        Client("cid", "s", 1, base_url="ftp://x")
    with pytest.raises(RequestValidationError):
        Client("cid", "s", 1, timeout=0)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPARTICLE_CLIENT_ID", "cid")
    monkeypatch.setenv("MPARTICLE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("MPARTICLE_ACCOUNT_ID", "12")
    monkeypatch.setenv("MPARTICLE_BASE_URL", BASE)
    mp = Client.from_env(max_concurrency=3)
    assert mp.account_id == 12
    assert mp.transport.base_url == BASE
    assert mp.transport.concurrency.capacity == 3
    monkeypatch.delenv("MPARTICLE_CLIENT_SECRET")
    with pytest.raises(RequestValidationError, match="MPARTICLE_CLIENT_SECRET"):
        Client.from_env()


async def test_token_endpoint_down_for_every_attempt_raises_token_error() -> None:
    from mpasync import TokenError

    with aioresponses() as m:
        m.post(TOKEN_URL, status=503, body="maintenance", repeat=True)
        async with Client(
            "cid",
            SECRET,
            42,
            base_url=BASE,
            token_url=TOKEN_URL,
            retry=RetryPolicy(max_attempts=3, backoff_base=0.0),
        ) as mp:
            with pytest.raises(TokenError) as info:
                await mp.apps.get(7)
    assert info.value.status == 503
    assert len(calls(m, "POST", TOKEN_URL)) == 3


# -- a response over max_response_bytes (issue 18) ------------------------------------------


async def test_a_too_large_2xx_answer_to_a_write_may_have_been_applied(mocked: Any) -> None:
    from mpasync.errors import ResponseTooLargeError

    big = {"data": [{"id": 7, "name": "x" * 5000}], "dataType": "application", "errors": None}
    mocked.post(re.compile(rf"{re.escape(BASE)}/v1/apps.*"), payload=big, status=201)
    mocked.get(re.compile(rf"{re.escape(BASE)}/v1/apps.*"), payload=big)
    async with Client(
        "cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL, max_response_bytes=1000
    ) as mp:
        with pytest.raises(ResponseTooLargeError) as write:
            await mp.apps.create(name="Shop", platforms=["iOS"])
        with pytest.raises(ResponseTooLargeError) as read:
            await mp.apps.list()
    assert write.value.maybe_applied is True
    assert "may have been applied" in str(write.value)
    assert write.value.method == "POST" and write.value.limit == 1000
    # A read applies nothing: as before.
    assert read.value.maybe_applied is False
    assert "applied" not in str(read.value)


async def test_a_too_large_error_answer_to_a_write_was_not_accepted(mocked: Any) -> None:
    from mpasync.errors import ResponseTooLargeError

    mocked.post(
        re.compile(rf"{re.escape(BASE)}/v1/apps.*"), body="x" * 5000, status=400, repeat=True
    )
    async with Client(
        "cid", SECRET, 42, base_url=BASE, token_url=TOKEN_URL, max_response_bytes=1000
    ) as mp:
        with pytest.raises(ResponseTooLargeError) as caught:
            await mp.apps.create(name="Shop", platforms=["iOS"])
    assert caught.value.maybe_applied is False
