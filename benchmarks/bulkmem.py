"""Memory and task footprint of `Bulk.map` over a generator, measured in a fresh process.

Run by the ``bulk`` benchmark as ``python -m benchmarks.bulkmem ITEMS CONCURRENCY
BASE_URL``; prints one JSON object. A fresh process, so that memory freed by earlier
benchmarks cannot be reused and hide growth. ``fn`` awaits ``asyncio.sleep(0)``; VmRSS
and ``len(asyncio.all_tasks())`` are sampled every 5 ms by a background task.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from mpasync import Client

__all__ = ["measure", "rss_bytes"]


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status (VmRSS)."""
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def measure(items: int, concurrency: int, base_url: str) -> dict[str, Any]:
    """Run ``bulk.map`` over ``items`` ints and report peak RSS growth and live tasks."""

    def source() -> Iterator[int]:
        yield from range(items)

    async def fn(item: int) -> None:
        await asyncio.sleep(0)

    async with Client(
        client_id="bench",
        client_secret="bench",
        account_id=1,
        base_url=base_url,
        token_url=base_url + "/oauth/token",
        max_concurrency=concurrency,
    ) as mp:
        gc.collect()
        base_rss = rss_bytes()
        base_tasks = len(asyncio.all_tasks())
        peak_rss, peak_tasks = base_rss, base_tasks
        running = True

        async def sampler() -> None:
            nonlocal peak_rss, peak_tasks
            while running:
                peak_rss = max(peak_rss, rss_bytes())
                peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(sampler())
        t0 = time.perf_counter()
        report = await mp.bulk.map(fn, source(), concurrency=concurrency)
        wall = time.perf_counter() - t0
        running = False
        await watcher
        peak_rss = max(peak_rss, rss_bytes())
    return {
        "items": items,
        "succeeded": len(report.succeeded),
        "ok": report.ok,
        "wall": wall,
        "base_rss": base_rss,
        "peak_rss": peak_rss,
        "base_tasks": base_tasks,
        "peak_tasks": peak_tasks,
    }


def main() -> None:
    """``python -m benchmarks.bulkmem ITEMS CONCURRENCY BASE_URL``."""
    items, concurrency, base_url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(measure(items, concurrency, base_url))))


if __name__ == "__main__":
    main()
