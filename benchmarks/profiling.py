"""Where the time goes: attribute a cProfile run's own time to packages and mpasync modules.

Own time (``tottime``) of functions in a known place (mpasync, aiohttp, yarl, multidict,
asyncio, the benchmark driver, msgspec's decoder, socket and epoll calls) counts for that
place. Anything else (builtins such as ``isinstance``, stdlib helpers such as
``urllib.parse.quote``, generated ``__init__``s) is charged to whoever called it, in
proportion to the time spent on behalf of each caller, up the call graph until a known
place is reached. So ``quote`` called from `mpasync.request.path` counts as mpasync.
"""

from __future__ import annotations

import pstats
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Attribution", "attribute", "where"]

Key = tuple[str, int, str]

# Checked in order; the first match names the place.
_PLACES: tuple[tuple[str, str], ...] = (
    ("mpasync/transport.py", "mpasync: transport"),
    ("mpasync/auth.py", "mpasync: auth"),
    ("mpasync/limits.py", "mpasync: limits"),
    ("mpasync/request.py", "mpasync: request + path"),
    ("mpasync/resources/", "mpasync: resources"),
    ("mpasync/decoding.py", "mpasync: decoding glue"),
    ("mpasync/", "mpasync: other"),
    ("aiohttp/", "aiohttp (+ yarl, multidict)"),
    ("yarl/", "aiohttp (+ yarl, multidict)"),
    ("multidict/", "aiohttp (+ yarl, multidict)"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("benchmarks/", "benchmark driver"),
)


def _place(key: Key) -> str | None:
    filename, _line, func = key
    if filename == "~":
        if "msgspec" in func:
            return "msgspec decode"
        if "_socket.socket" in func or "epoll" in func:
            return "syscalls (socket send/recv, epoll)"
        return None
    for needle, label in _PLACES:
        if needle in filename:
            return label
    return None


@dataclass
class Attribution:
    """Own time per place, the total, and the raw stats."""

    places: dict[str, float]
    total: float
    stats: dict[Key, tuple[int, int, float, float, dict[Key, Any]]]

    def mpasync_share(self) -> float:
        """Fraction of all time charged to mpasync's own modules."""
        return sum(t for p, t in self.places.items() if p.startswith("mpasync")) / self.total


def attribute(stats: pstats.Stats) -> Attribution:
    """Charge every function's own time to a place (see the module docstring)."""
    raw: dict[Key, tuple[int, int, float, float, dict[Key, Any]]] = stats.stats  # type: ignore[attr-defined]
    memo: dict[Key, dict[str, float]] = {}

    def share(key: Key, depth: int) -> dict[str, float]:
        if key in memo:
            return memo[key]
        place = _place(key)
        if place is not None:
            result = {place: 1.0}
        else:
            callers = raw[key][4] if key in raw else {}
            memo[key] = {"unattributed": 1.0}  # breaks cycles while recursing
            if not callers or depth > 30:
                result = {"unattributed": 1.0}
            else:
                # callers[k] = (nc, cc, tt, ct): tt is this function's own time on k's behalf.
                weights = {k: (v[2], v[0]) for k, v in callers.items()}
                total_tt = sum(w[0] for w in weights.values())
                total_nc = sum(w[1] for w in weights.values())
                result = {}
                for caller, (tt, nc) in weights.items():
                    w = tt / total_tt if total_tt > 0 else nc / max(total_nc, 1)
                    for p, f in share(caller, depth + 1).items():
                        result[p] = result.get(p, 0.0) + w * f
        memo[key] = result
        return result

    places: dict[str, float] = {}
    total = 0.0
    for key, (_cc, _nc, tt, _ct, _callers) in raw.items():
        total += tt
        for p, f in share(key, 0).items():
            places[p] = places.get(p, 0.0) + tt * f
    return Attribution(places, total, raw)


def where(key: Key) -> str:
    """A short, machine-independent name for a profiled function."""
    filename, line, func = key
    if filename == "~":
        return func
    parts = Path(filename).parts
    for anchor in ("site-packages", "mpasync", "benchmarks"):
        if anchor in parts:
            i = parts.index(anchor)
            rel = parts[i + 1 :] if anchor == "site-packages" else parts[i:]
            return f"{'/'.join(rel)}:{line}({func})"
    return f"{Path(filename).name}:{line}({func})"
