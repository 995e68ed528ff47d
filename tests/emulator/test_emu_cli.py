"""`mpasync emulator` and `mpasync demo` as an operator meets them: bounded sizes, a
progress line while seeding, Ctrl-C heard during seeding, one-line refusals."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import time

import pytest

from mpasync.cli import APPS_LIMIT, DEMO_CONCURRENCY_LIMIT, amain
from mpasync.emulator import Emulator


async def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await amain(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["emulator", "--apps", "100000000"],
            f"--apps: must be at most {APPS_LIMIT:,} (each seeded app takes about 11 KB",
        ),
        (["demo", "--apps", str(APPS_LIMIT + 1)], f"--apps: must be at most {APPS_LIMIT:,}"),
        (
            ["demo", "--concurrency", "100000"],
            f"--concurrency: must be at most {DEMO_CONCURRENCY_LIMIT:,} (more only adds idle",
        ),
        (
            [*"filters apply --service X --apps 1 --file f.json --concurrency".split(), "100000"],
            f"--concurrency: must be at most {DEMO_CONCURRENCY_LIMIT:,} (more only adds idle",
        ),
        (["emulator", "--rate", "5", "--rate-limit", "6"], "--rate-limit: not allowed with"),
        (["emulator", "--rate-limit", "5", "--rate", "6"], "--rate: not allowed with"),
        (["emulator", "--neighbour", "0.4"], "--neighbour is a share of --rate-limit"),
        (["emulator", "--progress", "json"], "--progress: invalid choice: 'json'"),
    ],
)
async def test_refused_with_one_line(argv: list[str], message: str) -> None:
    code, out, err = await run(*argv)
    assert code == 2 and out == ""
    line = one_line(err)
    assert message in line
    assert "neighbour needs a rate_limit" not in line  # the Python option's name


async def test_the_largest_allowed_sizes_parse() -> None:
    """The limits refuse only what is over them (checked without seeding: a bad port)."""
    code, _, err = await run(
        "emulator", "--apps", str(APPS_LIMIT), "--port", "65536", "--rate-limit", "5"
    )
    assert code == 2 and "--port" in err and "--apps" not in err
    code, _, err = await run("demo", "--concurrency", str(DEMO_CONCURRENCY_LIMIT), "--seed", "x")
    assert code == 2 and "--seed" in err and "--concurrency" not in err


# ---------------------------------------------------------------- seeding step by step


def _snapshot(emu: Emulator) -> tuple[object, ...]:
    s = emu.state
    return (
        s.apps,
        s.workspaces,
        s.audiences,
        s.feeds,
        s.subscriptions,
        s.users,
        s.calculated_attributes,
        s.field_transformations,
        s.rng.getstate(),
    )


async def test_seeding_in_start_gives_the_same_state_and_reports_progress() -> None:
    seen: list[int] = []
    lazy = Emulator(apps=600, seed=3, seed_in_start=True, on_seed=seen.append)
    assert lazy.state.apps_of(1) == [] and seen == []  # nothing seeded before start
    async with lazy:
        pass
    assert seen == [0, 256, 512, 600]
    assert _snapshot(lazy) == _snapshot(Emulator(apps=600, seed=3))


async def test_seeding_in_start_can_be_cancelled() -> None:
    """A cancellation (what Ctrl-C becomes under asyncio.run) lands between chunks."""
    first_chunk = asyncio.Event()

    def seeded(done: int) -> None:
        if done:
            first_chunk.set()

    emu = Emulator(apps=APPS_LIMIT, seed_in_start=True, on_seed=seeded)
    task = asyncio.create_task(emu.start())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not emu.running and len(emu.state.apps_of(1)) < APPS_LIMIT


# ---------------------------------------------------------------- Ctrl-C in a real process


def _default_sigint() -> None:  # a shell may start background jobs with SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("command", ["emulator", "demo"])
def test_ctrl_c_while_seeding_stops_at_once(command: str) -> None:
    argv = [command, "--apps", str(APPS_LIMIT), "--progress", "plain"]
    if command == "emulator":
        argv += ["--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpasync.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,  # the test starts no threads
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the progress line: seeding has begun
        assert first.startswith(f"seeding {APPS_LIMIT} apps"), first
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Seeding all of them takes 20 s or more; a busy machine still answers within 5 s.
    assert took < 5, f"took {took:.1f}s to stop"
    assert proc.returncode == 130
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and last.endswith(f"/{APPS_LIMIT} apps done"), err
    assert int(last.split()[1].split("/")[0]) < APPS_LIMIT
    assert "listening" not in out


# ---------------------------------------------------------------- what is printed


async def test_emulator_prints_seeding_progress_then_its_urls() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["emulator", "--port", "0", "--apps", "300", "--progress", "plain"]
    task = asyncio.create_task(amain(argv, out=out, err=err))
    for _ in range(500):
        if "token URL" in out.getvalue():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "listening on http://127.0.0.1:" in out.getvalue()
    lines = err.getvalue().splitlines()
    assert lines[0] == "seeding 300 apps (Ctrl-C stops) ..."
    assert lines[-1].startswith("seeding 300 apps: 300/300 apps (100%)")


async def test_demo_header_fits_80_columns() -> None:
    code, out, _ = await run("demo", "--apps", str(APPS_LIMIT // 10**4), "--progress", "none")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("mpasync demo: 10 apps")
    assert all(len(line) <= 80 for line in lines[:3]), lines[:3]
