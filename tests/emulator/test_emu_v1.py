"""v1 endpoints of the emulator: status codes, envelope shapes and the reference's 422s."""

from __future__ import annotations

import pytest

from mpasync.emulator import Emulator
from tests.emulator.emu_helpers import Api, Reply, error_messages


def assert_envelope(reply: Reply, status: int, data_type: str, key: str = "dataType") -> list:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"data", key, "errors"}
    assert reply.body[key] == data_type
    assert reply.body["errors"] is None
    assert isinstance(reply.body["data"], list)
    return reply.body["data"]


def assert_422(reply: Reply, message: str) -> None:
    assert reply.status == 422, reply.body
    assert reply.body["errors"] == [{"code": "VALIDATION_ERROR", "message": message}]


# ---- accounts --------------------------------------------------------------------------


async def test_accounts(api: Api, emu: Emulator) -> None:
    [account] = assert_envelope(await api.get("/v1/accounts/1"), 200, "account")
    assert set(account) == {"name", "last_modified_on", "data_type", "id", "created_on"}
    assert account["id"] == 1 and account["data_type"] == "account"
    accounts = assert_envelope(await api.get("/v1/accounts"), 200, "account")
    assert [a["id"] for a in accounts] == [1, 2]

    assert (await api.get("/v1/accounts/2")).status == 404  # outside accountId's scope
    assert_422(
        await api.put("/v1/accounts/1", {"name": "Globex Corp"}), "Account name is not unique."
    )
    [updated] = assert_envelope(
        await api.put("/v1/accounts/1", {"name": "Renamed"}), 202, "account"
    )
    assert updated["name"] == emu.state.accounts[1].name == "Renamed"

    [created] = assert_envelope(
        await api.post("/v1/accounts", {"name": "New Account"}, account=None), 201, "account"
    )
    assert created["id"] in emu.state.accounts
    assert_422(
        await api.post("/v1/accounts", {"name": "New Account"}), "Account name is not unique."
    )


async def test_delete_account_needs_no_apps(api: Api, emu: Emulator) -> None:
    assert_422(
        await api.delete("/v1/accounts"),
        "All applications must be deleted before deleting account.",
    )
    [created] = (await api.post("/v1/accounts", {"name": "Empty"})).body["data"]
    assert_envelope(await api.delete("/v1/accounts", account=created["id"]), 202, "account")
    assert created["id"] not in emu.state.accounts


# ---- apps and platforms ------------------------------------------------------------------


async def test_get_and_list_apps(api: Api, emu: Emulator) -> None:
    [app] = assert_envelope(await api.get("/v1/apps/1"), 200, "application")
    assert set(app) == {"name", "platforms", "last_modified_on", "data_type", "id", "created_on"}
    assert app["data_type"] == "application"
    platform = app["platforms"][0]
    assert set(platform) == {
        "application_id",
        "os",
        "access_keys",
        "crash_handling",
        "network_performance",
        "social_mode",
        "profile_merging",
        "push_attribution_timer",
        "last_modified_on",
        "data_type",
        "created_on",
    }
    assert platform["access_keys"][0]["secret"] is None
    assert platform["access_keys"][0]["data_type"] == "token"
    apps = assert_envelope(await api.get("/v1/apps"), 200, "application")
    assert [a["id"] for a in apps] == [1, 2, 3, 4]


async def test_cross_account_entities_are_404(api: Api) -> None:
    assert (await api.get("/v1/apps/9001")).status == 404
    assert (await api.get("/v1/apps/9001/platforms")).status == 404
    assert (await api.put("/v1/apps/9001", {"name": "x"})).status == 404
    assert (await api.get("/v1/workspace/5101/partnerfeeds")).status == 404
    assert (await api.get("/platform/v2/workspaces/5101/calculatedattributes")).status == 404
    # the same entities are visible with the other account's id
    assert (await api.get("/v1/apps/9001", account=2)).status == 200
    assert (await api.get("/v1/apps/1", account=2)).status == 404
    reply = await api.get("/v1/apps/12345")
    assert reply.status == 404 and reply.body["errors"][0]["code"] == "NOT_FOUND"


async def test_create_app_returns_secret_once(api: Api, emu: Emulator) -> None:
    body = {"name": "Test App", "platforms": [{"os": "iOS"}, {"os": "android"}]}
    [app] = assert_envelope(await api.post("/v1/apps", body), 201, "application")
    assert [p["os"] for p in app["platforms"]] == ["iOS", "Android"]
    secrets = [p["access_keys"][0]["secret"] for p in app["platforms"]]
    assert all(isinstance(s, str) and len(s) >= 32 for s in secrets)
    stored = emu.state.apps[app["id"]]
    assert stored.platforms["ios"].access_keys[0].secret == secrets[0]
    [again] = (await api.get(f"/v1/apps/{app['id']}")).body["data"]
    assert all(p["access_keys"][0]["secret"] is None for p in again["platforms"])
    assert (
        again["platforms"][0]["access_keys"][0]["key"]
        == app["platforms"][0]["access_keys"][0]["key"]
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"name": "Acme Shop Android 001", "platforms": [{"os": "iOS"}]},
            "App name already exists.",
        ),
        ({"name": "Fresh", "platforms": []}, "App must have at least one platform selected."),
        ({"name": "Fresh"}, "App must have at least one platform selected."),
        ({"platforms": [{"os": "iOS"}]}, "App name not specified."),
        ({"name": "Fresh", "platforms": [{"os": "Windows95"}]}, "Invalid os specified."),
    ],
)
async def test_create_app_errors(api: Api, emu: Emulator, body: dict, message: str) -> None:
    emu.state.apps[1].name = "Acme Shop Android 001"
    assert_422(await api.post("/v1/apps", body), message)


async def test_update_and_delete_app(api: Api, emu: Emulator) -> None:
    assert_422(await api.put("/v1/apps/1", {"name": ""}), "App name must be specified.")
    [app] = assert_envelope(await api.put("/v1/apps/1", {"name": "Renamed"}), 202, "application")
    assert app["name"] == emu.state.apps[1].name == "Renamed"
    assert_422(
        await api.delete("/v1/apps/1"),
        "Deleting an app that has active platforms is not allowed.",
    )
    for os in list(emu.state.apps[1].platforms):
        assert_envelope(await api.delete(f"/v1/apps/1/platforms/{os}"), 202, "platform")
    assert_envelope(await api.delete("/v1/apps/1"), 202, "application")
    assert 1 not in emu.state.apps
    assert (await api.get("/v1/apps/1")).status == 404


async def test_platforms(api: Api, emu: Emulator) -> None:
    app = emu.state.apps[2]
    for os in list(app.platforms):
        if os != "android":
            del app.platforms[os]
    if "android" not in app.platforms:
        [created] = (await api.post("/v1/apps/2/platforms", {"os": "Android"})).body["data"]
    platforms = assert_envelope(await api.get("/v1/apps/2/platforms"), 200, "platform")
    assert [p["os"] for p in platforms] == ["Android"]
    for path_os in ("android", "ANDROID", "Android"):
        [platform] = assert_envelope(
            await api.get(f"/v1/apps/2/platforms/{path_os}"), 200, "platform"
        )
        assert platform["os"] == "Android" and platform["application_id"] == 2
    assert (await api.get("/v1/apps/2/platforms/ios")).status == 404

    # create through the collection path (what the client uses) ...
    body = {"os": "ios", "profile_merging": True, "crash_handling": "ForceCatch"}
    [created] = assert_envelope(await api.post("/v1/apps/2/platforms", body), 201, "platform")
    assert created["os"] == "iOS" and created["crash_handling"] == "ForceCatch"
    assert created["access_keys"][0]["secret"]
    # ... and through the reference's POST /apps/{id}
    [created] = assert_envelope(await api.post("/v1/apps/2", {"os": "tvOS"}), 201, "platform")
    assert created["os"] == "tvOS" and created["access_keys"][0]["secret"]
    assert set(emu.state.apps[2].platforms) == {"android", "ios", "tvos"}

    assert_422(
        await api.post("/v1/apps/2/platforms", {"os": "iOS"}),
        "Platform already exists for the specified App.",
    )
    assert_422(await api.post("/v1/apps/2/platforms", {"os": "Amiga"}), "Invalid os specified.")
    assert_422(
        await api.post("/v1/apps/9001/platforms", {"os": "iOS"}),
        "Could not create platform: App does not exist or you do not have access.",
    )

    update = {"push_attribution_timer": 45, "social_mode": "FacebookAndTwitter"}
    [updated] = assert_envelope(await api.put("/v1/apps/2/platforms/IOS", update), 202, "platform")
    assert (
        updated["push_attribution_timer"] == 45 and updated["social_mode"] == "FacebookAndTwitter"
    )
    assert updated["access_keys"][0]["secret"] is None
    assert (await api.put("/v1/apps/2/platforms/ios", {"crash_handling": "Maybe"})).status == 422


# ---- platform services -----------------------------------------------------------------


async def test_platform_services(api: Api, emu: Emulator) -> None:
    path = "/v1/apps/2/platforms/{os}/services"
    os = next(iter(emu.state.apps[2].platforms))
    body = {
        "account": "Default Account",
        "name": "GoogleAnalyticsEventForwarder",
        "isActive": True,
        "isVisible": True,
        "settings": [{"name": "apiKey", "value": "My Test App Key"}],
    }
    [configured] = assert_envelope(await api.put(path.format(os=os), body), 202, "service")
    services = assert_envelope(await api.get(path.format(os=os)), 200, "service")
    ga = next(s for s in services if s["name"] == "GoogleAnalyticsEventForwarder")
    assert set(ga) == {"account", "name", "isActive", "isVisible", "settings", "data_type"}
    assert ga["settings"] == [
        {"name": "apiKey", "value": "*********** Key", "isConfidential": True}
    ]
    stored = (
        emu.state.apps[2]
        .platforms[os]
        .services[("GoogleAnalyticsEventForwarder", "Default Account")]
    )
    assert stored.settings["apiKey"] == "My Test App Key"
    assert configured == ga

    assert_422(
        await api.put(path.format(os=os), {**body, "name": "NoSuchService"}),
        "Specified service not found.",
    )
    assert_422(
        await api.put(
            path.format(os=os),
            {"name": "Amplitude", "settings": [{"name": "apiKey", "value": "k"}]},
        ),
        "Required setting not provided.",
    )
    assert_422(
        await api.put(path.format(os=os), {**body, "settings": [{"name": "bogus", "value": 1}]}),
        "Provided setting not found.",
    )
    # a second account name makes a second configuration of the same service
    second = {**body, "account": "Background", "isVisible": False}
    assert (await api.put(path.format(os=os), second)).status == 202
    services = (await api.get(path.format(os=os))).body["data"]
    assert sum(s["name"] == "GoogleAnalyticsEventForwarder" for s in services) == 2


# ---- audiences -----------------------------------------------------------------------------


AUDIENCE_KEYS = {
    "name",
    "external_name",
    "size",
    "created_by",
    "last_modified_by",
    "last_modified_on",
    "is_calculated",
    "added_last_24_hours",
    "dropped_last_24_hours",
    "status",
    "workspaces",
    "connected_outputs",
    "data_type",
    "id",
}


async def test_audiences_are_bare_arrays(api: Api, emu: Emulator) -> None:
    reply = await api.get("/v1/audiences")
    assert reply.status == 200 and isinstance(reply.body, list)
    assert all(set(a) == AUDIENCE_KEYS for a in reply.body)
    assert all(a["data_type"] == "audience" for a in reply.body)
    multi = [a for a in reply.body if len(a["workspaces"]) > 1]
    assert multi, "the seed has a multi-workspace audience"
    assert multi[0]["workspaces"][0]["data_type"] == "workspace"
    assert multi[0]["connected_outputs"][0]["data_type"] == "audience_output"

    reply = await api.get("/v1/workspace/4302/audiences")
    assert reply.status == 200 and isinstance(reply.body, list)
    assert all([w["id"] for w in a["workspaces"]] == [4302] for a in reply.body)
    assert len(reply.body) == 2

    target = reply.body[0]["id"]
    assert_envelope(await api.delete(f"/v1/audiences/{target}"), 202, "audience")
    assert target not in emu.state.audiences
    assert (await api.delete(f"/v1/audiences/{target}")).status == 404
    other = next(a.id for a in emu.state.audiences.values() if a.account_id == 2)
    assert (await api.delete(f"/v1/audiences/{other}")).status == 404


# ---- datapoints --------------------------------------------------------------------------


async def test_datapoints(api: Api, emu: Emulator) -> None:
    datapoints = assert_envelope(await api.get("/v1/apps/1/datapoints"), 200, "datapoint")
    assert all(
        set(d) == {"name", "attribute_name", "type", "event_type", "data_type", "created_on"}
        for d in datapoints
    )
    before = len(datapoints)
    body = [
        {"name": "my event", "type": "event", "event_type": "navigation"},
        {
            "name": "my event",
            "attribute_name": "my attr",
            "type": "eventattribute",
            "event_type": "navigation",
        },
        {"name": "Search", "type": "Event", "event_type": "search"},  # exists already
    ]
    added = assert_envelope(await api.put("/v1/apps/1/datapoints", body), 202, "datapoint")
    assert [d["type"] for d in added] == ["Event", "EventAttribute", "Event"]
    after = (await api.get("/v1/apps/1/datapoints")).body["data"]
    assert len(after) == before + 2
    assert ("Event", "my event", None, "navigation") in emu.state.apps[1].datapoints
    # the reference's curl sends a single object
    assert (
        await api.put("/v1/apps/1/datapoints", {"name": "solo", "type": "UserAttribute"})
    ).status == 202
    assert_422(
        await api.put("/v1/apps/1/datapoints", [{"name": "x", "type": "Event"}]),
        "Event type must be specified.",
    )


# ---- feeds -------------------------------------------------------------------------------


async def test_feeds(api: Api, emu: Emulator) -> None:
    feeds = assert_envelope(await api.get("/v1/workspace/4302/partnerfeeds"), 200, "partner_feed")
    assert all(set(f) == {"id", "name", "data_type", "created_on"} for f in feeds)
    assert all(isinstance(f["id"], str) for f in feeds)

    feed_id = int(feeds[0]["id"])
    [feed] = assert_envelope(
        await api.get(f"/v1/partnerfeeds/{feed_id}"), 200, "Partner Feed", key="data_type"
    )
    assert set(feed) == {"module_name", "name", "os", "is_debug", "settings", "data_type", "id"}
    assert feed["data_type"] == "Partner Feed"

    body = {
        "module_name": "radar",
        "name": "radariOSFeed",
        "os": "ios",
        "settings": [],
        "is_debug": True,
    }
    reply = await api.post("/v1/workspace/4302/partnerfeeds", body)
    [created] = assert_envelope(reply, 201, "Partner Feed", key="data_type")
    assert set(created) == {"data_type", "id", "created_on"}
    stored = emu.state.feeds[created["id"]]
    assert (stored.os, stored.is_debug, stored.workspace_id) == ("iOS", True, 4302)

    reply = await api.put(
        f"/v1/workspace/4302/partnerfeeds/{created['id']}", {"name": "renamed", "is_debug": False}
    )
    [updated] = assert_envelope(reply, 202, "Partner Feed", key="data_type")
    assert updated["id"] == created["id"]
    assert (stored.name, stored.is_debug) == ("renamed", False)
    assert (
        await api.put(f"/v1/workspace/4303/partnerfeeds/{created['id']}", {"name": "x"})
    ).status == 404
    other_feed = next(f.id for f in emu.state.feeds.values() if f.workspace_id == 5101)
    assert (await api.get(f"/v1/partnerfeeds/{other_feed}")).status == 404


async def test_service_configurations_and_subscriptions(api: Api, emu: Emulator) -> None:
    configs = assert_envelope(
        await api.get("/v1/workspace/4302/amplitude/serviceconfigurations"),
        200,
        "Service Configuration",
        key="data_type",
    )
    assert [c["name"] for c in configs] == ["Amplitude Main Project", "Amplitude Development"]
    assert all(set(c) == {"id", "name", "data_type", "created_on"} for c in configs)

    subs = assert_envelope(
        await api.get("/v1/partnerfeeds/4302/subscriptions"),
        200,
        "Partner Feed Subscription",
        key="data_type",
    )
    assert set(subs[0]) == {
        "settings",
        "is_active",
        "service_configuration_id",
        "config_name",
        "data_type",
        "id",
        "created_on",
    }
    feed_id = next(f.id for f in emu.state.feeds.values() if f.workspace_id == 4302)
    body = {
        "service_configuration_id": configs[1]["id"],
        "is_active": True,
        "settings": [{"name": "useCustomerId", "value": True}],
    }
    reply = await api.post(f"/v1/partnerfeeds/{feed_id}/subscriptions", body)
    [created] = assert_envelope(reply, 201, "PartnerFeed Subscription", key="data_type")
    stored = emu.state.subscriptions[created["id"]]
    assert (stored.feed_id, stored.config_name, stored.is_active) == (
        feed_id,
        "Amplitude Development",
        True,
    )
    subs = (await api.get("/v1/partnerfeeds/4302/subscriptions")).body["data"]
    assert created["id"] in [s["id"] for s in subs]
    bad = {**body, "service_configuration_id": 1}
    assert_422(
        await api.post(f"/v1/partnerfeeds/{feed_id}/subscriptions", bad),
        "Specified service configuration not found.",
    )


# ---- services, users, workspaces -----------------------------------------------------------


async def test_services(api: Api) -> None:
    services = assert_envelope(await api.get("/v1/services"), 200, "service")
    names = {s["name"] for s in services}
    assert {"GoogleAnalyticsEventForwarder", "Amplitude", "Appboy", "Mixpanel", "ActionX"} <= names
    [amplitude] = assert_envelope(await api.get("/v1/services/Amplitude"), 200, "service")
    assert set(amplitude) == {"name", "settings", "data_type"}
    assert set(amplitude["settings"][0]) == {"is_required", "name", "description", "type"}
    assert [s["name"] for s in amplitude["settings"] if s["is_required"]] == [
        "apiKey",
        "userIdentification",
    ]
    assert (await api.get("/v1/services/amplitude")).status == 200
    assert (await api.get("/v1/services/NoSuchThing")).status == 404


async def test_users(api: Api) -> None:
    users = assert_envelope(await api.get("/v1/users"), 200, "user")
    assert all(set(u) == {"first_name", "last_name", "email", "data_type"} for u in users)
    [user] = assert_envelope(await api.get("/v1/users/test40mparticle2Ecom"), 200, "user")
    assert user == {
        "first_name": "Test",
        "last_name": "User",
        "email": "test@mparticle.com",
        "data_type": "user",
    }
    [jane] = (await api.get("/v1/users/jane2Edoe2Bops40acme2Eexample")).body["data"]
    assert jane["email"] == "jane.doe+ops@acme.example"
    assert (await api.get("/v1/users/nobody40nowhere2Ecom")).status == 404
    assert (await api.get("/v1/users/ops40globex2Eexample")).status == 404  # other account's user


async def test_workspaces(api: Api) -> None:
    workspaces = assert_envelope(await api.get("/v1/workspace"), 200, "workspace")
    assert [w["id"] for w in workspaces] == ["4302", "4303", "4304"]
    assert all(set(w) == {"id", "name", "data_type", "created_on"} for w in workspaces)


# ---- protocol errors -------------------------------------------------------------------------


async def test_bad_json_and_unknown_routes(api: Api, emu: Emulator) -> None:
    token = await api.token()
    async with api.session.put(
        emu.url("/v1/apps/1?accountId=1"),
        data=b"{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    ) as r:
        assert r.status == 400
        assert (await r.json())["errors"][0]["message"] == "JSON Syntax is invalid."
    assert (await api.get("/v1/nothing-here")).status == 404
    reply = await api.call("PATCH", "/v1/apps/1")
    assert reply.status == 405
    assert error_messages(reply)
