"""The benchmark harness runs end to end at a tiny size (timings are not asserted here,
except the lanes check below, whose margin is the schedule's own)."""

from __future__ import annotations

import asyncio

from benchmarks.lanes import ONE_CLIENT, run_lanes
from benchmarks.smoke import smoke


def test_benchmarks_run_at_tiny_size() -> None:
    figures = smoke()
    benches = {f.bench for f in figures}
    assert {"throughput", "cold token", "rate limit", "bulk", "decode", "lanes"} <= benches
    cold = next(f for f in figures if f.bench == "cold token")
    assert cold.value == "1"  # correctness, not speed: one token request


def test_lanes_an_interactive_call_beside_a_migration_skips_its_queue() -> None:
    # 30 apps at 20/s: the migration keeps about 30 requests queued for slots 50 ms apart,
    # so a web call in its lane waits about 1.5 s, and one in the interactive lane about
    # a slot or two. Real time, on a loaded machine: the check is only that lanes at
    # least halve the p95 (the gap is 10x or more when the machine is quiet).
    runs = asyncio.run(run_lanes(30, rate=20.0, setups=(ONE_CLIENT,)))
    after, before = runs
    assert (after.web_lane, before.web_lane) == ("interactive", "background")
    for run in runs:
        assert run.accounted, run  # every item succeeded, its change applied
        assert run.total == 30 and run.web_failed == 0
        assert len(run.latencies) >= 5
    assert before.percentile(50) > 0.5  # the queue the interactive lane skips was there
    assert after.percentile(95) < before.percentile(95) / 2, (after.latencies, before.latencies)
