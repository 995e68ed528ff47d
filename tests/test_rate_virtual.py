"""The rate limit as the server sees it, on a virtual clock: exact, whatever the load.

The live tests (tests/test_transport_live.py) measure arrivals at a real server, where a
loaded machine adds its own jitter between our start and the server's clock; here the
answer is recorded on the loop's own (virtual) clock the moment the request leaves, so
"no one-second window holds more than the rate" is checked exactly.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aioresponses import CallbackResult, aioresponses

from mpasync import Client
from tests.fakeapi import max_in_window
from tests.virtual_time import VirtualTimeLoop, run

BASE = "https://api.example.test"
TOKEN_URL = "https://sso.example.test/oauth/token"
APP = {"data": [{"id": 1, "name": "Shop"}], "dataType": "application", "errors": None}


async def _starts(rate: float, calls: int, *, stalls: int = 0) -> tuple[list[float], float]:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    arrivals: list[float] = []

    def arrive(url: Any, **kwargs: Any) -> CallbackResult:
        arrivals.append(loop.time())
        return CallbackResult(payload=APP)

    with aioresponses() as mocked:
        mocked.post(TOKEN_URL, payload={"access_token": "t", "expires_in": 28800}, repeat=True)
        mocked.get(re.compile(rf"{BASE}/v1/apps/1.*"), callback=arrive, repeat=True)
        async with Client(
            client_id="id",
            client_secret="secret",
            account_id=1,
            base_url=BASE,
            token_url=TOKEN_URL,
            rate_limit=rate,
            max_concurrency=64,
        ) as mp:
            await mp.apps.get(1)
            arrivals.clear()

            async def stall() -> None:
                # Block the loop now and then, as a busy application would: the clock
                # moves 40 ms while nothing runs; turns that came meanwhile must not
                # all start at once afterwards.
                for _ in range(stalls):
                    await asyncio.sleep(0.3)
                    loop.advance(0.04)

            started = loop.time()
            await asyncio.gather(stall(), *(mp.apps.get(1) for _ in range(calls)))
            return arrivals, loop.time() - started


def test_no_one_second_window_holds_more_than_the_rate() -> None:
    arrivals, elapsed = run(_starts(50, 120))
    assert len(arrivals) == 120
    assert max_in_window(arrivals) <= 50
    assert 120 / elapsed > 0.95 * 50  # and the rate is used, not just respected


def test_loop_stalls_do_not_release_a_burst() -> None:
    arrivals, elapsed = run(_starts(200, 320, stalls=3))
    assert max_in_window(arrivals) <= 200
    assert max_in_window(arrivals, 0.1) <= 21  # no pile-up after a stall
    assert 320 / elapsed > 0.8 * 200
