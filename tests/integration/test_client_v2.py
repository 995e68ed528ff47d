"""The v2 methods of `mpasync.Client` against the emulator: calculated attributes through
their whole lifecycle, and field transformations CRUD."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mpasync import Client, NotFoundError, UnprocessableEntityError
from mpasync.emulator import Emulator
from mpasync.models import (
    ActivationStatus,
    CalculatedAttribute,
    CalculationStatus,
    Definition,
    FieldMapping,
    FieldTransformation,
)
from tests.integration.helpers import WORKSPACE

DEFINITION: dict[str, Any] = {
    "recipe_type": "event",
    "datapoint": {
        "type": "event",
        "event_name": "Purchase",
        "event_type": "custom_event",
        "custom_event_type": "transaction",
    },
    "conditions": [
        {"type": "number", "operator": "greater_than", "attribute_name": "price", "value": "10"}
    ],
    "calculation_type": "count",
    "time_period": {"type": "within", "within": 30, "within_unit": "days"},
}


async def test_calculated_attribute_lifecycle(emu: Emulator, mp: Client) -> None:
    ca = mp.calculated_attributes
    assert await ca.exists(WORKSPACE, name="Big Purchases") is False

    ca_id = await ca.create(
        WORKSPACE, name="Big Purchases", draft_definition=DEFINITION, description="Count > 10"
    )
    assert type(ca_id) is int
    assert emu.state.calculated_attributes[ca_id].workspace_id == WORKSPACE
    assert await ca.exists(WORKSPACE, name="Big Purchases") is True
    assert await ca.exists(WORKSPACE) is True

    named = await ca.list(WORKSPACE, name="Big Purchases")
    assert [c.id for c in named] == [ca_id]
    everything = await ca.list(WORKSPACE)
    assert {c.name for c in everything} >= {"Big Purchases", "Lifetime Purchases"}

    got = await ca.get(WORKSPACE, ca_id)
    assert isinstance(got, CalculatedAttribute)
    assert (got.id, got.name, got.description) == (ca_id, "Big Purchases", "Count > 10")
    assert got.active_definition is None
    draft = got.draft_definition
    assert isinstance(draft, Definition)
    assert draft.calculation_type == "count"
    assert draft.datapoint is not None and draft.datapoint.event_name == "Purchase"
    assert draft.time_period is not None and draft.time_period.within == 30
    assert draft.conditions is not None and draft.conditions[0].value == "10"

    changed = copy.deepcopy(DEFINITION)
    changed["calculation_type"] = "last_occurrence_timestamp"
    await ca.update(WORKSPACE, ca_id, draft_definition=changed)
    got = await ca.get(WORKSPACE, ca_id)
    assert got.draft_definition is not None
    assert got.draft_definition.calculation_type == "last_occurrence_timestamp"

    status = await ca.activation_status(WORKSPACE, ca_id)
    assert isinstance(status, ActivationStatus)
    assert (status.calculated_attribute_id, status.is_active) == (ca_id, False)

    await ca.activate(WORKSPACE, ca_id)
    status = await ca.activation_status(WORKSPACE, ca_id)
    assert status.is_active is True
    assert status.activated_by == emu.state.user_email
    assert isinstance(status.activated_on, str) and status.activated_on.endswith("Z")
    got = await ca.get(WORKSPACE, ca_id)
    assert got.draft_definition is None
    assert got.active_definition is not None
    assert got.active_definition.calculation_type == "last_occurrence_timestamp"

    with pytest.raises(UnprocessableEntityError) as info:
        await ca.update(WORKSPACE, ca_id, name="Renamed")
    assert "cannot be changed" in info.value.errors[0].message
    assert emu.state.calculated_attributes[ca_id].name == "Big Purchases"

    # A new draft after activation, then discard it.
    await ca.update(WORKSPACE, ca_id, draft_definition=DEFINITION, description="v2")
    assert (await ca.get(WORKSPACE, ca_id)).draft_definition is not None
    await ca.delete_draft(WORKSPACE, ca_id)
    got = await ca.get(WORKSPACE, ca_id)
    assert got.draft_definition is None and got.active_definition is not None
    assert got.description == "v2"

    calculation = await ca.calculation_status(WORKSPACE, ca_id)
    assert isinstance(calculation, CalculationStatus)
    assert (calculation.id, calculation.name, calculation.revision_id) == (
        ca_id,
        "Big Purchases",
        1,
    )
    assert isinstance(calculation.calculation_percent_complete, float)
    assert 0.0 <= calculation.calculation_percent_complete <= 100.0
    assert isinstance(calculation.is_calculated, bool)
    assert isinstance(calculation.estimated_completion_time, str)

    await ca.delete(WORKSPACE, ca_id)
    assert ca_id not in emu.state.calculated_attributes
    assert await ca.exists(WORKSPACE, name="Big Purchases") is False
    with pytest.raises(NotFoundError):
        await ca.get(WORKSPACE, ca_id)


async def test_calculated_attribute_seeded_and_errors(emu: Emulator, mp: Client) -> None:
    ca = mp.calculated_attributes
    seeded = await ca.list(WORKSPACE, name="Lifetime Purchases")
    assert len(seeded) == 1
    lifetime = seeded[0]
    assert lifetime.active_definition is not None
    assert lifetime.active_definition.calculation_type == "count"
    assert lifetime.activated_on == "2020-02-18T19:24:50.426Z"
    calculation = await ca.calculation_status(WORKSPACE, lifetime.id)
    assert (calculation.is_calculated, calculation.calculation_percent_complete) == (True, 100.0)

    with pytest.raises(UnprocessableEntityError) as info:
        await ca.create(WORKSPACE, name="Lifetime Purchases", draft_definition=DEFINITION)
    assert info.value.messages == ["Field 'name' must be unique."]

    never_active = (await ca.list(WORKSPACE, name="Last Search Term"))[0]
    await ca.delete_draft(WORKSPACE, never_active.id)
    with pytest.raises(UnprocessableEntityError) as info:
        await ca.activate(WORKSPACE, never_active.id)
    assert info.value.messages == ["No draft definition was found to activate."]


async def test_field_transformations_crud(emu: Emulator, mp: Client) -> None:
    ft = mp.field_transformations
    seeded = await ft.list(WORKSPACE)
    assert [t.id for t in seeded] == ["example-field-transformation-id"]
    assert all(isinstance(m, FieldMapping) for m in seeded[0].mappings)
    assert seeded[0].destination_type == "event_batch"

    transformation = FieldTransformation(
        id="orders-v1",
        name="Orders",
        mappings=[
            FieldMapping(mapping_type="column", source="orderId", destination="event_id"),
            FieldMapping(mapping_type="static", destination="event_type", value="custom_event"),
            FieldMapping(mapping_type="ignore", source="internalNotes"),
        ],
    )
    created = await ft.create(WORKSPACE, transformation)
    assert isinstance(created, FieldTransformation)
    assert created == transformation
    assert (WORKSPACE, "orders-v1") in emu.state.field_transformations
    # destination_type is always sent, though it is the model's default.
    assert (
        emu.state.field_transformations[(WORKSPACE, "orders-v1")].document["destination_type"]
        == "event_batch"
    )

    got = await ft.get(WORKSPACE, "orders-v1")
    assert got == transformation
    assert got.mappings[1].value == "custom_event"
    assert {t.id for t in await ft.list(WORKSPACE)} == {
        "example-field-transformation-id",
        "orders-v1",
    }

    with pytest.raises(UnprocessableEntityError) as info:
        await ft.create(WORKSPACE, transformation)
    assert info.value.messages == ["Field 'id' must be unique."]

    replacement = {
        "id": "orders-v1",
        "name": "Orders (renamed)",
        "destination_type": "event_batch",
        "mappings": [{"mapping_type": "column", "source": "orderId", "destination": "event_id"}],
    }
    updated = await ft.update(WORKSPACE, "orders-v1", replacement)
    assert (updated.name, len(updated.mappings)) == ("Orders (renamed)", 1)
    stored = emu.state.field_transformations[(WORKSPACE, "orders-v1")].document
    assert stored["name"] == "Orders (renamed)"

    await ft.delete(WORKSPACE, "orders-v1")
    assert (WORKSPACE, "orders-v1") not in emu.state.field_transformations
    with pytest.raises(NotFoundError):
        await ft.get(WORKSPACE, "orders-v1")


async def test_v2_works_without_account_id(emu: Emulator) -> None:
    async with emu.client(account_id=None) as mp:
        names = {c.name for c in await mp.calculated_attributes.list(WORKSPACE)}
        assert names == {"Lifetime Purchases", "Last Search Term"}
        assert [t.id for t in await mp.field_transformations.list(WORKSPACE)] == [
            "example-field-transformation-id"
        ]
    assert all("accountId" not in e.query for e in emu.request_log)
