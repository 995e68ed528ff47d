"""The bulk engine on its own: laziness, bounded tasks, fail_fast, cancellation, journal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mpasync import RequestValidationError
from mpasync.bulk import BulkReport, run_bulk


async def test_hundred_thousand_items_bounded_tasks() -> None:
    consumed = 0
    peak_tasks = 0
    in_progress = 0
    peak_in_progress = 0

    async def source() -> AsyncIterator[int]:
        nonlocal consumed
        for i in range(100_000):
            consumed += 1
            yield i

    async def fn(item: int) -> None:
        nonlocal peak_tasks, in_progress, peak_in_progress
        in_progress += 1
        peak_in_progress = max(peak_in_progress, in_progress)
        if item % 1000 == 0:
            peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
        # The first items take a little time, so every worker is busy at once.
        await asyncio.sleep(0.002 if item < 2000 else 0)
        in_progress -= 1

    report = await run_bulk(fn, source(), concurrency=50)
    assert report.ok
    assert report.total == 100_000 and len(report.succeeded) == 100_000
    assert report.results == {}  # None results are not kept
    assert peak_in_progress == 50
    assert peak_tasks <= 50 + 3  # workers + the test task (+ a small constant)
    assert consumed == 100_000


async def test_input_is_consumed_lazily() -> None:
    pulled: list[int] = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(1000):
            pulled.append(i)
            yield i

    seen_when_first_done: list[int] = []

    async def fn(item: int) -> int:
        if not seen_when_first_done:
            seen_when_first_done.append(len(pulled))
        await asyncio.sleep(0)
        return item * 2

    report = await run_bulk(fn, source(), concurrency=4)
    assert seen_when_first_done[0] <= 4  # not the whole list up front
    assert report.results[10] == 20


async def test_every_failure_is_kept_and_progress_reported() -> None:
    progress: list[tuple[int, int]] = []

    async def fn(item: int) -> None:
        if item % 3 == 0:
            raise ValueError(f"bad {item}")

    report = await run_bulk(
        fn, range(30), concurrency=5, on_progress=lambda d, f: progress.append((d, f))
    )
    assert not report.ok
    assert sorted(report.failed) == list(range(0, 30, 3))
    assert str(report.failed[9]) == "bad 9"
    assert len(report.succeeded) == 20
    assert progress[-1] == (30, 10)
    assert [d for d, _ in progress] == list(range(1, 31))


async def test_fail_fast_stops_scheduling_and_cancels_in_flight() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def fn(item: int) -> None:
        started.append(item)
        if item == 5:
            raise RuntimeError("boom")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise

    report = await asyncio.wait_for(run_bulk(fn, range(1000), concurrency=8, fail_fast=True), 5)
    assert list(report.failed) == [5]
    assert report.stopped and not report.ok
    assert len(started) < 20
    assert len(cancelled) == len(started) - 1


async def test_cancelling_the_run_leaves_no_tasks_and_a_partial_report() -> None:
    report: BulkReport[int] = BulkReport()

    async def fn(item: int) -> None:
        await asyncio.sleep(0.01)

    before = asyncio.all_tasks()
    task = asyncio.create_task(run_bulk(fn, range(10_000), concurrency=10, report=report))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() - before == set()
    assert report.stopped
    assert 0 < len(report.succeeded) < 10_000


async def test_journal_resume_skips_succeeded_items(tmp_path: Path) -> None:
    journal = tmp_path / "run.jsonl"
    calls: list[int] = []

    async def flaky(item: int) -> None:
        calls.append(item)
        if item in (3, 7):
            raise ValueError("later")

    first = await run_bulk(flaky, range(10), concurrency=3, journal=journal)
    assert sorted(first.failed) == [3, 7]
    header, *lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert header["mpasync_journal"] == 2 and header["operation"] == "map"
    assert len(lines) == 10 and sum(1 for e in lines if not e["ok"]) == 2

    calls.clear()

    async def fixed(item: int) -> None:
        calls.append(item)

    second = await run_bulk(fixed, range(10), concurrency=3, journal=journal)
    assert sorted(calls) == [3, 7]
    assert second.ok and sorted(second.skipped) == [0, 1, 2, 4, 5, 6, 8, 9]
    # A torn last line (crash mid-write) does not break resuming.
    with journal.open("a") as fh:
        fh.write('{"item": 1')
    third = await run_bulk(fixed, range(10), concurrency=3, journal=journal)
    assert len(third.skipped) == 10


async def test_iterable_errors_propagate() -> None:
    def broken():  # type: ignore[no-untyped-def]
        yield 1
        raise KeyError("source broke")

    async def fn(item: int) -> None:
        await asyncio.sleep(0)

    with pytest.raises(KeyError):
        await run_bulk(fn, broken(), concurrency=2)


async def test_bad_arguments() -> None:
    async def fn(item: int) -> None:
        return None

    with pytest.raises(RequestValidationError):
        await run_bulk(fn, range(3), concurrency=0)
    with pytest.raises(RequestValidationError):
        await run_bulk(fn, 42, concurrency=2)  # type: ignore[arg-type]


async def test_unhashable_items_are_keyed_by_position() -> None:
    async def fn(item: dict[str, int]) -> int:
        if item["n"] == 1:
            raise ValueError("one")
        return item["n"] * 10

    report = await run_bulk(fn, [{"n": 0}, {"n": 1}, {"n": 2}], concurrency=2)
    assert sorted(report.succeeded) == [0, 2]
    assert list(report.failed) == [1]
    assert report.results == {0: 0, 2: 20}


async def test_journal_needs_json_items(tmp_path: Path) -> None:
    async def fn(item: object) -> None:
        return None

    with pytest.raises(RequestValidationError, match="JSON-encodable"):
        await run_bulk(fn, [object()], concurrency=1, journal=tmp_path / "j.jsonl")


# ---------------------------------------------------------------- the run's options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("concurrency", 0),
        ("concurrency", True),
        ("fail_fast", 1),
        ("fail_fast", "yes"),
        ("on_progress", "print"),
        ("on_event", 42),
        ("priority", "urgent"),
    ],
)
async def test_run_options_are_checked_once_before_anything_runs(
    option: str, value: object
) -> None:
    from mpasync.bulk import RunOptions
    from mpasync.emulator import Emulator

    with pytest.raises(RequestValidationError, match=option):
        RunOptions(**{option: value})  # type: ignore[arg-type]
    async with Emulator(apps=2) as emu, emu.client() as mp:
        with pytest.raises(RequestValidationError, match=option):
            await mp.bulk.map(mp.apps.get, [1, 2], **{option: value})  # type: ignore[call-overload]
        with pytest.raises(RequestValidationError, match=option):
            await mp.bulk.copy_datapoint_filters(1, [2], "Amplitude", **{option: value})  # type: ignore[arg-type]
        assert not [e for e in emu.request_log if "/apps/" in e.path]  # nothing was sent


def test_run_options_default_the_concurrency_to_the_clients() -> None:
    from mpasync.bulk import RunOptions

    options = RunOptions(on_progress=print, priority="interactive")
    resolved = options.with_default_concurrency(8)
    assert resolved.concurrency == 8 and resolved.on_progress is print
    assert resolved.priority == "interactive"
    assert RunOptions(3).with_default_concurrency(8).concurrency == 3
    with pytest.raises(AttributeError):
        options.concurrency = 2  # type: ignore[misc]


async def test_last_report_is_the_last_run_to_finish_never_a_run_in_progress() -> None:
    """``last_report`` is set when a run ends (however it ends), so nothing reads a
    report still being filled; a run in progress is followed with ``on_event``."""
    from mpasync.emulator import Emulator

    async with Emulator(apps=1) as emu, emu.client() as mp:
        seen: list[object] = []
        started = asyncio.Event()

        async def fn(item: int) -> int:
            seen.append(mp.bulk.last_report)
            if item == 3:
                started.set()
                await asyncio.Event().wait()  # until the run is cancelled
            return item

        first = await mp.bulk.map(fn, [1, 2])
        assert seen == [None, None] and mp.bulk.last_report is first
        task = asyncio.create_task(mp.bulk.map(fn, [3]))
        await started.wait()
        assert mp.bulk.last_report is first  # the run in progress is not exposed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cancelled = mp.bulk.last_report
        assert cancelled is not None and cancelled is not first
        assert cancelled.not_done == [3] and cancelled.stopped
        del emu


@pytest.mark.parametrize(
    "option",
    [{"fail_fast": 1}, {"on_progress": "print"}, {"concurrency": 0}, {"priority": "now"}],
)
async def test_the_other_apis_bulk_helpers_check_their_run_options_up_front(
    option: dict[str, object],
) -> None:
    """seed_bulk, submit_bulk and track_batch check the run's options before reading
    their input, like every bulk helper (an empty input is no excuse)."""
    from mpasync import AnalyticsClient, DSRClient, SeedingClient

    name = next(iter(option))
    unreachable = "http://127.0.0.1:9"
    async with SeedingClient("key", "secret", base_url=unreachable) as seeding:
        with pytest.raises(RequestValidationError, match=name):
            await seeding.seed_bulk([], **option)  # type: ignore[arg-type]
    async with DSRClient("key", "secret", base_url=unreachable) as dsr:
        with pytest.raises(RequestValidationError, match=name):
            await dsr.submit_bulk([], **option)  # type: ignore[arg-type]
    async with AnalyticsClient("key", base_url=unreachable) as analytics:
        with pytest.raises(RequestValidationError, match=name):
            await analytics.track_batch([], **option)  # type: ignore[arg-type]
