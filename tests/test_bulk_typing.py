"""`BulkReport` is typed by item and result: mypy --strict user code sees the result type."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

USER_CODE = """
from mpasync import Client
from mpasync.bulk import BulkReport, FilterChange, Outcome, run_bulk
from mpasync.models import DataPointFilter


async def migrate(mp: Client, policy: list[DataPointFilter]) -> int:
    report = await mp.bulk.sync_datapoint_filters([1, 2], "Amplitude", policy)
    change: FilterChange = report.results[1]
    snapshot = await mp.bulk.export_datapoint_filters([1, 2], "Amplitude")
    filters: list[DataPointFilter] = snapshot.results[1]
    reverted: BulkReport[int, FilterChange] = await mp.bulk.revert_datapoint_filters("j")

    async def name(app_id: int) -> str:
        return str(app_id)

    names = await mp.bulk.map(name, [1, 2])
    text: str = names.results[1]

    # An Outcome's value is the result; its record goes to the journal.
    async def square(app_id: int) -> Outcome[int]:
        return Outcome(app_id * app_id, record={"app": app_id})

    squares = await mp.bulk.map(square, [1, 2], journal="squares.jsonl")
    four: int = squares.results[2]
    same: BulkReport[int, int] = await run_bulk(square, [1, 2], concurrency=2)
    return len(change.changes) + len(filters) + len(text) + reverted.total + four + same.total


async def wrong(mp: Client, policy: list[DataPointFilter]) -> None:
    report = await mp.bulk.sync_datapoint_filters([1, 2], "Amplitude", policy)
    oops: str = report.results[1]
"""


def test_mypy_strict_sees_filter_change_in_results(tmp_path: Path) -> None:
    source = tmp_path / "user_code.py"
    source.write_text(USER_CODE)
    out, err, _ = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(source)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    # Exactly one error: the deliberate one, naming FilterChange as the result type.
    assert len(errors) == 1, out + err
    assert 'expression has type "FilterChange", variable has type "str"' in errors[0]
