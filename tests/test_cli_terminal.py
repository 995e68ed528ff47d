"""The ``mpasync`` command in a real process: in a pseudo-terminal (60 and 80 columns), in
a pipe (CI), and interrupted with Ctrl-C (SIGINT), against an emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mpasync.emulator import Emulator, Faults
from tests.cli_env import credentials

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

SERVICE = "GoogleAnalyticsEventForwarder"
FILTERS = [{"name": "Email", "type": "UserIdentity", "enabled": False}]
CLI = [sys.executable, "-m", "mpasync.cli"]


def cli_env(emu: Emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPARTICLE_", "COLUMNS"))}
    env.update(credentials(emu), **extra)
    return env


def default_sigint() -> None:
    """In the child: Ctrl-C as a terminal delivers it. A shell that runs this suite in the
    background (a CI runner, nohup) ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def filters_file(tmp_path: Path) -> Path:
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(FILTERS))
    return path


async def run_in_terminal(
    argv: list[str], env: dict[str, str], columns: int
) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal ``columns`` wide; (status, stdout,
    everything the terminal received)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    received = bytearray()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            chunk = b""
        if chunk:
            received.extend(chunk)
        else:
            loop.remove_reader(master)

    loop.add_reader(master, readable)
    try:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
        for _ in range(100):  # let the reader drain what is left
            await asyncio.sleep(0.01)
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            received.extend(chunk)
    finally:
        loop.remove_reader(master)
        os.close(master)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), received.decode()


def visible_segments(raw: str) -> list[str]:
    """Each stretch of text the terminal draws between cursor returns."""
    return [s.replace("\x1b[K", "") for s in re.split(r"[\r\n]", raw) if s]


def screen_lines(raw: str) -> list[str]:
    """What stays on screen: per line, the text after its last carriage return."""
    lines = raw.replace("\r\n", "\n").split("\n")
    return [line.split("\r")[-1].replace("\x1b[K", "") for line in lines]


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(apps=12, faults=Faults(latency=(0.01, 0.02), seed=3)) as emulator:
        yield emulator


@pytest.mark.parametrize("columns", [60, 80])
async def test_bar_fits_the_terminal(emu: Emulator, filters_file: Path, columns: int) -> None:
    argv = ["filters", "apply", "--service", SERVICE, "--all-apps", "--file", str(filters_file)]
    code, out, term = await run_in_terminal(argv, cli_env(emu), columns)
    assert code == 0, term
    segments = visible_segments(term)
    # At most columns - 2: a "^C" echoed after the bar must not wrap it.
    assert segments and all(len(s) <= columns - 2 for s in segments), segments
    lines = screen_lines(term)
    final = [line for line in lines if line.startswith("applying filters [")]
    assert final and "12/12 apps" in final[-1], lines
    assert "checking service" in term and "listing apps: 12 apps, 0 failed" in term
    assert re.search(r"succeeded\s+12\n", out)


async def test_bar_width_follows_COLUMNS_when_the_terminal_size_is_unknown(
    emu: Emulator, filters_file: Path
) -> None:
    from mpasync.progress import terminal_columns

    class NotATerminal:
        def fileno(self) -> int:
            raise OSError("no fd")

    os.environ["COLUMNS"] = "60"
    try:
        assert terminal_columns(NotATerminal()) == 60  # type: ignore[arg-type]
    finally:
        del os.environ["COLUMNS"]
    assert terminal_columns(NotATerminal()) == 80  # type: ignore[arg-type]


async def test_log_lines_print_above_the_bar(filters_file: Path) -> None:
    faults = Faults(error_rate=0.3, error_statuses=(503,), seed=5, latency=(0.01, 0.02))
    async with Emulator(apps=10, faults={"PUT *": faults}) as emulator:
        argv = [
            "-v",
            "filters",
            "apply",
            "--service",
            SERVICE,
            "--apps",
            ",".join(str(i) for i in range(1, 11)),
            "--file",
            str(filters_file),
            "--concurrency",
            "2",
        ]
        _, _, term = await run_in_terminal(argv, cli_env(emulator), 80)
    lines = screen_lines(term)
    warnings = [line for line in lines if "WARNING" in line]
    assert warnings, term
    assert all(line.startswith("WARNING ") for line in warnings), warnings
    assert all(len(s) <= 79 for s in visible_segments(term) if not s.startswith("WARNING"))


async def test_not_a_terminal_gets_plain_lines(emu: Emulator, filters_file: Path) -> None:
    argv = ["filters", "apply", "--service", SERVICE, "--apps", "1,2,3", "--file"]
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *argv,
        str(filters_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(emu),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    text = err.decode()
    assert proc.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text
    assert re.search(r"^applying filters: 3/3 apps \(100%\), 0 failed", text, re.M), text


async def test_ctrl_c_prints_how_far_the_run_got_and_resumes(
    filters_file: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.jsonl"
    report = tmp_path / "report.json"
    slow = Faults(latency=(0.15, 0.2), seed=1)
    async with Emulator(apps=30, faults={"PUT *": slow}) as emulator:
        argv = [
            "filters",
            "apply",
            "--service",
            SERVICE,
            "--all-apps",
            "--file",
            str(filters_file),
            "--journal",
            str(journal),
            "--concurrency",
            "2",
            "--progress",
            "plain",
        ]
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *argv,
            "--report",
            str(report),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(emulator),
            preexec_fn=default_sigint,
        )
        for _ in range(3000):
            if sum(1 for e in emulator.request_log if e.method == "PUT") >= 4:
                break
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        text = err.decode()
        assert proc.returncode == 130, text
        assert "Traceback" not in text
        last = text.splitlines()[-1]
        match = re.fullmatch(
            rf"interrupted: (\d+)/30 apps done; rerun with --journal {re.escape(str(journal))}"
            " to resume",
            last,
        )
        assert match, text
        done = int(match.group(1))
        assert 0 < done < 30
        # The report says what happened to every app, the interrupted ones included.
        body = json.loads(report.read_text())
        assert body["interrupted"] is True and len(body["apps"]) == 30
        outcomes = [entry["outcome"] for entry in body["apps"].values()]
        assert outcomes.count("not done") == 30 - outcomes.count("written") > 0
        # The rerun skips what was done and still ends at 30/30.
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(emulator),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert re.search(r"^applying filters: 30/30 apps \(100%\)", err.decode(), re.M)
    skipped = re.search(r"skipped \(journal\)\s+(\d+)", out.decode())
    assert skipped and int(skipped.group(1)) >= done - 2  # in-flight items may not be recorded


async def test_ctrl_c_in_a_terminal_ends_the_bar_line_first(
    filters_file: Path, tmp_path: Path
) -> None:
    slow = Faults(latency=(0.15, 0.2), seed=1)
    async with Emulator(apps=30, faults={"PUT *": slow}) as emulator:
        argv = ["filters", "apply", "--service", SERVICE, "--all-apps", "--file"]
        argv += [str(filters_file), "--concurrency", "2"]
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=slave,
            env=cli_env(emulator),
            preexec_fn=default_sigint,
        )
        os.close(slave)
        os.set_blocking(master, False)
        received = bytearray()
        for _ in range(3000):
            try:
                received.extend(os.read(master, 65536))
            except BlockingIOError:
                pass
            if sum(1 for e in emulator.request_log if e.method == "PUT") >= 4:
                break
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 60)
        for _ in range(50):
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            except OSError:
                break
            if not chunk:
                break
            received.extend(chunk)
        os.close(master)
    term = received.decode()
    assert proc.returncode == 130, term
    lines = [line for line in screen_lines(term) if line]
    assert lines[-1].startswith("interrupted: ") and "/30 apps done" in lines[-1], lines
    assert "without --journal a rerun starts over" in lines[-1]
    assert lines[-2].startswith("applying filters ["), lines  # the bar's line, left intact


async def test_sigterm_ends_the_run_like_ctrl_c_with_exit_143(
    filters_file: Path, tmp_path: Path
) -> None:
    """`timeout`, `kill` and CI runners send SIGTERM: the same line, the report, 143."""
    journal = tmp_path / "run.jsonl"
    report = tmp_path / "report.json"
    slow = Faults(latency=(0.15, 0.2), seed=1)
    async with Emulator(apps=30, faults={"PUT *": slow}) as emulator:
        argv = ["filters", "apply", "--service", SERVICE, "--all-apps", "--file"]
        argv += [str(filters_file), "--concurrency", "2", "--progress", "plain"]
        argv += ["--journal", str(journal), "--report", str(report)]
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(emulator),
        )
        for _ in range(3000):
            if sum(1 for e in emulator.request_log if e.method == "PUT") >= 4:
                break
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    text = err.decode()
    assert proc.returncode == 143, text
    assert "Traceback" not in text
    assert re.fullmatch(
        rf"interrupted: \d+/30 apps done; rerun with --journal {re.escape(str(journal))}"
        " to resume",
        text.splitlines()[-1],
    ), text
    body = json.loads(report.read_text())
    assert body["interrupted"] is True and len(body["apps"]) == 30
    assert "not done" in [entry["outcome"] for entry in body["apps"].values()]
