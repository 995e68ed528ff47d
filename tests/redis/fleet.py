"""Runs `tests.redis.worker` jobs as separate OS processes, started together."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mpasync.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]


def job_for(emu: Emulator, redis_url: str, **job: Any) -> dict[str, Any]:
    """A worker job against ``emu`` and the Redis at ``redis_url``."""
    return {
        "emulator": emu.base_url,
        "token_url": emu.token_url,
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "redis": redis_url,
        **job,
    }


async def run_fleet(
    jobs: list[dict[str, Any]],
    *,
    timeout: float = 60.0,
    after_go: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Start one process per job, release them all at once, return their JSON results.

    ``after_go`` runs once every process is released (e.g. to kill Redis mid-run).
    """
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.redis.worker",
            json.dumps(job),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for job in jobs
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            assert line.strip() == b"ready", line
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        if after_go is not None:
            await after_go()
        results = []
        for proc in procs:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
            assert proc.returncode == 0, out
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def busiest_window(times: list[float], width: float = 1.0) -> int:
    """The most events in any window ``[t, t + width)``."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
