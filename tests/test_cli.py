"""The command line, run in-process against the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mpasync.cli import amain, parse_app_ids
from mpasync.emulator import Emulator
from tests.cli_env import use_emulator

SERVICE = "GoogleAnalyticsEventForwarder"
FILTERS = [
    {"name": "Search", "type": "Event", "event_type": "search", "enabled": False},
    {"name": "Email", "type": "UserIdentity", "enabled": False},
]


@pytest_asyncio.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(apps=8) as emulator:
        use_emulator(emulator, monkeypatch)
        yield emulator


@pytest.fixture
def filters_file(tmp_path: Path) -> Path:
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(FILTERS))
    return path


async def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await amain(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def disabled(emu: Emulator, app_id: int, name: str) -> bool:
    return any(f.name == name and not f.enabled for f in emu.state.filters(app_id, SERVICE))


async def test_apply_to_listed_apps(emu: Emulator, filters_file: Path) -> None:
    code, out, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1,2,3", "--file", str(filters_file)
    )
    assert code == 0, err
    assert re.search(r"succeeded\s+3\n", out) and re.search(r"failed\s+0\n", out)
    assert "3/3 apps" in err  # the progress bar
    assert all(disabled(emu, a, "Search") for a in (1, 2, 3))
    assert not disabled(emu, 4, "Search")


async def test_apply_to_all_apps_with_sync_and_journal(
    emu: Emulator, filters_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    code, out, _ = await run(
        "filters",
        "apply",
        "--service",
        SERVICE,
        "--all-apps",
        "--file",
        str(filters_file),
        "--sync",
        "--journal",
        str(journal),
        "--concurrency",
        "4",
        "--rate",
        "500",
    )
    assert code == 0
    assert "changed" in out and "app 1:" in out
    assert all(disabled(emu, a, "Email") for a in range(1, 9))
    assert len(journal.read_text().splitlines()) == 1 + 8  # the header, a record per app
    # A rerun with the journal skips every app.
    code, out, _ = await run(
        "filters",
        "apply",
        "--service",
        SERVICE,
        "--all-apps",
        "--file",
        str(filters_file),
        "--sync",
        "--journal",
        str(journal),
    )
    assert code == 0 and "skipped (journal)  8" in out


async def test_dry_run_writes_nothing(emu: Emulator, filters_file: Path) -> None:
    code, out, _ = await run(
        "filters",
        "apply",
        "--service",
        SERVICE,
        "--apps",
        "1,2",
        "--file",
        str(filters_file),
        "--dry-run",
    )
    assert code == 0
    assert "would change" in out and "app 1: 2 disabled" in out
    assert not any(e.method == "PUT" for e in emu.request_log)


async def test_failed_apps_exit_nonzero_and_are_listed(emu: Emulator, filters_file: Path) -> None:
    code, out, _ = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1,9001", "--file", str(filters_file)
    )
    assert code == 1
    assert "failed apps:" in out and "9001: NotFoundError" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read filters file"),
        ("{not json", "is not valid JSON"),
        ("[]", "non-empty JSON list"),
        (json.dumps([FILTERS[0], {"name": "Checkout", "type": "Event"}]), "entry 1"),
        (json.dumps([{"name": "Fax", "type": "Identity"}]), "entry 0"),
    ],
)
async def test_bad_filters_file_gets_one_line(
    emu: Emulator, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "f.json"
    if content is not None:
        path.write_text(content)
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1", "--file", str(path)
    )
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(e.path.startswith("/v1") for e in emu.request_log)


async def test_unknown_service(emu: Emulator, filters_file: Path) -> None:
    code, _, err = await run(
        "filters", "apply", "--service", "NoSuchService", "--apps", "1", "--file", str(filters_file)
    )
    assert code == 2 and "unknown service 'NoSuchService'" in err
    assert not any(e.method == "PUT" for e in emu.request_log)


async def test_bad_app_id_list(emu: Emulator, filters_file: Path) -> None:
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1,abc", "--file", str(filters_file)
    )
    assert code == 2 and "'abc' is not an app id" in err


async def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, filters_file: Path) -> None:
    for var in ("MPARTICLE_CLIENT_ID", "MPARTICLE_CLIENT_SECRET", "MPARTICLE_ACCOUNT_ID"):
        monkeypatch.delenv(var, raising=False)
    code, _, err = await run(
        "filters", "apply", "--service", SERVICE, "--apps", "1", "--file", str(filters_file)
    )
    assert code == 2
    assert err.count("\n") == 1
    assert "MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET, MPARTICLE_ACCOUNT_ID" in err


def test_parse_app_ids() -> None:
    assert parse_app_ids("1, 2,3,2") == [1, 2, 3]
    with pytest.raises(Exception, match="not an app id"):
        parse_app_ids("0")


async def test_emulator_command_prints_urls_and_serves() -> None:
    out = io.StringIO()
    task = asyncio.create_task(
        amain(
            ["emulator", "--port", "0", "--apps", "3", "--fault-rate", "0.1", "--seed", "1"],
            out=out,
            err=io.StringIO(),
        )
    )
    for _ in range(200):
        if "token URL" in out.getvalue():
            break
        await asyncio.sleep(0.01)
    text = out.getvalue()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "listening on http://127.0.0.1:" in text
    assert "/oauth/token" in text and "client secret" in text


async def test_demo_runs_and_verifies() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await amain(["demo", "--apps", "25", "--progress", "plain"], out=out, err=err)
    text = out.getvalue()
    assert code == 0, text
    assert "every app holds exactly the policy" in text
    assert "nothing left to change" in text
    assert "25 (25 succeeded, 0 failed)" in text
    # Each figure under its own label: requests/s is requests, attempts/s is attempts.
    requests = int(re.search(r"^  requests\s+(\d+) ", text, re.M).group(1))  # type: ignore[union-attr]
    attempts = int(re.search(r"^  attempts\s+(\d+) ", text, re.M).group(1))  # type: ignore[union-attr]
    elapsed = float(re.search(r"^  elapsed\s+([\d.]+)s", text, re.M).group(1))  # type: ignore[union-attr]
    rates = re.search(r"^  throughput\s+(\d+) requests/s, (\d+) attempts/s", text, re.M)
    assert rates and attempts >= requests
    assert abs(int(rates.group(1)) - requests / elapsed) <= max(2, 0.1 * requests / elapsed)
    # Every phase reports progress (no silent stretch after the first 100%).
    progress = err.getvalue()
    for phase in ("applying policy", "second pass (read back)", "checking the emulator's state"):
        assert re.search(rf"^{re.escape(phase)}: 25/25 apps \(100%\)", progress, re.M), progress
    assert "seeding 25 apps" in progress


async def test_demo_json_progress() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await amain(["demo", "--apps", "5", "--progress", "json"], out=out, err=err)
    assert code == 0, err.getvalue()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    ends = [e["phase"] for e in events if e["event"] == "progress" and e["phase_done"]]
    assert ends == [
        "seeding 5 apps",
        "applying policy",
        "second pass (read back)",
        "checking the emulator's state",
    ]
    assert events[-1]["event"] == "summary" and events[-1]["ok"] is True


async def test_verbose_logs_retries_to_stderr(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path
) -> None:
    from mpasync.emulator import Faults

    faults = Faults(error_rate=1.0, seed=1, error_statuses=(503,))
    async with Emulator(apps=2, faults=faults) as emulator:
        for var, value in (
            ("MPARTICLE_CLIENT_ID", emulator.client_id),
            ("MPARTICLE_CLIENT_SECRET", emulator.client_secret),
            ("MPARTICLE_ACCOUNT_ID", str(emulator.account_id)),
            ("MPARTICLE_BASE_URL", emulator.base_url),
            ("MPARTICLE_TOKEN_URL", emulator.token_url),
        ):
            monkeypatch.setenv(var, value)
        import logging

        logger = logging.getLogger("mpasync")
        handlers, level = list(logger.handlers), logger.level
        try:
            code, _, err = await run(
                "-v",
                "filters",
                "apply",
                "--service",
                SERVICE,
                "--apps",
                "1",
                "--file",
                str(filters_file),
            )
        finally:
            logger.handlers, logger.level = handlers, level
    assert code == 1  # the service lookup keeps failing with 503
    assert "WARNING GET /v1/services/" in err and "HTTP 503; retry 1/3" in err


def test_interrupt_message_names_the_journal_and_emits_a_json_event() -> None:
    from mpasync.cli.interrupt import RunState
    from mpasync.progress import Progress

    out, err = io.StringIO(), io.StringIO()
    progress = Progress("json", stream=err, json_stream=out)
    progress.start("applying filters", 300, unit="apps")
    progress.update(40, 1, skipped=6)
    run = RunState(progress=progress, journal="run.jsonl")
    assert run.interrupted(err) == 130
    assert err.getvalue() == (
        "interrupted: 46/300 apps done; rerun with --journal run.jsonl to resume\n"
    )
    event = json.loads(out.getvalue().splitlines()[-1])
    assert event == {"event": "interrupted", "done": 46, "total": 300, "journal": "run.jsonl"}
