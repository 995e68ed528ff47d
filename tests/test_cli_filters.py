"""``mpasync filters export / apply (snapshot) / revert`` and ``--report``, in-process
against the emulator, checked against the emulator's own state."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mpasync import _validate
from mpasync.cli import amain
from mpasync.emulator import Emulator
from mpasync.models import DataPointFilter
from tests.cli_env import use_emulator

SERVICE = "GoogleAnalyticsEventForwarder"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "filters.json"
PRIVACY = [
    {"name": "Email", "type": "UserIdentity", "enabled": False},
    {"name": "$FirstName", "type": "UserAttribute", "enabled": False},
    {"name": "$LastName", "type": "UserAttribute", "enabled": False},
    {
        "name": "Search",
        "type": "EventAttribute",
        "event_type": "search",
        "attribute_name": "query",
        "enabled": False,
    },
]


@pytest_asyncio.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(apps=20) as emulator:
        use_emulator(emulator, monkeypatch)
        yield emulator


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(PRIVACY))
    return path


async def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await amain(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def key(f: Any) -> tuple[str, str, str | None, str | None]:
    return (f.type.lower(), f.name, f.attribute_name, f.event_type)


def state(emu: Emulator, app_id: int) -> dict[Any, bool]:
    """What the emulator really holds for the app: filter identity → enabled."""
    return {key(f): f.enabled for f in emu.state.filters(app_id, SERVICE)}


def disabled(emu: Emulator, app_id: int) -> set[Any]:
    """The app's effective filtering: what it keeps from the service (a datapoint a PUT
    added cannot be removed again, and an absent one is forwarded, i.e. enabled)."""
    return {k for k, enabled in state(emu, app_id).items() if not enabled}


def puts(emu: Emulator) -> int:
    return sum(1 for e in emu.request_log if e.method == "PUT")


async def test_export_writes_each_apps_filters(emu: Emulator, tmp_path: Path) -> None:
    out_file = tmp_path / "snapshot.json"
    code, out, err = await run(
        "filters", "export", "--service", SERVICE, "--all-apps", "--out", str(out_file)
    )
    assert code == 0, err
    snapshot = json.loads(out_file.read_text())
    assert sorted(snapshot, key=int) == [str(i) for i in range(1, 21)]
    for app_id, filters in snapshot.items():
        exported = {DataPointFilter(**f).key(): f["enabled"] for f in filters}
        assert exported == state(emu, int(app_id))
        assert all(
            set(f) <= {"name", "type", "event_type", "attribute_name", "enabled"} for f in filters
        )
    assert re.search(r"written to\s+.*snapshot.json \(20 apps\)", out)


async def export_policy_restore(emu: Emulator, tmp_path: Path, policy: Path, apps: str) -> None:
    """Export the apps' filters, apply the policy, then apply the snapshot."""
    snap = tmp_path / "before.json"
    code, _, err = await run(
        "filters", "export", "--service", SERVICE, "--apps", apps, "--out", str(snap)
    )
    assert code == 0, err
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", apps, "--file", str(policy)
    )
    assert code == 0, err
    # A snapshot names its apps: no --apps needed; applying it restores each app.
    code, out, err = await run("filters", "apply", "--service", SERVICE, "--file", str(snap))
    assert code == 0, err
    assert re.search(rf"changed\s+{len(apps.split(','))}\n", out), out


async def test_export_then_restore_the_snapshot(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    before = {a: disabled(emu, a) for a in range(1, 5)}
    await export_policy_restore(emu, tmp_path, policy_file, "1,2,3,4")
    assert all(disabled(emu, a) == before[a] for a in range(1, 5))


async def test_restoring_a_snapshot_re_enables_datapoints_the_policy_added(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    assert ("userattribute", "$LastName", None, None) not in state(emu, 5)  # seeded without
    before = disabled(emu, 5)
    await export_policy_restore(emu, tmp_path, policy_file, "5")
    assert disabled(emu, 5) == before


async def test_snapshot_with_all_apps_is_an_input_error(emu: Emulator, tmp_path: Path) -> None:
    snap = tmp_path / "s.json"
    snap.write_text(json.dumps({"1": PRIVACY}))
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--all-apps", "--file", str(snap)
    )
    assert code == 2 and err.count("\n") == 1 and "snapshot names its apps" in err
    assert not emu.request_log


async def test_revert_restores_unchanged_apps_and_reports_conflicts(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    """The issue's scenario at CLI level: apply to 20 apps, change 3 by hand, revert."""
    before = {a: disabled(emu, a) for a in range(1, 21)}
    journal = tmp_path / "run.jsonl"
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--all-apps", "--file", str(policy_file),
        "--journal", str(journal),
    )  # fmt: skip
    assert code == 0, err
    async with emu.client() as mp:
        for app_id in (4, 9, 15):
            await mp.datapoint_filters.update(
                app_id, SERVICE, [DataPointFilter(name="Email", type="UserIdentity", enabled=True)]
            )
    hand_changed = {a: disabled(emu, a) for a in (4, 9, 15)}
    writes = puts(emu)
    report_file = tmp_path / "revert.json"
    code, out, err = await run(
        "filters", "revert", "--journal", str(journal), "--report", str(report_file)
    )
    assert code == 1, err  # conflicts are not a clean revert
    assert re.search(r"restored\s+17\n", out) and re.search(r"conflicts\s+3\n", out)
    assert "app 4 changed since the run" in out
    for app_id in range(1, 21):
        if app_id in hand_changed:
            assert disabled(emu, app_id) == hand_changed[app_id]  # left alone
        else:
            assert disabled(emu, app_id) == before[app_id]  # restored exactly
    assert puts(emu) - writes == 17  # nothing else written
    outcomes = json.loads(report_file.read_text())["apps"]
    assert sorted(a for a, o in outcomes.items() if o["outcome"] == "conflict") == ["15", "4", "9"]
    assert sum(o["outcome"] == "restored" for o in outcomes.values()) == 17
    # --force restores the three as well; the revert's own journal skips the 17 done.
    code, out, err = await run("filters", "revert", "--journal", str(journal), "--force")
    assert code == 0, err
    assert re.search(r"skipped \(journal\)\s+17\n", out)
    assert all(disabled(emu, a) == before[a] for a in range(1, 21))


async def test_revert_of_a_missing_journal_is_an_input_error(tmp_path: Path) -> None:
    code, _, err = await run("filters", "revert", "--journal", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file" in err and err.count("\n") == 1


async def test_a_journal_from_another_job_is_refused_with_exit_2(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    args = ["filters", "apply", "--service", SERVICE, "--apps", "1,2", "--journal", str(journal)]
    code, _, err = await run(*args, "--file", str(policy_file))
    assert code == 0, err
    other = tmp_path / "other.json"
    other.write_text(json.dumps(PRIVACY[:1]))
    writes = puts(emu)
    report = tmp_path / "report.json"
    code, _, err = await run(
        *args, "--file", str(other), "--progress", "none", "--report", str(report)
    )
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("mpasync: error: journal")
    assert puts(emu) == writes
    assert not report.exists()  # refused before anything ran: no run to report


async def test_report_lists_every_outcome_and_the_terminal_caps_failures(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    report_file = tmp_path / "out.json"
    missing = list(range(9001, 9026))  # 25 apps that do not exist
    apps = ",".join(str(a) for a in [1, 2, *missing])
    code, out, _ = await run(
        "filters", "apply", "--service", SERVICE, "--apps", apps, "--file", str(policy_file),
        "--sync", "--report", str(report_file),
    )  # fmt: skip
    assert code == 1
    listed = [line for line in out.splitlines() if re.match(r"  90\d\d: NotFoundError", line)]
    assert len(listed) == 20
    assert f"… and 5 more (see {report_file})" in out
    body = json.loads(report_file.read_text())
    assert body["total"] == 27
    assert body["apps"]["1"]["outcome"] == "changed" and "disabled" in body["apps"]["1"]["changes"]
    assert body["apps"]["9001"]["outcome"] == "failed"
    assert body["apps"]["9001"]["error"].startswith("NotFoundError")
    assert body["counts"] == {"changed": 2, "failed": 25}


async def test_unchanged_apps_are_reported_as_such(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    args = ["filters", "apply", "--service", SERVICE, "--apps", "1,2", "--file", str(policy_file)]
    assert (await run(*args))[0] == 0
    report_file = tmp_path / "again.json"
    code, _, _ = await run(*args, "--sync", "--report", str(report_file))
    assert code == 0
    apps = json.loads(report_file.read_text())["apps"]
    assert apps == {"1": {"outcome": "unchanged"}, "2": {"outcome": "unchanged"}}


async def test_json_progress_on_stdout(emu: Emulator, policy_file: Path) -> None:
    code, out, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1,2,3", "--file", str(policy_file),
        "--progress", "json",
    )  # fmt: skip
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "summary" and events[-1]["succeeded"] == 3
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1] | {"phase": "applying filters", "done": 3, "total": 3} == progress[-1]
    assert err == ""


async def test_example_filters_file_is_what_export_writes_for_one_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """examples/filters.json: `mpasync emulator` (seed 0), the privacy policy applied to
    app 1, then `mpasync filters export --apps 1`."""
    async with Emulator(apps=1, seed=0) as emulator:
        use_emulator(emulator, monkeypatch)
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps(PRIVACY))
        apply = ["filters", "apply", "--service", SERVICE, "--apps", "1", "--file", str(policy)]
        assert (await run(*apply))[0] == 0
        exported = tmp_path / "export.json"
        code, _, err = await run(
            "filters", "export", "--service", SERVICE, "--apps", "1", "--out", str(exported)
        )
        assert code == 0, err
        assert json.loads(exported.read_text()) == json.loads(EXAMPLE.read_text())
        # ...and it is a filters file `apply` accepts.
        code, _, err = await run("filters", "apply", "--service", SERVICE, "--file", str(EXAMPLE))
        assert code == 0, err


async def test_json_mode_reports_errors_as_events_too(emu: Emulator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    code, out, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1", "--file", str(bad),
        "--progress", "json",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    event = json.loads(out)
    assert event["event"] == "error" and event["exit"] == 2 and "non-empty" in event["message"]


async def test_a_journal_rehearsed_on_staging_is_refused_on_production(
    tmp_path: Path, policy_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Today production answers "skipped (journal) 5", 0 requests, exit 0, and is untouched.
    journal = tmp_path / "j.jsonl"
    args = ["filters", "apply", "--service", SERVICE, "--apps", "1,2,3,4,5"]
    args += ["--file", str(policy_file), "--journal", str(journal), "--progress", "none"]
    async with Emulator(apps=5) as staging, Emulator(apps=5) as production:
        use_emulator(staging, monkeypatch)
        code, _, err = await run(*args)
        assert code == 0, err
        use_emulator(production, monkeypatch)
        production.reset_request_log()
        code, out, err = await run(*args)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert err.startswith(f"mpasync: error: journal {journal} belongs to another job:")
        assert f"written for account 1 at {staging.base_url}," in err
        assert f"not account 1 at {production.base_url}; use another journal" in err
        assert puts(production) == 0
        # ... and so is its revert, before anything is sent.
        code, _, err = await run(
            "filters", "revert", "--journal", str(journal), "--progress", "none"
        )
        assert code == 2 and err.count("\n") == 1
        assert f"was written for account 1 at {staging.base_url}" in err
        assert puts(production) == 0 and not (tmp_path / "j.revert.jsonl").exists()
        # Another account of the same API is another target too.
        use_emulator(staging, monkeypatch)
        monkeypatch.setenv("MPARTICLE_ACCOUNT_ID", "2")
        code, _, err = await run(*args)
        assert code == 2 and "not account 2 at" in err


async def test_reverting_a_revert_needs_force_and_a_reverted_run_is_not_resumed(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    before = {a: disabled(emu, a) for a in (1, 2)}
    journal = tmp_path / "run.jsonl"
    apply = ["filters", "apply", "--service", SERVICE, "--apps", "1,2"]
    apply += ["--file", str(policy_file), "--progress", "none"]
    code, _, err = await run(*apply, "--journal", str(journal))
    assert code == 0, err
    applied = {a: disabled(emu, a) for a in (1, 2)}
    assert applied != before
    code, _, err = await run("filters", "revert", "--journal", str(journal))
    assert code == 0, err
    assert {a: disabled(emu, a) for a in (1, 2)} == before
    writes = puts(emu)
    # A tab-completion slip: the revert's own journal. Today it re-applies the migration.
    slip = str(tmp_path / "run.revert.jsonl")
    code, out, err = await run("filters", "revert", "--journal", slip, "--progress", "none")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "is a revert's own journal" in err and "--force" in err
    assert puts(emu) == writes and {a: disabled(emu, a) for a in (1, 2)} == before
    # Today re-running the apply with the reverted run's journal skips both apps, exit 0.
    code, out, err = await run(*apply, "--journal", str(journal))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "its run was reverted" in err and "new journal" in err
    assert puts(emu) == writes
    # A new journal applies it again; --force reverts the revert on purpose.
    code, _, err = await run(*apply, "--journal", str(tmp_path / "again.jsonl"))
    assert code == 0, err
    assert {a: disabled(emu, a) for a in (1, 2)} == applied
    code, _, err = await run(
        "filters", "revert", "--journal", str(tmp_path / "again.jsonl"), "--progress", "none"
    )
    assert code == 0, err
    code, _, err = await run("filters", "revert", "--journal", slip, "--force")
    assert code == 0, err
    assert {a: disabled(emu, a) for a in (1, 2)} == applied


@pytest.mark.parametrize(
    "typed", ["googleanalyticseventforwarder", "google-analytics-event-forwarder"]
)
async def test_a_service_is_sent_and_journaled_by_its_canonical_name(
    emu: Emulator, tmp_path: Path, policy_file: Path, typed: str
) -> None:
    # Today the name is sent and journaled as typed, and a resume spelled canonically is
    # refused as "another job" (the separated spelling is refused as unknown).
    journal = tmp_path / "run.jsonl"
    args = ["filters", "apply", "--apps", "1,2", "--file", str(policy_file)]
    args += ["--journal", str(journal), "--progress", "none"]
    emu.reset_request_log()
    code, _, err = await run(*args, "--service", typed)
    assert code == 0, err
    app_requests = [e.path for e in emu.request_log if e.path.startswith("/v1/apps/")]
    assert app_requests and all(p.split("/")[4] == SERVICE for p in app_requests)
    assert json.loads(journal.read_text().splitlines()[0])["service"] == SERVICE
    code, out, err = await run(*args, "--service", SERVICE)
    assert code == 0, err
    assert re.search(r"skipped \(journal\)\s+2\n", out)


async def test_an_export_holding_a_filter_type_mpasync_does_not_know_applies_with_a_warning(
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When mParticle adds a filter type, `filters export` reads it; today `filters apply`
    # of that export refuses it before sending anything.
    monkeypatch.setattr(_validate, "_WARNED", set())
    snapshot = tmp_path / "snapshot.json"
    code, _, err = await run(
        "filters", "export", "--service", SERVICE, "--apps", "1,2", "--out", str(snapshot),
        "--progress", "none",
    )  # fmt: skip
    assert code == 0, err
    exported = json.loads(snapshot.read_text())
    for filters in exported.values():  # as a newer API would export it
        filters.append({"name": "Fingerprint", "type": "DeviceFingerprint", "enabled": False})
    snapshot.write_text(json.dumps(exported))
    emu.reset_request_log()
    with caplog.at_level(logging.WARNING, logger="mpasync"):
        code, out, err = await run(
            "filters", "apply", "--service", SERVICE, "--file", str(snapshot), "--progress", "none"
        )
    writes = [e for e in emu.request_log if e.method == "PUT"]
    assert sorted(e.path.split("/")[3] for e in writes) == ["1", "2"]
    for entry in writes:  # the request carries the new type, as exported
        assert {"name": "Fingerprint", "type": "DeviceFingerprint", "enabled": False} in [
            {k: f[k] for k in ("name", "type", "enabled")} for f in entry.body
        ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'DeviceFingerprint' is not a known type" in warnings[0]
    # The API is the authority: this emulator does not know the type either (422).
    assert code == 1 and "Invalid datapoint type specified" in out


async def test_the_revert_bar_knows_its_total_from_the_start(
    emu: Emulator, tmp_path: Path, policy_file: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1,2,3,4,5", "--file",
        str(policy_file), "--journal", str(journal),
    )  # fmt: skip
    assert code == 0, err
    code, _, err = await run("filters", "revert", "--journal", str(journal), "--progress", "bar")
    assert code == 0, err
    drawn = [s for s in re.split(r"[\r\n]", err.replace("\x1b[K", "")) if s]
    reverting = [s for s in drawn if s.startswith("reverting")]
    assert reverting and reverting[0].startswith("reverting [") and " 0/5 apps" in reverting[0]
    assert "5/5 apps" in reverting[-1]


async def test_export_of_one_app_says_app(emu: Emulator, tmp_path: Path) -> None:
    out_file = tmp_path / "one.json"
    code, out, err = await run(
        "filters", "export", "--service", SERVICE, "--apps", "3", "--out", str(out_file)
    )
    assert code == 0, err
    assert f"{out_file} (1 app)" in out
