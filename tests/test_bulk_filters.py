"""Datapoint filters across many apps, against the emulator over loopback."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from mpasync import RequestValidationError, RetryPolicy
from mpasync.bulk import FilterChange
from mpasync.emulator import Emulator, Faults
from mpasync.models import DataPointFilter

SERVICE = "GoogleAnalyticsEventForwarder"
POLICY = [
    DataPointFilter(name="Add To Cart", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="Search", type="Event", event_type="search", enabled=False),
    DataPointFilter(name="$FirstName", type="UserAttribute", enabled=False),
    DataPointFilter(name="Email", type="UserIdentity", enabled=False),
]


def effective(emu: Emulator, app_id: int) -> dict[tuple[str, str, str | None, str | None], bool]:
    return {
        (f.type.lower(), f.name, f.attribute_name, f.event_type): f.enabled
        for f in emu.state.filters(app_id, SERVICE)
    }


def holds(emu: Emulator, app_id: int, policy: list[DataPointFilter]) -> bool:
    state = effective(emu, app_id)
    return all(state.get(f.key()) is f.enabled for f in policy)


def writes(emu: Emulator) -> Counter[str]:
    return Counter(
        e.path for e in emu.request_log if e.method == "PUT" and e.path.endswith("/datapoints")
    )


async def test_update_applies_the_same_filters_everywhere() -> None:
    async with Emulator(apps=30) as emu, emu.client(max_concurrency=8) as mp:
        progress: list[tuple[int, int]] = []
        report = await mp.bulk.update_datapoint_filters(
            range(1, 31), SERVICE, POLICY, on_progress=lambda d, f: progress.append((d, f))
        )
        assert report.ok and report.total == 30 and sorted(report.succeeded) == list(range(1, 31))
        assert report.requests == 30
        assert progress[-1] == (30, 0)
        assert all(holds(emu, app_id, POLICY) for app_id in range(1, 31))


async def test_failures_are_per_app_and_nothing_lost() -> None:
    async with Emulator(apps=5) as emu, emu.client() as mp:
        report = await mp.bulk.update_datapoint_filters([1, 2, 9001, 3, 777], SERVICE, POLICY)
        assert not report.ok
        assert sorted(report.succeeded) == [1, 2, 3]
        assert set(report.failed) == {9001, 777}  # another account's app, and no such app
        assert all(type(e).__name__ == "NotFoundError" for e in report.failed.values())
        assert all(holds(emu, a, POLICY) for a in (1, 2, 3))


async def test_filters_are_validated_before_anything_is_sent() -> None:
    async with Emulator(apps=3) as emu, emu.client() as mp:
        bad = [*POLICY, {"name": "Checkout", "type": "Event"}]  # no event_type
        with pytest.raises(RequestValidationError, match="event_type"):
            await mp.bulk.update_datapoint_filters([1, 2, 3], SERVICE, bad)
        assert [e for e in emu.request_log if e.path.startswith("/v1")] == []


async def test_sync_writes_only_differences_and_dry_run_reads_only() -> None:
    async with Emulator(apps=6) as emu, emu.client() as mp:
        # Apps 1-3 already hold the policy.
        await mp.bulk.update_datapoint_filters([1, 2, 3], SERVICE, POLICY)
        emu.reset_request_log()
        dry = await mp.bulk.sync_datapoint_filters(range(1, 7), SERVICE, POLICY, dry_run=True)
        assert dry.ok
        assert not writes(emu)  # a dry run writes nothing
        for app_id in (1, 2, 3):
            assert dry.results[app_id].changes == []
            assert dry.results[app_id].describe() == "nothing"
        for app_id in (4, 5, 6):
            change = dry.results[app_id]
            assert isinstance(change, FilterChange) and not change.applied
            disabled = {f.name for f in change.disabled}
            assert {"Search", "$FirstName", "Email"} <= disabled
            assert change.enabled == []  # Add To Cart is enabled by default already
        real = await mp.bulk.sync_datapoint_filters(range(1, 7), SERVICE, POLICY)
        assert real.ok
        assert set(writes(emu)) == {f"/v1/apps/{a}/{SERVICE}/datapoints" for a in (4, 5, 6)}
        assert all(holds(emu, a, POLICY) for a in range(1, 7))
        # Only the differing filters were sent.
        put = next(e for e in emu.request_log if e.method == "PUT")
        assert len(put.body) == len(real.results[4].changes) < len(POLICY)


async def test_sync_reports_added_filters() -> None:
    async with Emulator(apps=2) as emu, emu.client() as mp:
        new = DataPointFilter(
            name="Brand New Event", type="Event", event_type="other", enabled=False
        )
        report = await mp.bulk.sync_datapoint_filters([1, 2], SERVICE, [new])
        assert [f.name for f in report.results[1].added] == ["Brand New Event"]
        assert report.results[1].describe() == "1 added"
        assert holds(emu, 1, [new])


async def test_copy_makes_apps_match_a_source_app() -> None:
    async with Emulator(apps=5) as emu, emu.client() as mp:
        await mp.datapoint_filters.update(1, SERVICE, POLICY)
        report = await mp.bulk.copy_datapoint_filters(1, [2, 3, 4], SERVICE)
        assert report.ok
        source = effective(emu, 1)
        for app_id in (2, 3, 4):
            target = effective(emu, app_id)
            assert all(target[k] == v for k, v in source.items() if k in target)
            assert holds(emu, app_id, POLICY)
        assert not holds(emu, 5, POLICY)


async def test_filter_lists_over_500_are_chunked() -> None:
    many = [
        DataPointFilter(name=f"Event {i}", type="Event", event_type="other", enabled=i % 2 == 0)
        for i in range(1201)
    ]
    async with Emulator(apps=2) as emu, emu.client() as mp:
        report = await mp.bulk.update_datapoint_filters([1, 2], SERVICE, many)
        assert report.ok
        sizes = sorted(len(e.body) for e in emu.request_log if e.method == "PUT")
        assert sizes == [201, 201, 500, 500, 500, 500]
        assert holds(emu, 1, many) and holds(emu, 2, many)


async def test_journal_resume_never_writes_an_app_twice(tmp_path: Path) -> None:
    journal = tmp_path / "filters.jsonl"
    async with Emulator(apps=40, faults=Faults(latency=(0.01, 0.02), seed=3)) as emu:
        async with emu.client(max_concurrency=4) as mp:
            fifteen = asyncio.Event()
            task = asyncio.create_task(
                mp.bulk.update_datapoint_filters(
                    range(1, 41),
                    SERVICE,
                    POLICY,
                    journal=journal,
                    on_event=lambda e: e.done >= 15 and fifteen.set(),
                )
            )
            await fifteen.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            partial = mp.bulk.last_report
            assert partial is not None and partial.stopped
            # Cancellation left nothing behind.
            assert mp.transport.concurrency.in_use == 0
            assert mp.transport.connections_in_use() == 0
            first_run = writes(emu)
            resumed = await mp.bulk.update_datapoint_filters(
                range(1, 41), SERVICE, POLICY, journal=journal
            )
        assert resumed.ok
        assert len(resumed.skipped) >= 15
        assert len(resumed.skipped) + len(resumed.succeeded) == 40
        total = writes(emu)
        # Apps recorded as done were not written again; every app holds the policy.
        for app_id in resumed.skipped:
            assert total[f"/v1/apps/{app_id}/{SERVICE}/datapoints"] == 1
        assert all(holds(emu, a, POLICY) for a in range(1, 41))
        assert sum(first_run.values()) < 40


async def test_fail_fast_stops_the_fan_out() -> None:
    async with Emulator(apps=50, faults=Faults(latency=(0.005, 0.01), seed=1)) as emu:
        async with emu.client(max_concurrency=4, retry=RetryPolicy.disabled()) as mp:
            ids = [9001, *range(1, 50)]
            report = await mp.bulk.update_datapoint_filters(ids, SERVICE, POLICY, fail_fast=True)
            assert list(report.failed) == [9001]
            assert report.stopped
            assert len(report.succeeded) < 10
            assert mp.transport.concurrency.in_use == 0
        assert sum(writes(emu).values()) < 15


async def test_sync_converges_with_the_filter_hierarchy() -> None:
    # The policy disables the whole "transaction" event type but enables one of its events
    # and an attribute: the API shows those disabled while the type is off, so a naive diff
    # would "enable" them on every run.
    policy = [
        DataPointFilter(name="transaction", type="EventType", enabled=False),
        DataPointFilter(name="Add To Cart", type="Event", event_type="transaction", enabled=True),
        DataPointFilter(
            name="Add To Cart",
            type="EventAttribute",
            event_type="transaction",
            attribute_name="price",
            enabled=True,
        ),
        DataPointFilter(name="Search", type="Event", event_type="search", enabled=False),
        DataPointFilter(
            name="Search",
            type="EventAttribute",
            event_type="search",
            attribute_name="query",
            enabled=True,
        ),
    ]
    async with Emulator(apps=3) as emu, emu.client() as mp:
        first = await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, policy)
        assert first.ok
        assert all(c.applied for c in first.results.values())
        state = effective(emu, 1)
        assert state[("event", "Add To Cart", None, "transaction")] is False
        assert state[("eventattribute", "Search", "query", "search")] is False
        second = await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, policy, dry_run=True)
        for change in second.results.values():
            assert change.changes == [], change.describe()
            assert {(f.type, f.name) for f in change.masked} == {
                ("Event", "Add To Cart"),
                ("EventAttribute", "Add To Cart"),
                ("EventAttribute", "Search"),
            }
        # Lifting the parent in a new policy brings the children's own flags back.
        lifted = [
            DataPointFilter(name="transaction", type="EventType", enabled=True),
            *(p for p in policy if p.type != "EventType"),
        ]
        third = await mp.bulk.sync_datapoint_filters([1], SERVICE, lifted)
        assert sorted((f.type, f.name) for f in third.results[1].enabled) == [
            ("Event", "Add To Cart"),
            ("EventAttribute", "Add To Cart"),
            ("EventType", "transaction"),
        ]
        assert effective(emu, 1)[("event", "Add To Cart", None, "transaction")] is True
