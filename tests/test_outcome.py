"""What an item's result carries to its journal record (`mpasync.outcome.Outcome`), and
the filter migrations' before/after travelling that way, not beside the result."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mpasync import RequestValidationError
from mpasync.bulk import Outcome, run_bulk
from mpasync.emulator import Emulator, Faults
from mpasync.filter_migrations import journal_filters, sync_one
from mpasync.journal import RECORD_FIELDS, read_journal
from mpasync.models import DataPointFilter

SERVICE = "GoogleAnalyticsEventForwarder"
SEARCH_OFF = DataPointFilter(name="Search", type="Event", event_type="search", enabled=False)
EMAIL_OFF = DataPointFilter(name="Email", type="UserIdentity", enabled=False)


def records(path: Path) -> dict[Any, dict[str, Any]]:
    return {r["item"]: r for r in read_journal(path).records}


def enabled(filters: list[dict[str, Any]], name: str) -> bool:
    return next(f["enabled"] for f in filters if f["name"] == name)


async def test_a_functions_result_carries_before_and_after_to_the_journal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.jsonl"

    async def one(item: int) -> Outcome[str]:
        await asyncio.sleep(0.001 * (5 - item))  # finish out of order
        return Outcome(f"app {item}", record={"before": [item], "after": [item, item]})

    report = await run_bulk(one, range(5), concurrency=5, journal=path)
    assert report.results == {i: f"app {i}" for i in range(5)}
    for i, record in records(path).items():
        assert record["ok"] is True and record["before"] == [i] and record["after"] == [i, i]


async def test_an_outcome_with_an_error_fails_its_item_and_still_journals_its_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.jsonl"

    async def one(item: int) -> Outcome[int]:
        if item == 2:
            return Outcome(error=ValueError("write lost"), record={"before": [2]})
        return Outcome(item)

    report = await run_bulk(one, [1, 2, 3], concurrency=2, journal=path)
    assert sorted(report.succeeded) == [1, 3] and isinstance(report.failed[2], ValueError)
    failed = records(path)[2]
    assert failed["ok"] is False and failed["before"] == [2]
    assert failed["error"] == "ValueError: write lost"


@pytest.mark.parametrize("field", sorted(RECORD_FIELDS))
async def test_a_record_naming_a_field_of_the_format_fails_its_item(
    tmp_path: Path, field: str
) -> None:
    path = tmp_path / "j.jsonl"

    async def one(item: int) -> Outcome[int]:
        return Outcome(item, record={field: "mine"} if item == 2 else {})

    report = await run_bulk(one, [1, 2, 3], concurrency=1, journal=path)
    assert sorted(report.succeeded) == [1, 3]
    assert isinstance(report.failed[2], RequestValidationError)
    assert records(path)[2]["ok"] is False  # the format's own fields are intact


def test_an_outcome_is_checked_when_built() -> None:
    with pytest.raises(RequestValidationError, match="record"):
        Outcome(1, record={1: "x"})  # type: ignore[dict-item]
    with pytest.raises(RequestValidationError, match="record"):
        Outcome(1, record=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="error"):
        Outcome(error="boom")  # type: ignore[arg-type]
    assert Outcome[int](3).value == 3  # a parametrized Outcome builds (Python 3.10 too)


async def test_two_concurrent_runs_on_one_client_each_journal_their_own_before_and_after(
    tmp_path: Path,
) -> None:
    """Two migrations interleaved on one client (latency makes their apps overlap in
    time): each app's record holds that app's own states, from its own run."""
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    faults = Faults(latency=(0.002, 0.01), seed=5)
    async with Emulator(apps=20, faults=faults) as emu, emu.client(max_concurrency=6) as mp:
        a, b = await asyncio.gather(
            mp.bulk.update_datapoint_filters(range(1, 11), SERVICE, [SEARCH_OFF], journal=first),
            mp.bulk.sync_datapoint_filters(range(11, 21), SERVICE, [EMAIL_OFF], journal=second),
        )
        assert a.ok and b.ok
        for path, apps, changed, untouched in (
            (first, range(1, 11), "Search", "Email"),
            (second, range(11, 21), "Email", "Search"),
        ):
            journaled = records(path)
            assert sorted(journaled) == list(apps)
            for record in journaled.values():
                assert enabled(record["before"], changed) is True
                assert enabled(record["after"], changed) is False
                assert enabled(record["after"], untouched) is True
        reverted = await asyncio.gather(
            mp.bulk.revert_datapoint_filters(first), mp.bulk.revert_datapoint_filters(second)
        )
        assert all(r.ok and r.total == 10 for r in reverted)
        del emu


async def test_sync_one_returns_what_the_journal_records() -> None:
    async with Emulator(apps=1) as emu, emu.client() as mp:
        resource = mp.datapoint_filters
        current = await resource.list(1, SERVICE)
        dry = await sync_one(resource, 1, SERVICE, [SEARCH_OFF], True, True)
        assert dry.value is not None and not dry.value.applied and dry.record == {}
        outcome = await sync_one(resource, 1, SERVICE, [SEARCH_OFF], False, True)
        assert outcome.error is None and outcome.value is not None and outcome.value.applied
        assert outcome.record["before"] == journal_filters(current)
        assert outcome.record["after"] == journal_filters(await resource.list(1, SERVICE))
        plain = await sync_one(resource, 1, SERVICE, [EMAIL_OFF], False, False)
        assert plain.value is not None and plain.value.applied and plain.record == {}
        del emu


def test_the_journal_has_no_side_channel() -> None:
    """Before/after travel in results: no module of the run holds a context variable
    for them (`note()` is gone)."""
    import mpasync.journal

    root = Path(mpasync.journal.__file__).parent
    for name in ("bulk", "journal", "outcome", "migrations", "filter_migrations"):
        assert "ContextVar" not in (root / f"{name}.py").read_text(), name
    assert not hasattr(mpasync.journal, "note")
