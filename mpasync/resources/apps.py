"""Apps (``/v1/apps``)."""

from __future__ import annotations

from collections.abc import Iterable

from mpasync.decoding import empty, envelope_list, envelope_one, maybe_one
from mpasync.errors import RequestValidationError
from mpasync.models import App
from mpasync.request import Request, path
from mpasync.resources._args import entity_id, items, text
from mpasync.resources._base import Resource
from mpasync.resources.platforms import validate_os

__all__ = ["Apps"]


class Apps(Resource):
    """Get, list, create, rename and delete apps."""

    __slots__ = ()

    async def get(self, app_id: int) -> App:
        """One app with its platforms."""
        aid = entity_id(app_id, "app_id")
        return await self._send(
            Request("GET", path("apps", aid), envelope_one(App), scope=str(aid))
        )

    async def list(self) -> list[App]:
        """Every app in the account."""
        return await self._send(Request("GET", "/apps", envelope_list(App)))

    async def create(self, *, name: str, platforms: Iterable[str]) -> App:
        """Create an app with platforms (``["iOS", "Android"]``).

        The answer carries each platform's access key *and secret*, shown only this once.
        """
        oses = [
            validate_os(os, field=f"platforms[{i}]")
            for i, os in enumerate(items(platforms, "platforms"))
        ]
        if not oses:
            raise RequestValidationError("an app needs at least one platform", field="platforms")
        body = {"name": text(name, "name"), "platforms": [{"os": os} for os in oses]}
        # The reference's curl for this call posts to /apps/1, which is the platform-create
        # path; its heading (POST /apps) is the app-create path.
        return await self._send(Request("POST", "/apps", envelope_one(App), body=body))

    async def update(self, app_id: int, *, name: str) -> App | None:
        """Rename an app."""
        aid = entity_id(app_id, "app_id")
        body = {"name": text(name, "name")}
        return await self._send(
            Request("PUT", path("apps", aid), maybe_one(App), body=body, scope=str(aid))
        )

    async def delete(self, app_id: int) -> None:
        """Delete an app (422 while it has active platforms)."""
        aid = entity_id(app_id, "app_id")
        await self._send(Request("DELETE", path("apps", aid), empty, scope=str(aid)))
