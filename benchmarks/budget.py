"""Budget efficiency: how close each rate-limit setting gets to a budget it is not told.

3,000 ``apps.get`` calls through `mpasync.Client` against the emulator (its own process,
so the two do not share a CPU) with a hidden speed budget B per account and an
acceleration limit; wall time is compared with the physical minimum ``3,000 / B`` and
429s are counted by the server. Contenders: ``rate_limit="auto"``; a fixed rate 2x too
high; a fixed rate of B/2; no limit (retries only); 429-only CUBIC (the adaptive limiter
with header use off, as botocore). Then "neighbour": another consumer takes 40 % of B.

    python benchmarks/budget.py            # the table (about 3 minutes)
    python benchmarks/budget.py --quick    # 600 requests, for a smoke run
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Context, Figure, verdict
from mpasync import AdaptiveRateLimiter, Client, RetryPolicy
from mpasync.emulator import Emulator
from mpasync.emulator.ratelimit import RateLimits

BUDGET = 150.0
ACCELERATION = 2.0
ACCELERATION_FLOOR = BUDGET / 2
NEIGHBOUR = 0.4
CONCURRENCY = 32


@dataclass
class BudgetRun:
    """One contender's run."""

    name: str
    requests: int
    wall: float
    served: int
    throttled: int
    by_kind: dict[str, int]
    failed: int
    final_rate: float | None
    budget: float

    @property
    def efficiency(self) -> float:
        """Wall time over the physical minimum (1.0 = the whole budget, all the time)."""
        return self.wall / (self.requests / self.budget)

    @property
    def share_429(self) -> float:
        return self.throttled / self.served if self.served else 0.0


def _serve(conn: Any, options: dict[str, Any]) -> None:
    """Child process: run an emulator (``options`` are `Emulator`'s; 3 apps unless they say
    otherwise); report its URL; on each message but "stop", send what it served since the
    last one (v1 statuses, times of 200s, token requests)."""

    async def main() -> None:
        async with Emulator(**{"apps": 3, "request_log_limit": None, **options}) as emu:
            conn.send(
                {
                    "base_url": emu.base_url,
                    "token_url": emu.token_url,
                    "client_id": emu.client_id,
                    "client_secret": emu.client_secret,
                    "account_id": emu.account_id,
                    "app_id": min(a.id for a in emu.state.apps_of(emu.account_id)),
                }
            )
            loop = asyncio.get_running_loop()
            while True:
                msg = await loop.run_in_executor(None, conn.recv)
                if msg == "stop":
                    return
                statuses: dict[str, int] = {}
                times: list[float] = []
                for entry in emu.request_log:
                    if entry.path.startswith("/v1/"):
                        statuses[str(entry.status)] = statuses.get(str(entry.status), 0) + 1
                        if entry.status == 200:
                            times.append(entry.time)
                served = {
                    "statuses": statuses,
                    "times": times,
                    "token_requests": emu.token_requests,
                }
                emu.reset_request_log()  # (the token count too)
                conn.send(served)

    asyncio.run(main())


class EmulatorProcess:
    """An emulator in a child process (context manager)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.info: dict[str, Any] = {}

    def __enter__(self) -> EmulatorProcess:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self.options), daemon=True)
        self._proc.start()
        self.info = self._conn.recv()
        return self

    def served(self) -> dict[str, Any]:
        """Status counts of v1 requests since the last call (and forget them)."""
        self._conn.send("served")
        result: dict[str, Any] = self._conn.recv()
        return result

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()


async def _run_one(
    name: str, server: EmulatorProcess, rate_limit: Any, n: int, budget: float
) -> BudgetRun:
    info = server.info
    limiter = rate_limit() if callable(rate_limit) else rate_limit
    client = Client(
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        account_id=info["account_id"],
        base_url=info["base_url"],
        token_url=info["token_url"],
        rate_limit=limiter,
        max_concurrency=CONCURRENCY,
        retry=RetryPolicy(max_attempts=30, backoff_base=0.25, backoff_max=2.0),
    )
    failed = 0
    app_id = info["app_id"]
    async with client as mp:
        await mp.token_cache.get()  # the token fetch is not part of the budget
        server.served()
        queue = iter(range(n))

        async def worker() -> None:
            nonlocal failed
            for _ in queue:
                try:
                    await mp.apps.get(app_id)
                except Exception:
                    failed += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - t0
    statuses: dict[str, int] = server.served()["statuses"]
    return BudgetRun(
        name=name,
        requests=n,
        wall=wall,
        served=sum(statuses.values()),
        throttled=statuses.get("429", 0),
        by_kind=statuses,
        failed=failed,
        final_rate=getattr(limiter, "rate", None) if limiter is not None else None,
        budget=budget,
    )


def contenders(budget: float) -> list[tuple[str, Any]]:
    """(name, rate_limit option or a factory of one) for each setting compared."""
    return [
        ('rate_limit="auto"', "auto"),
        (f"fixed {2 * budget:g}/s (2x too high)", 2 * budget),
        (f"fixed {budget / 2:g}/s (half)", budget / 2),
        ("no limit (retries only)", None),
        ("429-only CUBIC (headers off)", lambda: AdaptiveRateLimiter(use_headers=False)),
        ('"auto" with target_usage=0.95', lambda: AdaptiveRateLimiter(target_usage=0.95)),
    ]


def ideal_wall(n: int, budget: float = BUDGET, *, neighbour: float = 0.0) -> float:
    """The physical best for a client that never bursts: it starts requests at most
    ``budget`` per second, evenly spaced, and whenever the emulator would admit one
    (simulated on the emulator's `RateLimits` at 0.1 ms steps)."""
    limits = RateLimits(
        budget,
        acceleration=ACCELERATION,
        acceleration_floor=ACCELERATION_FLOOR,
        neighbour=neighbour,
    )
    spacing = 1.0 / budget
    done, t, last, step = 0, 0.0, -math.inf, 1e-4
    while True:
        if t - last >= spacing and limits.acquire(1, None, t).admitted:
            done, last = done + 1, t
            if done == n:
                return t
        t += step


async def run_budget(
    n: int = 3000,
    *,
    budget: float = BUDGET,
    progress: Callable[[str], None] | None = None,
    quick: bool = False,
) -> dict[str, list[BudgetRun]]:
    """Every contender on a fresh emulator, then "auto" and CUBIC beside a neighbour.

    ``quick`` runs only "auto" (the smoke run).
    """
    results: dict[str, list[BudgetRun]] = {"budget": [], "neighbour": []}
    limits = {
        "rate_limit": budget,
        "acceleration_limit": ACCELERATION,
        "acceleration_floor": ACCELERATION_FLOOR,
    }
    chosen = contenders(budget)
    if quick:
        chosen = chosen[:1]
    for name, option in chosen:
        with EmulatorProcess(**limits) as server:
            run = await _run_one(name, server, option, n, budget)
        results["budget"].append(run)
        if progress:
            progress(_line(run))
    left = budget * (1 - NEIGHBOUR)
    for name, option in chosen if quick else [chosen[0], chosen[4]]:  # auto, CUBIC
        with EmulatorProcess(**limits, neighbour=NEIGHBOUR) as server:
            run = await _run_one(name, server, option, n, left)
        results["neighbour"].append(run)
        if progress:
            progress("neighbour " + _line(run))
    return results


def _line(run: BudgetRun) -> str:
    return (
        f"{run.name:34s} {run.wall:6.1f} s  {run.efficiency:5.2f}x  "
        f"429s {run.throttled:5d} ({100 * run.share_429:5.2f} %)  failed {run.failed}  "
        f"rate {run.final_rate if run.final_rate is None else round(run.final_rate, 1)}"
    )


async def bench_budget(ctx: Context) -> list[Figure]:
    """The `run.py` entry: budget efficiency and neighbour rows."""
    n = ctx.sizes.budget_requests
    quick = n < 1000
    results = await run_budget(n, quick=quick)
    ideal = ideal_wall(n)
    ideal_nb = ideal_wall(n, neighbour=NEIGHBOUR)
    ctx.details["budget"] = {k: [vars(r) for r in v] for k, v in results.items()}
    setting = (
        f"B = {BUDGET:g}/s per account, acceleration x{ACCELERATION:g}/s above "
        f"{ACCELERATION_FLOOR:g}; {n:,} apps.get, concurrency {CONCURRENCY}"
    )
    rows: list[Figure] = []
    for run in results["budget"]:
        auto = run.name == 'rate_limit="auto"'
        note = (
            f"{run.wall:.1f} s vs {n / BUDGET:.1f} s at B; {run.throttled} of "
            f"{run.served} answers 429; best possible for a client that never bursts "
            f"{ideal / (n / BUDGET):.2f}x ({ideal:.1f} s); {run.failed} calls failed"
        )
        if auto:
            note += "; " + setting
        rows.append(
            Figure(
                "budget",
                f"{run.name}: wall / (n / B)",
                f"{run.efficiency:.2f}x",
                "≤ 1.15x" if auto else "—",
                verdict(run.efficiency <= 1.15) if auto else "—",
                note,
            )
        )
        rows.append(
            Figure(
                "budget",
                f"{run.name}: share of answers 429",
                f"{100 * run.share_429:.2f}%",
                "≤ 1%" if auto else "—",
                verdict(run.share_429 <= 0.01) if auto else "—",
            )
        )
    left = BUDGET * (1 - NEIGHBOUR)
    for run in results["neighbour"]:
        auto = run.name == 'rate_limit="auto"'
        rows.append(
            Figure(
                "neighbour",
                f"{run.name}: wall / (n / budget left)",
                f"{run.efficiency:.2f}x",
                "≤ 1.2x" if auto else "—",
                verdict(run.efficiency <= 1.2) if auto else "—",
                f"another consumer takes {NEIGHBOUR:.0%} of B: {left:g}/s left; "
                f"{run.wall:.1f} s vs {n / left:.1f} s; best possible "
                f"{ideal_nb / (n / left):.2f}x",
            )
        )
        rows.append(
            Figure(
                "neighbour",
                f"{run.name}: share of answers 429",
                f"{100 * run.share_429:.2f}%",
                "≤ 2%" if auto else "—",
                verdict(run.share_429 <= 0.02) if auto else "—",
                f"{run.throttled} of {run.served}",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = 600 if "--quick" in args else 3000
    results = asyncio.run(run_budget(n, progress=print))
    if "--json" in args:
        print(json.dumps({k: [vars(r) for r in v] for k, v in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
