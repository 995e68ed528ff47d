"""What every client class shares (`mpasync._lifecycle.TransportOwner`): the public
``stats`` counters, a snapshot that views share, and ``transport`` marked internal."""

from __future__ import annotations

import pytest

import mpasync
from mpasync import Client, RetryPolicy, ServerError
from mpasync.emulator import Emulator, FaultRule, Faults
from mpasync.transport import TransportStats

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.002)


async def test_stats_count_requests_attempts_retries_replays_and_usage() -> None:
    faults = [FaultRule("GET /v1/services", Faults(error_rate=1.0, seed=1))]
    async with Emulator(apps=2, rate_limit=1000, faults=faults) as emu:
        async with emu.client(retry=FAST) as mp:
            assert mp.stats == TransportStats()
            await mp.apps.list()
            usage = mp.rate_limit_usage
            assert usage is not None  # the emulator sends the header
            assert mp.stats == TransportStats(requests=1, attempts=1, rate_limit_usage=usage)

            emu.expire_tokens()  # the next call gets a 401 and is replayed once
            await mp.apps.list()
            with pytest.raises(ServerError):  # 3 attempts, all answered 5xx
                await mp.services.list()
            stats = mp.stats
            assert (stats.requests, stats.retries, stats.replays_401) == (3, 2, 1)
            assert stats.attempts == 1 + 2 + 3  # the replay is an attempt, not a retry


async def test_stats_is_a_snapshot_shared_by_views() -> None:
    async with Emulator(apps=1) as emu, emu.client() as mp:
        before = mp.stats
        view = mp.with_options(timeout=5)
        await view.apps.list()
        await mp.apps.list()
        # The snapshot taken before did not move; the client saw its view's call.
        assert before.requests == 0
        assert mp.stats.requests - before.requests == 2 == view.stats.requests
        mp.stats.requests = 99  # a copy: the client's counters are not touched
        assert mp.stats.requests == 2


async def test_every_client_class_has_stats() -> None:
    async with Emulator() as emu:
        async with emu.dsr_client() as dsr, emu.analytics_client() as analytics:
            await dsr.discovery()
            await analytics.suppress("user1")
            assert dsr.stats.requests == 1 and analytics.stats.requests == 1
        async with emu.seeding_client() as seeding:
            assert isinstance(seeding.stats, TransportStats) and seeding.stats.requests == 0
    assert mpasync.TransportStats is TransportStats


def test_transport_is_documented_as_internal() -> None:
    doc = Client.transport.__doc__ or ""
    assert doc.startswith("Internal:") and "not part of the public API" in doc
    assert "`stats`" in doc
