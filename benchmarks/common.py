"""What every benchmark shares: its sizes (`Sizes`, `FULL`, `TINY`), the `Context` it runs
in, the `Figure` rows it returns with their `verdict`, and the plain-text table of them.

The bottom of the benchmarks' imports: it imports no other benchmark module but
`serverproc`, so every benchmark module can import it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.serverproc import ServerProcess

__all__ = [
    "FULL",
    "TINY",
    "Bench",
    "Context",
    "Figure",
    "Sample",
    "Sizes",
    "render_table",
    "verdict",
]

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is."""

    requests: int = 20_000
    #: httpx is an order of magnitude slower; its rate is steady, so fewer requests do.
    httpx_requests: int = 2_000
    chunks: int = 10
    concurrency: int = 64
    rounds: int = 4
    warmup: int = 512
    profile_requests: int = 20_000
    cold_requests: int = 10_000
    token_delay: float = 1.0
    rate: float = 200.0
    rate_requests: int = 1_000
    bulk_items: int = 100_000
    decode_repeat: int = 30
    capacity_seconds: float = 1.0
    budget_requests: int = 3000
    retention_lists: int = 2000
    lanes_apps: int = 300


FULL = Sizes()
TINY = Sizes(
    requests=200,
    httpx_requests=100,
    chunks=2,
    rounds=1,
    warmup=64,
    profile_requests=200,
    cold_requests=200,
    token_delay=0.05,
    rate_requests=40,
    bulk_items=1_000,
    decode_repeat=2,
    capacity_seconds=0.1,
    budget_requests=40,
    retention_lists=20,
    lanes_apps=30,
)


@dataclass
class Figure:
    """One row of the results table."""

    bench: str
    name: str
    value: str
    target: str = "—"
    verdict: str = "—"  # PASS, MISS or — (no target: context only)
    note: str = ""


@dataclass
class Sample:
    """One timed run of one contender."""

    kind: str
    requests: int
    wall: float
    cpu: float
    server_cpu: float
    served: int

    @property
    def rate(self) -> float:
        return self.requests / self.wall

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu / self.requests * 1000

    @property
    def server_busy(self) -> float:
        return self.server_cpu / self.wall


@dataclass
class Context:
    """What the benchmarks share: the server, the sizes, and results worth reusing."""

    server: ServerProcess
    sizes: Sizes
    samples: tuple[list[Sample], list[Sample]] | None = None
    #: Where the profile benchmark saves its stats (None: do not save).
    profile_out: Path | None = HERE / "mpasync.prof"
    details: dict[str, Any] = field(default_factory=dict)


#: A benchmark: a function of the `Context` that returns its table rows.
Bench = Callable[[Context], Awaitable[list[Figure]]]


def verdict(ok: bool) -> str:
    """The verdict cell of a figure with a target: PASS when it is met, else MISS."""
    return "PASS" if ok else "MISS"


def render_table(figures: list[Figure]) -> str:
    """Fixed-width table: benchmark, figure, value, target, verdict."""
    head = ("benchmark", "figure", "value", "target", "verdict")
    rows = [(f.bench, f.name, f.value, f.target, f.verdict) for f in figures]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [fmt(head), fmt(tuple("-" * w for w in widths))]
    out += [fmt(r) for r in rows]
    return "\n".join(out)
