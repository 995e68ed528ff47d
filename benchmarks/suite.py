"""The benchmarks against the canned server (`benchmarks/fastserver.py`, its own process):
the server's own capacity, throughput and CPU of the three contenders, where mpasync's
time goes, a cold token cache, the rate limiter, `bulk.map` memory, and decoding. Each is
a function of a `Context` that returns table rows (`Figure`s).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import itertools
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec

from benchmarks.common import Context, Figure, verdict
from benchmarks.contenders import (
    APP_ID,
    measure,
    mpasync_client,
    paired_ratios,
    samples_by_kind,
    throughput_samples,
)
from benchmarks.fastserver import DATAPOINT_COUNT, app_envelope, datapoints_envelope
from benchmarks.profiling import attribute, where
from mpasync.decoding import envelope_list, envelope_one
from mpasync.models import App, DataPoint

__all__ = [
    "bench_bulk",
    "bench_cold_token",
    "bench_cpu",
    "bench_decode",
    "bench_profile",
    "bench_rate",
    "bench_server",
    "bench_throughput",
    "max_in_window",
]

HERE = Path(__file__).parent

# -- 0. the server itself -----------------------------------------------------------------


async def bench_server(ctx: Context) -> list[Figure]:
    """How fast the canned server answers when the client costs (almost) nothing.

    Pipelined GETs of the one-app envelope over 8 connections, 64 requests per write;
    responses are counted by bytes, so the load generator does next to no work.
    """
    conns, depth = 8, 64
    request = f"GET /v1/apps/{APP_ID}?accountId=1 HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    response_len = len(app_envelope()) + len(
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(app_envelope())}\r\n\r\n"
    )
    batch = request * depth
    deadline = time.perf_counter() + ctx.sizes.capacity_seconds
    done = 0

    async def conn() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(ctx.server.host, ctx.server.port)
        try:
            while time.perf_counter() < deadline:
                writer.write(batch)
                await reader.readexactly(response_len * depth)
                done += depth
        finally:
            writer.close()
            await writer.wait_closed()

    before = ctx.server.stats()
    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(conns)))
    wall = time.perf_counter() - t0
    after = ctx.server.stats()
    rate = done / wall
    server_cpu = after["cpu"] - before["cpu"]
    per_core = done / server_cpu if server_cpu > 0 else float("inf")
    ctx.details["server"] = {"rate": rate, "per_core": per_core}
    return [
        Figure(
            "server",
            "canned server, pipelined GETs (req/s)",
            f"{rate:,.0f}",
            "≥ 100,000",
            verdict(rate >= 100_000),
            f"{per_core:,.0f} req per server CPU-second",
        )
    ]


# -- 1. throughput ---------------------------------------------------------------------------


async def bench_throughput(ctx: Context) -> list[Figure]:
    """20,000 GETs at concurrency 64: mpasync vs raw aiohttp vs httpx, interleaved rounds."""
    totals, chunks = await throughput_samples(ctx)
    groups = samples_by_kind(totals)
    best = {k: max(s.rate for s in v) for k, v in groups.items()}
    median = {k: statistics.median(s.rate for s in v) for k, v in groups.items()}
    sizes = ctx.sizes
    rows = [
        Figure(
            "throughput",
            f"{k} req/s (best of {sizes.rounds})",
            f"{best[k]:,.0f}",
            note=f"{v[0].requests:,} requests per round; rounds "
            + ", ".join(f"{s.rate:,.0f}" for s in v),
        )
        for k, v in groups.items()
    ]
    paired = {k: statistics.median(paired_ratios(chunks, "mpasync", k)) for k in best}
    for other, target in (("aiohttp", 0.95), ("httpx", 10.0)):
        ratio = paired[other]
        pairs = len(paired_ratios(chunks, "mpasync", other))
        label = "raw aiohttp" if other == "aiohttp" else other
        rows.append(
            Figure(
                "throughput",
                f"mpasync / {label}, median of {pairs} paired chunks",
                f"{ratio:.2f}x",
                f"≥ {target:.2f}x" if target < 1 else f"≥ {target:g}x",
                verdict(ratio >= target),
                f"best vs best {best['mpasync'] / best[other]:.2f}x; "
                f"median round vs median round {median['mpasync'] / median[other]:.2f}x",
            )
        )
    busiest = max(chunks, key=lambda s: s.server_busy)
    per_request = sum(s.server_cpu for s in chunks) / sum(s.requests for s in chunks)
    rows.append(
        Figure(
            "throughput",
            "server busy during a chunk (highest)",
            f"{busiest.server_busy:.0%}",
            "< 50% (server not the bottleneck)",
            verdict(busiest.server_busy < 0.5),
            f"during {busiest.kind}; server CPU {per_request * 1e6:.1f} µs/request "
            f"(≈ {1 / per_request:,.0f} req/s per core)",
        )
    )
    ctx.details["throughput"] = {"best": best, "median": median, "paired": paired}
    return rows


# -- 2. CPU per 1,000 requests ---------------------------------------------------------------


async def bench_cpu(ctx: Context) -> list[Figure]:
    """Client-process CPU seconds per 1,000 requests (same interleaved runs)."""
    totals, chunks = await throughput_samples(ctx)
    groups = samples_by_kind(totals)
    best = {k: min(s.cpu_per_1000 for s in v) for k, v in groups.items()}
    rows = [
        Figure(
            "cpu",
            f"{k} CPU ms / 1,000 requests (best round)",
            f"{best[k] * 1000:.1f}",
            note="rounds " + ", ".join(f"{s.cpu_per_1000 * 1000:.1f}" for s in v),
        )
        for k, v in groups.items()
    ]
    mine = [s for s in chunks if s.kind == "mpasync"]
    base = [s for s in chunks if s.kind == "aiohttp"]
    pairs = zip(mine, base, strict=True)
    paired = statistics.median(x.cpu_per_1000 / y.cpu_per_1000 for x, y in pairs)
    rows.append(
        Figure(
            "cpu",
            "mpasync CPU / raw aiohttp CPU, median of paired chunks",
            f"{paired:.2f}x",
            note=f"best round vs best round {best['mpasync'] / best['aiohttp']:.2f}x; "
            f"mpasync costs {(best['mpasync'] - best['aiohttp']) * 1e3:+.1f} µs/request",
        )
    )
    rows.append(
        Figure(
            "cpu",
            "httpx CPU / mpasync CPU",
            f"{best['httpx'] / best['mpasync']:.2f}x",
        )
    )
    ctx.details["cpu"] = best
    return rows


# -- 1b. where mpasync's time goes -------------------------------------------------------------


async def bench_profile(ctx: Context) -> list[Figure]:
    """cProfile one separate mpasync run; charge the time to packages and mpasync modules."""
    profiler = cProfile.Profile()
    sample = await measure(ctx, "mpasync", ctx.sizes.profile_requests, profiler)
    out = ctx.profile_out
    if out is not None:
        profiler.dump_stats(out)
    found = attribute(pstats.Stats(profiler))
    raw = found.stats
    n = sample.requests
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    mp_top = sorted(
        ((k, v) for k, v in raw.items() if "mpasync/" in k[0]),
        key=lambda kv: kv[1][2],
        reverse=True,
    )[:12]
    places = sorted(found.places.items(), key=lambda kv: kv[1], reverse=True)
    ctx.details["profile"] = {
        "total": found.total,
        "requests": n,
        "places": places,
        "top": [(where(k), v[1], v[2], v[3]) for k, v in top],
        "mpasync_top": [(where(k), v[1], v[2], v[3]) for k, v in mp_top],
        "file": str(out) if out is not None else "",
    }
    total = found.total
    mp = found.mpasync_share()
    parts = [(p, t) for p, t in places if p.startswith("mpasync")]
    rows = [
        Figure(
            "profile",
            "share of time in mpasync's own code",
            f"{mp:.0%}",
            note=f"{mp * total / n * 1e6:.1f} µs/request under cProfile; largest: "
            + ", ".join(f"{p.split(': ')[1]} {t / total:.1%}" for p, t in parts[:3]),
        )
    ]
    for label, tt in places:
        if not label.startswith("mpasync") and tt / total >= 0.005:
            rows.append(
                Figure(
                    "profile",
                    f"share of time in {label}",
                    f"{tt / total:.0%}",
                    note=f"{tt / n * 1e6:.1f} µs/request under cProfile",
                )
            )
    return rows


# -- 3. cold token cache ---------------------------------------------------------------------


async def bench_cold_token(ctx: Context) -> list[Figure]:
    """Many concurrent `apps.get` on a cold token cache, token endpoint slow: one fetch."""
    sizes = ctx.sizes
    ctx.server.configure(token_delay=sizes.token_delay)
    ctx.server.reset()
    try:
        t0 = time.perf_counter()
        async with mpasync_client(ctx.server.base_url, sizes.concurrency) as mp:
            results = await asyncio.gather(
                *(mp.apps.get(APP_ID) for _ in range(sizes.cold_requests))
            )
            fetches = mp.token_cache.fetch_count
        wall = time.perf_counter() - t0
        stats = ctx.server.stats()
    finally:
        ctx.server.configure(token_delay=0.0)
    ok = sum(1 for r in results if r.id == APP_ID)
    tokens = stats["token_requests"]
    return [
        Figure(
            "cold token",
            f"token requests for {sizes.cold_requests:,} concurrent gets",
            str(tokens),
            "= 1",
            verdict(tokens == 1 and ok == sizes.cold_requests),
            f"{ok:,} succeeded; client fetch_count {fetches}; "
            f"{wall:.2f} s incl. {sizes.token_delay:g} s token delay",
        )
    ]


# -- 4. rate limiter ---------------------------------------------------------------------------


def max_in_window(times: list[float], window: float = 1.0) -> tuple[int, int]:
    """The most timestamps inside any half-open window ``[t, t + window)``, and the index
    (in sorted order) of the first timestamp of the first such window."""
    times = sorted(times)
    best = start = 0
    j = 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + window:
            j += 1
        if j - i > best:
            best, start = j - i, i
    return best, start


async def bench_rate(ctx: Context) -> list[Figure]:
    """Client(rate_limit=200, max_concurrency=64): achieved rate and worst 1-s window,
    both from the server's arrival times."""
    sizes = ctx.sizes
    n = sizes.rate_requests
    async with mpasync_client(ctx.server.base_url, sizes.concurrency, rate_limit=sizes.rate) as mp:
        await mp.token_cache.get()  # the token fetch is not a rate-limited start
        ctx.server.reset()
        t0 = time.perf_counter()
        await asyncio.gather(*(mp.apps.get(APP_ID) for _ in range(n)))
        wall = time.perf_counter() - t0
    arrivals = sorted(ctx.server.stats(arrivals=True)["arrivals"])
    if len(arrivals) != n:
        raise RuntimeError(f"rate: the server saw {len(arrivals)} requests for {n}")
    span = arrivals[-1] - arrivals[0]
    achieved = (n - 1) / span if span > 0 else float("inf")
    worst, at = max_in_window(arrivals)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    spacing = 1.01 / sizes.rate
    # Requests that arrived less than half the nominal spacing after the one before.
    bunched = [i + 1 for i, g in enumerate(gaps) if g < spacing / 2]
    ctx.details["rate"] = {
        "worst": worst,
        "at": at,
        "at_time": arrivals[at] - arrivals[0] if arrivals else 0.0,
        "bunched": bunched,
        "first_gaps_ms": [round(g * 1e3, 2) for g in gaps[:8]],
        "spacing": spacing,
    }
    rows = [
        Figure(
            "rate limit",
            f"achieved rate, {n:,} requests (req/s)",
            f"{achieved:.1f}",
            f"≥ {0.97 * sizes.rate:g} (97% of {sizes.rate:g})",
            verdict(achieved >= 0.97 * sizes.rate),
            f"{span:.2f} s first-to-last arrival; client wall {wall:.2f} s",
        ),
    ]
    if span >= 1.0:
        rows.append(
            Figure(
                "rate limit",
                "most requests started in any 1-s window",
                str(worst),
                f"≤ {sizes.rate:g}",
                verdict(worst <= sizes.rate),
                f"window from arrival #{at} (+{arrivals[at] - arrivals[0]:.3f} s); "
                f"{len(bunched)} arrivals < half the {spacing * 1e3:.2f} ms spacing "
                f"after the previous one; smallest gap {min(gaps) * 1e3:.2f} ms",
            )
        )
    return rows


# -- 5. bulk.map memory and tasks --------------------------------------------------------------


async def bench_bulk(ctx: Context) -> list[Figure]:
    """`bulk.map` over a generator of many items, in a fresh process (`bulkmem`)."""
    sizes = ctx.sizes
    n = sizes.bulk_items
    concurrency = sizes.concurrency
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bulkmem",
        str(n),
        str(concurrency),
        ctx.server.base_url,
        cwd=str(HERE.parent),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bulk: the child process failed ({proc.returncode})")
    data = json.loads(out.decode().strip().splitlines()[-1])
    if data["succeeded"] != n or not data["ok"]:
        raise RuntimeError(f"bulk: {data}")
    growth = (data["peak_rss"] - data["base_rss"]) / 2**20
    wall = data["wall"]
    # Tasks that exist anyway (the caller's, before the run) + the sampler + one per worker.
    task_bound = data["base_tasks"] + 1 + concurrency
    return [
        Figure(
            "bulk",
            f"peak RSS growth, {n:,} items",
            f"{growth:.1f} MB",
            "< 50 MB",
            verdict(growth < 50),
            f"fresh process, RSS {data['base_rss'] / 2**20:.0f} MB before; {wall:.2f} s, "
            f"{n / wall:,.0f} items/s; the report keeps all {n:,} succeeded items",
        ),
        Figure(
            "bulk",
            "peak live tasks",
            str(data["peak_tasks"]),
            f"≤ {task_bound} (ours: {concurrency} workers + sampler + caller)",
            verdict(data["peak_tasks"] <= task_bound),
            f"{data['base_tasks']} before the run; independent of the item count",
        ),
    ]


# -- 6. decoding -------------------------------------------------------------------------------


def _interleaved_times(fns: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Time each function ``repeat`` times, taking turns, so load changes hit all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return times


def _per_call(fn: Callable[[], object], number: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


async def bench_decode(ctx: Context) -> list[Figure]:
    """10,000 datapoints into `DataPoint`s vs `json.loads` into dicts; also the one-app body."""
    repeat = ctx.sizes.decode_repeat
    body = await _fetch_datapoints(ctx)
    typed = envelope_list(DataPoint)
    check = typed(body)
    if len(check) != DATAPOINT_COUNT or not isinstance(check[0], DataPoint):
        raise RuntimeError("decode: wrong result")
    gc.collect()
    typed_t, json_t, untyped_t = _interleaved_times(
        [lambda: typed(body), lambda: json.loads(body), lambda: msgspec.json.decode(body)],
        repeat,
    )
    t_typed, m_typed = min(typed_t), statistics.median(typed_t)
    t_json, m_json = min(json_t), statistics.median(json_t)
    t_untyped = min(untyped_t)
    ratio = statistics.median(a / b for a, b in zip(typed_t, json_t, strict=True))
    one = app_envelope()
    one_typed = envelope_one(App)
    number = max(100, repeat * 100)
    per_typed = _per_call(lambda: one_typed(one), number)
    per_json = _per_call(lambda: json.loads(one), number)
    kb = len(body) / 1024
    return [
        Figure(
            "decode",
            f"envelope_list(DataPoint), {DATAPOINT_COUNT:,} items ({kb:,.0f} KiB)",
            f"{t_typed * 1e3:.2f} ms",
            note=f"best of {repeat}; median {m_typed * 1e3:.2f} ms",
        ),
        Figure(
            "decode",
            "json.loads into dicts, same body",
            f"{t_json * 1e3:.2f} ms",
            note=f"median {m_json * 1e3:.2f} ms; msgspec untyped {t_untyped * 1e3:.2f} ms",
        ),
        Figure(
            "decode",
            "typed decode time / json.loads time, median of paired runs",
            f"{ratio:.2f}x",
            "≤ 1.00x (ours: typed models cost no more than dicts)",
            verdict(ratio <= 1.0),
            f"{1 / ratio:.1f}x faster; best vs best {t_typed / t_json:.2f}x",
        ),
        Figure(
            "decode",
            "one-app envelope: envelope_one(App) vs json.loads",
            f"{per_typed * 1e6:.2f} µs vs {per_json * 1e6:.2f} µs",
            note="per response in the throughput benchmark",
        ),
    ]


async def _fetch_datapoints(ctx: Context) -> bytes:
    """The canned datapoints body, fetched once from the server (checks it matches)."""
    url = f"{ctx.server.base_url}/v1/apps/{APP_ID}/datapoints?accountId=1"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        body = await resp.read()
    if body != datapoints_envelope():
        raise RuntimeError("decode: the server's datapoints body differs from the canned one")
    return body
