"""`RedisTokenCache`: one OAuth token for a fleet of processes, on a real redis-server."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import pytest
from redis.asyncio import Redis

from mpasync.auth import TokenCache, refresh_margin
from mpasync.emulator import Emulator
from mpasync.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mpasync.errors import RequestValidationError, TokenError
from mpasync.redis import RedisTokenCache, fleet_options
from tests.redis.fleet import job_for, run_fleet
from tests.redis.server import RedisServer, free_port


def _cache(url: str | Redis, emu: Emulator, **kwargs: object) -> RedisTokenCache:
    return RedisTokenCache(
        url,
        DEFAULT_CLIENT_ID,
        kwargs.pop("secret", DEFAULT_CLIENT_SECRET),  # type: ignore[arg-type]
        token_url=emu.token_url,
        **kwargs,  # type: ignore[arg-type]
    )


# ---- across processes --------------------------------------------------------------------


async def test_eight_processes_of_250_cold_callers_make_one_token_request(
    redis_server: RedisServer,
) -> None:
    # The token endpoint answers slowly, so every process is cold while the fetch runs.
    async with Emulator(token_latency=0.3) as emu:
        job = job_for(emu, redis_server.url, mode="burst", calls=250)
        results = await run_fleet([job] * 8)
        assert emu.token_requests == 1
    assert [r["failed"] for r in results] == [[]] * 8
    assert sum(r["ok"] for r in results) == 2000
    assert sum(r["fetches"] for r in results) == 1


async def test_short_lived_token_over_a_steady_run(redis_server: RedisServer) -> None:
    # Tokens live 2 s; the fleet refreshes once per (lifetime - margin) and no call fails.
    ttl, seconds = 2.0, 6.0
    async with Emulator(token_ttl=ttl) as emu:
        job = job_for(emu, redis_server.url, mode="steady", seconds=seconds, concurrency=3)
        started = time.monotonic()
        results = await run_fleet([job] * 4)
        elapsed = time.monotonic() - started
        requests = emu.token_requests
    assert [r["failed"] for r in results] == [[]] * 4
    assert all(r["ok"] > 0 for r in results)
    assert requests == sum(r["fetches"] for r in results)
    assert requests <= elapsed / (ttl - refresh_margin(ttl)) + 2


# ---- one process, several caches (as several processes would hold) ----------------------


async def test_a_second_cache_takes_the_shared_token(redis_server: RedisServer) -> None:
    async with Emulator() as emu:
        a, b = _cache(redis_server.url, emu), _cache(redis_server.url, emu)
        token = await a.get()
        assert await b.get() == token
        assert (a.fetch_count, b.fetch_count, emu.token_requests) == (1, 0, 1)
        await a.aclose()
        await b.aclose()


async def test_waiters_get_the_leaders_token(redis_server: RedisServer) -> None:
    async with Emulator(token_latency=0.3) as emu:
        caches = [_cache(redis_server.url, emu) for _ in range(5)]
        tokens = await asyncio.gather(*(c.get() for c in caches))
        assert len(set(tokens)) == 1
        assert emu.token_requests == 1
        assert sum(c.fetch_count for c in caches) == 1
        for c in caches:
            await c.aclose()


async def test_shared_token_expires_with_the_refresh_margin(redis_server: RedisServer) -> None:
    async with Emulator(token_ttl=100.0) as emu:
        cache = _cache(redis_server.url, emu)
        await cache.get()
        r = Redis.from_url(redis_server.url)
        pttl = await r.pttl(cache.key)
        assert 100_000 - refresh_margin(100.0) * 1000 - 1000 < pttl <= 90_000
        # The local copy is refreshed when the shared one expires, not before.
        b = _cache(redis_server.url, emu)
        await b.get()
        assert b.expires_at - time.monotonic() <= 100.0
        assert abs((b._refresh_at - time.monotonic()) - pttl / 1000) < 1.0
        await r.aclose()
        await cache.aclose()
        await b.aclose()


async def test_secret_is_never_stored(redis_server: RedisServer) -> None:
    async with Emulator() as emu:
        cache = _cache(redis_server.url, emu)
        await cache.get()
        r = Redis.from_url(redis_server.url)
        keys = [k async for k in r.scan_iter("*")]
        assert keys
        for key in keys:
            assert DEFAULT_CLIENT_SECRET.encode() not in key
            assert DEFAULT_CLIENT_ID.encode() not in key  # a hash names the keys
            value = await r.hgetall(key) if await r.type(key) == b"hash" else {}
            assert all(DEFAULT_CLIENT_SECRET.encode() not in v for v in value.values())
        await r.aclose()
        assert DEFAULT_CLIENT_SECRET not in repr(cache)
        await cache.aclose()


async def test_keys_depend_on_token_url_audience_and_client(redis_server: RedisServer) -> None:
    async with Emulator() as emu:
        a = _cache(redis_server.url, emu)
        b = RedisTokenCache(
            redis_server.url, DEFAULT_CLIENT_ID, "x", token_url=emu.token_url, audience="other"
        )
        c = _cache(redis_server.url, emu, key_prefix="tenant2")
        assert len({a.key, b.key, c.key}) == 3
        assert c.key.startswith("tenant2:")
        for x in (a, b, c):
            await x.aclose()


async def test_invalidate_drops_the_shared_token_only_if_still_stored(
    redis_server: RedisServer,
) -> None:
    async with Emulator() as emu:
        a, b = _cache(redis_server.url, emu), _cache(redis_server.url, emu)
        old = await a.get()
        assert await b.get() == old
        assert a.invalidate(old)
        new = await a.get()  # the stale shared token is skipped, a new one fetched
        assert new != old
        assert emu.token_requests == 2
        # b still holds `old`: its 401 must not drop `new`, which another process stored.
        assert b.invalidate(old)
        await asyncio.sleep(0)
        await b.aclose()
        r = Redis.from_url(redis_server.url)
        assert await r.hget(a.key, "id") == a._fingerprint(new).encode()  # still stored
        assert await b.get() == new
        assert emu.token_requests == 2
        assert not a.invalidate("not-the-token")
        await r.aclose()
        await a.aclose()


async def test_a_token_stored_between_read_and_lock_is_not_fetched_again(
    redis_server: RedisServer,
) -> None:
    # Another process stores the token and releases its lock just after this one read
    # "no token" and just before its SET NX: the lock is then free, and this process
    # must still take the stored token rather than fetch a second one.
    async with Emulator() as emu:
        other, late = _cache(redis_server.url, emu), _cache(redis_server.url, emu)
        read = late._read_shared
        calls = 0

        async def racing_read() -> tuple[str, float] | None:
            nonlocal calls
            calls += 1
            found = await read()
            if calls == 1:
                await other.get()  # the other process leads, stores and releases
            return found

        late._read_shared = racing_read  # type: ignore[method-assign]
        token = await late.get()
        assert token == await other.get()
        assert (other.fetch_count, late.fetch_count, emu.token_requests) == (1, 0, 1)
        await other.aclose()
        await late.aclose()


async def test_a_failed_fetch_releases_the_lock(redis_server: RedisServer) -> None:
    async with Emulator() as emu:
        bad = _cache(redis_server.url, emu, secret="wrong")
        with pytest.raises(TokenError):
            await bad.get()
        r = Redis.from_url(redis_server.url)
        assert await r.exists(bad.key, bad.key + ":lock") == 0
        await r.aclose()
        await bad.aclose()


async def test_a_dead_lock_holder_is_taken_over_after_the_lock_ttl(
    redis_server: RedisServer,
) -> None:
    async with Emulator() as emu:
        cache = _cache(redis_server.url, emu, lock_ttl=0.5, poll_interval=0.05)
        r = Redis.from_url(redis_server.url)
        await r.set(cache.key + ":lock", "a process that crashed", px=500)
        await cache.get()
        assert cache.fetch_count == 1
        await r.aclose()
        await cache.aclose()


async def test_unreachable_redis_fetches_locally_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Emulator() as emu:
        cache = _cache(f"redis://127.0.0.1:{free_port()}/0", emu)
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            async with emu.client(token_cache=cache) as mp:
                await mp.apps.list()
                emu.expire_tokens()
                await mp.apps.list()  # a 401, a second local fetch, no second warning
        assert cache.fetch_count == 2
        await cache.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert DEFAULT_CLIENT_SECRET not in warnings[0].getMessage()


async def test_redis_killed_mid_run_calls_keep_succeeding(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with Emulator(token_ttl=1.0) as emu:
        cache = _cache(redis_server.url, emu)
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            async with emu.client(token_cache=cache) as mp:
                until = time.monotonic() + 2.5
                killed = False
                while time.monotonic() < until:
                    await mp.apps.list()  # nothing raised
                    if not killed and time.monotonic() > until - 1.8:
                        redis_server.kill()
                        killed = True
                    await asyncio.sleep(0.01)
        await cache.aclose()
    assert cache.fetch_count >= 2  # refreshed locally while Redis was gone
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


async def test_client_accepts_it_and_a_redis_instance(redis_server: RedisServer) -> None:
    r = Redis.from_url(redis_server.url)
    async with Emulator() as emu:
        cache = _cache(r, emu)
        assert isinstance(cache, TokenCache)
        async with emu.client(token_cache=cache) as mp:
            await mp.apps.list()
        await cache.aclose()  # not ours to close
        assert await r.ping()
    await r.aclose()


async def test_fleet_options(redis_server: RedisServer) -> None:
    async with Emulator() as emu:
        options = fleet_options(
            redis_server.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, token_url=emu.token_url
        )
        assert set(options) == {"token_cache"}
        with_rate = fleet_options(redis_server.url, "id", "secret", rate=50)
        assert with_rate["rate_limit"].rate == 50
        assert not with_rate["rate_limit"].adaptive
        auto = fleet_options(redis_server.url, "id", "secret", rate="auto")
        assert auto["rate_limit"].adaptive
        with pytest.raises(RequestValidationError) as info:
            fleet_options(redis_server.url, "id", "secret", rate="fast")
        assert info.value.field == "rate"
        async with emu.client(**options) as mp:
            await mp.apps.list()
        for o in (*options.values(), *with_rate.values(), *auto.values()):
            await o.aclose()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("http://h", "id", "s"), "redis"),
        ((None, "id", "s"), "redis"),
        (("redis://h", "", "s"), "client_id"),
        (("redis://h", "id", ""), "client_secret"),
    ],
)
def test_bad_arguments_are_rejected(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        RedisTokenCache(*args)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key_prefix": ""}, "key_prefix"),
        ({"lock_ttl": 0}, "lock_ttl"),
        ({"poll_interval": float("inf")}, "poll_interval"),
        ({"redis_timeout": -1}, "redis_timeout"),
    ],
)
def test_bad_options_are_rejected(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        RedisTokenCache("redis://h", "id", "s", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# ---- the shared token is bound to the secret -------------------------------------------


async def test_a_wrong_secret_never_reads_the_shared_token(redis_server: RedisServer) -> None:
    # Same client id, another secret: another key, and even at the same key the sealed
    # token does not open. Before, it was handed the live token without asking anyone.
    async with Emulator() as emu:
        good = _cache(redis_server.url, emu)
        await good.get()
        wrong = _cache(redis_server.url, emu, secret="a-wrong-or-rotated-secret")
        assert wrong.key != good.key
        with pytest.raises(TokenError):
            await wrong.get()  # it asked the endpoint, which refused
        assert (wrong.fetch_count, emu.token_requests) == (1, 2)
        await wrong.aclose()
        await good.aclose()


async def test_a_wrong_secret_at_the_same_key_finds_nothing_it_can_open(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with Emulator() as emu:
        good = _cache(redis_server.url, emu)
        await good.get()
        wrong = _cache(redis_server.url, emu, secret="a-wrong-or-rotated-secret")
        wrong.key = good.key  # as if it guessed the key name
        with caplog.at_level(logging.WARNING, logger="mpasync"), pytest.raises(TokenError):
            await wrong.get()
        assert wrong.fetch_count == 1
        assert any("another secret" in r.getMessage() for r in caplog.records)
        await wrong.aclose()
        await good.aclose()


async def test_a_tampered_ciphertext_is_dropped_and_refetched(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with Emulator() as emu:
        a, b = _cache(redis_server.url, emu), _cache(redis_server.url, emu)
        old = await a.get()
        r = Redis.from_url(redis_server.url)
        box = bytearray(base64.b64decode(await r.hget(a.key, "box")))
        box[20] ^= 1
        await r.hset(a.key, "box", base64.b64encode(bytes(box)))
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            new = await b.get()
        assert new != old and b.fetch_count == 1 and emu.token_requests == 2
        warnings = [x for x in caplog.records if x.levelno == logging.WARNING]
        assert len(warnings) == 1 and "dropping the shared token" in warnings[0].getMessage()
        # The expiry is bound too: stretching it breaks the seal.
        await r.hset(a.key, "exp", int(await r.hget(a.key, "exp")) + 3_600_000)
        c = _cache(redis_server.url, emu)
        assert await c.get() != new and c.fetch_count == 1
        for x in (a, b, c):
            await x.aclose()
        await r.aclose()


async def test_the_plain_token_is_never_in_redis(redis_server: RedisServer) -> None:
    async with Emulator() as emu:
        cache = _cache(redis_server.url, emu)
        token = await cache.get()
        cache.invalidate(token)
        token2 = await cache.get()
        await cache.aclose()
        r = Redis.from_url(redis_server.url)
        seen = b""
        async for key in r.scan_iter("*"):
            seen += key
            kind = await r.type(key)
            if kind == b"hash":
                for field, value in (await r.hgetall(key)).items():
                    seen += field + value
            elif kind == b"string":
                seen += await r.get(key) or b""
        await r.aclose()
        assert seen
        for secret in (token, token2, DEFAULT_CLIENT_SECRET):
            assert secret.encode() not in seen
            assert base64.b64encode(secret.encode()) not in seen


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:abc/0",
        "redis://:hunter2@localhost:99999/0",
        "redis://h/0?socket_timeout=x",
    ],
)
def test_a_malformed_redis_url_is_a_validation_error(url: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        RedisTokenCache(url, "id", "s")
    assert info.value.field == "redis"
    assert "hunter2" not in str(info.value)
    with pytest.raises(RequestValidationError) as info:
        fleet_options(url, "id", "s", rate=5)
    assert info.value.field == "redis"
