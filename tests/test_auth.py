"""The single-flight token cache, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses

from mpasync import Client, RequestValidationError, RetryPolicy, TokenCache, TokenError
from mpasync.auth import refresh_margin
from tests import virtual_time
from tests.fakeapi import CLIENT_ID, CLIENT_SECRET, FakeAPI


def make_cache(api: FakeAPI, **kw: object) -> TokenCache:
    return TokenCache(CLIENT_ID, CLIENT_SECRET, token_url=api.token_url, **kw)  # type: ignore[arg-type]


async def test_thousand_concurrent_callers_cause_one_token_request(fake_api: FakeAPI) -> None:
    fake_api.token_delay = 0.2
    cache = make_cache(fake_api)
    tokens = await asyncio.gather(*(cache.get() for _ in range(1000)))
    assert fake_api.token_requests == 1
    assert len(set(tokens)) == 1
    assert tokens[0] in fake_api.valid_tokens
    # Cached now: more callers, still one request.
    await asyncio.gather(*(cache.get() for _ in range(100)))
    assert fake_api.token_requests == 1


async def test_cancelling_half_the_waiters_does_not_cancel_the_fetch(fake_api: FakeAPI) -> None:
    fake_api.token_delay = 0.3
    cache = make_cache(fake_api)
    tasks = [asyncio.create_task(cache.get()) for _ in range(200)]
    await asyncio.sleep(0.1)  # all are waiting on the in-flight fetch
    assert fake_api.token_requests == 1
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
    tokens = [r for r in results if isinstance(r, str)]
    assert len(cancelled) == 100
    assert len(tokens) == 100 and len(set(tokens)) == 1
    assert fake_api.token_requests == 1


async def test_cancelling_every_waiter_still_caches_the_token(fake_api: FakeAPI) -> None:
    fake_api.token_delay = 0.2
    cache = make_cache(fake_api)
    task = asyncio.create_task(cache.get())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    token = await cache.get()
    assert token in fake_api.valid_tokens
    assert fake_api.token_requests == 1


@pytest.mark.parametrize("status", [401, 500])
async def test_failed_fetch_fails_every_waiter_and_is_not_cached(
    fake_api: FakeAPI, status: int
) -> None:
    fake_api.token_status = status
    fake_api.token_delay = 0.1
    fake_api.token_body = b'{"error": "invalid_client", "error_description": "bad ' + (
        CLIENT_SECRET.encode() + b'"}'
    )
    cache = make_cache(fake_api)
    results = await asyncio.gather(*(cache.get() for _ in range(50)), return_exceptions=True)
    assert all(isinstance(r, TokenError) for r in results)
    assert fake_api.token_requests == 1
    err = results[0]
    assert isinstance(err, TokenError)
    assert err.status == status
    assert str(status) in str(err)
    assert CLIENT_SECRET not in str(err)  # the server echoed it; we scrub it
    # The next call tries again and recovers.
    fake_api.token_status = 200
    token = await cache.get()
    assert token in fake_api.valid_tokens
    assert fake_api.token_requests == 2


async def test_unreachable_token_endpoint_raises_token_error() -> None:
    cache = TokenCache(CLIENT_ID, CLIENT_SECRET, token_url="http://127.0.0.1:9/oauth/token")
    with pytest.raises(TokenError) as info:
        await cache.get()
    assert info.value.status is None
    assert "unreachable" in str(info.value)


async def test_invalidate_drops_only_the_current_token(fake_api: FakeAPI) -> None:
    cache = make_cache(fake_api)
    first = await cache.get()
    assert cache.invalidate("some-older-token") is False
    assert await cache.get() == first
    assert cache.invalidate(first) is True
    assert cache.invalidate(first) is False  # the second 401 of a burst is a no-op
    second = await cache.get()
    assert second != first
    assert fake_api.token_requests == 2


def test_refreshes_ahead_of_expiry_without_blocking() -> None:
    """On a virtual clock: the margin is 0.2 s of a 2 s token, so the call at 1.85 s is
    inside it on any machine, however busy."""
    issued: list[str] = []

    async def token(url: Any, **kwargs: Any) -> CallbackResult:
        if issued:  # the refresh takes a while: callers must not wait for it
            await asyncio.sleep(0.1)
        issued.append(f"tok-{len(issued) + 1}")
        return CallbackResult(payload={"access_token": issued[-1], "expires_in": 2})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(VTOKEN_URL, callback=token, repeat=True)
            cache = TokenCache(CLIENT_ID, CLIENT_SECRET, token_url=VTOKEN_URL)
            first = await cache.get()
            fetched = loop.time()
            assert refresh_margin(2.0) == pytest.approx(0.2)
            assert refresh_margin(28800.0) == 300.0  # an 8-hour token: 5 minutes early
            await asyncio.sleep(1.75)
            assert await cache.get() == first  # before the margin: cached, no fetch
            assert cache._inflight is None and len(issued) == 1
            await asyncio.sleep(0.1)  # 1.85 s: inside the margin, still valid
            # Served the still-valid token at once, not the new one: the caller did not
            # wait for the refresh, which runs in the background.
            before = loop.time()
            assert await cache.get() == first
            assert loop.time() == before
            assert cache._inflight is not None  # ... while a refresh is under way
            await asyncio.sleep(0.12)  # the refresh took 0.1 s
            second = await cache.get()
            assert second != first and second == issued[-1]
            assert len(issued) == 2 and cache.fetch_count == 2
            assert loop.time() - fetched < 2.0  # replaced before the old one expired

    virtual_time.run(main())


async def test_expired_token_is_fetched_again(fake_api: FakeAPI) -> None:
    fake_api.token_ttl = 0.3
    cache = make_cache(fake_api)
    first = await cache.get()
    await asyncio.sleep(0.35)
    results = await asyncio.gather(*(cache.get() for _ in range(20)))
    assert set(results) != {first}
    assert len(set(results)) == 1
    assert fake_api.token_requests == 2


def test_repr_hides_the_secret() -> None:
    cache = TokenCache(CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(cache)
    assert CLIENT_ID in repr(cache)


def test_requires_credentials() -> None:
    with pytest.raises(RequestValidationError):
        TokenCache("", "x")


# -- the token endpoint's Retry-After is capped (issue 18), on a virtual clock --------------

VTOKEN_URL = "https://sso.example.test/oauth/token"
VBASE = "https://api.example.test"
APPS = re.compile(rf"{re.escape(VBASE)}/v1/apps.*")
YEAR_9999 = "Fri, 31 Dec 9999 23:59:59 GMT"


def vclient(**options: Any) -> Client:
    return Client(CLIENT_ID, CLIENT_SECRET, 1, base_url=VBASE, token_url=VTOKEN_URL, **options)


@pytest.mark.parametrize("retry_after", ["1000000000", YEAR_9999])
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("deadline", [None, 60.0])
def test_a_huge_token_retry_after_fails_at_once_then_the_endpoint_is_tried_again(
    retry_after: str, status: int, deadline: float | None
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(VTOKEN_URL, status=status, headers={"Retry-After": retry_after})
            m.post(VTOKEN_URL, payload={"access_token": "tok-ok", "expires_in": 3600})
            m.get(APPS, payload={"data": [], "errors": None}, repeat=True)
            async with vclient(deadline=deadline) as mp:
                started = loop.time()
                with pytest.raises(TokenError) as caught:
                    await mp.apps.list()
                assert loop.time() - started < 1.0  # at once, not after 31 years
                err = caught.value
                assert err.status == status
                assert err.retry_after is not None and err.retry_after > 1e8
                assert "cap" in str(err)
                # Within the pause, a call does not hammer the endpoint ...
                assert mp.token_cache.fetch_count == 1
                # ... and the pause is the cap (300 s), not the endpoint's wish: the next
                # call gets a token from the endpoint once it is over.
                await asyncio.sleep(RetryPolicy().max_retry_after)
                assert await mp.apps.list() == []
                assert mp.token_cache.fetch_count == 2
                assert loop.time() - started < RetryPolicy().max_retry_after + 1

    virtual_time.run(main())


def test_a_call_during_the_capped_pause_waits_it_out_or_fails_by_its_policy() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(VTOKEN_URL, status=429, headers={"Retry-After": "1000000000"})
            m.post(VTOKEN_URL, payload={"access_token": "tok-ok", "expires_in": 3600})
            m.get(APPS, payload={"data": [], "errors": None}, repeat=True)
            async with vclient(retry=RetryPolicy(max_retry_after=100.0)) as mp:
                assert mp.token_cache.max_retry_after == 100.0  # the client's policy
                with pytest.raises(TokenError):
                    await mp.apps.list()
                # The next call is inside the pause (<= 100 s): it waits it out, then the
                # endpoint answers.
                started = loop.time()
                assert await mp.apps.list() == []
                assert 100.0 <= loop.time() - started <= 111.0
                assert mp.token_cache.fetch_count == 2

    virtual_time.run(main())


def test_a_retry_after_within_the_cap_is_still_waited_out() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with aioresponses() as m:
            m.post(VTOKEN_URL, status=503, headers={"Retry-After": "20"})
            m.post(VTOKEN_URL, payload={"access_token": "tok-ok", "expires_in": 3600})
            m.get(APPS, payload={"data": [], "errors": None}, repeat=True)
            async with vclient() as mp:
                started = loop.time()
                assert await mp.apps.list() == []
                assert 20.0 <= loop.time() - started <= 23.0
                assert mp.token_cache.fetch_count == 2

    virtual_time.run(main())


def test_the_cache_alone_blocks_at_most_its_cap() -> None:
    async def main() -> None:
        with aioresponses() as m:
            m.post(VTOKEN_URL, status=429, headers={"Retry-After": YEAR_9999})
            m.post(VTOKEN_URL, payload={"access_token": "tok-ok", "expires_in": 3600})
            cache = TokenCache(CLIENT_ID, CLIENT_SECRET, token_url=VTOKEN_URL, max_retry_after=30)
            with pytest.raises(TokenError) as first:
                await cache.get()
            assert first.value.retry_after is not None and first.value.retry_after > 1e8
            await asyncio.sleep(29.0)
            with pytest.raises(TokenError) as blocked:
                await cache.get()
            assert blocked.value.retry_after == pytest.approx(1.0)
            assert cache.fetch_count == 1
            await asyncio.sleep(1.0)
            assert await cache.get() == "tok-ok"
            assert cache.fetch_count == 2

    virtual_time.run(main())


@pytest.mark.parametrize("bad", [-1, math.inf, math.nan, "300", True])
def test_the_cap_is_checked(bad: Any) -> None:
    with pytest.raises(RequestValidationError):
        TokenCache(CLIENT_ID, CLIENT_SECRET, max_retry_after=bad)
