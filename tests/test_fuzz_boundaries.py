"""Fuzzing the trust boundaries: whatever a server sends, only mpasync errors come out.

Arbitrary bytes go through every decoder shape and the token endpoint's reader, and
arbitrary statuses, headers and bodies through the whole transport (aioresponses).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpasync import Client, RetryPolicy, TokenCache
from mpasync.decoding import bare, empty, envelope_list, envelope_one, maybe_one, parse_errors
from mpasync.errors import DecodeError, MParticleError, TokenError
from mpasync.models import App, DataPointFilter, ServiceFiltering


def jsonish(max_nesting: int) -> st.SearchStrategy[bytes]:
    """Bytes a server might send: garbage, JSON of any shape, absurd nesting, bad UTF-8."""
    return st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
        st.integers(1, max_nesting).map(lambda n: b"[" * n),
        st.sampled_from([b'{"data": [{"id": "\xff"}]}', b'{"errors": [{"message": "\xc3\x28"}]}']),
    )


JSONISH = jsonish(200_000)
# aioresponses feeds a body into aiohttp's stream at once; past 64 KiB aiohttp's flow
# control trips over the fake protocol, so the transport fuzz keeps bodies smaller (the
# live tests in test_hardening.py send the big ones over a real socket).
SMALL_JSONISH = jsonish(60_000)

DECODERS: list[Any] = [
    envelope_list(App),
    envelope_one(App),
    maybe_one(App),
    bare(list[DataPointFilter]),
    bare(ServiceFiltering),
    empty,
]


@settings(max_examples=300, deadline=None)
@given(body=JSONISH)
def test_every_decoder_raises_only_decode_errors(body: bytes) -> None:
    for decode in DECODERS:
        try:
            decode(body)
        except DecodeError:
            pass
    assert isinstance(parse_errors(body), list)


@settings(max_examples=300, deadline=None)
@given(body=JSONISH)
def test_token_bodies_raise_only_token_errors(body: bytes) -> None:
    cache = TokenCache("id", "a-secret-value")
    try:
        token, lifetime = cache._checked(body, "https://auth.example")
    except TokenError as exc:
        assert "a-secret-value" not in str(exc)
    else:
        assert token and lifetime > 0
    assert "a-secret-value" not in cache._scrub(body)


STATUSES = st.sampled_from(
    [
        200,
        201,
        202,
        204,
        301,
        302,
        304,
        307,
        308,
        400,
        401,
        403,
        404,
        405,
        409,
        418,
        422,
        429,
        500,
        502,
        503,
        504,
    ]
)
HEADER_VALUES = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40
) | st.sampled_from(["0", "-1", "1e309", "nan", "Wed, 21 Oct 2015 07:28:00 GMT", ""])
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Retry-After",
            "Location",
            "Content-Type",
            "X-mp-rate-limit-percentage-used",
            "X-mp-rate-limit-exceeded",
        ]
    ),
    HEADER_VALUES,
    max_size=4,
)

BASE = "https://api.fuzz.example"
TOKEN_URL = "https://auth.fuzz.example/oauth/token"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=STATUSES,
    headers=HEADERS,
    body=SMALL_JSONISH,
    token_status=st.sampled_from([200, 200, 200, 307, 400, 429, 500]),
    token_body=SMALL_JSONISH,
)
def test_the_transport_raises_only_mpasync_errors(
    status: int, headers: dict[str, str], body: bytes, token_status: int, token_body: bytes
) -> None:
    async def run() -> None:
        with aioresponses() as mocked:
            if token_status == 200 and token_body[:1] == b"[":
                mocked.post(TOKEN_URL, status=200, body=token_body, repeat=True)
            elif token_status == 200:
                mocked.post(
                    TOKEN_URL, status=200, payload={"access_token": "t0k", "expires_in": 60}
                )
            else:
                mocked.post(TOKEN_URL, status=token_status, body=token_body, repeat=True)
            mocked.get(
                f"{BASE}/v1/apps?accountId=1",
                status=status,
                headers=headers,
                body=body,
                repeat=True,
            )
            async with Client(
                "id",
                "a-secret-value",
                1,
                base_url=BASE,
                token_url=TOKEN_URL,
                retry=RetryPolicy(max_attempts=2, backoff_base=0, max_retry_after=0.01),
                deadline=2.0,
            ) as mp:
                try:
                    await mp.apps.list()
                except MParticleError as exc:
                    assert "a-secret-value" not in str(exc)

    asyncio.run(run())
