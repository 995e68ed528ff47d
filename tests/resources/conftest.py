"""Fixtures for the resource tests: an aioresponses mock, a Client wired to it, helpers
that find the one API call a resource method made and decode its JSON body, and `fails`
(the shape of every client-side refusal)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aioresponses import aioresponses
from aioresponses.core import normalize_url  # type: ignore[attr-defined]

from mpasync import Client, RequestValidationError

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"
ACCOUNT_ID = 42
API_PREFIXES = ("/v1", "/platform")


def v1(path: str, **query: str) -> str:
    """The absolute v1 URL the client should call: ``accountId`` first, then ``query``."""
    return f"{BASE}/v1{path}?" + urlencode({"accountId": str(ACCOUNT_ID), **query})


def v2(path: str, **query: str) -> str:
    """The absolute v2 URL the client should call (no ``accountId``)."""
    return f"{BASE}/platform/v2{path}" + (f"?{urlencode(query)}" if query else "")


def api_requests(mocked: aioresponses) -> dict[tuple[str, str], list[Any]]:
    """Every recorded Platform API call (token calls left out), keyed by (method, url)."""
    return {
        (method, str(url)): list(calls)
        for (method, url), calls in mocked.requests.items()
        if url.path.startswith(API_PREFIXES)
    }


def body_of(call: Any) -> Any:
    """A recorded call's JSON body, decoded; None when nothing was sent."""
    data = call.kwargs.get("data")
    return None if data is None else json.loads(data)


def calls_to(mocked: aioresponses, method: str, url: str) -> list[Any]:
    """The recorded calls for exactly (method, url)."""
    return api_requests(mocked).get((method, str(normalize_url(url))), [])


def sent(mocked: aioresponses, method: str, url: str) -> Any:
    """Assert that the only API call made was one ``method url``; return its decoded body.

    Comparing whole URLs checks the path and the query (``accountId`` on v1, none on v2).
    """
    recorded = api_requests(mocked)
    key = (method, str(normalize_url(url)))
    assert list(recorded) == [key], f"expected only {key}, got {list(recorded)}"
    (call,) = recorded[key]
    data = call.kwargs.get("data")
    if data is not None:
        assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert call.kwargs["headers"]["Authorization"] == "Bearer tok-1"
    return body_of(call)


def assert_nothing_sent(mocked: aioresponses) -> None:
    """No Platform API request was made (a token request would not matter)."""
    assert api_requests(mocked) == {}


def envelope(data: list[Any], data_type: str = "item", *, snake: bool = False) -> dict[str, Any]:
    """A v1 envelope around ``data`` (feeds spell the type key ``data_type``)."""
    key = "data_type" if snake else "dataType"
    return {"data": data, key: data_type, "errors": None}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload={"access_token": "tok-1", "expires_in": 28800}, repeat=True)
        yield m


@pytest_asyncio.fixture
async def mp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    async def no_sleep(delay: float) -> None:
        return None

    # Should a retry happen (an unmatched URL is a connection error), it must not sleep.
    monkeypatch.setattr("mpasync.transport.asyncio.sleep", no_sleep)
    async with Client("cid", "secret", ACCOUNT_ID, base_url=BASE, token_url=TOKEN_URL) as client:
        yield client


def fails(call: Callable[[], object], field: str, match: str) -> RequestValidationError:
    """Run `call`, expect a RequestValidationError on `field` whose message matches."""
    with pytest.raises(RequestValidationError, match=match) as info:
        call()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)
    return info.value
