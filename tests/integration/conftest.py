"""Fixtures for the integration tests: a fresh emulator per test (it starts in a few
milliseconds) and an `mpasync.Client` wired to it over real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mpasync import Client
from mpasync.emulator import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(apps=5) as emulator:
        yield emulator


@pytest.fixture
async def mp(emu: Emulator) -> AsyncIterator[Client]:
    async with emu.client() as client:
        yield client
