"""Typed decode under retention: what ``gc=False`` on the models (adopted) pays.

A program that keeps what it decodes (a report of 2,000 app lists, each of 200 apps) makes
the cyclic garbage collector walk every tracked object again and again as the heap
grows. msgspec's ``gc=False`` Struct option leaves instances untracked (safe for response
models: they never form reference cycles; their lists are still tracked). Contenders,
each decoding the same body ``n`` times and keeping every result, in a fresh process
(so one heap does not tax the next):

- the shipped models (``gc=False``, adopted after it measured 0.58x-0.77x the CPU):
  ``envelope_list(App)`` as the transport uses it;
- the same models tracked by the collector (``gc=True`` subclasses made here), as they
  were before;
- ``json.loads`` into dicts (what raw aiohttp users do).

    python benchmarks/retention.py          # 2,000 lists of 200 apps
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks.common import Context, Figure
from benchmarks.fastserver import app_envelope
from mpasync.decoding import envelope_list
from mpasync.models import App
from mpasync.models.apps import AccessKey, Platform
from mpasync.models.base import Envelope

APPS_PER_LIST = 200
LISTS = 2_000
KINDS = ("typed", "typed gc=True", "json.loads")


class _AccessKeyTracked(AccessKey, kw_only=True, gc=True):
    pass


# The fields narrow their element type (msgspec decodes into it; mypy sees invariant lists).
class _PlatformTracked(Platform, kw_only=True, gc=True):
    access_keys: list[_AccessKeyTracked] | None = None  # type: ignore[assignment]


class _AppTracked(App, kw_only=True, gc=True):
    platforms: list[_PlatformTracked] | None = None  # type: ignore[assignment]


def body(apps: int = APPS_PER_LIST) -> bytes:
    """A v1 list of ``apps`` apps, each with one platform and one access key."""
    one = json.loads(app_envelope(1))["data"][0]
    data = [{**one, "id": i, "name": f"App {i}"} for i in range(1, apps + 1)]
    return json.dumps({"data": data, "dataType": "application", "errors": None}).encode()


def _decoder(kind: str) -> Any:
    if kind == "typed":
        return envelope_list(App)
    if kind == "typed gc=True":
        dec = msgspec.json.Decoder(Envelope[_AppTracked], strict=False)
        return lambda raw: dec.decode(raw).data
    return lambda raw: json.loads(raw)["data"]


def _run(kind: str, lists: int, apps: int) -> dict[str, float]:
    raw = body(apps)
    decode = _decoder(kind)
    decode(raw)  # warm up (decoder built, caches filled)
    gc.collect()
    kept: list[Any] = []
    collections = sum(s["collections"] for s in gc.get_stats())
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(lists):
        kept.append(decode(raw))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    collections = sum(s["collections"] for s in gc.get_stats()) - collections
    assert len(kept) == lists and len(kept[-1]) == apps
    return {
        "wall": wall,
        "cpu": cpu,
        "collections": float(collections),
        "tracked": float(len(gc.get_objects())),
    }


def _child(conn: Any, kind: str, lists: int, apps: int) -> None:
    conn.send(_run(kind, lists, apps))


def measure(lists: int = LISTS, apps: int = APPS_PER_LIST, rounds: int = 3) -> dict[str, Any]:
    """Best-of-``rounds`` figures per contender, each run in a fresh process."""
    ctx = multiprocessing.get_context("spawn")
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for kind in KINDS:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_child, args=(child, kind, lists, apps))
            proc.start()
            result = parent.recv()
            proc.join()
            if kind not in best or result["cpu"] < best[kind]["cpu"]:
                best[kind] = result
    return best


async def bench_retention(ctx: Context) -> list[Figure]:
    """The `run.py` entry: the three contenders' CPU time, and the ratios."""
    lists = ctx.sizes.retention_lists
    if lists < LISTS:  # the smoke run: in process, once
        res = {kind: _run(kind, lists, 20) for kind in KINDS}
        apps = 20
    else:
        res, apps = measure(lists), APPS_PER_LIST
    ctx.details["retention"] = res
    nogc, typed, loads = (res[k] for k in KINDS)
    what = f"{lists:,} lists of {apps} apps decoded and all kept alive"
    return [
        Figure(
            "retention",
            f"typed decode, models tracked by gc as before (CPU ms, {what})",
            f"{typed['cpu'] * 1e3:.0f}",
            note=f"{typed['collections']:.0f} gc runs; {typed['tracked']:,.0f} tracked objects",
        ),
        Figure(
            "retention",
            "typed decode, shipped models (gc=False) (CPU ms)",
            f"{nogc['cpu'] * 1e3:.0f}",
            note=f"{nogc['collections']:.0f} gc runs; {nogc['tracked']:,.0f} tracked objects "
            "(the lists inside models stay tracked)",
        ),
        Figure(
            "retention",
            "json.loads into dicts (CPU ms)",
            f"{loads['cpu'] * 1e3:.0f}",
            note=f"{loads['collections']:.0f} gc runs; {loads['tracked']:,.0f} tracked objects",
        ),
        Figure(
            "retention",
            "gc=False / tracked models, CPU",
            f"{nogc['cpu'] / typed['cpu']:.2f}x",
            note=f"best of 3 fresh processes each; shipped models / json.loads "
            f"{nogc['cpu'] / loads['cpu']:.2f}x",
        ),
    ]


if __name__ == "__main__":
    for kind, r in measure().items():
        print(
            f"{kind:16s} wall {r['wall'] * 1e3:8.1f} ms  cpu {r['cpu'] * 1e3:8.1f} ms  "
            f"gc runs {r['collections']:5.0f}  tracked objects {r['tracked']:,.0f}"
        )
