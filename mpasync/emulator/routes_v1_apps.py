"""v1 handlers for accounts, apps, app platforms and the services configured on platforms
(`/v1/accounts`, `/v1/apps/{id}`, `/v1/apps/{id}/platforms[/{os}[/services]]`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mpasync.emulator.responses import (
    ApiFailure,
    envelope,
    not_found,
    unprocessable,
)
from mpasync.emulator.routes_v1_shared import (
    OS_NAMES,
    object_body,
    request_app,
    text_field,
)
from mpasync.emulator.runtime import CURRENT, account_id, now, path_int, state_of
from mpasync.emulator.seed import make_platform
from mpasync.emulator.state import (
    Account,
    App,
    EmulatorState,
    Platform,
    PlatformService,
    ServiceSpec,
)

_PLATFORM_ENUMS = {
    "crash_handling": ("AppDefined", "ForceCatch", "ForceIgnore"),
    "network_performance": ("AppDefined", "ForceTrue", "ForceFalse"),
    "social_mode": ("AppDefined", "Facebook", "Twitter", "FacebookAndTwitter"),
}
_DEFAULT_SERVICE_ACCOUNT = "Default Account"

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
    name = _check_account_name(state, text_field(object_body(request)), None)
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
    account.name = _check_account_name(state, text_field(object_body(request)), account.id)
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
    return envelope([_app_json(request_app(request))], "application")


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
    body = object_body(request)
    account = account_id(request)
    name = text_field(body)
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
    app = request_app(request)
    name = text_field(object_body(request))
    if name is None:
        raise unprocessable("App name must be specified.")
    _check_app_name(state, app.account_id, name, app.id)
    app.name = name
    app.last_modified_on = now()
    return envelope([_app_json(app)], "application", 202)


async def delete_app(request: web.Request) -> web.Response:
    """`DELETE /v1/apps/{id}`: platforms must be deleted first."""
    app = request_app(request)
    if app.platforms:
        raise unprocessable("Deleting an app that has active platforms is not allowed.")
    del state_of(request).apps[app.id]
    return envelope([], "application", 202)


def _platform(request: web.Request, app: App | None = None) -> Platform:
    app = app or request_app(request)
    platform = app.platforms.get(request.match_info["os"].lower())
    if platform is None:
        raise not_found()
    return platform


async def list_platforms(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/platforms`."""
    return envelope(
        [_platform_json(p) for p in request_app(request).platforms.values()], "platform"
    )


async def get_platform(request: web.Request) -> web.Response:
    """`GET /v1/apps/{id}/platforms/{os}` (os case-insensitive)."""
    return envelope([_platform_json(_platform(request))], "platform")


async def create_platform(request: web.Request) -> web.Response:
    """`POST /v1/apps/{id}/platforms` and `POST /v1/apps/{id}` with `{"os": ...}`.

    The newer Apps page documents `POST /apps/{id}/platforms`; the older reference
    (platform-api.md line 650) shows `POST /apps/{id}`. Both are served, and the request
    log's `doc_variant` says which one a request used ("platform_create:newer" / ":older").
    """
    newer = request.path.rstrip("/").endswith("/platforms")
    CURRENT.get().doc_variant = "platform_create:" + ("newer" if newer else "older")
    state = state_of(request)
    body = object_body(request)
    try:
        app = request_app(request)
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
    for key, value in _platform_settings(object_body(request)).items():
        setattr(platform, key, value)
    platform.last_modified_on = now()
    return envelope([_platform_json(platform)], "platform", 202)


async def delete_platform(request: web.Request) -> web.Response:
    """`DELETE /v1/apps/{id}/platforms/{os}`."""
    app = request_app(request)
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
    body = object_body(request)
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
