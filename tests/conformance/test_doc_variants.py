"""Where the reference documents one call two ways, the emulator serves both and logs
which one was used (`LoggedRequest.doc_variant`); these tests pin the client to the newer one,
and check its fallback against a server that only knows the older one.

Servers: the Emulator itself (a newer server), and the Emulator behind a small aiohttp proxy
that answers 405 to ``POST /v1/apps/{id}/platforms`` (an older server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from mpasync.emulator import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(apps=3) as emulator:
        yield emulator


def _variants(emu: Emulator) -> list[str]:
    return [e.doc_variant for e in emu.request_log if e.doc_variant is not None]


async def test_the_client_creates_platforms_on_the_newer_path(emu: Emulator) -> None:
    async with emu.client() as mp:
        platform = await mp.platforms.create(1, "tvos", profile_merging=True)
    assert platform.os == "tvOS"
    assert _variants(emu) == ["platform_create:newer"]
    (entry,) = [e for e in emu.request_log if e.method == "POST" and e.path.startswith("/v1/")]
    assert (entry.path, entry.status) == ("/v1/apps/1/platforms", 201)


async def test_the_client_sets_service_filtering_on_the_heading_path(emu: Emulator) -> None:
    async with emu.client() as mp:
        await mp.datapoint_filters.set_service_filtering(
            1, "GoogleAnalyticsEventForwarder", send_new_datapoints_by_default=False
        )
        filtering = await mp.datapoint_filters.get_service_filtering(
            1, "GoogleAnalyticsEventForwarder"
        )
    assert filtering.send_new_datapoints_by_default is False
    assert _variants(emu) == ["service_filtering:heading"]


async def test_the_emulator_serves_and_logs_the_older_forms(emu: Emulator) -> None:
    token = emu.issue_token()
    headers = {"Authorization": f"Bearer {token}"}
    query = f"?accountId={emu.account_id}"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(emu.url(f"/v1/apps/1{query}"), json={"os": "iOS"}) as r:
            assert r.status == 201
        url = emu.url(f"/v1/apps/1/GoogleAnalyticsEventForwarder/datapoints{query}")
        async with session.put(url, json={"sendNewDataPointsByDefault": False}) as r:
            assert r.status == 202
    assert _variants(emu) == ["platform_create:older", "service_filtering:curl"]


@pytest.fixture
async def older_server(emu: Emulator) -> AsyncIterator[str]:
    """The emulator behind a proxy that does not know ``POST /v1/apps/{id}/platforms``."""
    refused: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/platforms"):
            refused.append(request.path)
            return web.json_response({"errors": [{"message": "Method not allowed"}]}, status=405)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with session.request(
            request.method,
            emu.url(request.path_qs),
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            return web.Response(
                body=body, status=upstream.status, content_type=upstream.content_type
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()
    assert len(refused) == 1, refused  # the client asked the newer path exactly once


async def test_an_older_server_gets_the_older_path_once_learned(
    emu: Emulator, older_server: str
) -> None:
    async with emu.client(base_url=older_server, token_url=older_server + "/oauth/token") as mp:
        first = await mp.platforms.create(1, "roku")
        second = await mp.platforms.create(2, "roku")
    assert (first.os, second.os) == ("Roku", "Roku")
    assert _variants(emu) == ["platform_create:older", "platform_create:older"]
