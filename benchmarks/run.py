"""Run the mpasync benchmarks side by side, print a table, write ``benchmarks/RESULTS.md``.

    python benchmarks/run.py                   # everything (what ``make bench`` runs)
    python benchmarks/run.py throughput cpu    # some of them (RESULTS.md is left alone)

Benchmarks: server, throughput, cpu, profile, coldtoken, ratelimit, bulk, decode, budget
(budget efficiency and neighbour: `benchmarks/budget.py`), fleet (8 processes sharing one
token and one adaptive budget through Redis: `benchmarks/fleet.py`), lanes (an interactive
call beside a bulk filter migration on one budget, with and without priority lanes:
`benchmarks/lanes.py`), retention (typed decode with decoded results kept alive, and the
``gc=False`` lever: `benchmarks/retention.py`).
Ratios are the result; absolute numbers depend on the machine and are context only.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import FULL, Context, Figure, Sizes, render_table
from benchmarks.registry import BENCHMARKS
from benchmarks.report import render_markdown
from benchmarks.serverproc import ServerProcess

RESULTS = Path(__file__).with_name("RESULTS.md")
PROFILE = Path(__file__).with_name("mpasync.prof")


async def run(
    names: list[str],
    sizes: Sizes = FULL,
    *,
    quiet: bool = False,
    profile_out: Path | None = PROFILE,
) -> tuple[list[Figure], Context]:
    """Start the server, run the named benchmarks in order, return every figure."""
    figures: list[Figure] = []
    with ServerProcess() as server:
        ctx = Context(server=server, sizes=sizes, profile_out=profile_out)
        for name in BENCHMARKS:
            if name not in names:
                continue
            t0 = time.perf_counter()
            rows = await BENCHMARKS[name](ctx)
            ctx.details.setdefault("elapsed", {})[name] = time.perf_counter() - t0
            figures.extend(rows)
            if not quiet:
                print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return figures, ctx


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    unknown = [a for a in args if a not in BENCHMARKS]
    if unknown or any(a in ("-h", "--help") for a in args):
        print(__doc__, file=sys.stderr)
        return 2 if unknown else 0
    names = args or list(BENCHMARKS)
    started = time.time()
    figures, ctx = asyncio.run(run(names))
    print(render_table(figures))
    if set(names) == set(BENCHMARKS):
        RESULTS.write_text(render_markdown(figures, ctx, started), encoding="utf-8")
        print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
