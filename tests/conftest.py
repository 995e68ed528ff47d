"""Shared fixtures: a scriptable fake API server on 127.0.0.1."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aioresponses.core
import pytest_asyncio
from aiohttp import ClientResponse

from tests.fakeapi import FakeAPI

if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
    # aioresponses 0.7.9 builds responses without the `stream_writer` argument that
    # aiohttp 3.14 requires; give its fake responses a stand-in.
    class _CompatResponse(ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
            super().__init__(method, url, **kwargs)

    aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[misc]


@pytest_asyncio.fixture
async def fake_api() -> AsyncIterator[FakeAPI]:
    api = await FakeAPI().start()
    try:
        yield api
    finally:
        await api.stop()
