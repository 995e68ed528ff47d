"""The single-flight token cache, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from mpasync import TokenCache, TokenError
from mpasync.auth import refresh_margin
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


async def test_refreshes_ahead_of_expiry_without_blocking(fake_api: FakeAPI) -> None:
    fake_api.token_ttl = 2.0
    cache = make_cache(fake_api)
    first = await cache.get()
    assert refresh_margin(2.0) == pytest.approx(0.2)
    assert refresh_margin(28800.0) == 300.0  # an 8-hour token: 5 minutes early
    await asyncio.sleep(1.85)  # inside the margin, still valid
    fake_api.token_delay = 0.1
    # Served the still-valid token, not the new one: the caller did not wait for the
    # refresh, which runs in the background.
    assert await cache.get() == first
    assert cache._inflight is not None  # ... while a refresh is under way
    await asyncio.sleep(0.15)
    second = await cache.get()
    assert second != first
    assert fake_api.token_requests == 2


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
    from mpasync import RequestValidationError

    with pytest.raises(RequestValidationError):
        TokenCache("", "x")
