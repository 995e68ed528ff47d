"""Every v1 method of `mpasync.Client` against the emulator: what the call returns (decoded
into the contract's models) and what it changed in the emulator's state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mpasync import Client, NotFoundError, UnprocessableEntityError
from mpasync.emulator import Emulator
from mpasync.models import (
    AccessKey,
    Account,
    App,
    Audience,
    DataPoint,
    DataPointFilter,
    EntityRef,
    Feed,
    FeedSetting,
    FeedSubscription,
    Platform,
    PlatformOS,
    PlatformService,
    Service,
    ServiceConfiguration,
    ServiceFiltering,
    User,
    Workspace,
)
from tests.integration.helpers import SERVICE, WORKSPACE, api_requests

# ---- accounts ----------------------------------------------------------------------------


async def test_accounts_get_and_list(emu: Emulator, mp: Client) -> None:
    account = await mp.accounts.get(1)
    assert isinstance(account, Account)
    assert (account.id, account.name) == (1, emu.state.accounts[1].name)
    assert account.created_on == emu.state.accounts[1].created_on

    accounts = await mp.accounts.list()
    assert all(isinstance(a, Account) for a in accounts)
    assert {a.id for a in accounts} == set(emu.state.accounts)


async def test_accounts_create_and_update(emu: Emulator, mp: Client) -> None:
    created = await mp.accounts.create(name="Initech")
    assert isinstance(created, Account)
    assert created.name == "Initech"
    assert emu.state.accounts[created.id].name == "Initech"

    renamed = await mp.accounts.update(1, name="Acme Renamed")
    assert renamed is not None and renamed.name == "Acme Renamed"
    assert emu.state.accounts[1].name == "Acme Renamed"

    with pytest.raises(UnprocessableEntityError) as info:
        await mp.accounts.update(1, name="Initech")
    assert info.value.messages == ["Account name is not unique."]


async def test_accounts_delete_needs_every_app_deleted_first(emu: Emulator, mp: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.accounts.delete()
    assert info.value.status == 422
    assert info.value.messages == ["All applications must be deleted before deleting account."]
    assert 1 in emu.state.accounts

    for app in await mp.apps.list():
        for platform in app.platforms or []:
            await mp.platforms.delete(app.id, platform.os)
        await mp.apps.delete(app.id)
    assert emu.state.apps_of(1) == []

    await mp.accounts.delete()
    assert 1 not in emu.state.accounts


async def test_accounts_delete_a_fresh_account(emu: Emulator, mp: Client) -> None:
    fresh = await mp.accounts.create(name="Short Lived")
    assert fresh is not None
    async with emu.client(account_id=fresh.id) as other:
        await other.accounts.delete()
    assert fresh.id not in emu.state.accounts
    assert 1 in emu.state.accounts


# ---- apps --------------------------------------------------------------------------------


async def test_apps_get_and_list(emu: Emulator, mp: Client) -> None:
    apps = await mp.apps.list()
    assert [a.id for a in apps] == [1, 2, 3, 4, 5]
    assert all(isinstance(a, App) for a in apps)

    app = await mp.apps.get(3)
    seeded = emu.state.apps[3]
    assert (app.id, app.name, app.created_on) == (3, seeded.name, seeded.created_on)
    assert app.platforms is not None
    assert [p.os for p in app.platforms] == [p.os for p in seeded.platforms.values()]
    for platform in app.platforms:
        assert isinstance(platform, Platform)
        assert platform.application_id == 3
        assert platform.access_keys is not None
        key = platform.access_keys[0]
        assert isinstance(key, AccessKey)
        assert key.key == seeded.platforms[platform.os.lower()].access_keys[0].key
        assert key.secret is None  # secrets only come back from create


async def test_apps_create_returns_secrets_once(emu: Emulator, mp: Client) -> None:
    app = await mp.apps.create(name="Integration App", platforms=["iOS", "Android"])
    assert isinstance(app, App)
    assert app.id == 6
    assert app.name == "Integration App"
    assert app.platforms is not None
    assert sorted(p.os for p in app.platforms) == ["Android", "iOS"]
    stored = emu.state.apps[app.id]
    for platform in app.platforms:
        assert platform.access_keys is not None
        key = platform.access_keys[0]
        expected = stored.platforms[platform.os.lower()].access_keys[0]
        assert (key.key, key.secret) == (expected.key, expected.secret)
        assert isinstance(key.secret, str) and key.secret
        assert key.secret not in repr(app)  # masked in reprs

    again = await mp.apps.get(app.id)
    assert again.platforms is not None
    assert all(k.secret is None for p in again.platforms for k in p.access_keys or [])


async def test_apps_update(emu: Emulator, mp: Client) -> None:
    updated = await mp.apps.update(2, name="Renamed App")
    assert updated is not None and (updated.id, updated.name) == (2, "Renamed App")
    assert emu.state.apps[2].name == "Renamed App"
    assert (await mp.apps.get(2)).name == "Renamed App"


async def test_apps_delete_needs_platforms_deleted_first(emu: Emulator, mp: Client) -> None:
    app = await mp.apps.create(name="Doomed", platforms=["iOS", "MobileWeb"])
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.apps.delete(app.id)
    assert info.value.messages == ["Deleting an app that has active platforms is not allowed."]
    assert app.id in emu.state.apps

    for platform in await mp.platforms.list(app.id):
        await mp.platforms.delete(app.id, platform.os)
    await mp.apps.delete(app.id)
    assert app.id not in emu.state.apps
    with pytest.raises(NotFoundError):
        await mp.apps.get(app.id)


# ---- platforms ---------------------------------------------------------------------------


def _missing_os(emu: Emulator, app_id: int) -> str:
    present = set(emu.state.apps[app_id].platforms)
    return next(os for os in sorted(PlatformOS.ALL) if os.lower() not in present)


async def test_platforms_get_and_list(emu: Emulator, mp: Client) -> None:
    seeded = emu.state.apps[1].platforms
    platforms = await mp.platforms.list(1)
    assert [p.os for p in platforms] == [p.os for p in seeded.values()]

    first = next(iter(seeded.values()))
    platform = await mp.platforms.get(1, first.os.upper())  # os is case-insensitive
    assert isinstance(platform, Platform)
    assert platform.os == first.os
    assert platform.application_id == 1
    assert platform.profile_merging is first.profile_merging
    assert platform.push_attribution_timer == first.push_attribution_timer == 30
    assert platform.crash_handling == "AppDefined"
    assert platform.access_keys is not None
    assert [k.key for k in platform.access_keys] == [k.key for k in first.access_keys]
    assert platform.access_keys[0].secret is None


async def test_platforms_create_update_delete(emu: Emulator, mp: Client) -> None:
    os = _missing_os(emu, 1)
    created = await mp.platforms.create(
        1, os, profile_merging=True, push_attribution_timer=45, crash_handling="ForceCatch"
    )
    assert isinstance(created, Platform)
    assert (created.os, created.application_id) == (os, 1)
    assert created.profile_merging is True
    assert created.push_attribution_timer == 45
    assert created.crash_handling == "ForceCatch"
    assert created.access_keys is not None and created.access_keys[0].secret
    assert os.lower() in emu.state.apps[1].platforms

    with pytest.raises(UnprocessableEntityError) as info:
        await mp.platforms.create(1, os)
    assert info.value.messages == ["Platform already exists for the specified App."]

    updated = await mp.platforms.update(1, os, social_mode="Facebook", push_attribution_timer=10)
    assert updated is not None
    assert (updated.social_mode, updated.push_attribution_timer) == ("Facebook", 10)
    assert updated.crash_handling == "ForceCatch"  # untouched settings stay
    stored = emu.state.apps[1].platforms[os.lower()]
    assert (stored.social_mode, stored.push_attribution_timer) == ("Facebook", 10)

    await mp.platforms.delete(1, os)
    assert os.lower() not in emu.state.apps[1].platforms
    with pytest.raises(NotFoundError):
        await mp.platforms.get(1, os)


# ---- platform services -------------------------------------------------------------------


async def test_platform_services_list(emu: Emulator, mp: Client) -> None:
    # Odd-numbered seeded apps have Google Analytics on their first platform.
    first = next(iter(emu.state.apps[1].platforms.values()))
    services = await mp.platform_services.list(1, first.os)
    assert [s.name for s in services] == [SERVICE]
    service = services[0]
    assert isinstance(service, PlatformService)
    assert (service.account, service.is_active, service.is_visible) == (
        "Default Account",
        True,
        True,
    )
    settings = {s.name: s for s in service.settings or []}
    raw = first.services[(SERVICE, "Default Account")].settings["apiKey"]
    assert settings["apiKey"].is_confidential is True
    assert settings["apiKey"].value == "*" * (len(raw) - 4) + raw[-4:]
    assert settings["useCustomerId"].is_confidential is False
    assert settings["useCustomerId"].value == "True"


async def test_platform_services_configure(emu: Emulator, mp: Client) -> None:
    first = next(iter(emu.state.apps[2].platforms.values()))
    configured = await mp.platform_services.configure(
        2,
        first.os,
        name="Amplitude",
        settings={"apiKey": "amp-secret-1234", "userIdentification": "customerId"},
        is_visible=False,
    )
    assert configured is not None
    assert (configured.name, configured.account) == ("Amplitude", "Default Account")
    assert (configured.is_active, configured.is_visible) == (True, False)
    values = {s.name: s.value for s in configured.settings or []}
    assert values["apiKey"] == "***********1234"
    assert values["userIdentification"] == "customerId"
    stored = first.services[("Amplitude", "Default Account")]
    assert stored.settings == {"apiKey": "amp-secret-1234", "userIdentification": "customerId"}
    assert stored.is_visible is False

    listed = await mp.platform_services.list(2, first.os)
    assert "Amplitude" in {s.name for s in listed}


async def test_platform_services_configure_errors(emu: Emulator, mp: Client) -> None:
    os = next(iter(emu.state.apps[2].platforms.values())).os
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.platform_services.configure(
            2, os, name="Mixpanel", settings={"useMixpanelPeople": "True"}
        )
    assert info.value.messages == ["Required setting not provided."]

    with pytest.raises(UnprocessableEntityError) as info:
        await mp.platform_services.configure(2, os, name="NoSuchService", settings={"a": "b"})
    assert info.value.messages == ["Specified service not found."]
    assert ("Mixpanel", "Default Account") not in emu.state.apps[2].platforms[os.lower()].services


# ---- audiences ---------------------------------------------------------------------------


async def test_audiences_list_and_delete(emu: Emulator, mp: Client) -> None:
    audiences = await mp.audiences.list()
    expected = {a.id for a in emu.state.audiences.values() if a.account_id == 1}
    assert {a.id for a in audiences} == expected
    assert len(audiences) == 7
    cross = next(a for a in audiences if a.name == "Cross-Workspace Loyalists")
    assert isinstance(cross, Audience)
    assert cross.workspaces is not None
    assert [w.id for w in cross.workspaces] == [4302, 4303]
    assert all(isinstance(w, Workspace) for w in cross.workspaces)
    assert isinstance(cross.size, int)
    assert cross.connected_outputs and cross.connected_outputs[0].provider_name

    in_workspace = await mp.audiences.list(workspace_id=WORKSPACE)
    assert len(in_workspace) == 2
    assert all([w.id for w in a.workspaces or []] == [WORKSPACE] for a in in_workspace)

    victim = in_workspace[0].id
    await mp.audiences.delete(victim)
    assert victim not in emu.state.audiences
    assert victim not in {a.id for a in await mp.audiences.list()}
    with pytest.raises(NotFoundError):
        await mp.audiences.delete(victim)


# ---- datapoints --------------------------------------------------------------------------


async def test_datapoints_list_and_add(emu: Emulator, mp: Client) -> None:
    points = await mp.datapoints.list(1)
    assert all(isinstance(p, DataPoint) for p in points)
    assert {p.key() for p in points} == {
        (dp.type.lower(), dp.name, dp.attribute_name, dp.event_type)
        for dp in emu.state.apps[1].datapoints.values()
    }
    cart = next(p for p in points if p.name == "Add To Cart" and p.type == "Event")
    assert (cart.event_type, cart.attribute_name) == ("transaction", None)

    await mp.datapoints.add(
        1,
        [
            DataPoint(name="Wishlist", type="Event", event_type="other"),
            {
                "name": "Wishlist",
                "type": "EventAttribute",
                "attribute_name": "sku",
                "event_type": "other",
            },
        ],
    )
    stored = emu.state.apps[1].datapoints
    assert ("Event", "Wishlist", None, "other") in stored
    assert ("EventAttribute", "Wishlist", "sku", "other") in stored
    after = {p.key() for p in await mp.datapoints.list(1)}
    assert ("eventattribute", "Wishlist", "sku", "other") in after
    assert len(after) == len(points) + 2


# ---- datapoint filters -------------------------------------------------------------------


def _rows(filters: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [(f.type, f.name, f.attribute_name, f.event_type, f.enabled) for f in filters]


async def test_datapoint_filters_list_matches_state(emu: Emulator, mp: Client) -> None:
    filters = await mp.datapoint_filters.list(1, SERVICE)
    assert all(isinstance(f, DataPointFilter) for f in filters)
    assert _rows(filters) == _rows(emu.state.filters(1, SERVICE))
    assert all(f.enabled is True for f in filters)


async def test_datapoint_filters_update(emu: Emulator, mp: Client) -> None:
    result = await mp.datapoint_filters.update(
        1,
        SERVICE,
        [
            DataPointFilter(name="Search", type="Event", event_type="search", enabled=False),
            {"name": "$FirstName", "type": "UserAttribute", "enabled": False},
        ],
    )
    assert _rows(result) == [
        ("Event", "Search", None, "search", False),
        ("UserAttribute", "$FirstName", None, None, False),
    ]
    stored = emu.state.service_filters(1, SERVICE).filters
    assert stored[("Event", "Search", None, "search")].enabled is False
    listed = await mp.datapoint_filters.list(1, SERVICE)
    assert _rows(listed) == _rows(emu.state.filters(1, SERVICE))
    query = next(f for f in listed if f.attribute_name == "query")
    assert query.enabled is False  # the disabled Event disables its attributes


async def test_datapoint_filters_event_type_hierarchy(emu: Emulator, mp: Client) -> None:
    await mp.datapoint_filters.update(
        1, SERVICE, [DataPointFilter(name="transaction", type="EventType", enabled=False)]
    )
    listed = await mp.datapoint_filters.list(1, SERVICE)
    cart = [f for f in listed if f.name == "Add To Cart"]
    assert {(f.type, f.attribute_name) for f in cart} == {
        ("Event", None),
        ("EventAttribute", "product_id"),
        ("EventAttribute", "price"),
    }
    assert all(f.enabled is False for f in cart)
    event_type = next(f for f in listed if f.type == "EventType")
    assert (event_type.name, event_type.enabled) == ("transaction", False)
    search = next(f for f in listed if f.name == "Search" and f.type == "Event")
    assert search.enabled is True
    assert _rows(listed) == _rows(emu.state.filters(1, SERVICE))

    # The hierarchy is computed, not stored: re-enabling the type restores the children.
    await mp.datapoint_filters.update(
        1, SERVICE, [DataPointFilter(name="transaction", type="EventType", enabled=True)]
    )
    relisted = await mp.datapoint_filters.list(1, SERVICE)
    assert all(f.enabled for f in relisted if f.name == "Add To Cart")


async def test_service_filtering_get_and_set(emu: Emulator, mp: Client) -> None:
    filtering = await mp.datapoint_filters.get_service_filtering(1, SERVICE)
    assert isinstance(filtering, ServiceFiltering)
    assert filtering.name == SERVICE
    assert filtering.send_new_datapoints_by_default is True

    await mp.datapoint_filters.set_service_filtering(
        1, SERVICE, send_new_datapoints_by_default=False
    )
    assert emu.state.service_filters(1, SERVICE).send_new_datapoints_by_default is False
    again = await mp.datapoint_filters.get_service_filtering(1, SERVICE)
    assert again.send_new_datapoints_by_default is False
    # Existing datapoints keep the old default; only new ones follow the new one.
    await mp.datapoints.add(1, [DataPoint(name="Late Event", type="Event", event_type="other")])
    listed = {(f.type, f.name): f.enabled for f in await mp.datapoint_filters.list(1, SERVICE)}
    assert listed[("Event", "Late Event")] is False
    assert listed[("Event", "Add To Cart")] is True


# ---- feeds -------------------------------------------------------------------------------


async def test_feeds_list_and_get(emu: Emulator, mp: Client) -> None:
    feeds = await mp.feeds.list(WORKSPACE)
    seeded = [f for f in emu.state.feeds.values() if f.workspace_id == WORKSPACE]
    assert [(f.id, f.name) for f in feeds] == [(f.id, f.name) for f in seeded]
    assert all(isinstance(f, Feed) and isinstance(f.id, int) for f in feeds)  # "229" -> 229

    mailchimp = next(f for f in seeded if f.module_name == "MailChimp")
    feed = await mp.feeds.get(mailchimp.id)
    assert (feed.id, feed.module_name, feed.name) == (mailchimp.id, "MailChimp", mailchimp.name)
    assert (feed.os, feed.is_debug) == ("Unknown", False)
    assert feed.settings is not None
    assert all(isinstance(s, FeedSetting) for s in feed.settings)
    assert {s.name: s.value for s in feed.settings}["emailType"] == "html"


async def test_feeds_create_and_update(emu: Emulator, mp: Client) -> None:
    ref = await mp.feeds.create(
        WORKSPACE,
        module_name="Amplitude",
        name="Amplitude Feed",
        os="ios",
        settings={"apiKey": "k-123"},
        is_debug=True,
    )
    assert isinstance(ref, EntityRef) and isinstance(ref.id, int)
    stored = emu.state.feeds[ref.id]
    assert (stored.workspace_id, stored.module_name, stored.name) == (
        WORKSPACE,
        "Amplitude",
        "Amplitude Feed",
    )
    assert (stored.os, stored.is_debug) == ("iOS", True)
    assert stored.settings == [{"value": "k-123", "name": "apiKey"}]

    updated = await mp.feeds.update(
        WORKSPACE, ref.id, module_name="Amplitude", name="Renamed Feed", os="Android"
    )
    assert updated.id == ref.id
    assert (stored.name, stored.os, stored.is_debug) == ("Renamed Feed", "Android", False)
    feed = await mp.feeds.get(ref.id)
    assert (feed.name, feed.os) == ("Renamed Feed", "Android")

    with pytest.raises(UnprocessableEntityError) as info:
        await mp.feeds.create(WORKSPACE, module_name="Amplitude", name="Renamed Feed", os="iOS")
    assert info.value.messages == ["Feed name already exists."]


async def test_feeds_output_configurations_and_subscriptions(emu: Emulator, mp: Client) -> None:
    configs = await mp.feeds.list_output_configurations(WORKSPACE, "Amplitude")
    assert all(isinstance(c, ServiceConfiguration) for c in configs)
    assert [c.name for c in configs] == ["Amplitude Main Project", "Amplitude Development"]
    assert all(emu.state.service_configurations[c.id].workspace_id == WORKSPACE for c in configs)

    subscriptions = await mp.feeds.list_subscriptions(WORKSPACE)
    assert len(subscriptions) == 1
    seeded = subscriptions[0]
    assert isinstance(seeded, FeedSubscription)
    assert (seeded.service_configuration_id, seeded.config_name) == (
        configs[0].id,
        "Amplitude Main Project",
    )
    assert seeded.is_active is False
    assert [(s.name, s.value) for s in seeded.settings or []] == [("useCustomerId", "True")]

    feed = next(f for f in await mp.feeds.list(WORKSPACE) if f.name and "radar" in f.name)
    ref = await mp.feeds.create_subscription(
        feed.id,
        service_configuration_id=configs[1].id,
        is_active=True,
        settings={"useCustomerId": True},
    )
    assert isinstance(ref, EntityRef)
    stored = emu.state.subscriptions[ref.id]
    assert (stored.feed_id, stored.service_configuration_id, stored.is_active) == (
        feed.id,
        configs[1].id,
        True,
    )
    after = await mp.feeds.list_subscriptions(WORKSPACE)
    assert {s.id for s in after} == {seeded.id, ref.id}
    new = next(s for s in after if s.id == ref.id)
    assert (new.config_name, new.is_active) == ("Amplitude Development", True)


# ---- services, users, workspaces -----------------------------------------------------------


async def test_services_list_and_get(emu: Emulator, mp: Client) -> None:
    services = await mp.services.list()
    assert all(isinstance(s, Service) for s in services)
    assert {s.name for s in services} == {spec.name for spec in emu.state.services.values()}

    amplitude = await mp.services.get("Amplitude")
    assert amplitude.name == "Amplitude"
    settings = {s.name: s for s in amplitude.settings or []}
    assert settings["apiKey"].is_required is True
    assert settings["apiKey"].type == "String"
    assert settings["includeEmailAsUserProperty"].is_required is False

    with pytest.raises(NotFoundError) as info:
        await mp.services.get("NoSuchService")
    assert info.value.messages == ["Specified service not found."]


async def test_users_list_and_get_by_email(emu: Emulator, mp: Client) -> None:
    users = await mp.users.list()
    assert all(isinstance(u, User) for u in users)
    assert {u.email for u in users} == {u.email for u in emu.state.users if 1 in u.account_ids}

    jane = await mp.users.get("jane.doe+ops@acme.example")
    assert (jane.email, jane.first_name, jane.last_name) == (
        "jane.doe+ops@acme.example",
        "Jane",
        "Doe",
    )
    assert api_requests(emu)[-1].path == "/v1/users/jane2Edoe2Bops40acme2Eexample"

    with pytest.raises(NotFoundError):
        await mp.users.get("ops@globex.example")  # a user of the other account only


async def test_workspaces_list_decodes_string_ids(emu: Emulator, mp: Client) -> None:
    workspaces = await mp.workspaces.list()
    assert [(w.id, w.name) for w in workspaces] == [
        (4302, "mP Traveller"),
        (4303, "Acme Retail"),
        (4304, "Acme Media"),
    ]
    assert all(isinstance(w, Workspace) and type(w.id) is int for w in workspaces)
