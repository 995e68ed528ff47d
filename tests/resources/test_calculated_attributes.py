# mypy: disable-error-code="func-returns-value"
"""mp.calculated_attributes (Platform API v2: no accountId, bare JSON, writes answer 204)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, NotFoundError, RequestValidationError, UnprocessableEntityError
from mpasync.models import ActivationStatus, CalculatedAttribute, CalculationStatus
from mpasync.models.calculated_attributes import (
    Condition,
    Definition,
    DefinitionDataPoint,
    TimePeriod,
)
from tests.reference_data import CREATE_DRAFT_DEFINITION
from tests.resources.conftest import assert_nothing_sent, sent, v2

BASE_PATH = "/workspaces/1234/calculatedattributes"

ACTIVE = {
    "recipe_type": "event",
    "datapoint": {
        "type": "event",
        "event_name": "Purchase",
        "attribute_name": "Total Amount",
        "event_type": "commerce_event",
        "custom_event_type": "purchase",
        "attribute_category": "product_attribute",
        "use_product_quantity": True,
    },
    "conditions": [
        {
            "type": "number",
            "operator": "equals",
            "attribute_name": "Checkout Step",
            "value": "22",
            "values": None,
            "min_value": None,
            "max_value": None,
        }
    ],
    "calculation_type": "sum",
    "time_period": {
        "type": "since",
        "date": "2019-10-01T00:00:00",
        "within": None,
        "within_unit": None,
    },
    "seeding": {"cutoff_date": "2019-10-02T00:00:00"},
}
CA1 = {
    "id": 5,
    "name": "ca1",
    "description": "Calculated attribute description.",
    "created_by": "user@mparticle.com",
    "created_on": "2019-09-10T15:34:44.69",
    "last_modified_on": "2019-12-06T15:04:22.043",
    "last_modified_by": "user@mparticle.com",
    "active_definition": ACTIVE,
    "draft_definition": {**ACTIVE, "conditions": None, "seeding": None},
    "audience_count": 1,
    "activated_on": "2020-02-18T19:24:50.426Z",
    "activated_by": "user@mparticle.com",
}
# The reference's create example.
DRAFT: dict[str, Any] = CREATE_DRAFT_DEFINITION
# What is sent for DRAFT: the checked definition, nulls left out.
DRAFT_SENT = {
    "recipe_type": "event",
    "datapoint": {
        "type": "event",
        "event_name": "Add To Cart",
        "event_type": "commerce_event",
        "custom_event_type": "add_to_cart",
        "attribute_category": "product_attribute",
        "use_product_quantity": True,
    },
    "conditions": [],
    "calculation_type": "count",
    "time_period": {"type": "since", "date": "2020-01-24T00:00:00"},
    "seeding": {"cutoff_date": "2020-01-26T00:00:00"},
}


def check_ca1(ca: CalculatedAttribute) -> None:
    assert isinstance(ca, CalculatedAttribute)
    assert (ca.id, ca.name, ca.audience_count) == (5, "ca1", 1)
    assert ca.description == "Calculated attribute description."
    assert ca.activated_by == "user@mparticle.com"
    assert isinstance(ca.active_definition, Definition)
    assert ca.active_definition.calculation_type == "sum"
    assert ca.active_definition.conditions is not None
    assert ca.active_definition.conditions[0].value == "22"
    assert ca.active_definition.seeding is not None
    assert ca.active_definition.seeding.cutoff_date == "2019-10-02T00:00:00"
    assert ca.draft_definition is not None and ca.draft_definition.seeding is None


# -- list / exists ------------------------------------------------------------------------


async def test_list(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v2(BASE_PATH), payload=[CA1])
    result = await mp.calculated_attributes.list(1234)
    assert sent(mocked, "GET", v2(BASE_PATH)) is None
    (ca,) = result
    check_ca1(ca)


async def test_list_by_name(mocked: aioresponses, mp: Client) -> None:
    url = v2(BASE_PATH, name="ca1")
    assert (
        url == "https://api.example.test/platform/v2/workspaces/1234/calculatedattributes?name=ca1"
    )
    mocked.get(url, payload=[CA1])
    result = await mp.calculated_attributes.list(1234, name="ca1")
    assert sent(mocked, "GET", url) is None
    check_ca1(result[0])


async def test_list_by_name_encodes_the_query(mocked: aioresponses, mp: Client) -> None:
    url = v2(BASE_PATH, name="a b&c")
    mocked.get(url, payload=[])
    assert await mp.calculated_attributes.list(1234, name="a b&c") == []
    ((_, recorded),) = [(m, u) for (m, u) in mocked.requests if u.path.startswith("/platform")]
    assert recorded.query == {"name": "a b&c"}
    assert "accountId" not in recorded.query


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        pytest.param(None, 204, True, id="any-exists"),
        pytest.param(None, 404, False, id="none-exist"),
        pytest.param("ca1", 204, True, id="named-exists"),
        pytest.param("ca1", 404, False, id="named-missing"),
    ],
)
async def test_exists(
    mocked: aioresponses, mp: Client, name: str | None, status: int, expected: bool
) -> None:
    url = v2(BASE_PATH, name=name) if name else v2(BASE_PATH)
    mocked.head(url, status=status)
    assert await mp.calculated_attributes.exists(1234, name=name) is expected
    assert sent(mocked, "HEAD", url) is None


# -- create / get / update / delete -------------------------------------------------------


async def test_create_returns_the_new_id(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v2(BASE_PATH), status=200, body="123")
    new_id = await mp.calculated_attributes.create(
        1234, name="New Calculated Attribute", draft_definition=DRAFT
    )
    assert new_id == 123
    assert type(new_id) is int
    assert sent(mocked, "POST", v2(BASE_PATH)) == {
        "name": "New Calculated Attribute",
        "draft_definition": DRAFT_SENT,
    }


async def test_create_with_description_and_a_model(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v2(BASE_PATH), status=201, body="7")
    definition = Definition(
        recipe_type="event",
        datapoint=DefinitionDataPoint(type="event", event_name="Login", event_type="custom_event"),
        calculation_type="count",
        time_period=TimePeriod(type="within", within=30, within_unit="days"),
        conditions=[
            Condition(type="string", operator="in_list", attribute_name="plan", values=["a"])
        ],
    )
    assert (
        await mp.calculated_attributes.create(
            1234, name="logins", draft_definition=definition, description="Logins in 30 days"
        )
        == 7
    )
    assert sent(mocked, "POST", v2(BASE_PATH)) == {
        "name": "logins",
        "draft_definition": {
            "recipe_type": "event",
            "datapoint": {"type": "event", "event_name": "Login", "event_type": "custom_event"},
            "conditions": [
                {
                    "type": "string",
                    "operator": "in_list",
                    "attribute_name": "plan",
                    "values": ["a"],
                }
            ],
            "calculation_type": "count",
            "time_period": {"type": "within", "within": 30, "within_unit": "days"},
        },
        "description": "Logins in 30 days",
    }


async def test_get(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v2(f"{BASE_PATH}/5"), payload=CA1)
    ca = await mp.calculated_attributes.get(1234, 5)
    assert sent(mocked, "GET", v2(f"{BASE_PATH}/5")) is None
    check_ca1(ca)


async def test_get_reads_the_older_data_point_shape(mocked: aioresponses, mp: Client) -> None:
    older = copy.deepcopy(CA1)
    older["active_definition"] = {
        "recipe_type": "event",
        "data_point": {
            "type": "event",
            "event_name": "string",
            "event_type": "unknown",
            "conditions": [{"type": "string", "operator": "exists", "attribute_name": "a"}],
            "operator": "count",
            "time_period": {"type": "all", "date": "2020-01-30", "within": 0},
        },
    }
    mocked.get(v2(f"{BASE_PATH}/5678"), payload=older)
    ca = await mp.calculated_attributes.get(1234, 5678)
    assert sent(mocked, "GET", v2(f"{BASE_PATH}/5678")) is None
    assert ca.active_definition is not None
    assert ca.active_definition.effective_calculation_type == "count"
    time_period = ca.active_definition.effective_time_period
    assert time_period is not None and time_period.type == "all"


async def test_update(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678")
    mocked.put(url, status=204)
    result = await mp.calculated_attributes.update(
        1234, 5678, name="New Name", draft_definition=DRAFT, description="d"
    )
    assert result is None
    assert sent(mocked, "PUT", url) == {
        "name": "New Name",
        "draft_definition": DRAFT_SENT,
        "description": "d",
    }


async def test_update_description_only(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678")
    mocked.put(url, status=204)
    assert await mp.calculated_attributes.update(1234, 5678, description="only this") is None
    assert sent(mocked, "PUT", url) == {"description": "only this"}


async def test_delete(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678")
    mocked.delete(url, status=204)
    assert await mp.calculated_attributes.delete(1234, 5678) is None
    assert sent(mocked, "DELETE", url) is None


async def test_delete_missing_raises_not_found(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678")
    mocked.delete(url, status=404)
    with pytest.raises(NotFoundError):
        await mp.calculated_attributes.delete(1234, 5678)
    assert sent(mocked, "DELETE", url) is None


# -- activation, draft, calculation -------------------------------------------------------


async def test_activate(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678/activation")
    mocked.post(url, status=204)
    assert await mp.calculated_attributes.activate(1234, 5678) is None
    assert sent(mocked, "POST", url) is None


async def test_activate_limit_reached(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678/activation")
    message = "You have reached the account limit on active calculated attributes."
    mocked.post(url, status=422, payload={"errors": [{"code": "LIMIT", "message": message}]})
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.calculated_attributes.activate(1234, 5678)
    assert info.value.errors == [("LIMIT", message)]
    assert sent(mocked, "POST", url) is None


async def test_activation_status(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678/activation")
    mocked.get(
        url,
        payload={
            "calculated_attribute_id": 5678,
            "is_active": True,
            "activated_on": "2020-02-18T19:24:50.426Z",
            "activated_by": "user@mparticle.com",
        },
    )
    status = await mp.calculated_attributes.activation_status(1234, 5678)
    assert sent(mocked, "GET", url) is None
    assert status == ActivationStatus(
        calculated_attribute_id=5678,
        is_active=True,
        activated_on="2020-02-18T19:24:50.426Z",
        activated_by="user@mparticle.com",
    )


async def test_delete_draft(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678/draft")
    mocked.delete(url, status=204)
    assert await mp.calculated_attributes.delete_draft(1234, 5678) is None
    assert sent(mocked, "DELETE", url) is None


async def test_calculation_status(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/5678/calculation")
    mocked.get(
        url,
        payload={
            "id": 5678,
            "name": "New Name",
            "revision_id": 123,
            "is_calculated": False,
            "calculation_percent_complete": 50,
            "estimated_completion_time": "2020-01-29T19:24:19.051Z",
        },
    )
    status = await mp.calculated_attributes.calculation_status(1234, 5678)
    assert sent(mocked, "GET", url) is None
    assert isinstance(status, CalculationStatus)
    assert (status.id, status.name, status.revision_id) == (5678, "New Name", 123)
    assert status.is_calculated is False
    assert status.calculation_percent_complete == 50
    assert status.estimated_completion_time == "2020-01-29T19:24:19.051Z"


# -- validation ---------------------------------------------------------------------------


def draft(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DRAFT)
    d.update(changes)
    return d


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        pytest.param(draft(recipe_type="audience"), "draft_definition.recipe_type", id="recipe"),
        pytest.param(
            draft(calculation_type="median"), "draft_definition.calculation_type", id="calc-type"
        ),
        pytest.param(draft(time_period=None), "draft_definition.time_period", id="no-period"),
        pytest.param(
            draft(time_period={"type": "within", "within_unit": "days"}),
            "draft_definition.time_period.within",
            id="within-without-count",
        ),
        pytest.param(
            draft(time_period={"type": "within", "within": 3, "within_unit": "months"}),
            "draft_definition.time_period.within_unit",
            id="within-bad-unit",
        ),
        pytest.param(draft(datapoint=None), "draft_definition.datapoint", id="no-datapoint"),
        pytest.param(
            draft(datapoint={"type": "event", "event_type": "custom_event"}),
            "draft_definition.datapoint.event_name",
            id="custom-event-without-name",
        ),
        pytest.param(
            draft(
                conditions=[
                    {"type": "number", "operator": "contains", "attribute_name": "a", "value": "1"}
                ]
            ),
            "draft_definition.conditions[0].operator",
            id="operator-not-for-type",
        ),
        pytest.param(
            draft(conditions=[{"type": "string", "operator": "in_list", "attribute_name": "a"}]),
            "draft_definition.conditions[0].values",
            id="in-list-without-values",
        ),
        pytest.param(
            draft(
                conditions=[
                    {
                        "type": "number",
                        "operator": "between",
                        "attribute_name": "a",
                        "min_value": "1",
                        "max_value": "2",
                        "value": "3",
                    }
                ]
            ),
            "draft_definition.conditions[0].value",
            id="range-with-value",
        ),
        pytest.param(
            draft(conditions=[{"type": "string", "operator": "equals", "value": "x"}]),
            "draft_definition.conditions[0].attribute_name",
            id="condition-without-attribute",
        ),
        pytest.param("not a definition", "draft_definition", id="not-a-mapping"),
    ],
)
async def test_create_rejects_a_bad_definition_before_sending(
    mocked: aioresponses, mp: Client, definition: Any, field: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await mp.calculated_attributes.create(1234, name="x", draft_definition=definition)
    assert info.value.field == field
    assert_nothing_sent(mocked)


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        pytest.param("list", (1234,), {"name": ""}, id="list-empty-name"),
        pytest.param("list", ("ws",), {}, id="list-bad-workspace"),
        pytest.param("exists", (1234,), {"name": "  "}, id="exists-blank-name"),
        pytest.param(
            "create", (1234,), {"name": "", "draft_definition": DRAFT}, id="create-no-name"
        ),
        pytest.param(
            "create",
            (1234,),
            {"name": "x", "draft_definition": DRAFT, "description": 5},
            id="create-description-not-str",
        ),
        pytest.param("get", (1234, "5/6"), {}, id="get-bad-id"),
        pytest.param("update", (1234, 5678), {}, id="update-nothing"),
        pytest.param(
            "update",
            (1234, 5678),
            {"draft_definition": draft(calculation_type="median")},
            id="update-bad-definition",
        ),
        pytest.param("delete", (1234, -1), {}, id="delete-negative-id"),
        pytest.param("activate", (1234, None), {}, id="activate-no-id"),
        pytest.param("activation_status", (True, 1), {}, id="activation-status-bool-workspace"),
        pytest.param("delete_draft", (1234, "draft"), {}, id="delete-draft-bad-id"),
        pytest.param("calculation_status", (1234, 1.0), {}, id="calculation-status-float-id"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.calculated_attributes, call)(*args, **kwargs)
    assert_nothing_sent(mocked)
