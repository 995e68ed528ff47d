"""Every benchmark at a tiny size, for tests: ``from benchmarks.smoke import smoke``.

Checks that the harness runs end to end (server process, every contender, every
benchmark, both renderers). Timings at this size mean nothing and are not asserted.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.common import TINY, Figure, render_table
from benchmarks.registry import BENCHMARKS
from benchmarks.report import render_markdown
from benchmarks.run import run

__all__ = ["smoke"]


def smoke() -> list[Figure]:
    """Run every benchmark at `TINY` sizes (a few seconds); return the figures.

    Raises if any benchmark fails to run (a wrong answer, a request the server did not
    see, a server that does not start); never because of a timing or a MISS verdict.
    Must be called without a running event loop.
    """
    started = time.time()
    figures, ctx = asyncio.run(run(list(BENCHMARKS), TINY, quiet=True, profile_out=None))
    render_table(figures)
    render_markdown(figures, ctx, started)
    return figures
