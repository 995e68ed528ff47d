"""Helpers for the emulator tests: a thin aiohttp caller that adds the bearer token and
`accountId`, so each test reads as the HTTP exchange it checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from mpasync.emulator import Emulator


@dataclass
class Reply:
    """One response: status, parsed JSON body (None when empty) and headers."""

    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """Calls the emulator with a token it fetched once; v1 paths get `accountId` added."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self._token: str | None = None

    async def fetch_token(self, **overrides: Any) -> aiohttp.ClientResponse:
        body = {
            "client_id": self.emu.client_id,
            "client_secret": self.emu.client_secret,
            "audience": "https://api.mparticle.com",
            "grant_type": "client_credentials",
            **overrides,
        }
        async with self.session.post(self.emu.token_url, json=body) as response:
            await response.read()
            return response

    async def token(self) -> str:
        if self._token is None:
            async with self.session.post(
                self.emu.token_url,
                json={
                    "client_id": self.emu.client_id,
                    "client_secret": self.emu.client_secret,
                    "audience": "https://api.mparticle.com",
                    "grant_type": "client_credentials",
                },
            ) as response:
                assert response.status == 200
                self._token = (await response.json())["access_token"]
        return self._token

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        account: int | bool | None = True,
        token: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        query = dict(params or {})
        if path.startswith("/v1/") and account is not None and account is not False:
            query["accountId"] = str(self.emu.account_id if account is True else account)
        headers = {"Authorization": f"Bearer {token or await self.token()}"}
        async with self.session.request(
            method, self.emu.url(path), json=json, params=query, headers=headers
        ) as response:
            raw = await response.read()
            body = await response.json(content_type=None) if raw.strip() else None
            return Reply(response.status, body, dict(response.headers))

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("PUT", path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)


def error_messages(reply: Reply) -> list[str]:
    """The messages of a v1 or v2 error body."""
    return [item["message"] for item in reply.body["errors"]]
