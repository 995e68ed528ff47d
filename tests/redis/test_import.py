"""`import mpasync` must work without redis-py: the fleet module is imported only when used."""

from __future__ import annotations

import subprocess
import sys


def test_import_mpasync_does_not_import_redis() -> None:
    code = "import sys, mpasync, mpasync.client; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_a_client_closes_what_fleet_options_made_and_a_view_closes_nothing() -> None:
    from mpasync import Client
    from mpasync.redis import fleet_options

    options = fleet_options(
        "redis://127.0.0.1:1/0", "id", "secret", rate=10, account_id=1, base_url="https://x.test"
    )
    closed: list[str] = []
    for name, part in options.items():

        async def record(name: str = name) -> None:
            closed.append(name)

        part.aclose = record  # type: ignore[method-assign]
    mp = Client(account_id=1, **options)
    await mp.with_options(timeout=5).aclose()
    assert closed == []
    await mp.aclose()
    await mp.aclose()  # once is enough
    assert sorted(closed) == ["rate_limit", "token_cache"]
    # Parts the caller made stay the caller's to close.
    from mpasync.redis import RedisRateLimiter

    mine = RedisRateLimiter("redis://127.0.0.1:1/0", "mine", 5)
    async with Client(client_id="id", client_secret="s", account_id=1, rate_limit=mine):
        pass
    assert mine.close_with_client is False
    await mine.aclose()
