"""The v1 Platform API's routes (`/v1/...`): accounts, apps, platforms, platform services,
audiences, datapoints, datapoint filters, feeds, services, users and workspaces. The handlers
live by topic in `routes_v1_apps`, `routes_v1_data` and `routes_v1_feeds`; this module
registers them.

The front door has already checked the token and `accountId`; handlers scope every lookup to
that account (other accounts' entities are 404) and answer with the reference's shapes:
201 for POST, 202 for PUT/DELETE, 200 for GET, 422 with the reference's messages.
"""

from __future__ import annotations

from aiohttp import web

from mpasync.emulator.routes_v1_apps import (
    configure_platform_service,
    create_account,
    create_app,
    create_platform,
    delete_account,
    delete_app,
    delete_platform,
    get_account,
    get_app,
    get_platform,
    list_accounts,
    list_apps,
    list_platform_services,
    list_platforms,
    update_account,
    update_app,
    update_platform,
)
from mpasync.emulator.routes_v1_data import (
    add_datapoints,
    delete_audience,
    get_service_filtering,
    list_audiences,
    list_datapoints,
    list_filters,
    list_workspace_audiences,
    update_filters,
    update_service_filtering,
)
from mpasync.emulator.routes_v1_feeds import (
    create_feed,
    create_subscription,
    get_feed,
    get_service,
    get_user,
    list_feeds,
    list_service_configurations,
    list_services,
    list_subscriptions,
    list_users,
    list_workspaces,
    update_feed,
)
from mpasync.emulator.routes_v1_shared import OS_NAMES

__all__ = ["OS_NAMES", "add_routes"]


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
