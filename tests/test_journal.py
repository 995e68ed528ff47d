"""The journal as a file format: header, foreign jobs, torn lines, locking, durability."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

import mpasync
from mpasync import JournalError, RequestValidationError
from mpasync import journal as journal_mod
from mpasync.bulk import Outcome, run_bulk
from mpasync.emulator import Emulator
from mpasync.journal import Journal, JournalJob, policy_hash, read_journal
from mpasync.models import DataPointFilter

SERVICE = "GoogleAnalyticsEventForwarder"
POLICY = [
    DataPointFilter(name="Search", type="Event", event_type="search", enabled=False),
    DataPointFilter(name="Email", type="UserIdentity", enabled=False),
]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def writes(emu: Emulator) -> list[str]:
    return [e.path for e in emu.request_log if e.method == "PUT"]


async def ok(item: object) -> None:
    return None


async def test_header_names_the_job(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=3) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=path)
    header, *records = lines(path)
    assert header["mpasync_journal"] == 2
    assert header["operation"] == "sync_datapoint_filters"
    assert header["account"] == mp.account_id and header["base_url"] == emu.base_url
    assert header["service"] == SERVICE
    assert isinstance(header["policy"], str) and len(header["policy"]) == 64  # sha256 hex
    assert header["mpasync"] == mpasync.__version__
    assert sorted(r["item"] for r in records) == [1, 2, 3]  # type: ignore[type-var]


def test_policy_hash_ignores_filter_order() -> None:
    a = [{"name": "x", "type": "Event"}, {"name": "y", "type": "Event"}]
    assert policy_hash(a) == policy_hash(list(reversed(a)))
    assert policy_hash(a) != policy_hash([{"name": "x", "type": "Event"}])
    assert policy_hash(POLICY) == policy_hash(list(reversed(POLICY)))


@pytest.mark.parametrize(
    ("second", "names"),
    [
        ({"service": "Amplitude"}, "service"),
        ({"filters": [POLICY[0]]}, "policy"),
        ({"operation": "snapshot"}, "operation"),
    ],
)
async def test_a_journal_from_another_job_is_refused_before_anything_is_sent(
    tmp_path: Path, second: dict[str, object], names: str
) -> None:
    # Today a journal from another service or another filters file silently skips all.
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=4) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1, 2, 3, 4], SERVICE, POLICY, journal=path)
        before = path.read_bytes()
        emu.reset_request_log()
        service = str(second.get("service", SERVICE))
        filters: Any = second.get("filters", POLICY)
        with pytest.raises(JournalError) as caught:
            if second.get("operation") == "snapshot":
                await mp.bulk.apply_datapoint_filter_snapshot(
                    {1: filters, 2: filters}, service, journal=path
                )
            else:
                await mp.bulk.sync_datapoint_filters(
                    [1, 2, 3, 4],
                    service,
                    filters,
                    journal=path,
                )
        message = str(caught.value)
        assert "\n" not in message and names in message and str(path) in message
        assert caught.value.report is None
        assert [e for e in emu.request_log if e.path.startswith("/v1/apps/")] == []
        assert path.read_bytes() == before  # untouched


async def test_a_sync_run_may_be_resumed_by_an_update_run(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=4) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1, 2], SERVICE, POLICY, journal=path)
        emu.reset_request_log()
        report = await mp.bulk.update_datapoint_filters(
            [1, 2, 3, 4], SERVICE, list(reversed(POLICY)), journal=path
        )
        assert sorted(report.skipped) == [1, 2] and sorted(report.succeeded) == [3, 4]
        assert len(writes(emu)) == 2


async def test_a_journal_without_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text('{"item": 1, "ok": true}\n')
    with pytest.raises(JournalError, match="no mpasync header"):
        await run_bulk(ok, [1, 2], concurrency=1, journal=path)
    path.write_text("hello\nworld\n")
    with pytest.raises(JournalError, match="not an mpasync journal"):
        await run_bulk(ok, [1, 2], concurrency=1, journal=path)


async def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"mpasync_journal": 99, "operation": "map"}) + "\n")
    with pytest.raises(JournalError, match="format 99"):
        await run_bulk(ok, [1], concurrency=1, journal=path)


async def test_a_torn_last_line_costs_only_that_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Today a torn line swallows the next record written after it.
    path = tmp_path / "run.jsonl"
    await run_bulk(ok, [1, 2], concurrency=1, journal=path)
    with path.open("ab") as fh:
        fh.write(b'{"item": 3, "ok": tr')  # a crash mid-write
    calls: list[int] = []

    async def fn(item: int) -> None:
        calls.append(item)

    with caplog.at_level(logging.WARNING, logger="mpasync"):
        second = await run_bulk(fn, [1, 2, 3, 4], concurrency=1, journal=path)
    assert calls == [3, 4] and sorted(second.skipped) == [1, 2]
    assert any("1 unreadable line" in r.getMessage() for r in caplog.records)
    contents = read_journal(path)
    assert sorted(r["item"] for r in contents.records) == [1, 2, 3, 4]
    assert contents.skipped_lines == 1
    third = await run_bulk(fn, [1, 2, 3, 4], concurrency=1, journal=path)
    assert sorted(third.skipped) == [1, 2, 3, 4]


async def test_a_line_torn_mid_character_does_not_prevent_resuming(tmp_path: Path) -> None:
    # Today a line torn inside a UTF-8 sequence makes the journal unreadable.
    path = tmp_path / "run.jsonl"
    await run_bulk(ok, ["café"], concurrency=1, journal=path)
    with path.open("ab") as fh:
        fh.write('{"item": "naïve", "ok": true}'.encode()[:13])  # cuts "ï" in half
    report = await run_bulk(ok, ["café", "naïve", "über"], concurrency=1, journal=path)
    assert report.skipped == ["café"] and sorted(report.succeeded) == ["naïve", "über"]
    # Invalid UTF-8 elsewhere in the file is tolerated too.
    with path.open("ab") as fh:
        fh.write(b"\xff\xfe garbage\n")
    again = await run_bulk(ok, ["café", "naïve", "über"], concurrency=1, journal=path)
    assert sorted(again.skipped) == ["café", "naïve", "über"]
    assert read_journal(path).skipped_lines == 2


async def test_a_torn_header_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"mpasync_journal": 1, "oper')  # crash while writing the header
    report = await run_bulk(ok, [1], concurrency=1, journal=path)
    assert report.ok
    header, record = lines(path)
    assert header["operation"] == "map" and record["item"] == 1


async def test_two_runs_on_one_journal_at_once_the_second_refuses(tmp_path: Path) -> None:
    # Today both runs apply every item.
    path = tmp_path / "run.jsonl"
    calls: list[int] = []
    release = asyncio.Event()

    async def slow(item: int) -> None:
        await release.wait()
        calls.append(item)

    first = asyncio.create_task(run_bulk(slow, range(5), concurrency=5, journal=path))
    await asyncio.sleep(0.05)
    with pytest.raises(JournalError, match="in use by another run"):
        # (wait_for only guards against a hang if the lock were missing)
        await asyncio.wait_for(run_bulk(slow, range(5), concurrency=5, journal=path), 10)
    release.set()
    report = await first
    assert report.ok and sorted(calls) == list(range(5))
    # Once the first run is over, the lock is released and a rerun skips everything.
    rerun = await run_bulk(slow, range(5), concurrency=5, journal=path)
    assert sorted(rerun.skipped) == list(range(5))


async def test_two_filter_runs_at_once_apply_each_app_once(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=10) as emu, emu.client(max_concurrency=2) as mp:
        results = await asyncio.gather(
            mp.bulk.update_datapoint_filters(range(1, 11), SERVICE, POLICY, journal=path),
            mp.bulk.update_datapoint_filters(range(1, 11), SERVICE, POLICY, journal=path),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["BulkReport", "JournalError"]
        assert len(writes(emu)) == 10


async def test_a_dry_run_records_nothing_then_the_real_run_applies_everything(
    tmp_path: Path,
) -> None:
    # Today a --dry-run with a journal, then the real run, skips every app.
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=6) as emu, emu.client() as mp:
        dry = await mp.bulk.sync_datapoint_filters(
            range(1, 7), SERVICE, POLICY, dry_run=True, journal=path
        )
        assert dry.ok and not path.exists() and writes(emu) == []
        real = await mp.bulk.sync_datapoint_filters(range(1, 7), SERVICE, POLICY, journal=path)
        assert real.ok and real.skipped == [] and len(real.succeeded) == 6
        assert len(writes(emu)) == 6
        # A dry run against a journal still checks it belongs to the job...
        with pytest.raises(JournalError):
            await mp.bulk.sync_datapoint_filters(
                [1], "Amplitude", POLICY, dry_run=True, journal=path
            )
        # ...and previews what a resume would do, without writing.
        size = path.stat().st_size
        again = await mp.bulk.sync_datapoint_filters(
            range(1, 8), SERVICE, POLICY, dry_run=True, journal=path
        )
        assert sorted(again.skipped) == list(range(1, 7)) and path.stat().st_size == size


async def test_journal_path_errors_are_one_line_and_nothing_is_sent(tmp_path: Path) -> None:
    async with Emulator(apps=2) as emu, emu.client() as mp:
        for bad in (tmp_path, tmp_path / "missing" / "run.jsonl"):
            with pytest.raises(JournalError) as caught:
                await mp.bulk.update_datapoint_filters([1, 2], SERVICE, POLICY, journal=bad)
            assert "\n" not in str(caught.value) and "cannot open journal" in str(caught.value)
        with pytest.raises(RequestValidationError, match="journal"):
            await mp.bulk.update_datapoint_filters([1], SERVICE, POLICY, journal=42)  # type: ignore[arg-type]
        assert [e for e in emu.request_log if e.path.startswith("/v1/apps/")] == []


def test_records_are_flushed_and_fsynced_on_close_and_every_few_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(journal_mod, "_clock", lambda: now[0])

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "j.jsonl"
    book = Journal(path, JournalJob("map"))
    book.open()
    synced.clear()  # the header is synced when written
    book.record(1, None)
    assert len(lines(path)) == 2  # flushed: visible to another reader at once
    now[0] += 1.0
    book.record(2, None)
    assert synced == []  # not every record
    now[0] += journal_mod.FSYNC_INTERVAL
    book.record(3, None)
    assert len(synced) == 1
    book.close()
    assert len(synced) == 2
    book.close()  # twice is fine


async def test_errors_in_records_carry_the_error_text(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"

    async def fails(item: int) -> None:
        raise ValueError(f"bad {item}")

    await run_bulk(fails, [7], concurrency=1, journal=path)
    record = read_journal(path).records[0]
    assert record["ok"] is False and record["error"] == "ValueError: bad 7"


async def test_an_item_function_can_add_fields_to_its_record(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"

    async def fn(item: int) -> Outcome[int]:
        return Outcome(item, record={"square": item * item})

    report = await run_bulk(fn, [3, 4], concurrency=2, journal=path)
    assert sorted(r["square"] for r in read_journal(path).records) == [9, 16]
    assert report.results == {3: 3, 4: 4}  # the value alone: the record is the journal's
    unjournaled = await run_bulk(fn, [5], concurrency=1)  # without a journal: the value
    assert unjournaled.results == {5: 5}


# ---------------------------------------------------------------- records read strictly


def strict_journal(path: Path, before: list[dict[str, Any]]) -> None:
    """A filter run's journal whose app 1 record (line 3) has the given "before"."""
    header = JournalJob("sync_datapoint_filters", SERVICE, "p").header()
    good = {"name": "Search", "type": "Event", "event_type": "search", "enabled": True}
    records = [
        {"item": 2, "ok": True, "before": [good], "after": [{**good, "enabled": False}]},
        {"item": 1, "ok": True, "before": before, "after": [{**good, "enabled": False}]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *records]))


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Search", "type": 5, "event_type": "search", "enabled": True},
        {"name": ["Search"], "type": "Event", "event_type": "search", "enabled": True},
        {"name": "Search", "type": "Event", "event_type": "search", "enabled": "false"},
        {"name": "Search", "type": "Event", "event_type": "search", "enabeld": False},
        "Search",
    ],
)
async def test_a_malformed_filter_record_is_a_journal_error_naming_its_line(
    tmp_path: Path, bad: object
) -> None:
    # Today: AttributeError/TypeError from deep inside the revert, or "false" read as true.
    path = tmp_path / "run.jsonl"
    strict_journal(path, [bad])  # type: ignore[list-item]
    async with Emulator(apps=2) as emu, emu.client() as mp:
        emu.reset_request_log()
        with pytest.raises(JournalError, match=r"run\.jsonl, line 3, before: not a valid"):
            await mp.bulk.revert_datapoint_filters(path)
        assert [e for e in emu.request_log if e.path.startswith("/v1/apps/")] == []
    assert not (tmp_path / "run.revert.jsonl").exists()


@pytest.mark.parametrize(
    "record",
    [
        {"item": 1, "ok": "true"},
        {"item": 1, "ok": True, "error": 5},
        {"item": 1, "ok": True, "time": "now"},
        {"it": 1, "ok": True},
        [1, True],
    ],
)
async def test_a_record_of_the_wrong_types_is_refused_not_skipped_or_misread(
    tmp_path: Path, record: object
) -> None:
    path = tmp_path / "run.jsonl"
    await run_bulk(ok, [7], concurrency=1, journal=path)
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    calls: list[int] = []

    async def fn(item: int) -> None:
        calls.append(item)

    with pytest.raises(JournalError, match=r"run\.jsonl, line 3: not a"):
        await run_bulk(fn, [1, 7], concurrency=1, journal=path)
    with pytest.raises(JournalError, match="line 3"):
        read_journal(path)
    assert calls == []


async def test_a_header_of_the_wrong_types_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    header = {**JournalJob("map").header(), "service": 5}
    path.write_text(json.dumps(header) + "\n")
    with pytest.raises(JournalError, match="line 1: not a valid journal record"):
        await run_bulk(ok, [1], concurrency=1, journal=path)


# ---------------------------------------------------------------- bound to a target


async def test_a_journal_from_another_target_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    # Today: rehearsed on staging, the same journal makes production skip every app.
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=3) as staging, Emulator(apps=3) as production:
        async with staging.client() as mp:
            first = await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=path)
            assert first.ok
        before = path.read_bytes()
        production.reset_request_log()
        async with production.client() as mp:
            with pytest.raises(JournalError) as caught:
                await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=path)
        assert f"was written for account 1 at {staging.base_url}" in str(caught.value)
        assert f"not account 1 at {production.base_url}" in str(caught.value)
        assert caught.value.report is None  # refused before the run, not during it
        assert production.request_log == [] and path.read_bytes() == before
        # Another account on the same API is another target too.
        async with staging.client(account_id=2) as other:
            with pytest.raises(JournalError, match="not account 2 at"):
                await other.bulk.sync_datapoint_filters([1], SERVICE, POLICY, journal=path)
            with pytest.raises(JournalError, match="not account 2 at"):
                await other.bulk.map(ok, [1], journal=path)
        # The same target resumes it.
        async with staging.client() as mp:
            again = await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=path)
            assert sorted(again.skipped) == [1, 2, 3]


async def test_a_revert_on_another_target_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=2) as staging, Emulator(apps=2) as production:
        async with staging.client() as mp:
            await mp.bulk.sync_datapoint_filters([1, 2], SERVICE, POLICY, journal=path)
        before = path.read_bytes()
        production.reset_request_log()
        async with production.client() as mp:
            with pytest.raises(JournalError, match="was written for account 1 at http"):
                await mp.bulk.revert_datapoint_filters(path)
        assert production.request_log == [] and path.read_bytes() == before
        assert not (tmp_path / "run.revert.jsonl").exists()


async def test_an_older_journal_without_a_target_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.jsonl"
    async with Emulator(apps=3) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1, 2], SERVICE, POLICY, journal=path)
        header, *records = lines(path)
        old = {k: v for k, v in header.items() if k not in ("account", "base_url")}
        old.update(mpasync_journal=1, mpasync="0.3.0")  # as the previous format wrote it
        path.write_text("".join(json.dumps(line) + "\n" for line in [old, *records]))
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            report = await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=path)
        assert sorted(report.skipped) == [1, 2] and report.succeeded == [3]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "did not record the account and API" in warnings[0]
        assert f"account 1 at {emu.base_url}" in warnings[0]


# ---------------------------------------------------------------- after a revert


async def test_resuming_a_reverted_run_is_refused_and_a_new_journal_applies_it(
    tmp_path: Path,
) -> None:
    # Today the rerun skips every app (exit 0) and the migration silently stays undone.
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=3) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=path)
        reverted = await mp.bulk.revert_datapoint_filters(path)
        assert reverted.ok
        marks = [line for line in lines(path) if "reverted_by" in line]
        assert marks == [
            {"reverted_by": str(tmp_path / "run.revert.jsonl"), "time": marks[0]["time"]}
        ]
        emu.reset_request_log()
        for dry_run in (False, True):
            with pytest.raises(JournalError, match=r"its run was reverted.*new journal"):
                await mp.bulk.sync_datapoint_filters(
                    [1, 2, 3], SERVICE, POLICY, journal=path, dry_run=dry_run
                )
        assert writes(emu) == []
        # Resuming (or rerunning) the revert itself is still fine, and marks once.
        again = await mp.bulk.revert_datapoint_filters(path)
        assert sorted(again.skipped) == [1, 2, 3]
        assert sum("reverted_by" in line for line in lines(path)) == 1
        fresh = await mp.bulk.sync_datapoint_filters(
            [1, 2, 3], SERVICE, POLICY, journal=tmp_path / "run2.jsonl"
        )
        assert sorted(fresh.succeeded) == [1, 2, 3] and len(writes(emu)) == 3


async def test_a_service_spelled_differently_is_the_same_job(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    async with Emulator(apps=2) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1], SERVICE.lower(), POLICY, journal=path)
        again = await mp.bulk.sync_datapoint_filters([1, 2], SERVICE.upper(), POLICY, journal=path)
        assert again.skipped == [1] and again.succeeded == [2]
        with pytest.raises(JournalError, match="its service is"):
            await mp.bulk.sync_datapoint_filters([1], "Amplitude", POLICY, journal=path)


def test_canonical_service_matches_case_then_separators_and_never_guesses() -> None:
    from mpasync.filter_migrations import canonical_service

    names = [SERVICE, "Amplitude", "Foo Bar", "FooBar"]
    assert canonical_service(SERVICE, names) == SERVICE
    assert canonical_service("amplitude", names) == "Amplitude"
    assert canonical_service("google_analytics event-forwarder", names) == SERVICE
    assert canonical_service("foobar", names) == "FooBar"  # case alone decides
    assert canonical_service("foo-bar", names) is None  # two names match: no guess
    assert canonical_service("Amplitud", names) is None


async def test_a_revert_mark_after_a_torn_line_stands_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    await run_bulk(ok, [1], concurrency=1, journal=path)
    with path.open("ab") as fh:
        fh.write(b'{"item": 2, "ok": tr')  # a crash mid-write
    journal_mod.mark_reverted(path, tmp_path / "run.revert.jsonl")
    journal_mod.mark_reverted(path, tmp_path / "run.revert.jsonl")  # once per revert
    contents = read_journal(path)
    assert contents.reverted_by == str(tmp_path / "run.revert.jsonl")
    assert [r["item"] for r in contents.records] == [1] and contents.skipped_lines == 1
    assert path.read_bytes().count(b"reverted_by") == 1
