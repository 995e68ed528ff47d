"""The benchmark harness runs end to end at a tiny size (timings are not asserted here)."""

from __future__ import annotations

from benchmarks.smoke import smoke


def test_benchmarks_run_at_tiny_size() -> None:
    figures = smoke()
    benches = {f.bench for f in figures}
    assert {"throughput", "cold token", "rate limit", "bulk", "decode"} <= benches
    cold = next(f for f in figures if f.bench == "cold token")
    assert cold.value == "1"  # correctness, not speed: one token request
