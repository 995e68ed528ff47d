"""The pytest plugin's fixtures (mpasync.testing) and marker."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from mpasync.emulator import Emulator, Faults
from tests.emulator.emu_helpers import Api


async def test_default_fixture(mparticle_emulator: Emulator) -> None:
    assert mparticle_emulator.running
    assert len(mparticle_emulator.state.apps_of(1)) == 3  # a few apps by default


@pytest.mark.mparticle_emulator(apps=3, faults=Faults(error_rate=1.0, error_statuses=(502,)))
async def test_marker_configures_emulator(mparticle_emulator: Emulator) -> None:
    import aiohttp

    assert len(mparticle_emulator.state.apps_of(1)) == 3
    async with aiohttp.ClientSession() as session:
        assert (await Api(mparticle_emulator, session).get("/v1/apps")).status == 502


def test_marker_is_registered(pytestconfig: pytest.Config) -> None:
    markers = pytestconfig.getini("markers")
    assert any(line.startswith("mparticle_emulator(") for line in markers)


@pytest.mark.skipif(
    importlib.util.find_spec("mpasync.client") is None, reason="the client core is not written yet"
)
@pytest.mark.mparticle_emulator(apps=2)
async def test_client_fixture(mparticle_client: Any, mparticle_emulator: Emulator) -> None:
    apps = await mparticle_client.apps.list()
    assert [app.id for app in apps] == [1, 2]
    assert mparticle_emulator.token_requests == 1
