"""The emulator's DSR routes, driven with raw aiohttp (not the client): each version refuses
another version's ``api_version`` and body shapes, as the docs say, and discovery never
builds its certificate URL from the request's Host header (issue 12, "Emulator fidelity")."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from mpasync.emulator import Emulator

V3_IDENTITIES = {"email": {"value": "a@b.c", "encoding": "raw"}}
LIST_IDENTITIES = [{"identity_type": "email", "identity_value": "a@b.c", "identity_format": "raw"}]
RESOURCE = {1: "opengdpr_requests", 2: "requests", 3: "requests"}


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator


def _auth(emu: Emulator) -> dict[str, str]:
    apis = emu.other_apis
    token = base64.b64encode(f"{apis.workspace_key}:{apis.workspace_secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _body(version: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "regulation": "gdpr",
        "subject_request_id": str(uuid.uuid4()),
        "subject_request_type": "erasure",
        "submitted_time": "2021-11-01T15:00:00Z",
        "subject_identities": V3_IDENTITIES if version == 3 else LIST_IDENTITIES,
        "api_version": f"{version}.0",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def _submit(emu: Emulator, version: int, body: Any) -> tuple[int, Any]:
    url = f"{emu.base_url}/dsr/v{version}/{RESOURCE[version]}/"
    async with aiohttp.ClientSession(headers=_auth(emu)) as session:
        async with session.post(url, json=body) as resp:
            return resp.status, await resp.json()


@pytest.mark.parametrize(("version", "other"), [(3, "2.0"), (3, "1.0"), (2, "3.0"), (1, "2.0")])
async def test_another_api_version_is_refused(emu: Emulator, version: int, other: str) -> None:
    status, answer = await _submit(emu, version, _body(version, api_version=other))
    assert status == 400
    assert answer["code"] == 400 and "api_version" in answer["message"]
    assert answer["errors"][0]["domain"] == "Validation"
    assert emu.other_apis.dsr_requests == {}


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_own_or_absent_api_version_is_accepted(emu: Emulator, version: int) -> None:
    assert (await _submit(emu, version, _body(version)))[0] == 201
    absent = _body(version, api_version=None, subject_request_type="access")
    assert (await _submit(emu, version, absent))[0] == 201
    versions = {r.version for r in emu.other_apis.dsr_requests.values()}
    assert versions == {version}


async def test_each_version_checks_its_own_shapes(emu: Emulator) -> None:
    # v3's dict of identities is not a v1/v2 list, and the other way round.
    assert (await _submit(emu, 2, _body(2, subject_identities=V3_IDENTITIES)))[0] == 400
    assert (await _submit(emu, 3, _body(3, subject_identities=LIST_IDENTITIES)))[0] == 400
    # v2 requires regulation; v1 has no such field.
    assert (await _submit(emu, 2, _body(2, regulation=None)))[0] == 400
    assert (await _submit(emu, 1, _body(1, regulation=None)))[0] == 201
    # v1/v2 identities need identity_format raw.
    hashed = [{"identity_type": "email", "identity_value": "x", "identity_format": "sha256"}]
    assert (await _submit(emu, 2, _body(2, subject_identities=hashed)))[0] == 400
    # mpids in the extension: integers; v3's "mpid alone" rule does not apply to v2.
    extension = {"opendsr.mparticle.com": {"mpids": [1, 2]}}
    assert (await _submit(emu, 2, _body(2, extensions=extension)))[0] == 201
    bad = {"opendsr.mparticle.com": {"mpids": ["1"]}}
    assert (await _submit(emu, 2, _body(2, extensions=bad)))[0] == 400
    v1_extension = {"opengdpr.mparticle.com": {"mpids": [3]}}
    status, _ = await _submit(emu, 1, _body(1, subject_identities=None, extensions=v1_extension))
    assert status == 201


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_discovery_ignores_a_forged_host_header(emu: Emulator, version: int) -> None:
    url = f"{emu.base_url}/dsr/v{version}/discovery/"
    headers = {**_auth(emu), "Host": "evil.example.com"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200
            found = await resp.json()
    assert found["api_version"] == f"{version}.0"
    assert found["processor_certificate"] == f"{emu.base_url}/dsr/v{version}/certificate.pem"
    assert "evil" not in found["processor_certificate"]
    listed = {i["identity_type"] for i in found["supported_identities"]}
    assert "roku_publisher_id" in listed and len(listed) == 11


async def test_routes_outside_an_emulator_use_the_listening_socket() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from mpasync.emulator.other_apis import add_other_api_routes

    app = web.Application()
    state = add_other_api_routes(app)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        token = base64.b64encode(f"{state.workspace_key}:{state.workspace_secret}".encode())
        headers = {"Authorization": f"Basic {token.decode()}", "Host": "evil.example.com"}
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/dsr/v3/discovery/", headers=headers) as resp:
                found = await resp.json()
    finally:
        await server.close()
    assert found["processor_certificate"] == base + "/dsr/v3/certificate.pem"


async def test_analytics_property_values_must_be_strings(emu: Emulator) -> None:
    # The reference types property values as strings; the emulator answers 422 otherwise.
    url = f"{emu.base_url}/analytics/service/event"
    body = {
        "apiKey": emu.other_apis.analytics_key,
        "eventName": "Registration",
        "eventUniqueId": "user47",
        "properties": {"Gender": "Female", "Age": 23},
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as resp:
            assert resp.status == 422
            answer = await resp.json()
        body["properties"] = {"Gender": "Female", "Age": "23"}
        async with session.post(url, json=body) as resp:
            assert resp.status == 200
    assert "properties.Age" in answer["errors"][0]["message"]
    assert [e["properties"] for e in emu.other_apis.events] == [{"Gender": "Female", "Age": "23"}]
