"""The Emulator object itself: lifecycle, URLs, request log, serve()/describe(), emu.client()."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
import pytest

from mpasync.emulator import Emulator, LoggedRequest, describe, serve
from tests.emulator.emu_helpers import Api


async def test_urls_and_lifecycle(session: aiohttp.ClientSession) -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    async with emu:
        assert emu.running
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        assert emu.token_url == emu.base_url + "/oauth/token"
        assert emu.url("v1/apps") == emu.base_url + "/v1/apps"
        assert (await Api(emu, session).get("/v1/apps")).status == 200
    assert not emu.running


async def test_request_log_records_requests(api: Api, emu: Emulator) -> None:
    await api.get("/v1/apps/1")
    await api.put("/v1/apps/1", {"name": "Journaled"})
    await api.get("/v1/apps", account=None)
    token_entry, get_entry, put_entry, denied = emu.request_log
    assert isinstance(get_entry, LoggedRequest)
    assert (token_entry.method, token_entry.path, token_entry.status) == (
        "POST",
        "/oauth/token",
        200,
    )
    assert (get_entry.method, get_entry.path, get_entry.query) == (
        "GET",
        "/v1/apps/1",
        {"accountId": "1"},
    )
    assert get_entry.status == 200 and get_entry.body is None and get_entry.applied
    assert put_entry.body == {"name": "Journaled"} and put_entry.status == 202
    assert denied.status == 401 and not denied.applied
    assert token_entry.time <= get_entry.time <= put_entry.time
    with pytest.raises(AttributeError):
        get_entry.status = 500  # type: ignore[misc]
    emu.reset_request_log()
    assert emu.request_log == [] and emu.token_requests == 0


async def test_request_log_limit(session: aiohttp.ClientSession) -> None:
    async with Emulator(request_log_limit=5) as emu:
        api = Api(emu, session)
        for _ in range(20):
            await api.get("/v1/workspace")
        assert len(emu.request_log) <= 10


async def test_the_old_journal_names_still_work(session: aiohttp.ClientSession) -> None:
    """The request log was called a journal; every old name reaches the new one."""
    from mpasync.emulator import JournalEntry
    from mpasync.emulator.journal import JournalEntry as OldHome

    assert JournalEntry is LoggedRequest and OldHome is LoggedRequest
    async with Emulator(journal_limit=5) as emu:
        api = Api(emu, session)
        for _ in range(20):
            await api.get("/v1/workspace")
        assert emu.journal is emu.request_log and 5 <= len(emu.journal) <= 10
        with pytest.raises(AttributeError):
            emu.journal = []  # type: ignore[misc]  # read-only
        emu.reset_journal()
        assert emu.request_log == [] and emu.token_requests == 0
    assert Emulator(journal_limit=None, request_log_limit=None)._runtime.request_log_limit is None
    assert Emulator(journal_limit=7, request_log_limit=7)._runtime.request_log_limit == 7
    with pytest.raises(ValueError, match="journal_limit is its old name"):
        Emulator(journal_limit=5, request_log_limit=6)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    started: asyncio.Future[Emulator] = asyncio.get_running_loop().create_future()
    port = _free_port()
    task = asyncio.create_task(
        serve(
            port=port,
            apps=3,
            token_ttl=60,
            rate=None,
            fault_rate=0.0,
            seed=1,
            ready=started.set_result,
        )
    )
    emu = await asyncio.wait_for(started, 5)
    assert emu.port == port
    text = describe(emu)
    assert f"http://127.0.0.1:{port}" in text and "/oauth/token" in text
    assert "emulator-client" in text and "emulator-secret" in text and "account id:    1" in text
    assert "export MPARTICLE_CLIENT_ID=emulator-client" in text
    reply = await Api(emu, session).get("/v1/apps")
    assert len(reply.body["data"]) == 3
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not emu.running


async def test_serve_fault_rate_split() -> None:
    started: asyncio.Future[Emulator] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            port=0, apps=0, token_ttl=60, rate=2.0, fault_rate=0.3, seed=5, ready=started.set_result
        )
    )
    emu = await asyncio.wait_for(started, 5)
    assert emu.faults.error_rate == pytest.approx(0.15)  # type: ignore[union-attr]
    assert emu.faults.rate_limited_rate == pytest.approx(0.15)  # type: ignore[union-attr]
    assert emu.rate_limit == 2.0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_emu_client_is_wired() -> None:
    pytest.importorskip("mpasync.client", reason="the client core is not written yet")
    async with Emulator(apps=2) as emu, emu.client() as mp:
        apps = await mp.apps.list()
        assert len(apps) == 2
    assert emu.token_requests == 1
