"""v1 handlers for partner feeds and their subscriptions, and the read-only directories:
services, users and workspaces."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mpasync.emulator.responses import (
    envelope,
    json_response,
    not_found,
    unprocessable,
)
from mpasync.emulator.routes_v1_shared import (
    FEED_OS_NAMES,
    object_body,
    request_workspace,
    text_field,
)
from mpasync.emulator.runtime import account_id, now, path_int, state_of
from mpasync.emulator.state import (
    EmulatorState,
    Feed,
    FeedSubscription,
    ServiceSpec,
    encode_email,
)

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
    ws = request_workspace(request)
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
        module = text_field(body, "module_name")
        if module is None:
            raise unprocessable("Module name must be specified.")
        feed.module_name = module
    if new or "name" in body:
        name = text_field(body)
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
        canonical = FEED_OS_NAMES.get(os.lower()) if isinstance(os, str) else None
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
    ws = request_workspace(request)
    feed = Feed(0, ws.id, "", "", "Unknown", False, [], now())
    _apply_feed_body(state, feed, object_body(request), new=True)
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
    ws = request_workspace(request)
    feed = state.feeds.get(path_int(request, "feed_id"))
    if feed is None or feed.workspace_id != ws.id:
        raise not_found()
    _apply_feed_body(state, feed, object_body(request), new=False)
    response = _feed_created_json(feed.id, feed.created_on, "Partner Feed")
    response.set_status(202)
    return response


async def list_service_configurations(request: web.Request) -> web.Response:
    """`GET /v1/workspace/{wid}/{module_name}/serviceconfigurations` (module case-insensitive)."""
    state = state_of(request)
    ws = request_workspace(request)
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
    body = object_body(request)
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
