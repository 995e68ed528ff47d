"""Many worker tasks sharing one Client under a rate limit: an inventory of every app.

One client means one connection pool, one token and one budget: 8 workers pull app ids
from a queue, and however they interleave, the client never exceeds 40 requests/s.

    python examples/worker.py
"""

from __future__ import annotations

import asyncio
import time

from _connect import connect

from mpasync import Client, MParticleError


async def worker(mp: Client, queue: asyncio.Queue[int], inventory: dict[int, str]) -> None:
    while True:
        app_id = await queue.get()
        try:
            platforms, datapoints = await asyncio.gather(
                mp.platforms.list(app_id), mp.datapoints.list(app_id)
            )
            oses = ",".join(sorted(p.os for p in platforms))
            inventory[app_id] = f"{oses:<24} {len(datapoints):3d} datapoints"
        except MParticleError as exc:
            inventory[app_id] = f"error: {exc}"
        finally:
            queue.task_done()


async def main() -> int:
    async with connect(apps=30, rate_limit=40, max_concurrency=8) as mp:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for app in await mp.apps.list():
            queue.put_nowait(app.id)
        inventory: dict[int, str] = {}
        before = mp.stats.requests
        started = time.monotonic()
        workers = [asyncio.create_task(worker(mp, queue, inventory)) for _ in range(8)]
        await queue.join()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        elapsed = time.monotonic() - started
        for app_id in sorted(inventory):
            print(f"app {app_id:4d}: {inventory[app_id]}")
        requests = mp.stats.requests - before
        print(f"{requests} requests in {elapsed:.2f}s = {requests / elapsed:.1f}/s (limit 40/s)")
        return 0 if not any(v.startswith("error") for v in inventory.values()) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
