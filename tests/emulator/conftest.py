"""Fixtures for the emulator tests: a live emulator, an aiohttp session and an `Api` caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mpasync.emulator import Emulator
from tests.emulator.emu_helpers import Api


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(apps=4) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def api(emu: Emulator, session: aiohttp.ClientSession) -> Api:
    return Api(emu, session)
