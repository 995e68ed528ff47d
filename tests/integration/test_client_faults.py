"""Retries, backoff and rate limiting through `mpasync.Client` against an emulator that
injects 5xx and 429 answers, or enforces a per-account rate limit."""

from __future__ import annotations

import asyncio

import pytest

from mpasync import RateLimitError, RetryPolicy, ServerError
from mpasync.emulator import Emulator, Faults
from tests.integration.helpers import api_requests

# retry_after=0: injected 429s ask for no wait, so the retries cost only milliseconds.
FAULTS = Faults(error_rate=0.2, rate_limited_rate=0.1, seed=1, retry_after=0)


async def test_retries_absorb_injected_faults() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_max=0.05)
    async with Emulator(apps=5, faults=FAULTS) as emu, emu.client(retry=policy) as mp:
        results = await asyncio.gather(*(mp.apps.get(1 + i % 5) for i in range(50)))
        assert [a.id for a in results] == [1 + i % 5 for i in range(50)]

        served = api_requests(emu)
        faults = [e.fault for e in served]
        assert faults.count("error") > 0
        assert faults.count("rate_limited") > 0
        assert sum(e.status == 200 for e in served) == 50
        assert len(served) == 50 + faults.count("error") + faults.count("rate_limited")
        assert all(
            (e.status in (500, 502, 503, 504)) if e.fault == "error" else True for e in served
        )
        assert all(e.status == 429 for e in served if e.fault == "rate_limited")
        assert mp.transport.stats.replays_401 == 0


async def test_without_retries_faults_surface_as_errors() -> None:
    faults = Faults(error_rate=0.2, rate_limited_rate=0.1, seed=1, retry_after=2)
    async with Emulator(apps=5, faults=faults) as emu:
        async with emu.client(retry=RetryPolicy.disabled()) as mp:
            outcomes = await asyncio.gather(
                *(mp.apps.get(1 + i % 5) for i in range(40)), return_exceptions=True
            )
        server_errors = [o for o in outcomes if isinstance(o, ServerError)]
        rate_limited = [o for o in outcomes if isinstance(o, RateLimitError)]
        succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
        assert server_errors and rate_limited and succeeded
        assert len(server_errors) + len(rate_limited) + len(succeeded) == 40
        assert all(e.status in (500, 502, 503, 504) for e in server_errors)
        assert all(e.status == 429 and e.retry_after == 2.0 for e in rate_limited)
        assert all(e.messages == ["Rate limit exceeded."] for e in rate_limited)
        # One attempt each: the request log holds exactly the 40 requests.
        served = api_requests(emu)
        assert len(served) == 40
        assert sum(e.fault is not None for e in served) == len(server_errors) + len(rate_limited)


async def test_posts_are_not_retried_after_a_server_error() -> None:
    faults = {"POST /v1/apps": Faults(error_rate=1.0, error_statuses=(503,))}
    policy = RetryPolicy(max_attempts=5, backoff_base=0.01)
    async with Emulator(apps=1, faults=faults) as emu, emu.client(retry=policy) as mp:
        with pytest.raises(ServerError) as info:
            await mp.apps.create(name="Maybe", platforms=["iOS"])
        assert info.value.status == 503
        assert len([e for e in api_requests(emu) if e.method == "POST"]) == 1
        assert [a.id for a in await mp.apps.list()] == [1]


async def test_client_rate_limit_stays_under_the_server_limit() -> None:
    async with (
        Emulator(apps=2, rate_limit=20) as emu,
        emu.client(rate_limit=18, retry=RetryPolicy.disabled()) as mp,
    ):
        results = await asyncio.gather(*(mp.apps.get(1 + i % 2) for i in range(40)))
        assert len(results) == 40
        served = api_requests(emu)
        assert len(served) == 40
        assert all(e.status == 200 for e in served)
        assert not any(e.status == 429 for e in emu.request_log)


async def test_without_a_client_rate_limit_the_server_answers_429() -> None:
    # The control for the test above: the same burst, unthrottled, trips the server's limit.
    async with (
        Emulator(apps=2, rate_limit=20) as emu,
        emu.client(retry=RetryPolicy.disabled()) as mp,
    ):
        outcomes = await asyncio.gather(
            *(mp.apps.get(1 + i % 2) for i in range(40)), return_exceptions=True
        )
        rate_limited = [o for o in outcomes if isinstance(o, RateLimitError)]
        assert len(rate_limited) == 20
        assert all(e.retry_after is not None and e.retry_after > 0 for e in rate_limited)
        assert sum(e.status == 429 for e in api_requests(emu)) == 20
