"""v2 endpoints of the emulator: calculated attributes and field transformations."""

from __future__ import annotations

import asyncio

import aiohttp

from mpasync.emulator import Emulator
from tests.emulator.emu_helpers import Api
from tests.reference_data import CREATE_DRAFT_DEFINITION

CA = "/platform/v2/workspaces/4302/calculatedattributes"
FT = "/platform/v2/workspaces/4302/transformations/fields"

DEFINITION = CREATE_DRAFT_DEFINITION

CA_KEYS = {
    "id",
    "name",
    "description",
    "created_by",
    "created_on",
    "last_modified_on",
    "last_modified_by",
    "active_definition",
    "draft_definition",
    "audience_count",
    "activated_on",
    "activated_by",
}


async def test_calculated_attribute_lifecycle(
    session: aiohttp.ClientSession, emu: Emulator
) -> None:
    emu.state.calculation_seconds = 0.2
    api = Api(emu, session)
    reply = await api.post(CA, {"name": "Cart Adds", "draft_definition": DEFINITION})
    assert reply.status == 200
    ca_id = reply.body
    assert isinstance(ca_id, int)

    one = await api.get(f"{CA}/{ca_id}")
    assert one.status == 200 and set(one.body) == CA_KEYS
    assert one.body["draft_definition"] == DEFINITION and one.body["active_definition"] is None

    listing = await api.get(CA, params={"name": "Cart Adds"})
    assert [c["id"] for c in listing.body] == [ca_id]
    assert len((await api.get(CA)).body) == 3  # two seeded
    assert (await api.call("HEAD", CA, params={"name": "Cart Adds"})).status == 204
    head = await api.call("HEAD", CA, params={"name": "nope"})
    assert head.status == 404 and head.body is None

    status = await api.get(f"{CA}/{ca_id}/activation")
    assert status.body == {
        "calculated_attribute_id": ca_id,
        "is_active": False,
        "activated_on": None,
        "activated_by": None,
    }

    # rename while a draft: allowed
    assert (await api.put(f"{CA}/{ca_id}", {"name": "Cart Adds v2"})).status == 204
    assert emu.state.calculated_attributes[ca_id].name == "Cart Adds v2"

    reply = await api.post(f"{CA}/{ca_id}/activation")
    assert reply.status == 204 and reply.body is None
    ca = emu.state.calculated_attributes[ca_id]
    assert ca.active_definition == DEFINITION and ca.draft_definition is None
    status = (await api.get(f"{CA}/{ca_id}/activation")).body
    assert status["is_active"] is True and status["activated_on"].endswith("Z")

    reply = await api.post(f"{CA}/{ca_id}/activation")
    assert reply.status == 422
    assert reply.body == {
        "errors": [
            {"code": "VALIDATION_ERROR", "message": "No draft definition was found to activate."}
        ]
    }

    reply = await api.put(f"{CA}/{ca_id}", {"name": "Renamed After Activation"})
    assert reply.status == 422
    assert reply.body["errors"][0]["message"] == (
        "Calculated attribute name cannot be changed once the calculated attribute"
        " has been activated."
    )
    assert (await api.put(f"{CA}/{ca_id}", {"description": "only this"})).status == 204
    assert (
        await api.put(
            f"{CA}/{ca_id}", {"draft_definition": {**DEFINITION, "calculation_type": "sum"}}
        )
    ).status == 204
    assert ca.draft_definition is not None and ca.active_definition == DEFINITION
    assert (await api.delete(f"{CA}/{ca_id}/draft")).status == 204
    assert ca.draft_definition is None

    calc = (await api.get(f"{CA}/{ca_id}/calculation")).body
    assert set(calc) == {
        "id",
        "name",
        "revision_id",
        "is_calculated",
        "calculation_percent_complete",
        "estimated_completion_time",
    }
    assert calc["revision_id"] == 1 and calc["calculation_percent_complete"] < 100
    await asyncio.sleep(0.25)
    calc = (await api.get(f"{CA}/{ca_id}/calculation")).body
    assert calc["is_calculated"] is True and calc["calculation_percent_complete"] == 100

    assert (await api.delete(f"{CA}/{ca_id}")).status == 204
    assert (await api.get(f"{CA}/{ca_id}")).status == 404
    assert ca_id not in emu.state.calculated_attributes


async def test_calculated_attribute_validation(api: Api) -> None:
    async def message(body: dict) -> str:
        reply = await api.post(CA, body)
        assert reply.status == 422, reply.body
        assert set(reply.body) == {"errors"}
        return reply.body["errors"][0]["message"]

    assert await message({"draft_definition": DEFINITION}) == "Field 'name' is required."
    assert (
        await message({"name": "Lifetime Purchases", "draft_definition": DEFINITION})
        == "Field 'name' must be unique."
    )
    assert await message({"name": "x"}) == "Field 'draft_definition' is required."
    assert (
        await message({"name": "x", "draft_definition": {**DEFINITION, "recipe_type": "user"}})
        == "Invalid recipe type"
    )
    assert (
        await message(
            {"name": "x", "draft_definition": {**DEFINITION, "calculation_type": "median"}}
        )
        == "Invalid calculation type"
    )
    bad_period = {
        **DEFINITION,
        "time_period": {"type": "within", "within": 0, "within_unit": "days"},
    }
    assert (
        await message({"name": "x", "draft_definition": bad_period})
        == "Invalid 'within' time period specification"
    )


async def test_v2_workspace_scope(api: Api) -> None:
    assert (await api.get("/platform/v2/workspaces/5101/calculatedattributes")).status == 404
    assert (await api.get("/platform/v2/workspaces/999/transformations/fields")).status == 404
    assert (await api.get(f"{CA}/99999")).status == 404
    # a calculated attribute of another workspace is not reachable through this one
    assert (await api.get("/platform/v2/workspaces/4303/calculatedattributes/5")).status == 404


TRANSFORMATION = {
    "id": "orders-to-events",
    "name": "Orders to events",
    "destination_type": "event_batch",
    "mappings": [
        {"mapping_type": "column", "source": "eventId", "destination": "event_id"},
        {"mapping_type": "static", "destination": "event_type", "value": "custom_event"},
        {"mapping_type": "ignore", "source": "internal_*"},
    ],
}


async def test_field_transformations_crud(api: Api, emu: Emulator) -> None:
    listing = await api.get(FT)
    assert listing.status == 200 and [t["id"] for t in listing.body] == [
        "example-field-transformation-id"
    ]

    created = await api.post(FT, TRANSFORMATION)
    assert created.status == 200 and created.body == TRANSFORMATION
    assert (4302, "orders-to-events") in emu.state.field_transformations
    dup = await api.post(FT, TRANSFORMATION)
    assert dup.status == 422 and dup.body["errors"][0]["message"] == "Field 'id' must be unique."

    one = await api.get(f"{FT}/orders-to-events")
    assert one.status == 200 and one.body == TRANSFORMATION

    changed = {**TRANSFORMATION, "name": "Renamed"}
    updated = await api.put(f"{FT}/orders-to-events", changed)
    assert updated.status == 200 and updated.body["name"] == "Renamed"
    assert emu.state.field_transformations[(4302, "orders-to-events")].document["name"] == "Renamed"
    assert (await api.put(f"{FT}/orders-to-events", {**changed, "id": "other"})).status == 422

    deleted = await api.delete(f"{FT}/orders-to-events")
    assert deleted.status == 204 and deleted.body is None
    assert (await api.get(f"{FT}/orders-to-events")).status == 404
    assert (await api.delete(f"{FT}/orders-to-events")).status == 404


async def test_field_transformation_validation(api: Api) -> None:
    cases = [
        (
            {**TRANSFORMATION, "id": "has space"},
            "Field 'id' may only contain letters, digits, '-' and '_'.",
        ),
        ({k: v for k, v in TRANSFORMATION.items() if k != "name"}, "Field 'name' is required."),
        (
            {
                **TRANSFORMATION,
                "mappings": [
                    {"mapping_type": "static", "source": "a", "destination": "b", "value": 1}
                ],
            },
            "Field 'source' must be empty for static mappings.",
        ),
        (
            {**TRANSFORMATION, "mappings": [{"mapping_type": "column", "destination": "b"}]},
            "Field 'source' is required for column mappings.",
        ),
        ({**TRANSFORMATION, "mappings": [{"mapping_type": "rename"}]}, "Invalid mapping type"),
    ]
    for body, message in cases:
        reply = await api.post(FT, body)
        assert reply.status == 422 and reply.body["errors"][0]["message"] == message
