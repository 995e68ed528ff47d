"""Handlers for the v1 Platform API (`/v1/...`): accounts, apps, platforms, platform services,
audiences, datapoints, datapoint filters, feeds, services, users and workspaces.

The front door has already checked the token and `accountId`; handlers scope every lookup to
that account (other accounts' entities are 404) and answer with the reference's shapes:
201 for POST, 202 for PUT/DELETE, 200 for GET, 422 with the reference's messages.
"""

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
from mpasync.emulator.runtime import account_id, json_body, now, path_int, state_of
from mpasync.emulator.seed import make_platform
from mpasync.emulator.state import (
    Account,
    App,
    Audience,
    DataPoint,
    EmulatorState,
    Feed,
    FeedSubscription,
    Platform,
    PlatformService,
    ServiceSpec,
    Workspace,
    encode_email,
)

__all__ = ["OS_NAMES", "add_routes"]

#: Valid platform os values, by lower-case name (the API matches them case-insensitively).
OS_NAMES = {
    name.lower(): name
    for name in (
        "iOS",
        "tvOS",
        "Android",
        "MobileWeb",
        "Roku",
        "Alexa",
        "SmartTV",
        "FireTV",
        "Xbox",
    )
}
_FEED_OS_NAMES = {**OS_NAMES, "unknown": "Unknown"}
_PLATFORM_ENUMS = {
    "crash_handling": ("AppDefined", "ForceCatch", "ForceIgnore"),
    "network_performance": ("AppDefined", "ForceTrue", "ForceFalse"),
    "social_mode": ("AppDefined", "Facebook", "Twitter", "FacebookAndTwitter"),
}
_DEFAULT_SERVICE_ACCOUNT = "Default Account"


def _object_body(request: web.Request) -> dict[str, Any]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise ApiFailure(400, "A JSON object is required as the request body.")
    return body


def _name(body: dict[str, Any], key: str = "name") -> str | None:
    value = body.get(key)
    return value.strip() or None if isinstance(value, str) else None


# ---- accounts ------------------------------------------------------------------------


def _account_json(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "last_modified_on": account.last_modified_on,
        "data_type": "account",
        "id": account.id,
        "created_on": account.created_on,
    }


async def get_account(request: web.Request) -> web.Response:
    """`GET /v1/accounts/{id}`: only the account named by `accountId` is in scope."""
    state = state_of(request)
    wanted = path_int(request, "account_id")
    if wanted != account_id(request) or wanted not in state.accounts:
        raise not_found()
    return envelope([_account_json(state.accounts[wanted])], "account")


async def list_accounts(request: web.Request) -> web.Response:
    """`GET /v1/accounts`: every account the credential can use."""
    accounts = state_of(request).accounts.values()
    return envelope([_account_json(a) for a in accounts], "account")


def _check_account_name(state: EmulatorState, name: str | None, exclude: int | None) -> str:
    if name is None:
        raise unprocessable("Account name must be specified.")
    lowered = name.lower()
    if any(a.name.lower() == lowered and a.id != exclude for a in state.accounts.values()):
        raise unprocessable("Account name is not unique.")
    return name


async def create_account(request: web.Request) -> web.Response:
    """`POST /v1/accounts`."""
    state = state_of(request)
    name = _check_account_name(state, _name(_object_body(request)), None)
    stamp = now()
    account = Account(state.next_id("account"), name, stamp, stamp)
    state.accounts[account.id] = account
    return envelope([_account_json(account)], "account", 201)


async def update_account(request: web.Request) -> web.Response:
    """`PUT /v1/accounts/{id}`."""
    state = state_of(request)
    wanted = path_int(request, "account_id")
    if wanted != account_id(request) or wanted not in state.accounts:
        raise not_found()
    account = state.accounts[wanted]
    account.name = _check_account_name(state, _name(_object_body(request)), account.id)
    account.last_modified_on = now()
    return envelope([_account_json(account)], "account", 202)


async def delete_account(request: web.Request) -> web.Response:
    """`DELETE /v1/accounts?accountId=N`: deletes the account named by `accountId`."""
    state = state_of(request)
    current = account_id(request)
    if state.apps_of(current):
        raise unprocessable("All applications must be deleted before deleting account.")
    del state.accounts[current]
    return envelope([], "account", 202)


# ---- apps and platforms ----------------------------------------------------------------


def _platform_json(platform: Platform, *, with_secret: bool = False) -> dict[str, Any]:
    return {
        "application_id": platform.app_id,
        "os": platform.os,
        "access_keys": [
            {"key": k.key, "secret": k.secret if with_secret else None, "data_type": "token"}
            for k in platform.access_keys
        ],
        "crash_handling": platform.crash_handling,
        "network_performance": platform.network_performance,
        "social_mode": platform.social_mode,
        "profile_merging": platform.profile_merging,
        "push_attribution_timer": platform.push_attribution_timer,
        "last_modified_on": platform.last_modified_on,
        "data_type": "platform",
        "created_on": platform.created_on,
    }


def _app_json(app: App, *, with_secret: bool = False) -> dict[str, Any]:
    return {
        "name": app.name,
        "platforms": [_platform_json(p, with_secret=with_secret) for p in app.platforms.values()],
        "last_modified_on": app.last_modified_on,
        "data_type": "application",
        "id": app.id,
        "created_on": app.created_on,
    }


def _app(request: web.Request) -> App:
    app = state_of(request).app_of(account_id(request), path_int(request, "app_id"))
    if app is None:
        raise not_found()
    return app


def _os_name(value: Any) -> str:
    canonical = OS_NAMES.get(value.lower()) if isinstance(value, str) else None
    if canonical is None:
        raise unprocessable("Invalid os specified.")
    return canonical


def _platform_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the optional platform settings of a create/update body."""
    out: dict[str, Any] = {}
    for key, allowed in _PLATFORM_ENUMS.items():
        if key in body and body[key] is not None:
            value = body[key]
            match = next(
                (a for a in allowed if isinstance(value, str) and a.lower() == value.lower()), None
            )
            if match is None:
                raise unprocessable(f"Invalid value for {key}.")
            out[key] = match
    if "profile_merging" in body and body["profile_merging"] is not None:
        if not isinstance(body["profile_merging"], bool):
            raise unprocessable("Invalid value for profile_merging.")
        out["profile_merging"] = body["profile_merging"]
    if "push_attribution_timer" in body and body["push_attribution_timer"] is not None:
        timer = body["push_attribution_timer"]
        if isinstance(timer, bool) or not isinstance(timer, int) or timer < 0:
            raise unprocessable("Invalid value for push_attribution_timer.")
        out["push_attribution_timer"] = timer
    return out


async def get_app(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}`."""
    return envelope([_app_json(_app(request))], "application")


async def list_apps(request: web.Request) -> web.Response:
    """`GET /v1/apps`."""
    apps = state_of(request).apps_of(account_id(request))
    return envelope([_app_json(app) for app in apps], "application")


def _check_app_name(state: EmulatorState, account: int, name: str, exclude: int | None) -> None:
    lowered = name.lower()
    for app in state.apps.values():
        if app.account_id == account and app.id != exclude and app.name.lower() == lowered:
            raise unprocessable("App name already exists.")


async def create_app(request: web.Request) -> web.Response:
    """`POST /v1/apps`: the response is the only one that carries the platforms' secrets."""
    state = state_of(request)
    body = _object_body(request)
    account = account_id(request)
    name = _name(body)
    if name is None:
        raise unprocessable("App name not specified.")
    _check_app_name(state, account, name, None)
    platforms = body.get("platforms")
    if not isinstance(platforms, list) or not platforms:
        raise unprocessable("App must have at least one platform selected.")
    oses: list[str] = []
    for item in platforms:
        os = _os_name(item.get("os") if isinstance(item, dict) else item)
        if os not in oses:
            oses.append(os)
    stamp = now()
    app = App(state.next_id("app"), account, name, stamp, stamp)
    for os in oses:
        # The create-app example shows null modes and profile merging on for new platforms.
        app.platforms[os.lower()] = make_platform(
            state,
            app.id,
            os,
            stamp,
            crash_handling=None,
            network_performance=None,
            social_mode=None,
            profile_merging=True,
        )
    state.apps[app.id] = app
    return envelope([_app_json(app, with_secret=True)], "application", 201)


async def update_app(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}`."""
    state = state_of(request)
    app = _app(request)
    name = _name(_object_body(request))
    if name is None:
        raise unprocessable("App name must be specified.")
    _check_app_name(state, app.account_id, name, app.id)
    app.name = name
    app.last_modified_on = now()
    return envelope([_app_json(app)], "application", 202)


async def delete_app(request: web.Request) -> web.Response:
    """`DELETE /v1/apps/{id}`: platforms must be deleted first."""
    app = _app(request)
    if app.platforms:
        raise unprocessable("Deleting an app that has active platforms is not allowed.")
    del state_of(request).apps[app.id]
    return envelope([], "application", 202)


def _platform(request: web.Request, app: App | None = None) -> Platform:
    app = app or _app(request)
    platform = app.platforms.get(request.match_info["os"].lower())
    if platform is None:
        raise not_found()
    return platform


async def list_platforms(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/platforms`."""
    return envelope([_platform_json(p) for p in _app(request).platforms.values()], "platform")


async def get_platform(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/platforms/{os}` (os case-insensitive)."""
    return envelope([_platform_json(_platform(request))], "platform")


async def create_platform(request: web.Request) -> web.Response:
    """`POST /v1/apps/{id}/platforms` and `POST /v1/apps/{id}` with `{"os": ...}`.

    The reference's heading and curl show `POST /apps/1` (the same URL as the app itself);
    the client posts to `/apps/{id}/platforms`, which reads as the collection. Both work.
    """
    state = state_of(request)
    body = _object_body(request)
    try:
        app = _app(request)
    except ApiFailure:
        raise unprocessable(
            "Could not create platform: App does not exist or you do not have access."
        ) from None
    os = _os_name(body.get("os"))
    if os.lower() in app.platforms:
        raise unprocessable("Platform already exists for the specified App.")
    settings = _platform_settings(body)
    stamp = now()
    platform = make_platform(state, app.id, os, stamp, **settings)
    app.platforms[os.lower()] = platform
    app.last_modified_on = stamp
    return envelope([_platform_json(platform, with_secret=True)], "platform", 201)


async def update_platform(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/platforms/{os}`: only the settings present in the body change."""
    platform = _platform(request)
    for key, value in _platform_settings(_object_body(request)).items():
        setattr(platform, key, value)
    platform.last_modified_on = now()
    return envelope([_platform_json(platform)], "platform", 202)


async def delete_platform(request: web.Request) -> web.Response:
    """`DELETE /v1/apps/{id}/platforms/{os}`."""
    app = _app(request)
    platform = _platform(request, app)
    del app.platforms[platform.os.lower()]
    app.last_modified_on = now()
    return envelope([], "platform", 202)


# ---- platform services -------------------------------------------------------------------


def _mask(value: Any) -> Any:
    # The reference shows "My Test App Key" as "*********** Key": all but the last 4 chars.
    if value is None:
        return None
    text = str(value)
    return "*" * (len(text) - 4) + text[-4:] if len(text) > 4 else "*" * len(text)


def _platform_service_json(config: PlatformService, spec: ServiceSpec | None) -> dict[str, Any]:
    confidential = {s.name for s in spec.settings if s.is_confidential} if spec else set()
    return {
        "account": config.account,
        "name": config.name,
        "isActive": config.is_active,
        "isVisible": config.is_visible,
        "settings": [
            {
                "name": name,
                "value": _mask(value) if name in confidential else value,
                "isConfidential": name in confidential,
            }
            for name, value in config.settings.items()
        ],
        "data_type": "service",
    }


async def list_platform_services(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/platforms/{os}/services`: confidential values are masked."""
    state = state_of(request)
    platform = _platform(request)
    items = [_platform_service_json(c, state.service(c.name)) for c in platform.services.values()]
    return envelope(items, "service")


async def configure_platform_service(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/platforms/{os}/services`.

    Configurations are keyed by (service, `account`); re-configuring merges the new settings
    into the old ones, then every required setting must have a value.
    """
    state = state_of(request)
    platform = _platform(request)
    body = _object_body(request)
    name = body.get("name")
    spec = state.service(name) if isinstance(name, str) else None
    if spec is None:
        raise unprocessable("Specified service not found.")
    account = body.get("account") or _DEFAULT_SERVICE_ACCOUNT
    if not isinstance(account, str):
        raise unprocessable("Invalid settings entered while updating the service.")
    raw_settings = body.get("settings") or []
    if not isinstance(raw_settings, list):
        raise unprocessable("Invalid settings entered while updating the service.")
    known = {s.name.lower(): s.name for s in spec.settings}
    existing = platform.services.get((spec.name, account))
    settings = dict(existing.settings) if existing else {}
    for item in raw_settings:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise unprocessable("Invalid settings entered while updating the service.")
        setting = known.get(item["name"].lower())
        if setting is None:
            raise unprocessable("Provided setting not found.")
        settings[setting] = item.get("value")
    for setting_spec in spec.settings:
        if setting_spec.is_required:
            if setting_spec.name not in settings:
                raise unprocessable("Required setting not provided.")
            if settings[setting_spec.name] in (None, ""):
                raise unprocessable("Setting value is required.")
    flags: dict[str, bool] = {}
    for key, default in (("isActive", True), ("isVisible", True)):
        value = body.get(key)
        if value is None:
            value = getattr(existing, "is_active" if key == "isActive" else "is_visible", default)
        if not isinstance(value, bool):
            raise unprocessable("Invalid settings entered while updating the service.")
        flags[key] = value
    config = PlatformService(spec.name, account, flags["isActive"], flags["isVisible"], settings)
    platform.services[(spec.name, account)] = config
    platform.last_modified_on = now()
    return envelope([_platform_service_json(config, spec)], "service", 202)


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


def _workspace(request: web.Request) -> Workspace:
    ws = state_of(request).workspace_of(account_id(request), path_int(request, "workspace_id"))
    if ws is None:
        raise not_found()
    return ws


async def list_workspace_audiences(request: web.Request) -> web.Response:
    """`GET /v1/workspace/{wid}/audiences`: the workspace's single-workspace audiences, bare."""
    state = state_of(request)
    ws = _workspace(request)
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
    app = _app(request)
    return envelope([filtering.datapoint_json(dp) for dp in app.datapoints.values()], "datapoint")


async def add_datapoints(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/datapoints`: adds the datapoints that do not exist yet.

    The reference's example request is an array but its curl sends one object; both work.
    The response (undocumented) is the envelope of the submitted datapoints as stored.
    """
    app = _app(request)
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
    app = _app(request)
    service = _service_name(request, status=404)
    return envelope([_service_filtering_json(app, service)], "datapoint")


def _set_service_filtering(app: App, service: str, body: dict[str, Any]) -> web.Response:
    value = body.get("sendNewDataPointsByDefault")
    if not isinstance(value, bool):
        raise unprocessable("Invalid value for sendNewDataPointsByDefault.")
    filtering.set_send_new_by_default(app, service, value)
    return envelope([_service_filtering_json(app, service)], "datapoint", 202)


async def update_service_filtering(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/{service}` with `{"sendNewDataPointsByDefault": bool}`."""
    app = _app(request)
    service = _service_name(request, status=422)
    return _set_service_filtering(app, service, _object_body(request))


async def list_filters(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/{service}/datapoints`: effective filters (see `filtering`)."""
    app = _app(request)
    service = _service_name(request, status=404)
    items = [filtering.filter_json(f) for f in filtering.effective_filters(app, service)]
    return envelope(items, "datapoint")


async def update_filters(request: web.Request) -> web.Response:
    """`PUT /v1/apps/{id}/{service}/datapoints`: the response is a bare array of filters.

    The reference's "Update Service Filtering" curl also PUTs `{"sendNewDataPointsByDefault":
    ...}` to this path, so an object body with that key is treated as that call.
    """
    app = _app(request)
    service = _service_name(request, status=422)
    body = json_body(request)
    if isinstance(body, dict) and "sendNewDataPointsByDefault" in body:
        return _set_service_filtering(app, service, body)
    result = filtering.apply_filters(app, service, body, now())
    return json_response([filtering.filter_json(f, listing=False) for f in result], 202)


# ---- feeds -------------------------------------------------------------------------------


def _feed_of_account(state: EmulatorState, account: int, feed_id: int) -> Feed | None:
    feed = state.feeds.get(feed_id)
    if feed is None or state.workspace_of(account, feed.workspace_id) is None:
        return None
    return feed


def _feed_created_json(feed_id: int, created_on: str, data_type: str) -> web.Response:
    return json_response(
        {
            "data": [{"data_type": data_type, "id": feed_id, "created_on": created_on}],
            "data_type": data_type,
            "errors": None,
        }
    )


async def list_feeds(request: web.Request) -> web.Response:
    """`GET /v1/workspace/{wid}/partnerfeeds` (string ids and `dataType`, as the example)."""
    state = state_of(request)
    ws = _workspace(request)
    items = [
        {"id": str(f.id), "name": f.name, "data_type": "partner_feed", "created_on": f.created_on}
        for f in state.feeds.values()
        if f.workspace_id == ws.id
    ]
    return envelope(items, "partner_feed")


async def get_feed(request: web.Request) -> web.Response:
    """`GET /v1/partnerfeeds/{fid}`."""
    feed = _feed_of_account(state_of(request), account_id(request), path_int(request, "feed_id"))
    if feed is None:
        raise not_found()
    item = {
        "module_name": feed.module_name,
        "name": feed.name,
        "os": feed.os,
        "is_debug": feed.is_debug,
        "settings": feed.settings,
        "data_type": "Partner Feed",
        "id": feed.id,
    }
    return envelope([item], "Partner Feed", key="data_type")


def _settings_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(s, dict) and isinstance(s.get("name"), str) for s in value
    ):
        raise unprocessable("Invalid settings specified.")
    return [{"value": s.get("value"), "name": s["name"]} for s in value]


def _apply_feed_body(state: EmulatorState, feed: Feed, body: dict[str, Any], *, new: bool) -> None:
    if new or "module_name" in body:
        module = _name(body, "module_name")
        if module is None:
            raise unprocessable("Module name must be specified.")
        feed.module_name = module
    if new or "name" in body:
        name = _name(body)
        if name is None:
            raise unprocessable("Feed name must be specified.")
        if any(
            f.workspace_id == feed.workspace_id and f.id != feed.id and f.name == name
            for f in state.feeds.values()
        ):
            raise unprocessable("Feed name already exists.")
        feed.name = name
    if body.get("os") is not None:
        os = body["os"]
        canonical = _FEED_OS_NAMES.get(os.lower()) if isinstance(os, str) else None
        if canonical is None:
            raise unprocessable("Invalid os specified.")
        feed.os = canonical
    if "is_debug" in body:
        if not isinstance(body["is_debug"], bool):
            raise unprocessable("Invalid value for is_debug.")
        feed.is_debug = body["is_debug"]
    if "settings" in body:
        feed.settings = _settings_list(body["settings"])


async def create_feed(request: web.Request) -> web.Response:
    """`POST /v1/workspace/{wid}/partnerfeeds`."""
    state = state_of(request)
    ws = _workspace(request)
    feed = Feed(0, ws.id, "", "", "Unknown", False, [], now())
    _apply_feed_body(state, feed, _object_body(request), new=True)
    feed.id = state.next_id("feed")
    state.feeds[feed.id] = feed
    response = _feed_created_json(feed.id, feed.created_on, "Partner Feed")
    response.set_status(201)
    return response


async def update_feed(request: web.Request) -> web.Response:
    """`PUT /v1/workspace/{wid}/partnerfeeds/{fid}`: the fields present in the body change.

    The reference's curl PUTs to `/workspace/1/partnerfeeds` without the feed id; the
    heading's path (with the id) is the one served.
    """
    state = state_of(request)
    ws = _workspace(request)
    feed = state.feeds.get(path_int(request, "feed_id"))
    if feed is None or feed.workspace_id != ws.id:
        raise not_found()
    _apply_feed_body(state, feed, _object_body(request), new=False)
    response = _feed_created_json(feed.id, feed.created_on, "Partner Feed")
    response.set_status(202)
    return response


async def list_service_configurations(request: web.Request) -> web.Response:
    """`GET /v1/workspace/{wid}/{module_name}/serviceconfigurations` (module case-insensitive)."""
    state = state_of(request)
    ws = _workspace(request)
    module = request.match_info["module_name"].lower()
    items = [
        {
            "id": c.id,
            "name": c.name,
            "data_type": "Service Configuration",
            "created_on": c.created_on,
        }
        for c in state.service_configurations.values()
        if c.workspace_id == ws.id and c.module_name.lower() == module
    ]
    return envelope(items, "Service Configuration", key="data_type")


async def list_subscriptions(request: web.Request) -> web.Response:
    """`GET /v1/partnerfeeds/{id}/subscriptions`.

    The reference documents `{id}` as a workspace id here (while the create call uses a
    feed id in the same place): a workspace id lists its subscriptions; a feed id of the
    account lists that feed's (seeded workspace and feed ids never collide).
    """
    state = state_of(request)
    account = account_id(request)
    some_id = path_int(request, "feed_id")
    if state.workspace_of(account, some_id) is not None:
        subs = [s for s in state.subscriptions.values() if s.workspace_id == some_id]
    elif _feed_of_account(state, account, some_id) is not None:
        subs = [s for s in state.subscriptions.values() if s.feed_id == some_id]
    else:
        raise not_found()
    items = [
        {
            "settings": s.settings,
            "is_active": s.is_active,
            "service_configuration_id": s.service_configuration_id,
            "config_name": s.config_name,
            "data_type": "Partner Feed Subscription",
            "id": s.id,
            "created_on": s.created_on,
        }
        for s in subs
    ]
    return envelope(items, "Partner Feed Subscription", key="data_type")


async def create_subscription(request: web.Request) -> web.Response:
    """`POST /v1/partnerfeeds/{fid}/subscriptions` (the response's data_type is spelled
    "PartnerFeed Subscription", as in the reference)."""
    state = state_of(request)
    feed = _feed_of_account(state, account_id(request), path_int(request, "feed_id"))
    if feed is None:
        raise not_found()
    body = _object_body(request)
    config_id = body.get("service_configuration_id")
    config = state.service_configurations.get(config_id) if isinstance(config_id, int) else None
    if config is None or config.workspace_id != feed.workspace_id:
        raise unprocessable("Specified service configuration not found.")
    is_active = body.get("is_active", False)
    if not isinstance(is_active, bool):
        raise unprocessable("Invalid value for is_active.")
    subscription = FeedSubscription(
        id=state.next_id("subscription"),
        feed_id=feed.id,
        workspace_id=feed.workspace_id,
        service_configuration_id=config.id,
        config_name=config.name,
        is_active=is_active,
        settings=_settings_list(body.get("settings")),
        created_on=now(),
    )
    state.subscriptions[subscription.id] = subscription
    response = _feed_created_json(
        subscription.id, subscription.created_on, "PartnerFeed Subscription"
    )
    response.set_status(201)
    return response


# ---- services, users, workspaces -------------------------------------------------------------


def _service_json(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "settings": [
            {
                "is_required": s.is_required,
                "name": s.name,
                "description": s.description,
                "type": s.type,
            }
            for s in spec.settings
        ],
        "data_type": "service",
    }


async def list_services(request: web.Request) -> web.Response:
    """`GET /v1/services`."""
    return envelope([_service_json(s) for s in state_of(request).services.values()], "service")


async def get_service(request: web.Request) -> web.Response:
    """`GET /v1/services/{name}` (case-insensitive; unknown names are 404)."""
    spec = state_of(request).service(request.match_info["service"])
    if spec is None:
        raise not_found("Specified service not found.")
    return envelope([_service_json(spec)], "service")


def _user_json(first: str, last: str, email: str) -> dict[str, Any]:
    return {"first_name": first, "last_name": last, "email": email, "data_type": "user"}


async def list_users(request: web.Request) -> web.Response:
    """`GET /v1/users`: the users with access to the account."""
    account = account_id(request)
    users = [u for u in state_of(request).users if account in u.account_ids]
    return envelope([_user_json(u.first_name, u.last_name, u.email) for u in users], "user")


async def get_user(request: web.Request) -> web.Response:
    """`GET /v1/users/{encoded}`: `test@mparticle.com` is requested as `test40mparticle2Ecom`.

    The encoding cannot be decoded unambiguously ("40" may be text), so each user's address
    is encoded and compared; a plain address is accepted too.
    """
    account = account_id(request)
    wanted = request.match_info["user"]
    for user in state_of(request).users:
        if account in user.account_ids and wanted in (encode_email(user.email), user.email):
            return envelope([_user_json(user.first_name, user.last_name, user.email)], "user")
    raise not_found()


async def list_workspaces(request: web.Request) -> web.Response:
    """`GET /v1/workspace`: ids are strings, as in the reference's example."""
    items = [
        {"id": str(ws.id), "name": ws.name, "data_type": "workspace", "created_on": ws.created_on}
        for ws in state_of(request).workspaces_of(account_id(request))
    ]
    return envelope(items, "workspace")


def add_routes(app: web.Application) -> None:
    """Register every v1 route. Order matters: literal segments before `{service}`."""
    r = app.router
    r.add_get("/v1/accounts", list_accounts, allow_head=False)
    r.add_post("/v1/accounts", create_account)
    r.add_delete("/v1/accounts", delete_account)
    r.add_get("/v1/accounts/{account_id}", get_account, allow_head=False)
    r.add_put("/v1/accounts/{account_id}", update_account)

    r.add_get("/v1/apps", list_apps, allow_head=False)
    r.add_post("/v1/apps", create_app)
    r.add_get("/v1/apps/{app_id}", get_app, allow_head=False)
    r.add_put("/v1/apps/{app_id}", update_app)
    r.add_delete("/v1/apps/{app_id}", delete_app)
    r.add_post("/v1/apps/{app_id}", create_platform)
    r.add_get("/v1/apps/{app_id}/platforms", list_platforms, allow_head=False)
    r.add_post("/v1/apps/{app_id}/platforms", create_platform)
    r.add_get("/v1/apps/{app_id}/platforms/{os}", get_platform, allow_head=False)
    r.add_put("/v1/apps/{app_id}/platforms/{os}", update_platform)
    r.add_delete("/v1/apps/{app_id}/platforms/{os}", delete_platform)
    r.add_get("/v1/apps/{app_id}/platforms/{os}/services", list_platform_services, allow_head=False)
    r.add_put("/v1/apps/{app_id}/platforms/{os}/services", configure_platform_service)
    r.add_get("/v1/apps/{app_id}/datapoints", list_datapoints, allow_head=False)
    r.add_put("/v1/apps/{app_id}/datapoints", add_datapoints)
    r.add_get("/v1/apps/{app_id}/{service}", get_service_filtering, allow_head=False)
    r.add_put("/v1/apps/{app_id}/{service}", update_service_filtering)
    r.add_get("/v1/apps/{app_id}/{service}/datapoints", list_filters, allow_head=False)
    r.add_put("/v1/apps/{app_id}/{service}/datapoints", update_filters)

    r.add_get("/v1/audiences", list_audiences, allow_head=False)
    r.add_delete("/v1/audiences/{audience_id}", delete_audience)

    r.add_get("/v1/workspace", list_workspaces, allow_head=False)
    r.add_get("/v1/workspace/{workspace_id}/audiences", list_workspace_audiences, allow_head=False)
    r.add_get("/v1/workspace/{workspace_id}/partnerfeeds", list_feeds, allow_head=False)
    r.add_post("/v1/workspace/{workspace_id}/partnerfeeds", create_feed)
    r.add_put("/v1/workspace/{workspace_id}/partnerfeeds/{feed_id}", update_feed)
    r.add_get(
        "/v1/workspace/{workspace_id}/{module_name}/serviceconfigurations",
        list_service_configurations,
        allow_head=False,
    )
    r.add_get("/v1/partnerfeeds/{feed_id}", get_feed, allow_head=False)
    r.add_get("/v1/partnerfeeds/{feed_id}/subscriptions", list_subscriptions, allow_head=False)
    r.add_post("/v1/partnerfeeds/{feed_id}/subscriptions", create_subscription)

    r.add_get("/v1/services", list_services, allow_head=False)
    r.add_get("/v1/services/{service}", get_service, allow_head=False)
    r.add_get("/v1/users", list_users, allow_head=False)
    r.add_get("/v1/users/{user}", get_user, allow_head=False)
