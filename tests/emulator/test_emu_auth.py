"""Token endpoint and bearer/accountId checks of the emulator."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from mpasync.emulator import Emulator
from tests.emulator.emu_helpers import Api, error_messages


async def test_token_flow_returns_bearer_token(api: Api, emu: Emulator) -> None:
    response = await api.fetch_token()
    assert response.status == 200
    async with api.session.post(
        emu.token_url,
        json={
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "audience": "https://api.mparticle.com",
            "grant_type": "client_credentials",
        },
    ) as r:
        body = await r.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 28800
    assert emu.token_requests == 2
    reply = await api.get("/v1/apps", token=body["access_token"])
    assert reply.status == 200


async def test_bad_credentials_and_grant_type(api: Api) -> None:
    assert (await api.fetch_token(client_secret="nope")).status == 401
    assert (await api.fetch_token(client_id="someone-else")).status == 401
    assert (await api.fetch_token(grant_type="password")).status == 400
    assert (await api.fetch_token(audience="https://elsewhere.example")).status == 403


async def test_token_error_body_and_secret_masked_in_request_log(api: Api, emu: Emulator) -> None:
    async with api.session.post(
        emu.token_url,
        json={"client_id": emu.client_id, "client_secret": "wrong", "grant_type": "x"},
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "unsupported_grant_type"
    entry = emu.request_log[-1]
    assert entry.path == "/oauth/token" and entry.status == 400
    assert entry.body["client_secret"] == "***"


async def test_form_encoded_token_request(api: Api, emu: Emulator) -> None:
    form = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "audience": "https://api.mparticle.com",
        "grant_type": "client_credentials",
    }
    async with api.session.post(emu.token_url, data=form) as r:
        assert r.status == 200


async def test_tokens_expire_after_ttl(session: aiohttp.ClientSession) -> None:
    async with Emulator(token_ttl=0.5) as emu:
        api = Api(emu, session)
        token = await api.token()
        assert (await api.get("/v1/apps", token=token)).status == 200
        await asyncio.sleep(0.6)
        reply = await api.get("/v1/apps", token=token)
        assert reply.status == 401
        assert reply.body["errors"][0]["code"] == "UNAUTHORIZED"
        # v2 answers 401 too, with the v2 error body
        reply = await api.get("/platform/v2/workspaces/4302/calculatedattributes", token=token)
        assert reply.status == 401 and "data" not in reply.body


async def test_unknown_or_missing_token_is_401(api: Api, emu: Emulator) -> None:
    await api.token()
    assert (await api.get("/v1/apps", token="forged")).status == 401
    async with api.session.get(emu.url("/v1/apps?accountId=1")) as r:
        assert r.status == 401
    emu.expire_tokens()
    assert (await api.get("/v1/apps")).status == 401


async def test_issue_token_helper_skips_http(api: Api, emu: Emulator) -> None:
    token = emu.issue_token()
    assert (await api.get("/v1/apps", token=token)).status == 200
    assert emu.token_requests == 0


async def test_missing_account_id_is_401(api: Api) -> None:
    reply = await api.get("/v1/apps", account=None)
    assert reply.status == 401
    assert error_messages(reply) == ["The accountId query parameter is required."]
    # an account the credential cannot use is refused the same way
    assert (await api.get("/v1/apps", account=777)).status == 401
    # v2 needs no accountId
    assert (await api.get("/platform/v2/workspaces/4302/calculatedattributes")).status == 200


async def test_token_latency(session: aiohttp.ClientSession) -> None:
    async with Emulator(token_latency=0.2) as emu:
        started = time.monotonic()
        await Api(emu, session).token()
        assert time.monotonic() - started >= 0.2
