"""One process of a test fleet: ``python -m tests.redis.worker '<json job>'``.

Prints ``ready`` once set up, waits for ``go`` on stdin (so every process starts cold
at the same moment), runs the job against the emulator, then prints one JSON line:
``{"ok": calls that succeeded, "failed": [error names], "fetches": token requests made}``.

Jobs (all share `emulator`, `token_url`, `client_id`, `client_secret`, `redis`):
- ``{"mode": "burst", "calls": 250}``: that many concurrent calls at once.
- ``{"mode": "steady", "seconds": 6, "concurrency": 8}``: calls back to back for a while
  (through a shared `RedisRateLimiter` too when the job names a ``key``).
- ``{"mode": "paced", "calls": 75, "rate": 100, "key": "k"}``: calls through a shared
  `RedisRateLimiter` (``"adaptive": true`` for an adaptive one; ``rate`` may be left out).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from mpasync import Client
from mpasync.errors import MParticleError
from mpasync.redis import RedisRateLimiter, RedisTokenCache


async def _call(mp: Client, failed: list[str]) -> bool:
    try:
        await mp.apps.list()
    except MParticleError as exc:
        failed.append(type(exc).__name__)
        return False
    return True


async def run(job: dict[str, Any]) -> dict[str, Any]:
    cache = RedisTokenCache(
        job["redis"], job["client_id"], job["client_secret"], token_url=job["token_url"]
    )
    limiter = None
    if "key" in job:
        limiter = RedisRateLimiter(
            job["redis"], job["key"], job.get("rate"), adaptive=job.get("adaptive", False)
        )
    failed: list[str] = []
    ok = 0
    async with Client(
        account_id=1,
        base_url=job["emulator"],
        token_cache=cache,
        rate_limit=limiter,
        max_concurrency=256,
    ) as mp:
        loop = asyncio.get_running_loop()
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        if job["mode"] in ("burst", "paced"):
            results = await asyncio.gather(*(_call(mp, failed) for _ in range(job["calls"])))
            ok = sum(results)
        else:
            until = time.monotonic() + job["seconds"]

            async def caller() -> int:
                done = 0
                while time.monotonic() < until:
                    done += await _call(mp, failed)
                    await asyncio.sleep(0.01)  # steady traffic, not a CPU race
                return done

            ok = sum(await asyncio.gather(*(caller() for _ in range(job["concurrency"]))))
    await cache.aclose()
    if limiter is not None:
        await limiter.aclose()
    return {"ok": ok, "failed": failed, "fetches": cache.fetch_count}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)
