"""Datapoint filters and service filtering, including the hierarchy rule."""

from __future__ import annotations

from mpasync.emulator import Emulator
from tests.emulator.emu_helpers import Api

GA = "GoogleAnalyticsEventForwarder"
PATH = f"/v1/apps/1/{GA}/datapoints"


def find(filters: list[dict], type_: str, name: str, attribute: str | None = None) -> dict:
    return next(
        f
        for f in filters
        if f["type"] == type_ and f["name"] == name and f["attribute_name"] == attribute
    )


async def test_get_filters_lists_every_datapoint(api: Api, emu: Emulator) -> None:
    reply = await api.get(PATH)
    assert reply.status == 200
    assert reply.body["dataType"] == "datapoint" and reply.body["errors"] is None
    filters = reply.body["data"]
    assert len(filters) == len(emu.state.apps[1].datapoints)
    assert all(
        set(f)
        == {"name", "attribute_name", "type", "event_type", "enabled", "data_type", "created_on"}
        for f in filters
    )
    assert all(f["enabled"] for f in filters)
    assert {f["type"] for f in filters} >= {
        "Event",
        "EventAttribute",
        "ScreenView",
        "UserAttribute",
        "UserIdentity",
    }


async def test_update_returns_bare_array_with_canonical_casing(api: Api, emu: Emulator) -> None:
    body = [
        {"name": "my event", "type": "event", "event_type": "navigation", "enabled": True},
        {
            "name": "my event",
            "attribute_name": "my event attribute",
            "event_type": "navigation",
            "type": "eventattribute",
            "enabled": False,
        },
    ]
    reply = await api.put(PATH, body)
    assert reply.status == 202
    assert reply.body == [
        {"name": "my event", "type": "Event", "event_type": "navigation", "enabled": True},
        {
            "name": "my event",
            "attribute_name": "my event attribute",
            "type": "EventAttribute",
            "event_type": "navigation",
            "enabled": False,
        },
    ]
    # the datapoints did not exist: they were created
    assert ("EventAttribute", "my event", "my event attribute", "navigation") in emu.state.apps[
        1
    ].datapoints
    # filters persist per (app, service) and are visible through the state
    stored = emu.state.service_filters(1, GA).filters
    assert (
        stored[("EventAttribute", "my event", "my event attribute", "navigation")].enabled is False
    )
    assert (
        find(emu_filters(emu), "EventAttribute", "my event", "my event attribute")["enabled"]
        is False
    )
    # other services and other apps are untouched
    other = (await api.get("/v1/apps/1/Amplitude/datapoints")).body["data"]
    assert find(other, "EventAttribute", "my event", "my event attribute")["enabled"] is True
    assert ("Event", "my event", None, "navigation") not in emu.state.apps[2].datapoints


def emu_filters(emu: Emulator) -> list[dict]:
    return [
        {"type": f.type, "name": f.name, "attribute_name": f.attribute_name, "enabled": f.enabled}
        for f in emu.state.filters(1, GA)
    ]


async def test_event_disables_its_attributes(api: Api) -> None:
    reply = await api.put(
        PATH,
        [{"name": "Add To Cart", "type": "Event", "event_type": "transaction", "enabled": False}],
    )
    assert reply.body == [
        {"name": "Add To Cart", "type": "Event", "event_type": "transaction", "enabled": False}
    ]
    filters = (await api.get(PATH)).body["data"]
    assert find(filters, "Event", "Add To Cart")["enabled"] is False
    assert find(filters, "EventAttribute", "Add To Cart", "product_id")["enabled"] is False
    assert find(filters, "EventAttribute", "Add To Cart", "price")["enabled"] is False
    assert find(filters, "Event", "Checkout")["enabled"] is True
    # an attribute explicitly enabled still reports disabled while its parent is off ...
    reply = await api.put(
        PATH,
        [
            {
                "name": "Add To Cart",
                "attribute_name": "price",
                "type": "EventAttribute",
                "event_type": "transaction",
                "enabled": True,
            }
        ],
    )
    assert reply.body[0]["enabled"] is False
    # ... and comes back when the parent is re-enabled, keeping its own value
    await api.put(
        PATH,
        [
            {
                "name": "Add To Cart",
                "attribute_name": "product_id",
                "type": "EventAttribute",
                "event_type": "transaction",
                "enabled": False,
            },
            {"name": "Add To Cart", "type": "Event", "event_type": "transaction", "enabled": True},
        ],
    )
    filters = (await api.get(PATH)).body["data"]
    assert find(filters, "EventAttribute", "Add To Cart", "price")["enabled"] is True
    assert find(filters, "EventAttribute", "Add To Cart", "product_id")["enabled"] is False


async def test_event_type_disables_events_and_attributes_of_that_type(
    api: Api, emu: Emulator
) -> None:
    reply = await api.put(PATH, [{"name": "Transaction", "type": "EventType", "enabled": False}])
    assert reply.status == 202
    assert reply.body == [
        {"name": "transaction", "type": "EventType", "event_type": None, "enabled": False}
    ]
    filters = (await api.get(PATH)).body["data"]
    for f in filters:
        if f["type"] in ("Event", "EventAttribute"):
            assert f["enabled"] is (f["event_type"] != "transaction"), f
    assert find(filters, "EventType", "transaction")["enabled"] is False
    assert all(f["enabled"] for f in filters if f["type"] == "ScreenView")
    # the EventType filter is not a datapoint
    assert not any(dp.type == "EventType" for dp in emu.state.apps[1].datapoints.values())
    await api.put(PATH, [{"name": "transaction", "type": "eventtype", "enabled": True}])
    assert all(f["enabled"] for f in (await api.get(PATH)).body["data"])


async def test_identity_is_case_insensitive_for_type_only(api: Api, emu: Emulator) -> None:
    before = len(emu.state.service_filters(1, GA).filters)
    await api.put(
        PATH, [{"name": "Search", "type": "EVENT", "event_type": "Search", "enabled": False}]
    )
    await api.put(
        PATH, [{"name": "Search", "type": "event", "event_type": "search", "enabled": False}]
    )
    assert len(emu.state.service_filters(1, GA).filters) == before + 1
    await api.put(
        PATH, [{"name": "search", "type": "event", "event_type": "search", "enabled": False}]
    )
    assert len(emu.state.service_filters(1, GA).filters) == before + 2


async def test_filter_validation(api: Api, emu: Emulator) -> None:
    for body, message in [
        ([{"name": "x", "type": "Event", "enabled": False}], "Event type must be specified."),
        (
            [{"name": "x", "type": "EventAttribute", "attribute_name": "a", "enabled": False}],
            "Event type must be specified.",
        ),
        (
            [{"name": "x", "type": "Commerce", "event_type": "navigation"}],
            "Invalid event type specified.",
        ),
        ([{"name": "Phone", "type": "UserIdentity"}], "Invalid user identity type specified."),
        (
            [{"name": "x", "type": "Event", "event_type": "product_purchase"}],
            "Invalid event type specified.",
        ),
        ([{"name": "x", "type": "Nonsense"}], "Invalid datapoint type specified."),
        ([{"type": "Event", "event_type": "search"}], "Datapoint name must be specified."),
    ]:
        reply = await api.put(PATH, body)
        assert reply.status == 422, body
        assert reply.body["errors"] == [{"code": "VALIDATION_ERROR", "message": message}]
    # a failing item means nothing is applied
    valid = {"name": "fine", "type": "Event", "event_type": "search", "enabled": False}
    assert (await api.put(PATH, [valid, {"name": "x", "type": "Event"}])).status == 422
    assert ("Event", "fine", None, "search") not in emu.state.apps[1].datapoints

    reply = await api.put("/v1/apps/1/NoSuchService/datapoints", [valid])
    assert reply.status == 422
    assert reply.body["errors"][0]["message"] == "Specified service not found."
    assert (await api.get("/v1/apps/1/NoSuchService/datapoints")).status == 404
    assert (await api.put(f"/v1/apps/9001/{GA}/datapoints", [valid])).status == 404


async def test_service_filtering(api: Api, emu: Emulator) -> None:
    reply = await api.get(f"/v1/apps/1/{GA}")
    assert reply.status == 200
    assert reply.body == {
        "data": [{"name": GA, "sendNewDataPointsByDefault": True}],
        "dataType": "datapoint",
        "errors": None,
    }
    reply = await api.put(f"/v1/apps/1/{GA}", {"sendNewDataPointsByDefault": False})
    assert reply.status == 202
    assert reply.body["data"] == [{"name": GA, "sendNewDataPointsByDefault": False}]
    assert emu.state.service_filters(1, GA).send_new_datapoints_by_default is False
    # existing datapoints keep being sent; new ones are not
    await api.put(
        "/v1/apps/1/datapoints", [{"name": "Brand New", "type": "Event", "event_type": "other"}]
    )
    filters = (await api.get(PATH)).body["data"]
    assert find(filters, "Event", "Brand New")["enabled"] is False
    assert find(filters, "Event", "Search")["enabled"] is True
    # the reference's curl PUTs the same body to .../datapoints
    reply = await api.put(PATH, {"sendNewDataPointsByDefault": True})
    assert reply.status == 202 and reply.body["data"][0]["sendNewDataPointsByDefault"] is True
    assert (await api.put(f"/v1/apps/1/{GA}", {"sendNewDataPointsByDefault": "yes"})).status == 422
    assert (
        await api.put("/v1/apps/1/NoSuchService", {"sendNewDataPointsByDefault": True})
    ).status == 422
    # service names are matched case-insensitively
    assert (await api.get("/v1/apps/1/googleanalyticseventforwarder")).body["data"][0]["name"] == GA


async def test_commerce_filters_and_datapoints_need_no_event_type(api: Api, emu: Emulator) -> None:
    # Issue 12: only Event/EventAttribute require event_type (platform-api.md line 1990).
    reply = await api.put(PATH, [{"name": "cart", "type": "Commerce", "enabled": False}])
    assert reply.status == 202
    assert reply.body == [
        {"name": "cart", "type": "Commerce", "event_type": None, "enabled": False}
    ]
    point = {"name": "cart", "type": "CommerceAttribute", "attribute_name": "sku"}
    assert (await api.put("/v1/apps/1/datapoints", [point])).status == 202
    assert ("CommerceAttribute", "cart", "sku", None) in emu.state.apps[1].datapoints


async def test_identity_datapoints_must_name_an_identity_type(api: Api) -> None:
    reply = await api.put("/v1/apps/1/datapoints", [{"name": "Nickname", "type": "Identity"}])
    assert reply.status == 422
    assert reply.body["errors"][0]["message"] == "Invalid user identity type specified."


async def test_user_identity_names_are_matched_case_insensitively(api: Api) -> None:
    reply = await api.put(PATH, [{"name": "email", "type": "UserIdentity", "enabled": False}])
    assert reply.status == 202
    assert reply.body[0]["name"] == "Email"


async def test_event_type_on_a_type_that_ignores_it_is_ignored(api: Api) -> None:
    body = [{"name": "Home", "type": "ScreenView", "event_type": "navigation", "enabled": False}]
    reply = await api.put(PATH, body)
    assert reply.status == 202
    assert reply.body[0]["event_type"] is None
