"""Handlers for the v2 Platform API (`/platform/v2/workspaces/{wid}/...`): calculated
attributes and field transformations. Bodies are bare JSON (no envelope), no `accountId`;
the workspace must belong to the emulator's primary account, else 404.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp import web

from mpasync.emulator.ca_rules import check_definition
from mpasync.emulator.responses import (
    ApiFailure,
    empty_response,
    json_response,
    not_found,
    unprocessable,
)
from mpasync.emulator.runtime import json_body, path_int, state_of
from mpasync.emulator.state import (
    CalculatedAttribute,
    EmulatorState,
    FieldTransformation,
    Workspace,
    format_time_z,
    utcnow,
)

__all__ = ["add_routes"]

_TRANSFORMATION_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_MAPPING_TYPES = frozenset({"column", "static", "ignore"})


def _workspace(request: web.Request) -> Workspace:
    state = state_of(request)
    ws = state.workspace_of(state.primary_account_id, path_int(request, "workspace_id"))
    if ws is None:
        raise not_found("Workspace not found.")
    return ws


def _object_body(request: web.Request) -> dict[str, Any]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise ApiFailure(400, "A JSON object is required as the request body.")
    return body


# ---- calculated attributes ---------------------------------------------------------------


def _ca_json(ca: CalculatedAttribute) -> dict[str, Any]:
    return {
        "id": ca.id,
        "name": ca.name,
        "description": ca.description,
        "created_by": ca.created_by,
        "created_on": ca.created_on,
        "last_modified_on": ca.last_modified_on,
        "last_modified_by": ca.last_modified_by,
        "active_definition": ca.active_definition,
        "draft_definition": ca.draft_definition,
        "audience_count": ca.audience_count,
        "activated_on": ca.activated_on,
        "activated_by": ca.activated_by,
    }


def _check_unique_name(state: EmulatorState, ws: Workspace, name: str, exclude: int | None) -> None:
    for ca in state.calculated_attributes.values():
        if ca.workspace_id == ws.id and ca.id != exclude and ca.name == name:
            raise unprocessable("Field 'name' must be unique.")


def _matching(request: web.Request, ws: Workspace) -> list[CalculatedAttribute]:
    name = request.query.get("name")
    return [
        ca
        for ca in state_of(request).calculated_attributes.values()
        if ca.workspace_id == ws.id and (name is None or ca.name == name)
    ]


async def list_calculated_attributes(request: web.Request) -> web.Response:
    """`GET .../calculatedattributes[?name=]`: a bare array."""
    ws = _workspace(request)
    return json_response([_ca_json(ca) for ca in _matching(request, ws)])


async def head_calculated_attributes(request: web.Request) -> web.Response:
    """`HEAD .../calculatedattributes[?name=]`: 204 if any match, 404 if none; no body."""
    state = state_of(request)
    ws = state.workspace_of(state.primary_account_id, path_int(request, "workspace_id"))
    if ws is None or not _matching(request, ws):
        return empty_response(404)
    return empty_response(204)


async def create_calculated_attribute(request: web.Request) -> web.Response:
    """`POST .../calculatedattributes`: the body of the response is the new integer id.

    The reference gives the body ("an integer identifier") but no status; 200 is used, like
    the other v2 creates (field transformations).
    """
    state = state_of(request)
    ws = _workspace(request)
    body = _object_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise unprocessable("Field 'name' is required.")
    _check_unique_name(state, ws, name, None)
    if body.get("draft_definition") is None:
        raise unprocessable("Field 'draft_definition' is required.")
    definition = check_definition(body["draft_definition"])
    description = body.get("description")
    stamp = format_time_z(utcnow())
    ca = CalculatedAttribute(
        id=state.next_id("calculated_attribute"),
        workspace_id=ws.id,
        name=name,
        description=description if isinstance(description, str) else None,
        draft_definition=definition,
        active_definition=None,
        created_by=state.user_email,
        created_on=stamp,
        last_modified_by=state.user_email,
        last_modified_on=stamp,
    )
    state.calculated_attributes[ca.id] = ca
    return json_response(ca.id)


def _calculated_attribute(request: web.Request) -> CalculatedAttribute:
    ws = _workspace(request)
    ca = state_of(request).calculated_attributes.get(path_int(request, "ca_id"))
    if ca is None or ca.workspace_id != ws.id:
        raise not_found("Calculated attribute not found.")
    return ca


async def get_calculated_attribute(request: web.Request) -> web.Response:
    """`GET .../calculatedattributes/{id}`."""
    return json_response(_ca_json(_calculated_attribute(request)))


async def update_calculated_attribute(request: web.Request) -> web.Response:
    """`PUT .../calculatedattributes/{id}`: name (until activated), description, draft; 204."""
    state = state_of(request)
    ca = _calculated_attribute(request)
    body = _object_body(request)
    name = body.get("name")
    if name is not None and name != ca.name:
        if not isinstance(name, str) or not name.strip():
            raise unprocessable("Field 'name' is required.")
        if ca.active_definition is not None or ca.activated_on is not None:
            raise unprocessable(
                "Calculated attribute name cannot be changed once the calculated attribute"
                " has been activated."
            )
        _check_unique_name(state, state.workspaces[ca.workspace_id], name, ca.id)
    definition = None
    if body.get("draft_definition") is not None:
        definition = check_definition(body["draft_definition"])
    # All checks passed: apply.
    if isinstance(name, str):
        ca.name = name
    if "description" in body:
        description = body["description"]
        ca.description = description if isinstance(description, str) else None
    if definition is not None:
        ca.draft_definition = definition
    ca.last_modified_on = format_time_z(utcnow())
    ca.last_modified_by = state.user_email
    return empty_response(204)


async def delete_calculated_attribute(request: web.Request) -> web.Response:
    """`DELETE .../calculatedattributes/{id}`: 204."""
    ca = _calculated_attribute(request)
    del state_of(request).calculated_attributes[ca.id]
    return empty_response(204)


async def activate_calculated_attribute(request: web.Request) -> web.Response:
    """`POST .../calculatedattributes/{id}/activation`: the draft becomes active; 204."""
    state = state_of(request)
    ca = _calculated_attribute(request)
    if ca.draft_definition is None:
        raise unprocessable("No draft definition was found to activate.")
    limit = state.max_active_calculated_attributes
    if limit is not None and ca.active_definition is None:
        active = sum(
            1
            for other in state.calculated_attributes.values()
            if other.workspace_id == ca.workspace_id and other.active_definition is not None
        )
        if active >= limit:
            raise unprocessable(
                "You have reached the account limit on active calculated attributes."
            )
    moment = utcnow()
    ca.active_definition = ca.draft_definition
    ca.draft_definition = None
    ca.activated_on = format_time_z(moment)
    ca.activated_by = state.user_email
    ca.activated_at = moment
    ca.revision_id += 1
    return empty_response(204)


async def get_activation(request: web.Request) -> web.Response:
    """`GET .../calculatedattributes/{id}/activation`."""
    ca = _calculated_attribute(request)
    return json_response(
        {
            "calculated_attribute_id": ca.id,
            "is_active": ca.active_definition is not None,
            "activated_on": ca.activated_on,
            "activated_by": ca.activated_by,
        }
    )


async def delete_draft(request: web.Request) -> web.Response:
    """`DELETE .../calculatedattributes/{id}/draft`: discards the draft; 204."""
    ca = _calculated_attribute(request)
    ca.draft_definition = None
    ca.last_modified_on = format_time_z(utcnow())
    return empty_response(204)


async def get_calculation(request: web.Request) -> web.Response:
    """`GET .../calculatedattributes/{id}/calculation`: progress runs from activation over
    `state.calculation_seconds` (0% and no estimate before the first activation)."""
    state = state_of(request)
    ca = _calculated_attribute(request)
    percent, estimate = 0, None
    if ca.activated_at is not None:
        duration = timedelta(seconds=state.calculation_seconds)
        elapsed = utcnow() - ca.activated_at
        percent = 100 if elapsed >= duration else int(100 * elapsed / duration)
        estimate = format_time_z(ca.activated_at + duration)
    return json_response(
        {
            "id": ca.id,
            "name": ca.name,
            "revision_id": ca.revision_id,
            "is_calculated": percent >= 100,
            "calculation_percent_complete": percent,
            "estimated_completion_time": estimate,
        }
    )


# ---- field transformations ---------------------------------------------------------------


def _validate_transformation(doc: dict[str, Any]) -> dict[str, Any]:
    """Check the documented rules (the reference's error messages are not documented; these
    follow the calculated attributes' "Field 'x' ..." style)."""
    transformation_id = doc.get("id")
    if not isinstance(transformation_id, str) or not transformation_id:
        raise unprocessable("Field 'id' is required.")
    if not _TRANSFORMATION_ID.match(transformation_id):
        raise unprocessable("Field 'id' may only contain letters, digits, '-' and '_'.")
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise unprocessable("Field 'name' is required.")
    if doc.get("destination_type") is None:
        raise unprocessable("Field 'destination_type' is required.")
    if doc["destination_type"] != "event_batch":
        raise unprocessable("Invalid destination type")
    mappings = doc.get("mappings")
    if not isinstance(mappings, list):
        raise unprocessable("Field 'mappings' is required.")
    for mapping in mappings:
        if not isinstance(mapping, dict) or mapping.get("mapping_type") not in _MAPPING_TYPES:
            raise unprocessable("Invalid mapping type")
        kind = mapping["mapping_type"]
        if kind in ("column", "ignore") and not mapping.get("source"):
            raise unprocessable(f"Field 'source' is required for {kind} mappings.")
        if kind == "static" and mapping.get("source") is not None:
            raise unprocessable("Field 'source' must be empty for static mappings.")
        if kind in ("column", "static") and not mapping.get("destination"):
            raise unprocessable(f"Field 'destination' is required for {kind} mappings.")
        if kind == "static" and mapping.get("value") is None:
            raise unprocessable("Field 'value' is required for static mappings.")
    return doc


async def list_transformations(request: web.Request) -> web.Response:
    """`GET .../transformations/fields`: a bare array."""
    ws = _workspace(request)
    items = [
        t.document
        for t in state_of(request).field_transformations.values()
        if t.workspace_id == ws.id
    ]
    return json_response(items)


async def create_transformation(request: web.Request) -> web.Response:
    """`POST .../transformations/fields`: 200 with the created object.

    A duplicate id is a 422 (business rule, like the other v2 uniqueness checks), not 409.
    """
    state = state_of(request)
    ws = _workspace(request)
    doc = _validate_transformation(_object_body(request))
    key = (ws.id, doc["id"])
    if key in state.field_transformations:
        raise unprocessable("Field 'id' must be unique.")
    state.field_transformations[key] = FieldTransformation(ws.id, doc["id"], doc)
    return json_response(doc)


def _transformation(request: web.Request) -> FieldTransformation:
    ws = _workspace(request)
    found = state_of(request).field_transformations.get((ws.id, request.match_info["ft_id"]))
    if found is None:
        raise not_found("Field transformation not found.")
    return found


async def get_transformation(request: web.Request) -> web.Response:
    """`GET .../transformations/fields/{id}`."""
    return json_response(_transformation(request).document)


async def update_transformation(request: web.Request) -> web.Response:
    """`PUT .../transformations/fields/{id}`: replaces the object; 200 with it."""
    found = _transformation(request)
    doc = dict(_object_body(request))
    doc.setdefault("id", found.id)
    if doc["id"] != found.id:
        raise unprocessable("Field 'id' cannot be changed.")
    found.document = _validate_transformation(doc)
    return json_response(found.document)


async def delete_transformation(request: web.Request) -> web.Response:
    """`DELETE .../transformations/fields/{id}`: 204."""
    found = _transformation(request)
    del state_of(request).field_transformations[(found.workspace_id, found.id)]
    return empty_response(204)


def add_routes(app: web.Application) -> None:
    """Register every v2 route."""
    r = app.router
    ca = "/platform/v2/workspaces/{workspace_id}/calculatedattributes"
    r.add_get(ca, list_calculated_attributes, allow_head=False)
    r.add_route("HEAD", ca, head_calculated_attributes)
    r.add_post(ca, create_calculated_attribute)
    r.add_get(ca + "/{ca_id}", get_calculated_attribute, allow_head=False)
    r.add_put(ca + "/{ca_id}", update_calculated_attribute)
    r.add_delete(ca + "/{ca_id}", delete_calculated_attribute)
    r.add_post(ca + "/{ca_id}/activation", activate_calculated_attribute)
    r.add_get(ca + "/{ca_id}/activation", get_activation, allow_head=False)
    r.add_delete(ca + "/{ca_id}/draft", delete_draft)
    r.add_get(ca + "/{ca_id}/calculation", get_calculation, allow_head=False)

    ft = "/platform/v2/workspaces/{workspace_id}/transformations/fields"
    r.add_get(ft, list_transformations, allow_head=False)
    r.add_post(ft, create_transformation)
    r.add_get(ft + "/{ft_id}", get_transformation, allow_head=False)
    r.add_put(ft + "/{ft_id}", update_transformation)
    r.add_delete(ft + "/{ft_id}", delete_transformation)
