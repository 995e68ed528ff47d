"""The emulator's rate limits: speed per account and app, acceleration, a neighbour."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mpasync.emulator import Emulator
from mpasync.emulator.ratelimit import RateLimits
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


async def test_app_and_acceleration_limits_name_the_limit(session: aiohttp.ClientSession) -> None:
    async with Emulator(
        apps=2, rate_limit=100, app_rate_limit=2, acceleration_limit=2.0, acceleration_floor=5
    ) as emu:
        api = Api(emu, session)
        first, second = sorted(a.id for a in emu.state.apps_of(emu.account_id))
        replies = [await api.get(f"/v1/apps/{first}") for _ in range(3)]
        assert [r.status for r in replies] == [200, 200, 429]
        assert replies[2].headers["X-mp-rate-limit-exceeded"] == "app"
        assert int(replies[2].headers["Retry-After"]) >= 1
        # usage is the highest of the applicable limits: 2 of the app's 2
        assert replies[1].headers["X-mp-rate-limit-percentage-used"] == "100"
        # another app is not affected by the first one's limit; the account's
        # acceleration floor (5 in a second, none the second before) is
        replies = [await api.get(f"/v1/apps/{second}") for _ in range(2)]
        assert [r.status for r in replies] == [200, 200]
        # 3 of the account's 5 beat 1 of this app's 2
        assert replies[0].headers["X-mp-rate-limit-percentage-used"] == "60"
        last = await api.get("/v1/apps")
        assert (last.status, last.headers["X-mp-rate-limit-percentage-used"]) == (200, "100")
        refused = await api.get("/v1/apps")
        assert refused.status == 429
        assert refused.headers["X-mp-rate-limit-exceeded"] == "acceleration"
        assert refused.headers["Retry-After"] == "1"


def test_limits_model_speed_acceleration_neighbour() -> None:
    # speed: 10 per sliding second
    limits = RateLimits(10)
    verdicts = [limits.acquire(1, None, i * 0.01) for i in range(11)]
    assert [v.admitted for v in verdicts] == [True] * 10 + [False]
    assert verdicts[-1].exceeded == "account"
    assert verdicts[-1].retry_after == 1
    assert limits.acquire(1, None, 1.0).admitted  # the first one left the window

    # acceleration: a second may hold max(floor, 2 x the second before)
    limits = RateLimits(acceleration=2.0, acceleration_floor=4)
    admitted = [limits.acquire(1, None, 0.1 * i).admitted for i in range(6)]
    assert admitted == [True] * 4 + [False, False]
    assert limits.acquire(1, None, 0.6).exceeded == "acceleration"
    # the next second may hold 8 (2 x 4); a steady rate never trips it
    second = [limits.acquire(1, None, 1.05 + 0.1 * i).admitted for i in range(9)]
    assert second == [True] * 8 + [False]

    # neighbour: 40 % of 100/s is used by someone else, so about 60 are left for us
    limits = RateLimits(100, neighbour=0.4)
    admitted = [limits.acquire(1, None, 5.0 + i / 200).admitted for i in range(600)]
    ours = sum(admitted[200:])  # the last two seconds, once the neighbour is steady
    assert 115 <= ours <= 122
    assert limits.neighbour_requests >= 3 * 40
    # ... and the neighbour shows in our usage
    fresh = RateLimits(100, neighbour=0.4)
    fresh.acquire(1, None, 0.0)
    assert fresh.acquire(1, None, 0.5).percentage_used >= 20


def test_limits_reject_bad_options() -> None:
    for kwargs in (
        {"rate": 0},
        {"rate": 10, "acceleration": 1.0},
        {"rate": 10, "neighbour": 1.0},
        {"neighbour": 0.5},
        {"rate": 10, "app_rate": -1},
    ):
        with pytest.raises(ValueError):
            RateLimits(**kwargs)  # type: ignore[arg-type]


async def test_emulator_command_limit_flags() -> None:
    import io

    from mpasync.cli import amain

    out, err = io.StringIO(), io.StringIO()
    argv = ["emulator", "--port", "0", "--apps", "1", "--rate-limit", "5", "--neighbour", "0.4"]
    task = asyncio.create_task(amain([*argv, "--acceleration-limit", "2"], out=out, err=err))
    for _ in range(200):
        if "token URL" in out.getvalue():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "listening on" in out.getvalue()
    code = await amain([*argv, "--acceleration-limit", "1"], out=out, err=err)
    assert code != 0
    assert "acceleration_limit" in err.getvalue()
