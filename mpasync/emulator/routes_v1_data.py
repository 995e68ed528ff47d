"""v1 handlers for audiences, datapoints and datapoint filters (`/v1/audiences`,
`/v1/apps/{id}/datapoints`, `/v1/apps/{id}/{service}[/datapoints]`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mpasync.emulator import filtering
from mpasync.emulator.responses import (
    ApiFailure,
    envelope,
    json_response,
    not_found,
    unprocessable,
)
from mpasync.emulator.routes_v1_shared import (
    object_body,
    request_app,
    request_workspace,
)
from mpasync.emulator.runtime import CURRENT, account_id, json_body, now, path_int, state_of
from mpasync.emulator.state import (
    App,
    Audience,
    DataPoint,
    EmulatorState,
)

# ---- audiences ---------------------------------------------------------------------------


def _audience_json(state: EmulatorState, audience: Audience) -> dict[str, Any]:
    workspaces = [state.workspaces[w] for w in audience.workspace_ids if w in state.workspaces]
    return {
        "name": audience.name,
        "external_name": audience.external_name,
        "size": audience.size,
        "created_by": audience.created_by,
        "last_modified_by": audience.last_modified_by,
        "last_modified_on": audience.last_modified_on,
        "is_calculated": audience.is_calculated,
        "added_last_24_hours": audience.added_last_24_hours,
        "dropped_last_24_hours": audience.dropped_last_24_hours,
        "status": audience.status,
        "workspaces": [
            {"name": ws.name, "id": ws.id, "data_type": "workspace", "created_on": ws.created_on}
            for ws in workspaces
        ],
        "connected_outputs": [
            {
                "provider_name": provider,
                "configurations": [{"name": name} for name in names],
                "data_type": "audience_output",
            }
            for provider, names in audience.connected_outputs.items()
        ],
        "data_type": "audience",
        "id": audience.id,
    }


async def list_audiences(request: web.Request) -> web.Response:
    """`GET /v1/audiences`: a bare array (no envelope), as the reference shows."""
    state = state_of(request)
    account = account_id(request)
    items = [_audience_json(state, a) for a in state.audiences.values() if a.account_id == account]
    return json_response(items)


async def list_workspace_audiences(request: web.Request) -> web.Response:
    """`GET /v1/workspace/{wid}/audiences`: the workspace's single-workspace audiences, bare."""
    state = state_of(request)
    ws = request_workspace(request)
    items = [
        _audience_json(state, a) for a in state.audiences.values() if a.workspace_ids == [ws.id]
    ]
    return json_response(items)


async def delete_audience(request: web.Request) -> web.Response:
    """`DELETE /v1/audiences/{id}`."""
    state = state_of(request)
    audience = state.audiences.get(path_int(request, "audience_id"))
    if audience is None or audience.account_id != account_id(request):
        raise not_found()
    del state.audiences[audience.id]
    return envelope([], "audience", 202)


# ---- datapoints and filters ----------------------------------------------------------------


async def list_datapoints(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/datapoints`."""
    app = request_app(request)
    return envelope([filtering.datapoint_json(dp) for dp in app.datapoints.values()], "datapoint")


async def add_datapoints(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/datapoints`: adds the datapoints that do not exist yet.

    The reference's example request is an array but its curl sends one object; both work.
    The response (undocumented) is the envelope of the submitted datapoints as stored.
    """
    app = request_app(request)
    body = json_body(request)
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise unprocessable("An array of datapoints is required.")
    keys = [filtering.parse_datapoint(item, filtering.DATAPOINT_TYPES) for item in items]
    stamp = now()
    out = []
    for key in keys:
        dp = app.datapoints.get(key)
        if dp is None:
            dp = app.datapoints[key] = DataPoint(*key, created_on=stamp)
        out.append(filtering.datapoint_json(dp))
    return envelope(out, "datapoint", 202)


def _service_name(request: web.Request, *, status: int) -> str:
    spec = state_of(request).service(request.match_info["service"])
    if spec is None:
        raise ApiFailure(status, "Specified service not found.")
    return spec.name


def _service_filtering_json(app: App, service: str) -> dict[str, Any]:
    sf = app.service_filters.get(service)
    return {
        "name": service,
        "sendNewDataPointsByDefault": sf.send_new_datapoints_by_default if sf else True,
    }


async def get_service_filtering(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/{service}`."""
    app = request_app(request)
    service = _service_name(request, status=404)
    return envelope([_service_filtering_json(app, service)], "datapoint")


def _set_service_filtering(app: App, service: str, body: dict[str, Any]) -> web.Response:
    value = body.get("sendNewDataPointsByDefault")
    if not isinstance(value, bool):
        raise unprocessable("Invalid value for sendNewDataPointsByDefault.")
    filtering.set_send_new_by_default(app, service, value)
    return envelope([_service_filtering_json(app, service)], "datapoint", 202)


async def update_service_filtering(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/{service}` with `{"sendNewDataPointsByDefault": bool}`: the path of
    the reference's heading (and of the GET); logged as "service_filtering:heading"."""
    CURRENT.get().doc_variant = "service_filtering:heading"
    app = request_app(request)
    service = _service_name(request, status=422)
    return _set_service_filtering(app, service, object_body(request))


async def list_filters(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/{service}/datapoints`: effective filters (see `filtering`)."""
    app = request_app(request)
    service = _service_name(request, status=404)
    items = [filtering.filter_json(f) for f in filtering.effective_filters(app, service)]
    return envelope(items, "datapoint")


async def update_filters(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/{service}/datapoints`: the response is a bare array of filters.

    The reference's "Update Service Filtering" curl also PUTs `{"sendNewDataPointsByDefault":
    ...}` to this path, so an object body with that key is treated as that call.
    """
    app = request_app(request)
    service = _service_name(request, status=422)
    body = json_body(request)
    if isinstance(body, dict) and "sendNewDataPointsByDefault" in body:
        # The reference's curl (platform-api.md line 1802) contradicts its heading (line 1794).
        CURRENT.get().doc_variant = "service_filtering:curl"
        return _set_service_filtering(app, service, body)
    result = filtering.apply_filters(app, service, body, now())
    return json_response([filtering.filter_json(f, listing=False) for f in result], 202)
