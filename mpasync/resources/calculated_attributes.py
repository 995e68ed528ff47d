"""Calculated attributes (Platform API v2: ``/platform/v2/workspaces/{id}/calculatedattributes``).

v2 takes no ``accountId`` and answers with bare JSON; writes answer 204.
"""

from __future__ import annotations

from typing import Any

from mpasync.decoding import bare, empty
from mpasync.errors import NotFoundError, RequestValidationError
from mpasync.models import ActivationStatus, CalculatedAttribute, CalculationStatus
from mpasync.request import Request, path
from mpasync.resources._args import entity_id, text
from mpasync.resources._base import Resource
from mpasync.resources.calculated_attributes_checks import validate_definition

__all__ = ["CalculatedAttributes"]


def _base(workspace_id: int, *rest: object) -> str:
    return path(
        "workspaces", entity_id(workspace_id, "workspace_id"), "calculatedattributes", *rest
    )


def _name_query(name: str | None) -> dict[str, str] | None:
    return None if name is None else {"name": text(name, "name")}


class CalculatedAttributes(Resource):
    """Define, activate and inspect calculated attributes of a workspace."""

    __slots__ = ()

    async def list(self, workspace_id: int, name: str | None = None) -> list[CalculatedAttribute]:
        """Calculated attributes of a workspace, optionally only those named ``name``."""
        request = Request(
            "GET",
            _base(workspace_id),
            bare(list[CalculatedAttribute]),
            api="v2",
            query=_name_query(name),
        )
        return await self._send(request)

    async def exists(self, workspace_id: int, name: str | None = None) -> bool:
        """Whether any (or one named ``name``) exists: HEAD answers 204 or 404."""
        request = Request("HEAD", _base(workspace_id), empty, api="v2", query=_name_query(name))
        try:
            await self._send(request)
        except NotFoundError:
            return False
        return True

    async def create(
        self,
        workspace_id: int,
        *,
        name: str,
        draft_definition: Any,
        description: str | None = None,
    ) -> int:
        """Create a calculated attribute from a draft definition; returns its new id.

        The definition is checked before sending (calculation type, time period, each
        condition's operator against its type, value/values/min/max rules).
        """
        body: dict[str, Any] = {
            "name": text(name, "name"),
            "draft_definition": validate_definition(draft_definition),
        }
        if description is not None:
            body["description"] = _description(description)
        request = Request("POST", _base(workspace_id), bare(int), api="v2", body=body)
        return await self._send(request)

    async def get(self, workspace_id: int, ca_id: int) -> CalculatedAttribute:
        """One calculated attribute with its draft and active definitions."""
        request = Request(
            "GET",
            _base(workspace_id, entity_id(ca_id, "ca_id")),
            bare(CalculatedAttribute),
            api="v2",
        )
        return await self._send(request)

    async def update(
        self,
        workspace_id: int,
        ca_id: int,
        *,
        name: str | None = None,
        draft_definition: Any = None,
        description: str | None = None,
    ) -> None:
        """Change the draft definition, the name (only before activation) or the description."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = text(name, "name")
        if draft_definition is not None:
            body["draft_definition"] = validate_definition(draft_definition)
        if description is not None:
            body["description"] = _description(description)
        if not body:
            raise RequestValidationError(
                "update needs name, draft_definition or description", field="draft_definition"
            )
        request = Request(
            "PUT", _base(workspace_id, entity_id(ca_id, "ca_id")), empty, api="v2", body=body
        )
        await self._send(request)

    async def delete(self, workspace_id: int, ca_id: int) -> None:
        """Delete a calculated attribute."""
        p = _base(workspace_id, entity_id(ca_id, "ca_id"))
        await self._send(Request("DELETE", p, empty, api="v2"))

    async def activate(self, workspace_id: int, ca_id: int) -> None:
        """Promote the draft definition to active."""
        p = _base(workspace_id, entity_id(ca_id, "ca_id"), "activation")
        # Activating twice leaves the same state, so a retry after a lost answer is safe.
        await self._send(Request("POST", p, empty, api="v2", idempotent=True))

    async def activation_status(self, workspace_id: int, ca_id: int) -> ActivationStatus:
        """Whether, when and by whom it was activated."""
        p = _base(workspace_id, entity_id(ca_id, "ca_id"), "activation")
        return await self._send(Request("GET", p, bare(ActivationStatus), api="v2"))

    async def delete_draft(self, workspace_id: int, ca_id: int) -> None:
        """Discard the draft definition."""
        p = _base(workspace_id, entity_id(ca_id, "ca_id"), "draft")
        await self._send(Request("DELETE", p, empty, api="v2"))

    async def calculation_status(self, workspace_id: int, ca_id: int) -> CalculationStatus:
        """Calculation progress and estimated completion."""
        p = _base(workspace_id, entity_id(ca_id, "ca_id"), "calculation")
        return await self._send(Request("GET", p, bare(CalculationStatus), api="v2"))


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise RequestValidationError("description must be a string", field="description")
    return value
