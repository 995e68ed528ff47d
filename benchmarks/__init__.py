"""Reproducible benchmarks for mpasync: ``python benchmarks/run.py`` (or ``make bench``)."""
