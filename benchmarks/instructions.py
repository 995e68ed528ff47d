"""Instructions per call, counted by valgrind's callgrind: a figure the machine's load
does not move.

    python benchmarks/instructions.py [mpasync aiohttp httpx]   # needs valgrind on PATH

Each contender (`benchmarks.contenders`) runs in its own process under callgrind, twice:
warmed up, then 1,000 calls, and warmed up, then 3,000 calls, at concurrency 64 against
the canned server (its own process, not counted). The difference over 2,000 is what one
call costs, start-up excluded. Wall and CPU times move with whatever else the machine
does; instruction counts repeat within about 1 %, so a change of a few percent in the
client shows. Not part of ``make bench`` (a fresh machine has no valgrind; ~1 minute per
contender).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.contenders import CONTENDERS, drive
from benchmarks.serverproc import ServerProcess

SMALL, LARGE = 1_000, 3_000
CONCURRENCY = 64
WARMUP = 256


async def _calls(kind: str, n: int) -> None:
    with ServerProcess() as server:
        call, close = await CONTENDERS[kind](server.base_url, CONCURRENCY)
        try:
            await drive(call, WARMUP, CONCURRENCY)
            await drive(call, n, CONCURRENCY)
        finally:
            await close()


def _counted(kind: str, n: int) -> int:
    """Instructions of one process making ``n`` calls of ``kind`` (start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                __file__,
                "--child",
                kind,
                str(n),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"callgrind reported no count for {kind}: {out.stderr[-500:]}")
    return int(found.group(1))


def per_call(kind: str) -> float:
    """Instructions one call of ``kind`` costs."""
    return (_counted(kind, LARGE) - _counted(kind, SMALL)) / (LARGE - SMALL)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        asyncio.run(_calls(argv[1], int(argv[2])))
        return 0
    kinds = argv or ["mpasync", "aiohttp"]
    unknown = [k for k in kinds if k not in CONTENDERS]
    if unknown:
        print(f"unknown contender(s) {unknown}; known: {sorted(CONTENDERS)}", file=sys.stderr)
        return 2
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts here", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(kinds, pool.map(per_call, kinds), strict=True))
    base = counts[kinds[-1]]
    for kind, count in counts.items():
        print(f"{kind:10s} {count:10,.0f} instructions/call  {count / base:.3f}x {kinds[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
