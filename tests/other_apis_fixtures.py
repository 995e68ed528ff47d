"""Fixtures for the seeding, DSR and analytics tests: the other APIs' emulator routes served
on a real loopback port, and clients pointed at them (with fast retries)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from mpasync.analytics import AnalyticsClient
from mpasync.dsr import DSRClient
from mpasync.emulator.other_apis import (
    ANALYTICS_PREFIX,
    DSR_PREFIX,
    DSR_PREFIXES,
    SEEDING_PREFIX,
    OtherApiState,
    add_other_api_routes,
)
from mpasync.retry import RetryPolicy
from mpasync.seeding import SeedingClient

#: Retries as the default policy, with backoff short enough for tests.
FAST_RETRY = RetryPolicy(backoff_base=0.01, backoff_max=0.05)


@dataclass
class OtherApis:
    """The running server, its state, and where each API lives."""

    state: OtherApiState
    base_url: str

    @property
    def seeding_url(self) -> str:
        return self.base_url + SEEDING_PREFIX

    @property
    def dsr_url(self) -> str:
        return self.base_url + DSR_PREFIX

    def dsr_url_for(self, api_version: int) -> str:
        """Where DSR API ``api_version`` (1, 2 or 3) is served."""
        return self.base_url + DSR_PREFIXES[api_version]

    @property
    def analytics_url(self) -> str:
        return self.base_url + ANALYTICS_PREFIX


@pytest_asyncio.fixture
async def other_apis() -> AsyncIterator[OtherApis]:
    app = web.Application()
    state = add_other_api_routes(app)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield OtherApis(state, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


@pytest_asyncio.fixture
async def seeding(other_apis: OtherApis) -> AsyncIterator[SeedingClient]:
    state = other_apis.state
    async with SeedingClient(
        state.workspace_key,
        state.workspace_secret,
        base_url=other_apis.seeding_url,
        retry=FAST_RETRY,
    ) as client:
        yield client


@pytest_asyncio.fixture
async def dsr(other_apis: OtherApis) -> AsyncIterator[DSRClient]:
    state = other_apis.state
    async with DSRClient(
        state.workspace_key,
        state.workspace_secret,
        base_url=other_apis.dsr_url,
        retry=FAST_RETRY,
        rate_limit=None,
    ) as client:
        yield client


@pytest_asyncio.fixture
async def analytics(other_apis: OtherApis) -> AsyncIterator[AnalyticsClient]:
    async with AnalyticsClient(
        other_apis.state.analytics_key, base_url=other_apis.analytics_url, retry=FAST_RETRY
    ) as client:
        yield client
