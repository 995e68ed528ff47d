"""Malformed responses and hostile arguments: only the documented error types come out.

Responses: hypothesis-generated bodies (truncated JSON, wrong types, HTML error pages,
empty 200s, very large bodies) with arbitrary status codes, through every decoder shape;
the client raises only `DecodeError` or an `APIError`. Arguments: hypothesis-generated
values for resource methods raise only `RequestValidationError`, naming the field, and
send nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpasync import APIError, Client, DecodeError, RequestValidationError, RetryPolicy
from tests.fakeapi import CLIENT_ID, CLIENT_SECRET, FakeAPI

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"
ANY_URL = re.compile(r"^https://api\.example\.test/.*$")

VALID_APP = {"id": 1, "name": "Shop", "platforms": [{"os": "iOS", "access_keys": []}]}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _bodies() -> st.SearchStrategy[bytes]:
    valid = json.dumps({"data": [VALID_APP], "dataType": "application", "errors": None}).encode()
    return st.one_of(
        st.binary(max_size=300),
        st.integers(min_value=0, max_value=len(valid)).map(lambda n: valid[:n]),  # truncated
        json_values.map(lambda v: json.dumps(v).encode()),  # wrong types and shapes
        json_values.map(lambda v: json.dumps({"data": [v], "dataType": "x"}).encode()),
        json_values.map(lambda v: json.dumps({"data": v}).encode()),
        st.just(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        st.just(b""),
        # Bigger bodies go through a real server below (aioresponses' fake stream can't
        # carry more than its buffer).
        st.just(b'{"data": [' + b'{"id": "not-a-number", "name": 5},' * 300 + b"{}]}"),
    )


CALLS: list[Callable[[Client], Awaitable[Any]]] = [
    lambda mp: mp.apps.get(1),  # envelope, one
    lambda mp: mp.apps.list(),  # envelope, list
    lambda mp: mp.audiences.list(),  # bare list
    lambda mp: mp.calculated_attributes.create(
        1,
        name="ca",
        draft_definition={
            "recipe_type": "event",
            "calculation_type": "count",
            "datapoint": {"type": "event", "event_name": "Buy", "event_type": "custom_event"},
            "time_period": {"type": "all"},
        },
    ),  # bare int
    lambda mp: mp.calculated_attributes.get(1, 2),  # bare object
    lambda mp: mp.datapoint_filters.update(1, "Svc", [{"name": "Email", "type": "UserIdentity"}]),
    lambda mp: mp.apps.update(1, name="x"),  # maybe-envelope
    lambda mp: mp.apps.delete(1),  # empty
    lambda mp: mp.calculated_attributes.exists(1),  # HEAD
]


async def _call(status: int, body: bytes, which: int) -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload={"access_token": "t", "expires_in": 3600}, repeat=True)
        for method in ("get", "post", "put", "delete", "head"):
            getattr(m, method)(ANY_URL, status=status, body=body, repeat=True)
        async with Client(
            "id", "secret", 1, base_url=BASE, token_url=TOKEN_URL, retry=RetryPolicy.disabled()
        ) as mp:
            try:
                await CALLS[which](mp)
            except (DecodeError, APIError) as exc:
                assert str(exc)  # a readable message
                if isinstance(exc, DecodeError):
                    assert len(exc.excerpt) <= 210


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=st.sampled_from(
        [200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 418, 422, 429, 500, 502, 503, 504]
    )
    | st.integers(min_value=200, max_value=599),
    body=_bodies(),
    which=st.integers(min_value=0, max_value=len(CALLS) - 1),
)
def test_malformed_responses_raise_only_decode_or_api_errors(
    status: int, body: bytes, which: int
) -> None:
    asyncio.run(_call(status, body, which))


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [' + b'{"id": 1, "name": "x", "platforms": []},' * 100_000 + b'{"id": 2}]}',
        b'{"data": [' + b'{"id": "not-a-number", "name": 5},' * 100_000 + b"{}]}",
        b"<html>" + b"x" * 3_000_000 + b"</html>",
        b'{"data": [{"id": 1, "name": "' + b"y" * 5_000_000,
    ],
    ids=["huge-valid-but-wrong-shape", "huge-wrong-types", "huge-html", "huge-truncated"],
)
async def test_very_large_bodies_from_a_real_server(fake_api: FakeAPI, body: bytes) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    fake_api.handler = handler
    async with Client(
        CLIENT_ID,
        CLIENT_SECRET,
        1,
        base_url=fake_api.base_url,
        token_url=fake_api.token_url,
        retry=RetryPolicy.disabled(),
    ) as mp:
        with pytest.raises(DecodeError) as info:
            await mp.apps.get(1)
    assert len(info.value.excerpt) <= 210
    assert len(str(info.value)) < 2_000  # a short excerpt, not the body


# -- hostile arguments ----------------------------------------------------------------------

anything = st.one_of(
    json_values,
    st.binary(max_size=10),
    st.just(object()),
    st.just(float("nan")),
    st.just(-1),
    st.just(""),
    st.just("a/b"),
    st.just(".."),
)


async def _arguments(call: Callable[[Client], Awaitable[Any]]) -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload={"access_token": "t", "expires_in": 3600}, repeat=True)
        for method in ("get", "post", "put", "delete", "head"):
            getattr(m, method)(ANY_URL, status=200, body=b"{}", repeat=True)
        async with Client(
            "id", "secret", 1, base_url=BASE, token_url=TOKEN_URL, retry=RetryPolicy.disabled()
        ) as mp:
            try:
                await call(mp)
            except RequestValidationError as exc:
                assert exc.field or "path parameter" in str(exc)
                if exc.field:
                    root = re.split(r"[.\[]", exc.field)[0]
                    assert root in str(exc) or exc.field in str(exc)
                sent = [k for k in m.requests if str(k[1]).startswith(BASE)]
                assert sent == []
            except (DecodeError, APIError):
                pass  # valid input reached the (canned) server


@settings(max_examples=300, deadline=None)
@given(a=anything, b=anything, c=anything, which=st.integers(min_value=0, max_value=9))
def test_hostile_arguments_raise_only_request_validation_errors(
    a: Any, b: Any, c: Any, which: int
) -> None:
    calls: list[Callable[[Client], Awaitable[Any]]] = [
        lambda mp: mp.apps.create(name=a, platforms=b),
        lambda mp: mp.platforms.create(a, b, push_attribution_timer=c),
        lambda mp: mp.datapoint_filters.update(a, b, c),
        lambda mp: mp.datapoints.add(a, b),
        lambda mp: mp.calculated_attributes.create(a, name=b, draft_definition=c),
        lambda mp: mp.field_transformations.create(a, b),
        lambda mp: mp.feeds.create(a, module_name=b, name=c, os=b),
        lambda mp: mp.platform_services.configure(a, "iOS", name=b, settings=c),
        lambda mp: mp.users.get(a),
        lambda mp: mp.bulk.update_datapoint_filters([1], a, b),
    ]
    asyncio.run(_arguments(calls[which]))
