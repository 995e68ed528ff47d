"""Every documented invalid calculated-attribute definition is refused twice, consistently:
by the client before sending (`RequestValidationError` naming the field) and by the emulator
with the reference's 422 message (platform-api.md "Validation Error Responses", lines
1282-1316). Definitions the docs allow are accepted by both, in both documented shapes
(``datapoint`` + calculation_type, and the Get example's ``data_point`` + ``operator``).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mpasync import RequestValidationError, UnprocessableEntityError
from mpasync.emulator import Emulator
from mpasync.resources.calculated_attributes_checks import validate_definition
from tests.reference_data import CREATE_DRAFT_DEFINITION

WORKSPACE = 4302  # the emulator's first workspace


def draft(**changes: Any) -> dict[str, Any]:
    """The reference's create example with top-level keys replaced (None deletes)."""
    result = copy.deepcopy(CREATE_DRAFT_DEFINITION)
    for key, value in changes.items():
        if value is None:
            result.pop(key)
        else:
            result[key] = value
    return result


def point(**changes: Any) -> dict[str, Any]:
    result = {**CREATE_DRAFT_DEFINITION["datapoint"], **changes}
    return {k: v for k, v in result.items() if v is not None}


def cond(kind: str, operator: str, **fields: Any) -> dict[str, Any]:
    """A definition with one condition."""
    return draft(conditions=[{"type": kind, "operator": operator, "attribute_name": "a", **fields}])


C = "draft_definition.conditions[0]"
D = "draft_definition"
GET_EXAMPLE_DATA_POINT = {
    "type": "event",
    "event_name": "string",
    "attribute_name": "string",
    "event_type": "unknown",
    "custom_event_type": "unknown",
    "conditions": [
        {
            "type": "string",
            "operator": "exists",
            "attribute_name": "string",
            "value": "string",
            "values": ["string"],
            "min_value": "string",
            "max_value": "string",
        }
    ],
    "operator": "count",
    "time_period": {"type": "all", "date": "2020-01-30", "within": 0, "within_unit": "days"},
}

# (definition, the emulator's 422 message, the field the client names)
INVALID: list[Any] = [
    pytest.param(
        cond("string", "greater_than", value="1"),
        "Invalid string condition operator",
        f"{C}.operator",
        id="string-greater_than",
    ),
    pytest.param(
        cond("boolean", "contains", value="x"),
        "Invalid boolean condition operator",
        f"{C}.operator",
        id="boolean-contains",
    ),
    pytest.param(
        cond("number", "contains", value="x"),
        "Invalid numeric condition operator",
        f"{C}.operator",
        id="number-contains",
    ),
    pytest.param(
        cond("date", "in_list", values=["2020-01-01"]),
        "Invalid date condition operator",
        f"{C}.operator",
        id="date-in_list",
    ),
    pytest.param(
        cond("number", "between", max_value="2"),
        "Invalid numeric condition minimum value",
        f"{C}.min_value",
        id="between-without-min",
    ),
    pytest.param(
        cond("number", "between", min_value="1"),
        "Invalid numeric condition maximum value",
        f"{C}.max_value",
        id="between-without-max",
    ),
    pytest.param(
        cond("date", "between_dates", max_value="2020-02-01"),
        "Invalid date condition minimum value",
        f"{C}.min_value",
        id="between_dates-without-min",
    ),
    pytest.param(
        cond("date", "between_dates", min_value="2020-01-01"),
        "Invalid date condition maximum value",
        f"{C}.max_value",
        id="between_dates-without-max",
    ),
    pytest.param(
        cond("string", "in_list"),
        "In-list condition values must be specified",
        f"{C}.values",
        id="string-in_list-without-values",
    ),
    pytest.param(
        cond("number", "in_list", values=[]),
        "Invalid numeric in-list condition values",
        f"{C}.values",
        id="number-in_list-empty-values",
    ),
    pytest.param(
        cond("string", "equals"),
        "String condition value must be specified",
        f"{C}.value",
        id="string-without-value",
    ),
    pytest.param(
        cond("number", "greater_than"),
        "Invalid numeric condition value",
        f"{C}.value",
        id="number-without-value",
    ),
    pytest.param(
        cond("boolean", "equals"),
        "Invalid boolean condition value",
        f"{C}.value",
        id="boolean-without-value",
    ),
    pytest.param(
        cond("date", "before"),
        "Invalid date condition value",
        f"{C}.value",
        id="date-without-value",
    ),
    pytest.param(
        cond("number", "between", min_value="1", max_value="2", value="1"),
        "Condition value must be empty",
        f"{C}.value",
        id="range-with-value",
    ),
    pytest.param(
        cond("string", "equals", value="x", values=["x"]),
        "Condition values must be empty",
        f"{C}.values",
        id="single-with-values",
    ),
    pytest.param(
        cond("number", "equals", value="1", min_value="1"),
        "Condition minimum value must be empty",
        f"{C}.min_value",
        id="single-with-min",
    ),
    pytest.param(
        cond("number", "equals", value="1", max_value="1"),
        "Condition maximum value must be empty",
        f"{C}.max_value",
        id="single-with-max",
    ),
    pytest.param(
        cond("string", "exists", values=["x"]),
        "Condition values must be empty",
        f"{C}.values",
        id="presence-with-values",
    ),
    pytest.param(
        cond("text", "equals", value="x"),
        "Invalid condition definition type",
        f"{C}.type",
        id="unknown-condition-type",
    ),
    pytest.param(
        draft(conditions=[{"type": "string", "operator": "equals", "value": "x"}]),
        "Condition attribute name must be specified",
        f"{C}.attribute_name",
        id="condition-without-attribute",
    ),
    pytest.param(
        draft(conditions={"type": "string"}),
        "Invalid condition definition",
        f"{D}.conditions",
        id="conditions-not-a-list",
    ),
    pytest.param(draft(datapoint=None), "Invalid data point", f"{D}.datapoint", id="no-datapoint"),
    pytest.param(
        draft(datapoint=point(attribute_category="category")),
        "Invalid data point attribute category",
        f"{D}.datapoint.attribute_category",
        id="unknown-attribute-category",
    ),
    pytest.param(
        draft(datapoint=point(type="audience")),
        "Invalid data point type",
        f"{D}.datapoint.type",
        id="unknown-datapoint-type",
    ),
    pytest.param(
        draft(datapoint=point(event_type=None, custom_event_type=None)),
        "Invalid data point event type",
        f"{D}.datapoint.event_type",
        id="event-without-event_type",
    ),
    pytest.param(
        draft(datapoint=point(event_name=None)),
        "Invalid data point event name",
        f"{D}.datapoint.event_name",
        id="event-without-event_name",
    ),
    pytest.param(
        draft(datapoint=point(event_type="custom_event", event_name=None, custom_event_type=None)),
        "Invalid data point custom event name",
        f"{D}.datapoint.event_name",
        id="custom_event-without-name",
    ),
    pytest.param(
        draft(datapoint=point(event_type="screen_view")),
        "Invalid data point custom event type",
        f"{D}.datapoint.custom_event_type",
        id="custom_event_type-on-screen_view",
    ),
    pytest.param(
        draft(datapoint=point(type="user_attribute", attribute_name=None)),
        "Invalid data point attribute name",
        f"{D}.datapoint.attribute_name",
        id="user_attribute-without-name",
    ),
    pytest.param(
        draft(time_period={"type": "since"}),
        "Invalid time period specification",
        f"{D}.time_period.date",
        id="since-without-date",
    ),
    pytest.param(
        draft(time_period=None),
        "Invalid time period specification",
        f"{D}.time_period",
        id="no-time-period",
    ),
    pytest.param(
        draft(time_period={"type": "forever"}),
        "Invalid 'type' time period specification",
        f"{D}.time_period.type",
        id="unknown-time-period-type",
    ),
    pytest.param(
        draft(time_period={"type": "within", "within": 0, "within_unit": "days"}),
        "Invalid 'within' time period specification",
        f"{D}.time_period.within",
        id="within-zero",
    ),
    pytest.param(
        draft(time_period={"type": "within", "within": 3, "within_unit": "months"}),
        "Invalid 'within_unit' time period specification",
        f"{D}.time_period.within_unit",
        id="within-months",
    ),
    pytest.param(
        draft(calculation_type="median"),
        "Invalid calculation type",
        f"{D}.calculation_type",
        id="unknown-calculation-type",
    ),
    pytest.param(
        draft(calculation_type=None),
        "Invalid calculation type",
        f"{D}.calculation_type",
        id="no-calculation-type",
    ),
    pytest.param(
        draft(recipe_type="audience"),
        "Invalid recipe type",
        f"{D}.recipe_type",
        id="unknown-recipe-type",
    ),
    pytest.param(
        draft(seeding={}),
        "Invalid seeding specification",
        f"{D}.seeding.cutoff_date",
        id="seeding-without-cutoff",
    ),
    pytest.param(
        # The Get example verbatim: its custom_event_type is set on an "unknown" event type.
        {"recipe_type": "event", "data_point": GET_EXAMPLE_DATA_POINT},
        "Invalid data point custom event type",
        f"{D}.data_point.custom_event_type",
        id="get-example-verbatim",
    ),
]

GET_SHAPE = {
    "recipe_type": "event",
    "data_point": {
        "type": "event",
        "event_name": "Add To Cart",
        "event_type": "custom_event",
        "custom_event_type": "add_to_cart",
        "conditions": [{"type": "string", "operator": "exists", "attribute_name": "color"}],
        "operator": "count",
        "time_period": {"type": "all"},
    },
}
VALID: list[Any] = [
    pytest.param(CREATE_DRAFT_DEFINITION, id="create-example"),
    pytest.param(GET_SHAPE, id="get-example-shape"),
    pytest.param(cond("string", "exists", value="ignored"), id="presence-with-value"),
    pytest.param(cond("number", "in_list", values=["1"], value="x"), id="in_list-with-value"),
    pytest.param(cond("number", "between", min_value="1", max_value="2"), id="between"),
    pytest.param(cond("boolean", "equals", value="true"), id="boolean-equals"),
    pytest.param(
        draft(datapoint={"type": "user_attribute", "attribute_name": "ltv"}),
        id="user-attribute",
    ),
]


@pytest.fixture
async def session(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {emu.issue_token()}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        yield s


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(apps=1) as emulator:
        yield emulator


async def _create(emu: Emulator, session: aiohttp.ClientSession, definition: Any) -> Any:
    url = emu.url(f"/platform/v2/workspaces/{WORKSPACE}/calculatedattributes")
    body = {"name": "LTV", "draft_definition": definition}
    async with session.post(url, json=body) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(("definition", "message", "field"), INVALID)
async def test_refused_by_the_client_and_the_emulator(
    emu: Emulator, session: aiohttp.ClientSession, definition: Any, message: str, field: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        validate_definition(definition)
    assert info.value.field == field
    status, body = await _create(emu, session, definition)
    assert status == 422
    assert body == {"errors": [{"code": "VALIDATION_ERROR", "message": message}]}


@pytest.mark.parametrize("definition", VALID)
async def test_accepted_by_the_client_and_the_emulator(
    emu: Emulator, session: aiohttp.ClientSession, definition: Any
) -> None:
    sent = validate_definition(definition)
    for body in (definition, sent):
        status, answer = await _create(emu, session, body)
        assert status == 200, answer
        url = emu.url(f"/platform/v2/workspaces/{WORKSPACE}/calculatedattributes/{answer}")
        async with session.delete(url) as response:
            assert response.status == 204


async def test_the_client_sends_the_get_shape_and_the_emulator_keeps_it(emu: Emulator) -> None:
    async with emu.client() as mp:
        ca_id = await mp.calculated_attributes.create(
            WORKSPACE, name="Carts", draft_definition=GET_SHAPE
        )
        got = await mp.calculated_attributes.get(WORKSPACE, ca_id)
        with pytest.raises(UnprocessableEntityError, match="must be unique"):
            await mp.calculated_attributes.create(
                WORKSPACE, name="Carts", draft_definition=GET_SHAPE
            )
    assert got.draft_definition is not None
    assert got.draft_definition.effective_calculation_type == "count"
    assert got.draft_definition.data_point is not None
    assert got.draft_definition.data_point.event_name == "Add To Cart"
