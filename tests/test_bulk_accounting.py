"""Every item taken from the input is accounted for, however a bulk run ends."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mpasync import JournalError
from mpasync.bulk import BulkReport, run_bulk
from mpasync.emulator import Emulator
from mpasync.journal import Journal, read_journal


def accounted(report: BulkReport[Any, Any]) -> bool:
    """The invariant: succeeded + failed + skipped + not_done == total, no item twice."""
    keys = [*report.succeeded, *report.failed, *report.skipped, *report.not_done]
    return report.total == len(keys) == len(set(keys))


async def test_normal_run_with_failures_accounts_for_everything() -> None:
    async def fn(item: int) -> int:
        if item % 4 == 0:
            raise ValueError("no")
        return item

    report = await run_bulk(fn, range(40), concurrency=6)
    assert accounted(report) and report.not_done == []
    assert not report.ok and not report.stopped
    assert "10 failed" in report.summary()


async def test_fail_fast_lists_cancelled_items_as_not_done() -> None:
    async def fn(item: int) -> None:
        if item == 5:
            await asyncio.sleep(0.01)
            raise RuntimeError("boom")
        await asyncio.sleep(10)

    report = await asyncio.wait_for(run_bulk(fn, range(1000), concurrency=8, fail_fast=True), 5)
    assert list(report.failed) == [5]
    assert sorted(report.not_done) == [0, 1, 2, 3, 4, 6, 7]  # in flight when 5 failed
    assert accounted(report) and report.total == 8
    assert not report.ok and report.stopped
    assert "7 not done" in report.summary()


async def test_a_cancelled_run_lists_in_flight_items_as_not_done() -> None:
    report: BulkReport[int, None] = BulkReport()

    async def fn(item: int) -> None:
        await asyncio.sleep(0 if item < 25 else 10)

    task = asyncio.create_task(run_bulk(fn, range(100), concurrency=5, report=report))
    while len(report.succeeded) < 25:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(report.succeeded) == list(range(25))
    assert sorted(report.not_done) == list(range(25, 30))
    assert accounted(report) and report.stopped and not report.ok


async def test_an_item_raising_cancelled_error_is_that_items_failure() -> None:
    # Today the run stops silently and says ok=True with most items never started.
    async def fn(item: int) -> int:
        await asyncio.sleep(0)
        if item == 7:
            raise asyncio.CancelledError()
        return item

    report = await run_bulk(fn, range(30), concurrency=4)
    assert list(report.failed) == [7]
    assert isinstance(report.failed[7], asyncio.CancelledError)
    assert len(report.succeeded) == 29 and report.total == 30
    assert accounted(report) and not report.ok and not report.stopped


async def test_an_awaited_cancelled_future_is_the_items_failure_too() -> None:
    async def fn(item: int) -> None:
        if item == 3:
            inner = asyncio.get_running_loop().create_future()
            inner.cancel()
            await inner  # someone else's cancellation, not the run's

    report = await run_bulk(fn, range(10), concurrency=3)
    assert list(report.failed) == [3] and len(report.succeeded) == 9


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit, GeneratorExit])
async def test_an_interrupt_from_an_item_stops_the_run_and_propagates_after_the_report(
    interrupt: type[BaseException],
) -> None:
    async with Emulator(apps=1) as emu, emu.client() as mp:

        async def fn(item: int) -> None:
            if item == 12:
                await asyncio.sleep(0.01)
                raise interrupt()
            await asyncio.sleep(0 if item < 10 else 10)

        with pytest.raises(interrupt):
            await mp.bulk.map(fn, range(1000), concurrency=4)
        report = mp.bulk.last_report
        assert report is not None
        assert 12 in report.not_done  # the interrupted item was not done
        assert sorted(report.succeeded) == list(range(10))
        assert sorted(report.not_done) == [10, 11, 12, 13]
        assert accounted(report) and report.stopped and not report.ok


async def test_an_input_error_stops_the_run_lets_in_flight_finish_and_propagates() -> None:
    report: BulkReport[int, int] = BulkReport()
    finished: list[int] = []

    def source() -> Iterator[int]:
        yield from range(6)
        raise KeyError("source broke")

    async def fn(item: int) -> int:
        await asyncio.sleep(0.02)
        finished.append(item)
        return item

    with pytest.raises(KeyError, match="source broke"):
        await run_bulk(fn, source(), concurrency=4, report=report)
    # The four in flight when the input broke finished; nothing vanished.
    assert sorted(report.succeeded) == sorted(finished) == list(range(6))
    assert report.stopped and not report.ok and accounted(report)


async def test_an_async_input_error_is_reported_the_same_way() -> None:
    report: BulkReport[int, None] = BulkReport()

    async def source() -> AsyncIterator[int]:
        for i in range(3):
            yield i
        raise RuntimeError("feed closed")

    async def fn(item: int) -> None:
        await asyncio.sleep(0.01)

    with pytest.raises(RuntimeError, match="feed closed"):
        await run_bulk(fn, source(), concurrency=2, report=report)
    assert sorted(report.succeeded) == [0, 1, 2]
    assert report.stopped and accounted(report)


async def test_an_unencodable_item_with_a_journal_is_not_done(tmp_path: Path) -> None:
    report: BulkReport[object, None] = BulkReport()

    async def fn(item: object) -> None:
        await asyncio.sleep(0.01)

    with pytest.raises(Exception, match="JSON-encodable"):
        await run_bulk(
            fn, [1, 2, object(), 4], concurrency=1, journal=tmp_path / "j", report=report
        )
    assert report.succeeded == [1, 2] and len(report.not_done) == 1 and report.total == 3


async def test_a_journal_write_error_stops_scheduling_and_raises_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    written = 0
    real_write = Journal._write_bytes

    def write(self: Journal, data: bytes) -> None:
        nonlocal written
        written += 1
        if written > 4:  # the header and three records fit; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(Journal, "_write_bytes", write)

    async def fn(item: int) -> None:
        started.append(item)
        await asyncio.sleep(0.01 * (item % 3 + 1))

    with pytest.raises(JournalError) as caught:
        await run_bulk(fn, range(100), concurrency=4, journal=tmp_path / "run.jsonl")
    err = caught.value
    assert "No space left on device" in str(err) and str(tmp_path / "run.jsonl") in str(err)
    assert "\n" not in str(err)
    report = err.report
    assert isinstance(report, BulkReport)
    # No new item after the failed write; the ones in flight finished and are reported.
    assert len(started) < 12
    assert sorted(report.succeeded) == sorted(started)
    assert report.stopped and not report.ok and accounted(report)


async def test_a_timeout_around_the_run_leaves_in_flight_items_not_done() -> None:
    report: BulkReport[int, None] = BulkReport()

    async def fn(item: int) -> None:
        await asyncio.sleep(0 if item < 10 else 10)

    with anyio.move_on_after(0.1):
        await run_bulk(fn, range(100), concurrency=3, report=report)
    assert sorted(report.succeeded) == list(range(10))
    assert sorted(report.not_done) == [10, 11, 12] and report.failed == {}
    assert report.stopped and accounted(report)


async def test_progress_counts_skipped_items_so_a_resumed_run_reaches_the_total(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"

    async def fn(item: int) -> None:
        return None

    await run_bulk(fn, range(5), concurrency=2, journal=path)
    progress: list[tuple[int, int]] = []
    report = await run_bulk(
        fn, range(8), concurrency=2, journal=path, on_progress=lambda d, f: progress.append((d, f))
    )
    assert len(report.skipped) == 5 and progress[-1] == (8, 0)
    assert report.finished == 8 and report.done == 3


async def test_a_sized_input_starts_no_more_workers_than_items() -> None:
    """50 items at concurrency 100,000: 50 tasks, not 100,000 idle ones (6.7 s, 397 MB)."""
    import asyncio

    peak = 0

    async def item(i: int) -> int:
        nonlocal peak
        peak = max(peak, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return i

    report = await run_bulk(item, list(range(50)), concurrency=100_000)
    assert report.ok and len(report.succeeded) == 50
    assert peak <= 50 + 5  # the workers, the test's own task and the task group's


async def test_a_record_json_cannot_encode_fails_that_item_not_the_run(tmp_path: Path) -> None:
    from mpasync import RequestValidationError
    from mpasync.bulk import Outcome

    async def item(i: int) -> Outcome[int]:
        return Outcome(i, record={"value": object() if i == 2 else i})

    path = tmp_path / "j.jsonl"
    report = await run_bulk(item, [1, 2, 3], concurrency=2, journal=path)
    assert sorted(report.succeeded) == [1, 3]
    assert isinstance(report.failed[2], RequestValidationError)
    assert "JSON-encodable" in str(report.failed[2])
    # The failure is journaled (without the record), so a rerun does that item again.
    records = {r["item"]: r for r in read_journal(path).records}
    assert records[2]["ok"] is False and "value" not in records[2]
    assert records[1]["value"] == 1 and records[3]["value"] == 3


async def test_every_progress_event_holds_every_count(tmp_path: Path) -> None:
    """A display follows a run from its events alone (it never reads a shared report)."""
    from mpasync.bulk import ProgressEvent

    journal = tmp_path / "j.jsonl"
    await run_bulk(_ok, [1, 2], concurrency=1, journal=journal)
    events: list[ProgressEvent] = []

    async def item(i: int) -> int:
        if i == 4:
            raise ValueError("no")
        return i

    report = await run_bulk(
        item, [1, 2, 3, 4], concurrency=1, journal=journal, on_event=events.append
    )
    last = events[-1]
    assert (last.done, last.failed, last.skipped, last.not_done, last.total) == (1, 1, 2, 0, 4)
    assert last.finished == report.finished == 4
    assert [e.finished for e in events] == [1, 2, 3, 4]


async def _ok(i: int) -> int:
    return i
