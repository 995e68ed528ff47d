"""Warnings that change what a run means print without -v, one clean line each on stderr
(Redis unreachable, journal lines skipped); retries stay behind -v (the summary counts
them); -q silences warnings. In-process against the emulator."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mpasync.cli import amain
from mpasync.emulator import Emulator, Faults
from tests.cli_env import use_emulator

SERVICE = "GoogleAnalyticsEventForwarder"
FILTERS = [{"name": "Email", "type": "UserIdentity", "enabled": False}]


@pytest_asyncio.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(apps=4) as emulator:
        use_emulator(emulator, monkeypatch)
        yield emulator


@pytest.fixture
def filters_file(tmp_path: Path) -> Path:
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(FILTERS))
    return path


async def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await amain([*argv, "--progress", "none"], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def apply(file: Path, *extra: str) -> list[str]:
    return [
        "filters",
        "apply",
        "--service",
        SERVICE,
        "--apps",
        "1,2,3",
        "--file",
        str(file),
        *extra,
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_unreachable_is_one_warning_line_by_default(
    emu: Emulator, filters_file: Path
) -> None:
    pytest.importorskip("redis")
    url = f"redis://127.0.0.1:{closed_port()}/0"
    code, _, err = await run(*apply(filters_file, "--redis", url, "--rate", "200"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("mpasync: warning: ")]
    assert warnings and all(
        line.startswith("mpasync: warning: Redis unreachable") for line in warnings
    )
    assert any("pacing this process alone" in line for line in warnings), err
    assert len(warnings) == len(set(warnings))  # each said once, not per request
    code, _, err = await run("-q", *apply(filters_file, "--redis", url, "--rate", "200"))
    assert code == 0 and "warning" not in err


async def test_skipped_journal_lines_are_a_warning_by_default(
    emu: Emulator, filters_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    code, _, err = await run(*apply(filters_file, "--journal", str(journal)))
    assert code == 0 and "warning" not in err
    with journal.open("ab") as f:
        f.write(b"\xff this line is not JSON\n")
    code, out, err = await run(*apply(filters_file, "--journal", str(journal)))
    assert code == 0, err
    assert re.search(r"skipped \(journal\)\s+3", out)
    assert err == (
        f"mpasync: warning: journal {journal}: 1 unreadable line(s) skipped "
        "(torn by a crash, or not UTF-8/JSON)\n"
    )


async def test_retries_stay_behind_verbose(
    monkeypatch: pytest.MonkeyPatch, filters_file: Path
) -> None:
    faults = {"PUT *": Faults(error_rate=1.0, error_statuses=(503,))}
    async with Emulator(apps=4, faults=faults) as emulator:
        use_emulator(emulator, monkeypatch)
        code, out, err = await run(*apply(filters_file))
        assert code == 1  # every PUT keeps failing
        retries = re.search(r"retries\s+(\d+)", out)
        assert retries and int(retries.group(1)) > 0, out
        assert "retry" not in err and "warning" not in err
        code, _, err = await run("-v", *apply(filters_file))
    assert code == 1 and "HTTP 503; retry 1/" in err
