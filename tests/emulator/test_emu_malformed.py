"""Malformed requests get a 400 in the API's JSON error format, on every route the emulator
serves (Platform API v1/v2, token endpoint, seeding, DSR, analytics), never a plain-text 500.

Issue 12: invalid UTF-8 and deeply nested JSON made the emulator answer a plain-text 500.
"""

from __future__ import annotations

import aiohttp
import pytest

from mpasync.emulator import Emulator
from mpasync.emulator.other_apis import ANALYTICS_PREFIX, DSR_PREFIX, SEEDING_PREFIX
from tests.emulator.emu_helpers import Api

INVALID_UTF8 = b'{"name": "\xff\xfe"}'
DEEP = b"[" * 100_000 + b"]" * 100_000

PLATFORM_ROUTES = [
    ("POST", "/v1/apps"),
    ("PUT", "/v1/apps/1/datapoints"),
    ("POST", "/platform/v2/workspaces/{ws}/calculatedattributes"),
    ("POST", "/platform/v2/workspaces/{ws}/transformations/fields"),
]
OTHER_ROUTES = [
    ("POST", SEEDING_PREFIX + "/v2/calculatedattributes/seed"),
    ("POST", DSR_PREFIX + "/requests/"),
    ("POST", ANALYTICS_PREFIX + "/service/event"),
]


async def _send(
    session: aiohttp.ClientSession, method: str, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, object]:
    async with session.request(
        method, url, data=body, headers={"Content-Type": "application/json", **headers}
    ) as response:
        return response.status, response.content_type, await response.json(content_type=None)


@pytest.mark.parametrize("body", [INVALID_UTF8, DEEP], ids=["invalid-utf8", "deep"])
@pytest.mark.parametrize(("method", "path"), PLATFORM_ROUTES)
async def test_platform_api_answers_400_in_its_error_format(
    emu: Emulator, api: Api, session: aiohttp.ClientSession, method: str, path: str, body: bytes
) -> None:
    path = path.format(ws=4302)
    query = f"?accountId={emu.account_id}" if path.startswith("/v1/") else ""
    headers = {"Authorization": f"Bearer {await api.token()}"}
    status, kind, payload = await _send(session, method, emu.url(path) + query, body, headers)
    assert (status, kind) == (400, "application/json")
    assert isinstance(payload, dict)
    assert payload["errors"][0]["code"] == "BAD_REQUEST"
    assert emu.request_log[-1].status == 400
    assert emu.request_log[-1].applied is False


@pytest.mark.parametrize("body", [INVALID_UTF8, DEEP], ids=["invalid-utf8", "deep"])
@pytest.mark.parametrize(("method", "path"), [*OTHER_ROUTES, ("POST", "/oauth/token")])
async def test_other_apis_and_the_token_endpoint_answer_400_json(
    emu: Emulator, session: aiohttp.ClientSession, method: str, path: str, body: bytes
) -> None:
    status, kind, payload = await _send(session, method, emu.url(path), body, {})
    assert (status, kind) == (400, "application/json")
    assert isinstance(payload, dict)
    assert payload["errors"][0]["message"]


async def test_plain_bad_json_is_still_a_400_after_auth(
    emu: Emulator, api: Api, session: aiohttp.ClientSession
) -> None:
    url = emu.url(f"/v1/apps?accountId={emu.account_id}")
    headers = {"Authorization": f"Bearer {await api.token()}"}
    status, _, payload = await _send(session, "POST", url, b"{not json", headers)
    assert status == 400
    assert payload == {
        "data": [],
        "dataType": None,
        "errors": [{"code": "BAD_REQUEST", "message": "JSON Syntax is invalid."}],
    }


async def test_an_account_id_in_other_digits_is_refused(emu: Emulator, api: Api) -> None:
    reply = await api.get("/v1/apps", account=False, params={"accountId": "\u0661"})
    assert reply.status == 401


@pytest.mark.parametrize("digit", ["%D9%A3", "%C2%B2", "%EF%BC%91"])
async def test_ids_in_other_digits_name_no_entity(api: Api, digit: str) -> None:
    # "\u0663" (Arabic-Indic three) must not address app 3; "\u00b2" must not fail.
    reply = await api.get(f"/v1/apps/{digit}")
    assert reply.status == 404
    assert reply.body["errors"][0]["code"] == "NOT_FOUND"
