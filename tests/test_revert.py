"""Reversible filter migrations: export, snapshots, and revert from a run's journal."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mpasync import JournalError, RequestValidationError, TransportError, migrations
from mpasync.bulk import FilterChange, RevertConflict
from mpasync.client import Client
from mpasync.emulator import Emulator
from mpasync.journal import Journal, JournalJob
from mpasync.models import DataPointFilter
from mpasync.resources.datapoints import DataPointFilters

SERVICE = "GoogleAnalyticsEventForwarder"
#: Set on every app before the migration, so "before" is not just the defaults.
PRE = [
    DataPointFilter(name="Checkout", type="Event", event_type="transaction", enabled=False),
    DataPointFilter(name="$FirstName", type="UserAttribute", enabled=False),
]
#: The migration: disables Search (and so, by the hierarchy, its attribute), enables
#: what PRE disabled, disables Email.
POLICY = [
    DataPointFilter(name="Search", type="Event", event_type="search", enabled=False),
    DataPointFilter(name="Checkout", type="Event", event_type="transaction", enabled=True),
    DataPointFilter(name="Email", type="UserIdentity", enabled=False),
    DataPointFilter(name="$FirstName", type="UserAttribute", enabled=True),
]
SEARCH = DataPointFilter(name="Search", type="Event", event_type="search", enabled=True)
EMAIL = DataPointFilter(name="Email", type="UserIdentity", enabled=True)
CHECKOUT_OFF = DataPointFilter(
    name="Checkout", type="Event", event_type="transaction", enabled=False
)

State = dict[tuple[str, str, str | None, str | None], bool]


def state(filters: list[DataPointFilter]) -> State:
    return {f.key(): f.enabled for f in filters}


async def states(mp: Client, app_ids: range) -> dict[int, State]:
    """Every app's filters as the API shows them (the emulator's state, via the API)."""
    report = await mp.bulk.export_datapoint_filters(app_ids, SERVICE)
    assert report.ok
    return {a: state(fs) for a, fs in report.results.items()}


def puts(emu: Emulator) -> Counter[int]:
    return Counter(
        int(e.path.split("/")[3])
        for e in emu.request_log
        if e.method == "PUT" and e.path.endswith("/datapoints")
    )


async def test_revert_restores_47_apps_and_reports_3_conflicts(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    ids = range(1, 51)
    hand = {5: SEARCH, 17: EMAIL, 42: CHECKOUT_OFF}
    async with Emulator(apps=50) as emu, emu.client() as mp:
        await mp.bulk.update_datapoint_filters(ids, SERVICE, PRE)
        original = await states(mp, ids)
        applied = await mp.bulk.sync_datapoint_filters(ids, SERVICE, POLICY, journal=run)
        assert applied.ok and all(c.applied for c in applied.results.values())
        migrated = await states(mp, ids)
        assert all(migrated[a] != original[a] for a in ids)
        # Someone changes three apps by hand, on filters the run changed.
        for app_id, change in hand.items():
            await mp.datapoint_filters.update(app_id, SERVICE, [change])
        by_hand = await states(mp, ids)
        emu.reset_request_log()

        report = await mp.bulk.revert_datapoint_filters(run)

        assert sorted(report.succeeded) == [a for a in ids if a not in hand]
        assert set(report.failed) == set(hand) and not report.ok
        assert all(isinstance(e, RevertConflict) for e in report.failed.values())
        conflict = report.failed[5]
        assert isinstance(conflict, RevertConflict) and conflict.app_id == 5
        assert "Search" in str(conflict) and "force" in str(conflict)
        assert "\n" not in str(conflict)
        # Nothing else written: one PUT per restored app, none to the conflicting ones.
        assert puts(emu) == Counter({a: 1 for a in ids if a not in hand})
        now = await states(mp, ids)
        for app_id in ids:
            if app_id in hand:  # left alone: still the run's result plus the hand change
                assert now[app_id] == by_hand[app_id] != migrated[app_id]
            else:
                assert now[app_id] == original[app_id]  # restored exactly
        typed: dict[int, FilterChange] = report.results
        assert all(c.applied for c in typed.values())

        # The revert is journaled: a rerun with force reverts exactly the three left.
        emu.reset_request_log()
        forced = await mp.bulk.revert_datapoint_filters(run, force=True)
        assert sorted(forced.succeeded) == sorted(hand) and len(forced.skipped) == 47
        assert forced.ok and puts(emu) == Counter({a: 1 for a in hand})
        assert await states(mp, ids) == original
        revert_log = tmp_path / "run.revert.jsonl"
        assert json.loads(revert_log.read_text().splitlines()[0])["operation"] == (
            "revert_datapoint_filters"
        )

        # Reverting the revert (its own journal) would redo the migration: refused unless
        # forced, before anything is sent.
        emu.reset_request_log()
        with pytest.raises(JournalError, match=r"revert's own journal.*force"):
            await mp.bulk.revert_datapoint_filters(
                revert_log, revert_journal=tmp_path / "redo.jsonl"
            )
        assert puts(emu) == Counter() and not (tmp_path / "redo.jsonl").exists()
        # Forced, it redoes it: each app goes back to what the revert found (the
        # migration, or for the three, the migration plus the hand change).
        redo = await mp.bulk.revert_datapoint_filters(
            revert_log, revert_journal=tmp_path / "redo.jsonl", force=True
        )
        assert redo.ok and len(puts(emu)) == 50
        assert await states(mp, ids) == {a: by_hand[a] for a in ids}
        assert all(by_hand[a] == migrated[a] for a in ids if a not in hand)


async def test_an_unrelated_change_is_not_a_conflict_and_survives(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    cart_off = DataPointFilter(name="Cart", type="ScreenView", enabled=False)
    async with Emulator(apps=3) as emu, emu.client() as mp:
        original = await states(mp, range(1, 4))
        await mp.bulk.sync_datapoint_filters([1, 2, 3], SERVICE, POLICY, journal=run)
        await mp.datapoint_filters.update(2, SERVICE, [cart_off])  # not a filter the run set
        report = await mp.bulk.revert_datapoint_filters(run)
        assert report.ok and sorted(report.succeeded) == [1, 2, 3]
        now = await states(mp, range(1, 4))
        assert now[1] == original[1] and now[3] == original[3]
        assert now[2] == {**original[2], cart_off.key(): False}


async def test_revert_is_idempotent_and_an_app_already_restored_is_not_written(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run.jsonl"
    async with Emulator(apps=4) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters(range(1, 5), SERVICE, POLICY, journal=run)
        first = await mp.bulk.revert_datapoint_filters(run)
        assert first.ok
        emu.reset_request_log()
        again = await mp.bulk.revert_datapoint_filters(run, revert_journal=tmp_path / "r2")
        assert again.ok and len(again.succeeded) == 4 and puts(emu) == Counter()
        assert all(not c.applied and not c.changes for c in again.results.values())


async def test_update_with_a_journal_records_before_and_after_and_reverts(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run.jsonl"
    # The hierarchy: disabling the "transaction" event type shows its events disabled.
    policy = [DataPointFilter(name="transaction", type="EventType", enabled=False), *PRE]
    async with Emulator(apps=3) as emu, emu.client() as mp:
        original = await states(mp, range(1, 4))
        report = await mp.bulk.update_datapoint_filters([1, 2, 3], SERVICE, policy, journal=run)
        assert report.ok
        record = json.loads(run.read_text().splitlines()[1])
        before, after = state_of(record["before"]), state_of(record["after"])
        assert before == original[record["item"]]
        assert after[("event", "Add To Cart", None, "transaction")] is False
        assert before[("event", "Add To Cart", None, "transaction")] is True
        emu.reset_request_log()
        reverted = await mp.bulk.revert_datapoint_filters(run)
        assert reverted.ok and len(puts(emu)) == 3
        now = await states(mp, range(1, 4))
        for app_id in (1, 2, 3):
            # Every datapoint shows what it showed before; the EventType filter the run
            # created cannot be deleted, so it is back to enabled.
            extra = {k: v for k, v in now[app_id].items() if k not in original[app_id]}
            assert extra == {("eventtype", "transaction", None, None): True}
            assert {k: now[app_id][k] for k in original[app_id]} == original[app_id]


def state_of(records: list[dict[str, Any]]) -> State:
    return {
        (r["type"].lower(), r["name"], r.get("attribute_name"), r.get("event_type")): r["enabled"]
        for r in records
    }


async def test_a_write_whose_outcome_is_unknown_is_reverted_only_with_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run.jsonl"
    real_update = DataPointFilters.update

    async def lost_response(
        self: DataPointFilters, app_id: int, service: str, filters: Any
    ) -> list[DataPointFilter]:
        result = await real_update(self, app_id, service, filters)
        if app_id == 2:
            raise TransportError("response lost after the request was sent")
        return result

    async with Emulator(apps=3) as emu, emu.client() as mp:
        original = await states(mp, range(1, 4))
        with monkeypatch.context() as patch:
            patch.setattr(DataPointFilters, "update", lost_response)
            run_report = await mp.bulk.sync_datapoint_filters(
                [1, 2, 3], SERVICE, POLICY, journal=run
            )
        assert list(run_report.failed) == [2]
        report = await mp.bulk.revert_datapoint_filters(run)
        assert sorted(report.succeeded) == [1, 3]
        assert isinstance(report.failed[2], RevertConflict)
        assert "outcome unknown" in str(report.failed[2])
        forced = await mp.bulk.revert_datapoint_filters(run, force=True)
        assert forced.ok and forced.succeeded == [2]
        assert await states(mp, range(1, 4)) == original
        del emu


async def test_export_then_apply_snapshot_restores_it() -> None:
    async with Emulator(apps=5) as emu, emu.client() as mp:
        exported = await mp.bulk.export_datapoint_filters(range(1, 6), SERVICE)
        assert exported.ok and set(exported.results) == set(range(1, 6))
        snapshot: dict[int, list[DataPointFilter]] = exported.results
        await mp.bulk.update_datapoint_filters(range(1, 6), SERVICE, POLICY)
        emu.reset_request_log()
        dry = await mp.bulk.apply_datapoint_filter_snapshot(snapshot, SERVICE, dry_run=True)
        assert dry.ok and puts(emu) == Counter()
        assert all(c.changes and not c.applied for c in dry.results.values())
        report = await mp.bulk.apply_datapoint_filter_snapshot(snapshot, SERVICE)
        assert report.ok and len(puts(emu)) == 5
        assert await states(mp, range(1, 6)) == {a: state(fs) for a, fs in snapshot.items()}
        # JSON-shaped snapshots (string keys, dicts) are accepted too.
        as_json = json.loads(
            json.dumps(
                {
                    str(a): [
                        {
                            "name": f.name,
                            "type": f.type,
                            "event_type": f.event_type,
                            "attribute_name": f.attribute_name,
                            "enabled": f.enabled,
                        }
                        for f in fs
                    ]
                    for a, fs in snapshot.items()
                }
            )
        )
        again = await mp.bulk.apply_datapoint_filter_snapshot(as_json, SERVICE)
        assert again.ok and all(not c.changes for c in again.results.values())


async def test_bad_snapshots_are_refused_before_anything_is_sent() -> None:
    async with Emulator(apps=2) as emu, emu.client() as mp:
        with pytest.raises(RequestValidationError, match=r"snapshot\[2\]\[0\]"):
            await mp.bulk.apply_datapoint_filter_snapshot(
                {1: [], 2: [{"name": "x", "type": "Event"}]}, SERVICE
            )
        with pytest.raises(RequestValidationError, match="snapshot"):
            await mp.bulk.apply_datapoint_filter_snapshot({"one": []}, SERVICE)  # type: ignore[dict-item]
        with pytest.raises(RequestValidationError, match="snapshot"):
            await mp.bulk.apply_datapoint_filter_snapshot([1, 2], SERVICE)  # type: ignore[arg-type]
        with pytest.raises(RequestValidationError, match="service"):
            await mp.bulk.export_datapoint_filters([1], " ")
        assert [e for e in emu.request_log if e.path.startswith("/v1/apps/")] == []


async def test_revert_refuses_journals_it_cannot_use(tmp_path: Path) -> None:
    plain = tmp_path / "map.jsonl"
    async with Emulator(apps=2) as emu, emu.client() as mp:

        async def nothing(app_id: int) -> None:
            return None

        await mp.bulk.map(nothing, [1, 2], journal=plain)
        with pytest.raises(JournalError, match="nothing to revert"):
            await mp.bulk.revert_datapoint_filters(plain)
        with pytest.raises(JournalError, match="cannot read journal"):
            await mp.bulk.revert_datapoint_filters(tmp_path / "missing.jsonl")
        run = tmp_path / "run.jsonl"
        await mp.bulk.sync_datapoint_filters([1], SERVICE, POLICY, journal=run)
        with pytest.raises(RequestValidationError, match="revert_journal"):
            await mp.bulk.revert_datapoint_filters(run, revert_journal=run)
        # A journal still being written (locked by its run) is not reverted.
        book = Journal(run, JournalJob("sync_datapoint_filters", SERVICE, None))
        with pytest.raises(JournalError, match="another job"):
            book.open()  # (wrong policy: refused, and the lock is released again)
        held = Journal(tmp_path / "busy.jsonl")
        held.open()
        try:
            with pytest.raises(JournalError, match="in use by a running job"):
                await mp.bulk.revert_datapoint_filters(tmp_path / "busy.jsonl")
        finally:
            held.close()
        # A revert journal belongs to the revert of one run: another run's is refused.
        other = tmp_path / "other.jsonl"
        await mp.bulk.sync_datapoint_filters([2], SERVICE, POLICY, journal=other)
        await mp.bulk.revert_datapoint_filters(run, revert_journal=tmp_path / "r.jsonl")
        with pytest.raises(JournalError, match="another job"):
            await mp.bulk.revert_datapoint_filters(other, revert_journal=tmp_path / "r.jsonl")
        del emu


async def test_a_journal_that_cannot_be_marked_is_reverted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run.jsonl"

    def read_only(path: Path, by: Path) -> None:  # as on a read-only copy of the journal
        raise JournalError(f"cannot open journal {path}: Read-only file system")

    async with Emulator(apps=2) as emu, emu.client() as mp:
        await mp.bulk.sync_datapoint_filters([1, 2], SERVICE, POLICY, journal=run)
        monkeypatch.setattr(migrations, "mark_reverted", read_only)
        with caplog.at_level(logging.WARNING, logger="mpasync"):
            report = await mp.bulk.revert_datapoint_filters(run)
        assert report.ok and sorted(report.succeeded) == [1, 2]
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert "Read-only file system; it is not marked as reverted" in warning
        del emu
