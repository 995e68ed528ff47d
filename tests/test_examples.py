"""Each example runs as is and exits 0 against its embedded emulator, which is as strict as
`mpasync emulator --rate-limit 40 --fault-rate 0.05` (429s and 5xx included); the web
backend answers mpasync's errors with proper HTTP statuses, never a 500; the README's
fleet app runs under gunicorn with the README's command."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from mpasync import RetryPolicy
from mpasync.emulator import Emulator, Faults
from tests.redis.server import RedisServer, free_port, redis_server_binary

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {
    "bulk_filters.py": "after: 0 apps differ from the policy",
    "worker.py": "(limit 40/s)",
    "migration.py": "rerun with the journal: 11 apps skipped, 0 redone",
    "web_backend.py": "20 concurrent filter lookups -> [200]",
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MPARTICLE_")}


@pytest.fixture(scope="module", autouse=True)
def runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every example started at once, as the module starts (each has its own emulator and
    budget, and mostly waits on its rate limit), so the module's other tests run while
    they do and the module takes about as long as the slowest example."""
    procs = {
        script: subprocess.Popen(
            [sys.executable, str(EXAMPLES / script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=EXAMPLES,
        )
        for script in EXPECTED
    }
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_the_examples_emulator_is_rate_limited_and_faulty() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _connect
    finally:
        sys.path.remove(str(EXAMPLES))
    assert _connect.RATE_LIMIT == 40 and _connect.FAULT_RATE == 0.05


# ---------------------------------------------------------------- the web backend's answers


@pytest.fixture
def web_backend(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import web_backend

    # The example as written, with quick retries so that exhausting them takes no time.
    quick = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.05)
    connect = web_backend.connect
    monkeypatch.setattr(web_backend, "connect", lambda **options: connect(**options, retry=quick))
    return web_backend


@pytest.fixture
async def backend(
    web_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Emulator, str, aiohttp.ClientSession]]:
    """The example backend, configured from the environment for an emulator we control."""
    async with Emulator(apps=3) as emu:
        for var, value in (
            ("MPARTICLE_CLIENT_ID", emu.client_id),
            ("MPARTICLE_CLIENT_SECRET", emu.client_secret),
            ("MPARTICLE_ACCOUNT_ID", str(emu.account_id)),
            ("MPARTICLE_BASE_URL", emu.base_url),
            ("MPARTICLE_TOKEN_URL", emu.token_url),
        ):
            monkeypatch.setenv(var, value)
        runner = web.AppRunner(web_backend.make_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as http:
                yield emu, f"http://127.0.0.1:{port}", http
        finally:
            await runner.cleanup()


SERVICE = "GoogleAnalyticsEventForwarder"


async def test_web_backend_maps_errors_to_http_answers(
    backend: tuple[Emulator, str, aiohttp.ClientSession],
) -> None:
    emu, base, http = backend
    filters = f"{base}/apps/1/filters/{SERVICE}"
    async with http.get(filters) as resp:
        assert resp.status == 200
    async with http.get(f"{base}/apps/99/filters/{SERVICE}") as resp:
        assert resp.status == 404
    async with http.get(f"{base}/apps/x/filters/{SERVICE}") as resp:
        assert resp.status == 400
    async with http.post(f"{filters}/disable", json={"name": "Checkout", "type": "Event"}) as r:
        assert r.status == 400 and "event_type" in await r.text()  # RequestValidationError
    async with http.post(f"{filters}/disable", data="not json") as resp:
        assert resp.status == 400

    emu.faults = Faults(error_rate=1.0, error_statuses=(500,), seed=1)
    async with http.get(filters) as resp:
        assert resp.status == 502 and "ServerError" in await resp.text()
    emu.faults = Faults(drop_rate=1.0, seed=1)  # connections closed without an answer
    async with http.get(filters) as resp:
        assert resp.status == 504
    emu.faults = Faults(rate_limited_rate=1.0, retry_after=2, seed=1)  # 429 on every attempt
    async with http.get(filters) as resp:
        assert resp.status == 503 and resp.headers["Retry-After"] == "2"


# ---------------------------------------------------------------- the README's fleet app

README = EXAMPLES.parent / "README.md"


def fleet_snippet() -> tuple[str, list[str]]:
    """The README's fleet app and the gunicorn command its first line gives."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- fleet-snippet:start -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no fleet-snippet block"
    code = match.group(1)
    command = re.match(r"# app\.py: (gunicorn .*)", code)
    assert command, code.splitlines()[0]
    return code, shlex.split(command.group(1))


async def test_readme_fleet_app_runs_under_gunicorn_as_written(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    binary = redis_server_binary()
    if binary is None:
        pytest.fail("no redis-server binary (the dev extras ship one)")
    code, argv = fleet_snippet()
    (tmp_path / "app.py").write_text(code, encoding="utf-8")
    assert argv[0] == "gunicorn" and "--workers" in argv
    argv = [sys.executable, "-m", *argv]
    argv[argv.index("--workers") + 1] = "2"
    port = free_port()
    argv += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
    redis = RedisServer(binary).start()
    try:
        async with Emulator(apps=3) as emu:
            env = {
                **_env(),
                "MPARTICLE_CLIENT_ID": emu.client_id,
                "MPARTICLE_CLIENT_SECRET": emu.client_secret,
                "MPARTICLE_ACCOUNT_ID": str(emu.account_id),
                "MPARTICLE_BASE_URL": emu.base_url,
                "MPARTICLE_TOKEN_URL": emu.token_url,
                "MPASYNC_REDIS_URL": redis.url,
            }
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                names = await _get_apps(f"http://127.0.0.1:{port}/apps", proc)
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                try:
                    output = await asyncio.wait_for(proc.communicate(), 30)
                except asyncio.TimeoutError:
                    proc.kill()
                    output = await proc.communicate()
                log = output[0].decode(errors="replace")
            assert names == [a.name for a in emu.state.apps_of(emu.account_id)], log
            assert emu.token_requests == 1, log
    finally:
        redis.stop()
    assert "Traceback" not in log, log
    assert proc.returncode == 0, log


async def _get_apps(url: str, proc: asyncio.subprocess.Process) -> list[str] | None:
    """GET the app's /apps once gunicorn listens (within 60 s on a busy machine); None if
    gunicorn exits first."""
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.returncode is not None:
                return None
            try:
                async with http.get(url) as resp:
                    assert resp.status == 200, await resp.text()
                    names: list[str] = await resp.json()
                    return names
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    return None


# ---------------------------------------------------------------- the examples' runs


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, runs: dict[str, subprocess.Popen[str]]) -> None:
    out, err = runs[script].communicate(timeout=180)
    assert runs[script].returncode == 0, out + err
    assert EXPECTED[script] in out
    assert "Traceback" not in err
    assert "failed:" not in out  # no app failed on the way
