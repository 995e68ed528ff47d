"""`mpasync filters apply --redis URL` (or MPASYNC_REDIS_URL): one token for every run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from mpasync.emulator import Emulator
from tests.cli_env import use_emulator
from tests.redis.server import RedisServer
from tests.test_cli import FILTERS, SERVICE, disabled, run


@pytest_asyncio.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(apps=4) as emulator:
        use_emulator(emulator, monkeypatch)
        monkeypatch.delenv("MPASYNC_REDIS_URL", raising=False)
        yield emulator


async def test_runs_share_one_token_through_redis(
    emu: Emulator, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "filters.json"
    policy.write_text(json.dumps(FILTERS))
    args = ("filters", "apply", "--service", SERVICE, "--file", str(policy), "--progress", "none")
    code, _, err = await run(*args, "--apps", "1,2", "--redis", redis_server.url, "--rate", "auto")
    assert code == 0, err
    monkeypatch.setenv("MPASYNC_REDIS_URL", redis_server.url)  # the variable does the same
    code, _, err = await run(*args, "--apps", "3,4", "--rate", "50")
    assert code == 0, err
    assert all(disabled(emu, a, "Email") for a in range(1, 5))
    assert emu.token_requests == 1  # the second run took the token the first one stored
    # The budget is the account's (and the API's), not one for every account.
    r = Redis.from_url(redis_server.url)
    budgets = {k.decode() async for k in r.scan_iter("mpasync:rate:*")}
    await r.aclose()
    assert budgets and all(f"account:{emu.account_id}" in k for k in budgets), budgets
    assert all(emu.base_url.rstrip("/") in k for k in budgets), budgets


async def test_a_bad_redis_url_is_one_line_and_exit_2(emu: Emulator, tmp_path: Path) -> None:
    policy = tmp_path / "filters.json"
    policy.write_text(json.dumps(FILTERS))
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1", "--file", str(policy),
        "--redis", "http://user:SECRETPW@host:1",
    )  # fmt: skip
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "SECRETPW" not in err
    assert emu.token_requests == 0
