"""Audiences (``/v1/audiences``, ``/v1/workspace/{id}/audiences``): bare JSON arrays."""

from __future__ import annotations

from mpasync.decoding import bare, empty
from mpasync.models import Audience
from mpasync.request import Request, path
from mpasync.resources._args import entity_id
from mpasync.resources._base import Resource

__all__ = ["Audiences"]


class Audiences(Resource):
    """List and delete audiences."""

    __slots__ = ()

    async def list(self, workspace_id: int | None = None) -> list[Audience]:
        """Active audiences of the account, or only the single-workspace ones of a workspace."""
        if workspace_id is None:
            p = "/audiences"
        else:
            p = path("workspace", entity_id(workspace_id, "workspace_id"), "audiences")
        return await self._send(Request("GET", p, bare(list[Audience])))

    async def delete(self, audience_id: int) -> None:
        """Delete an audience."""
        p = path("audiences", entity_id(audience_id, "audience_id"))
        await self._send(Request("DELETE", p, empty))
