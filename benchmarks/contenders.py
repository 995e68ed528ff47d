"""The three contenders of the throughput and CPU benchmarks (mpasync, raw aiohttp, httpx),
and timed runs of them against the canned server: one alone (`measure`) or all of them
in interleaved rounds (`throughput_samples`).
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import msgspec

from benchmarks.common import Context, Sample
from mpasync import Client
from mpasync.models import App
from mpasync.models.base import Envelope

__all__ = [
    "APP_ID",
    "CONTENDERS",
    "drive",
    "measure",
    "mpasync_client",
    "paired_ratios",
    "samples_by_kind",
    "throughput_samples",
]

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
APP_ID = 1

Call = Callable[[], Awaitable[Any]]
Close = Callable[[], Awaitable[None]]


def mpasync_client(base: str, concurrency: int, **kwargs: Any) -> Client:
    """A `Client` of the canned server (``kwargs`` are more `Client` options)."""
    return Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        account_id=1,
        base_url=base,
        token_url=base + "/oauth/token",
        max_concurrency=concurrency,
        **kwargs,
    )


async def _open_mpasync(base: str, concurrency: int) -> tuple[Call, Close]:
    """mpasync as shipped: auth, limits, retries armed (default policy), typed decode."""
    mp = mpasync_client(base, concurrency)
    return functools.partial(mp.apps.get, APP_ID), mp.aclose


def _token_payload() -> dict[str, str]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "audience": "https://api.mparticle.com",
        "grant_type": "client_credentials",
    }


#: The raw contenders decode as mpasync does: msgspec, into the same typed model
#: (`Envelope[App]`, ``strict=False``), one decoder built once. So the throughput ratio
#: measures the client, not the JSON library (issue 19).
_APP_ENVELOPE: msgspec.json.Decoder[Envelope[App]] = msgspec.json.Decoder(
    Envelope[App], strict=False
)


def _the_app(body: bytes) -> App:
    data = _APP_ENVELOPE.decode(body).data
    if not data:
        raise RuntimeError("no app in the envelope")
    return data[0]


async def _open_aiohttp(base: str, concurrency: int) -> tuple[Call, Close]:
    """Raw aiohttp: one session, TCPConnector(limit=concurrency), msgspec typed decode."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    async with session.post(base + "/oauth/token", json=_token_payload()) as resp:
        token = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = f"{base}/v1/apps/{APP_ID}?accountId=1"

    async def call() -> Any:
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
        return _the_app(body)

    return call, session.close


async def _open_httpx(base: str, concurrency: int) -> tuple[Call, Close]:
    """httpx.AsyncClient with max_connections=concurrency, msgspec typed decode."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(limits=limits)
    token = (await client.post(base + "/oauth/token", json=_token_payload())).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
    url = f"{base}/v1/apps/{APP_ID}?accountId=1"

    async def call() -> Any:
        resp = await client.get(url, headers=headers)
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}")
        return _the_app(resp.content)

    return call, client.aclose


CONTENDERS: dict[str, Callable[[str, int], Awaitable[tuple[Call, Close]]]] = {
    "mpasync": _open_mpasync,
    "aiohttp": _open_aiohttp,
    "httpx": _open_httpx,
}


async def drive(call: Call, n: int, concurrency: int) -> Any:
    """``n`` calls from ``concurrency`` workers; returns the last result."""
    remaining = n
    last: Any = None

    async def worker() -> None:
        nonlocal remaining, last
        while remaining > 0:
            remaining -= 1
            last = await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return last


def _check(kind: str, result: Any) -> None:
    ok = isinstance(result, App) and result.id == APP_ID and result.name == "Test App"
    if not ok:
        raise RuntimeError(f"{kind}: unexpected result {result!r}")


async def measure(
    ctx: Context, kind: str, n: int, profiler: cProfile.Profile | None = None
) -> Sample:
    """One timed run: open the contender, warm it up (connections, token), time ``n`` calls."""
    sizes = ctx.sizes
    call, close = await CONTENDERS[kind](ctx.server.base_url, sizes.concurrency)
    try:
        await drive(call, sizes.warmup, sizes.concurrency)
        gc.collect()
        before = ctx.server.stats()
        cpu0, t0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        last = await drive(call, n, sizes.concurrency)
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        after = ctx.server.stats()
    finally:
        await close()
    _check(kind, last)
    served = after["requests"] - before["requests"]
    if served != n:
        raise RuntimeError(f"{kind}: the server saw {served} requests for {n} calls")
    return Sample(kind, n, wall, cpu, after["cpu"] - before["cpu"], served)


async def _timed_chunk(ctx: Context, kind: str, call: Call, n: int) -> Sample:
    before = ctx.server.stats()
    cpu0, t0 = time.process_time(), time.perf_counter()
    last = await drive(call, n, ctx.sizes.concurrency)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = ctx.server.stats()
    _check(kind, last)
    served = after["requests"] - before["requests"]
    if served != n:
        raise RuntimeError(f"{kind}: the server saw {served} requests for {n} calls")
    return Sample(kind, n, wall, cpu, after["cpu"] - before["cpu"], served)


async def interleaved_round(ctx: Context, round_index: int) -> tuple[list[Sample], list[Sample]]:
    """One round: every contender open and warm, their requests run in alternating chunks.

    Each contender makes its whole quota (``requests``; httpx ``httpx_requests``) in
    ``chunks`` pieces, the order rotating chunk by chunk, so a change in the machine's
    load hits all of them alike. Returns one summed sample per contender and the chunks.
    """
    sizes = ctx.sizes
    kinds = list(CONTENDERS)
    quota = {k: sizes.httpx_requests if k == "httpx" else sizes.requests for k in kinds}
    opened: dict[str, tuple[Call, Close]] = {}
    chunks: list[Sample] = []
    try:
        for kind in kinds:
            opened[kind] = await CONTENDERS[kind](ctx.server.base_url, sizes.concurrency)
            await drive(opened[kind][0], sizes.warmup, sizes.concurrency)
        gc.collect()
        for c in range(sizes.chunks):
            shift = (c + round_index) % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                n = quota[kind] // sizes.chunks
                if c == sizes.chunks - 1:
                    n = quota[kind] - n * (sizes.chunks - 1)
                chunks.append(await _timed_chunk(ctx, kind, opened[kind][0], n))
    finally:
        for _call, close in opened.values():
            await close()
    totals = []
    for kind in kinds:
        mine = [s for s in chunks if s.kind == kind]
        totals.append(
            Sample(
                kind,
                sum(s.requests for s in mine),
                sum(s.wall for s in mine),
                sum(s.cpu for s in mine),
                sum(s.server_cpu for s in mine),
                sum(s.served for s in mine),
            )
        )
    return totals, chunks


async def throughput_samples(ctx: Context) -> tuple[list[Sample], list[Sample]]:
    """Every round's per-contender totals and chunks (computed once, shared by two benchmarks)."""
    if ctx.samples is None:
        totals: list[Sample] = []
        chunks: list[Sample] = []
        for r in range(ctx.sizes.rounds):
            t, c = await interleaved_round(ctx, r)
            totals += t
            chunks += c
        ctx.samples = (totals, chunks)
    return ctx.samples


def paired_ratios(chunks: list[Sample], a: str, b: str) -> list[float]:
    """Rate of ``a`` over rate of ``b`` for each pair of neighbouring chunks."""
    mine = [s for s in chunks if s.kind == a]
    theirs = [s for s in chunks if s.kind == b]
    return [x.rate / y.rate for x, y in zip(mine, theirs, strict=True)]


def samples_by_kind(samples: list[Sample]) -> dict[str, list[Sample]]:
    """The samples grouped by contender, in order of first appearance."""
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.kind, []).append(s)
    return out
