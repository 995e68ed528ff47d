"""Reproducible benchmarks for mpasync: ``python benchmarks/run.py`` (or ``make bench``).

Imports go one way, from the top down: `run` and `smoke`; `report` (``RESULTS.md``) and
`registry` (every benchmark by name); the benchmark modules (`suite` over `contenders`,
`budget`, then `fleet` and `lanes` over `budget`, `retention`); `common` (sizes,
`Context`, `Figure`); the servers and `profiling`. ``tests/test_layout.py`` checks it.
"""
