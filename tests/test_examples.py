"""Each example runs as is and exits 0 against its embedded emulator, which is as strict as
`mpasync emulator --rate-limit 40 --fault-rate 0.05` (429s and 5xx included); the web
backend answers mpasync's errors with proper HTTP statuses, never a 500."""

from __future__ import annotations

import os
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

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {
    "bulk_filters.py": "after: 0 apps differ from the policy",
    "worker.py": "(limit 40/s)",
    "migration.py": "rerun with the journal: 11 apps skipped, 0 redone",
    "web_backend.py": "20 concurrent filter lookups -> [200]",
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MPARTICLE_")}


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every example started at once (each has its own emulator and budget, and mostly
    waits on its rate limit), so the module takes as long as the slowest one."""
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


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs(script: str, runs: dict[str, subprocess.Popen[str]]) -> None:
    out, err = runs[script].communicate(timeout=180)
    assert runs[script].returncode == 0, out + err
    assert EXPECTED[script] in out
    assert "Traceback" not in err
    assert "failed:" not in out  # no app failed on the way


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
