"""Field transformations (Platform API v2: ``/platform/v2/workspaces/{id}/transformations/fields``).

Unlike the v1 status table, create answers 200 with the object and delete answers 204.
"""

from __future__ import annotations

from typing import Any

from mpasync.decoding import bare, empty
from mpasync.errors import RequestValidationError
from mpasync.models import FieldTransformation
from mpasync.request import Request, path
from mpasync.resources._args import entity_id
from mpasync.resources._base import Resource
from mpasync.resources.field_transformations_checks import (
    validate_transformation,
    validate_transformation_id,
)

__all__ = ["FieldTransformations"]


def _base(workspace_id: int, *rest: object) -> str:
    return path(
        "workspaces", entity_id(workspace_id, "workspace_id"), "transformations", "fields", *rest
    )


class FieldTransformations(Resource):
    """Create, read, replace and delete a workspace's field transformations."""

    __slots__ = ()

    async def list(self, workspace_id: int) -> list[FieldTransformation]:
        """Every field transformation of a workspace."""
        decode = bare(list[FieldTransformation])
        return await self._send(Request("GET", _base(workspace_id), decode, api="v2"))

    async def create(
        self, workspace_id: int, transformation: FieldTransformation | dict[str, Any]
    ) -> FieldTransformation:
        """Create a transformation (its ``id`` is chosen by the caller)."""
        body = validate_transformation(transformation)
        request = Request(
            "POST", _base(workspace_id), bare(FieldTransformation), api="v2", body=body
        )
        return await self._send(request)

    async def get(self, workspace_id: int, transformation_id: str) -> FieldTransformation:
        """One transformation."""
        p = _base(workspace_id, validate_transformation_id(transformation_id))
        return await self._send(Request("GET", p, bare(FieldTransformation), api="v2"))

    async def update(
        self,
        workspace_id: int,
        transformation_id: str,
        transformation: FieldTransformation | dict[str, Any],
    ) -> FieldTransformation:
        """Replace a transformation; the body's id must match ``transformation_id``."""
        tid = validate_transformation_id(transformation_id)
        body = validate_transformation(transformation)
        if body.id != tid:
            raise RequestValidationError(
                f"transformation.id {body.id!r} does not match transformation_id {tid!r}",
                field="transformation.id",
            )
        p = _base(workspace_id, tid)
        return await self._send(Request("PUT", p, bare(FieldTransformation), api="v2", body=body))

    async def delete(self, workspace_id: int, transformation_id: str) -> None:
        """Delete a transformation."""
        p = _base(workspace_id, validate_transformation_id(transformation_id))
        await self._send(Request("DELETE", p, empty, api="v2"))
