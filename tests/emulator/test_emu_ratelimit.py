"""The emulator's per-account rate limit (sliding one-second window)."""

from __future__ import annotations

import asyncio

import aiohttp

from mpasync.emulator import Emulator
from tests.emulator.emu_helpers import Api


async def test_rate_limit_429_and_headers(session: aiohttp.ClientSession) -> None:
    async with Emulator(apps=1, rate_limit=5) as emu:
        api = Api(emu, session)
        await api.token()  # the token endpoint is not rate limited
        replies = [await api.get("/v1/apps") for _ in range(8)]
        assert [r.status for r in replies] == [200] * 5 + [429] * 3
        assert [r.headers["X-mp-rate-limit-percentage-used"] for r in replies[:5]] == [
            "20",
            "40",
            "60",
            "80",
            "100",
        ]
        limited = replies[5]
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["X-mp-rate-limit-exceeded"] == "account"
        assert limited.body["errors"][0]["code"] == "RATE_LIMITED"
        assert "X-mp-rate-limit-percentage-used" not in limited.headers

        # another account has its own budget (v1 by accountId, v2 by workspace owner)
        assert (await api.get("/v1/apps", account=2)).status == 200

        await asyncio.sleep(1.05)
        assert (await api.get("/v1/apps")).status == 200


async def test_rate_limit_can_be_changed(session: aiohttp.ClientSession) -> None:
    async with Emulator() as emu:
        api = Api(emu, session)
        reply = await api.get("/v1/workspace")
        assert reply.headers["X-mp-rate-limit-percentage-used"] == "0"
        emu.rate_limit = 1
        assert emu.rate_limit == 1
        assert (await api.get("/v1/workspace")).status == 200
        assert (await api.get("/platform/v2/workspaces/4302/calculatedattributes")).status == 429
        emu.rate_limit = None
        assert (await api.get("/v1/workspace")).status == 200
