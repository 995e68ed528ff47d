"""Every benchmark by name, in the order ``run.py`` runs them (`BENCHMARKS`). It imports
every benchmark module; none of them imports it (only `run` and `smoke` do).
"""

from __future__ import annotations

from benchmarks.budget import bench_budget
from benchmarks.common import Bench
from benchmarks.fleet import bench_fleet
from benchmarks.lanes import bench_lanes
from benchmarks.retention import bench_retention
from benchmarks.suite import (
    bench_bulk,
    bench_cold_token,
    bench_cpu,
    bench_decode,
    bench_profile,
    bench_rate,
    bench_server,
    bench_throughput,
)

__all__ = ["BENCHMARKS"]

#: Every benchmark, in the order ``run.py`` runs them.
BENCHMARKS: dict[str, Bench] = {
    "server": bench_server,
    "throughput": bench_throughput,
    "cpu": bench_cpu,
    "profile": bench_profile,
    "coldtoken": bench_cold_token,
    "ratelimit": bench_rate,
    "bulk": bench_bulk,
    "decode": bench_decode,
    "budget": bench_budget,
    "fleet": bench_fleet,
    "lanes": bench_lanes,
    "retention": bench_retention,
}
