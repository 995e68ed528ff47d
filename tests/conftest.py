"""Shared fixtures: a scriptable fake API server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakeapi import FakeAPI


@pytest_asyncio.fixture
async def fake_api() -> AsyncIterator[FakeAPI]:
    api = await FakeAPI().start()
    try:
        yield api
    finally:
        await api.stop()
