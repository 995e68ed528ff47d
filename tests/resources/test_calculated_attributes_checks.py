"""One test per client-side rule for calculated attribute definitions
(`mpasync.resources.calculated_attributes_checks`): each asserts a `RequestValidationError`
whose ``field`` is the offending path and whose message names the field and the rule."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from mpasync.models import Definition
from mpasync.resources.calculated_attributes_checks import validate_definition
from tests.reference_data import CREATE_DRAFT_DEFINITION
from tests.resources.conftest import fails

# ---------------------------------------------------------------- calculated attributes

# The reference's create example (platform-api.md, "Create a Calculated Attribute").
DRAFT: dict[str, Any] = CREATE_DRAFT_DEFINITION

D = "draft_definition"


def draft(**changes: Any) -> dict[str, Any]:
    """The example draft with top-level keys replaced (None deletes the key)."""
    result = copy.deepcopy(DRAFT)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def point(**changes: Any) -> dict[str, Any]:
    return {**DRAFT["datapoint"], **changes}


def condition(**fields: Any) -> dict[str, Any]:
    return {"type": "string", "operator": "equals", "attribute_name": "a", **fields}


def with_condition(**fields: Any) -> dict[str, Any]:
    return draft(conditions=[condition(value="x"), condition(**fields)])


def test_valid_definition_returns_a_wire_dict() -> None:
    result = validate_definition(DRAFT)
    assert result["datapoint"]["custom_event_type"] == "add_to_cart"
    assert result["time_period"] == {"type": "since", "date": "2020-01-24T00:00:00"}
    assert result["conditions"] == []
    assert validate_definition(msgspec.convert(result, Definition)) == result


def test_definition_accepts_the_older_data_point_shape() -> None:
    older: dict[str, Any] = {
        "recipe_type": "event",
        "data_point": {
            "type": "event",
            "event_name": "string",
            "event_type": "custom_event",
            "custom_event_type": "other",
            "conditions": [{"type": "string", "operator": "exists", "attribute_name": "s"}],
            "operator": "count",
            "time_period": {"type": "all"},
        },
    }
    assert validate_definition(older)["data_point"]["operator"] == "count"
    older["data_point"]["operator"] = "tally"
    fails(lambda: validate_definition(older), f"{D}.data_point.operator", "'tally' is not")


def test_definition_must_be_a_mapping_or_model() -> None:
    fails(lambda: validate_definition([DRAFT]), D, "must be a Definition or a mapping")  # type: ignore[arg-type]


def test_recipe_type_must_be_event() -> None:
    fails(
        lambda: validate_definition(draft(recipe_type="audience")),
        f"{D}.recipe_type",
        "'audience' is not a valid recipe type; expected one of: event",
    )
    fails(lambda: validate_definition(draft(recipe_type=None)), f"{D}.recipe_type", "is required")


def test_calculation_type_must_be_known() -> None:
    fails(
        lambda: validate_definition(draft(calculation_type="median")),
        f"{D}.calculation_type",
        "'median' is not a valid calculation type",
    )
    fails(
        lambda: validate_definition(draft(calculation_type=None)),
        f"{D}.calculation_type",
        "is required",
    )


def test_time_period_is_required() -> None:
    fails(lambda: validate_definition(draft(time_period=None)), f"{D}.time_period", "is required")


def test_time_period_type_must_be_all_since_or_within() -> None:
    fails(
        lambda: validate_definition(draft(time_period={"type": "until"})),
        f"{D}.time_period.type",
        "'until' is not a valid time period type",
    )


@pytest.mark.parametrize("within", [None, 0, -3])
def test_within_needs_a_positive_within(within: int | None) -> None:
    period = {"type": "within", "within": within, "within_unit": "days"}
    fails(
        lambda: validate_definition(draft(time_period=period)),
        f"{D}.time_period.within",
        "must be a positive integer",
    )


def test_within_must_be_an_integer() -> None:
    for bad in ("5", 2.5, True):
        period = {"type": "within", "within": bad, "within_unit": "days"}
        fails(
            lambda period=period: validate_definition(draft(time_period=period)),  # type: ignore[misc]
            f"{D}.time_period.within",
            "Expected `int | null`",
        )


def test_within_needs_a_days_or_weeks_unit() -> None:
    period = {"type": "within", "within": 3, "within_unit": "months"}
    fails(
        lambda: validate_definition(draft(time_period=period)),
        f"{D}.time_period.within_unit",
        "'months' is not a valid within unit",
    )
    assert validate_definition(draft(time_period={**period, "within_unit": "weeks"}))


def test_since_needs_a_date() -> None:
    fails(
        lambda: validate_definition(draft(time_period={"type": "since"})),
        f"{D}.time_period.date",
        "is required for type since",
    )


def test_condition_type_must_be_known() -> None:
    fails(
        lambda: validate_definition(with_condition(type="text")),
        f"{D}.conditions[1].type",
        "'text' is not a valid condition type",
    )


def test_condition_operator_must_be_known() -> None:
    fails(
        lambda: validate_definition(with_condition(operator="like")),
        f"{D}.conditions[1].operator",
        "'like' is not a valid condition operator",
    )


@pytest.mark.parametrize(
    ("kind", "operator"),
    [
        ("number", "contains"),
        ("boolean", "in_list"),
        ("string", "greater_than"),
        ("date", "between"),
    ],
)
def test_condition_operator_must_support_the_type(kind: str, operator: str) -> None:
    fails(
        lambda: validate_definition(with_condition(type=kind, operator=operator, value="1")),
        f"{D}.conditions[1].operator",
        f"'{operator}' is not supported for {kind} conditions",
    )


def test_condition_attribute_name_is_required() -> None:
    fails(
        lambda: validate_definition(with_condition(attribute_name=None)),
        f"{D}.conditions[1].attribute_name",
        "is required",
    )


@pytest.mark.parametrize("values", [None, []])
def test_in_list_needs_values(values: list[str] | None) -> None:
    fails(
        lambda: validate_definition(with_condition(operator="in_list", values=values)),
        f"{D}.conditions[1].values",
        "a non-empty list is required for operator in_list",
    )


def test_in_list_forbids_a_range() -> None:
    fails(
        lambda: validate_definition(
            with_condition(operator="in_list", values=["a"], min_value="1")
        ),
        f"{D}.conditions[1].min_value",
        "must be empty for operator in_list",
    )
    # The reference says `value` is ignored with in_list, so it is allowed.
    assert validate_definition(with_condition(operator="in_list", values=["a"], value="a"))


@pytest.mark.parametrize(("kind", "operator"), [("number", "between"), ("date", "between_dates")])
def test_ranges_need_min_and_max(kind: str, operator: str) -> None:
    fields = {"type": kind, "operator": operator, "min_value": "1", "max_value": "2"}
    assert validate_definition(with_condition(**fields))
    fails(
        lambda: validate_definition(with_condition(**{**fields, "max_value": None})),
        f"{D}.conditions[1].max_value",
        f"is required for operator {operator}",
    )
    fails(
        lambda: validate_definition(with_condition(**{**fields, "min_value": None})),
        f"{D}.conditions[1].min_value",
        "is required",
    )


def test_ranges_forbid_value_and_values() -> None:
    fields = {"type": "number", "operator": "between", "min_value": "1", "max_value": "2"}
    fails(
        lambda: validate_definition(with_condition(**fields, value="1")),
        f"{D}.conditions[1].value",
        "must be empty for operator between",
    )
    fails(
        lambda: validate_definition(with_condition(**fields, values=["1"])),
        f"{D}.conditions[1].values",
        "must be empty",
    )


@pytest.mark.parametrize("operator", ["exists", "not_exists", "empty"])
def test_presence_operators_drop_a_value_instead_of_refusing_it(operator: str) -> None:
    # Issue 12: no error is documented for a `value` here (platform-api.md lines 1282-1316).
    sent = validate_definition(with_condition(operator=operator, value="x"))
    assert sent["conditions"][1]["operator"] == operator
    assert "value" not in sent["conditions"][1]
    older = {
        "recipe_type": "event",
        "data_point": {
            "type": "event",
            "event_name": "e",
            "event_type": "custom_event",
            "operator": "count",
            "time_period": {"type": "all"},
            "conditions": [
                {"type": "string", "operator": operator, "attribute_name": "a", "value": "x"}
            ],
        },
    }
    assert "value" not in validate_definition(older)["data_point"]["conditions"][0]


@pytest.mark.parametrize("operator", ["exists", "not_exists", "empty"])
@pytest.mark.parametrize("name", ["values", "min_value", "max_value"])
def test_presence_operators_take_no_value(operator: str, name: str) -> None:
    given_value: Any = ["x"] if name == "values" else "x"
    assert validate_definition(with_condition(operator=operator))
    fails(
        lambda: validate_definition(with_condition(operator=operator, **{name: given_value})),
        f"{D}.conditions[1].{name}",
        f"must be empty for operator {operator}",
    )


def test_single_value_operators_need_a_value() -> None:
    fails(
        lambda: validate_definition(with_condition(value=None)),
        f"{D}.conditions[1].value",
        "is required for operator equals",
    )


@pytest.mark.parametrize("name", ["values", "min_value", "max_value"])
def test_single_value_operators_forbid_lists_and_ranges(name: str) -> None:
    extra: Any = ["x"] if name == "values" else "x"
    fails(
        lambda: validate_definition(with_condition(value="v", **{name: extra})),
        f"{D}.conditions[1].{name}",
        "must be empty for operator equals",
    )


def test_condition_value_must_be_a_string() -> None:
    fails(
        lambda: validate_definition(with_condition(value=22)),
        f"{D}.conditions[1].value",
        "Expected `str | null`, got `int`",
    )


def test_conditions_must_be_a_list() -> None:
    fails(
        lambda: validate_definition(draft(conditions={"type": "string"})),
        f"{D}.conditions",
        "Expected `array | null`",
    )


def test_datapoint_is_required() -> None:
    fails(lambda: validate_definition(draft(datapoint=None)), f"{D}.datapoint", "is required")


def test_datapoint_and_data_point_are_exclusive() -> None:
    both = {**DRAFT, "data_point": DRAFT["datapoint"]}
    fails(lambda: validate_definition(both), f"{D}.data_point", "not both")


def test_datapoint_type_must_be_event_event_attribute_or_user_attribute() -> None:
    fails(
        lambda: validate_definition(draft(datapoint=point(type="screen_view"))),
        f"{D}.datapoint.type",
        "'screen_view' is not a valid datapoint type",
    )


def test_custom_event_type_needs_a_custom_or_commerce_event() -> None:
    fails(
        lambda: validate_definition(draft(datapoint=point(event_type="screen_view"))),
        f"{D}.datapoint.custom_event_type",
        "only allowed when event_type is custom_event or commerce_event",
    )
    ok = point(event_type="custom_event", custom_event_type="navigation")
    assert validate_definition(draft(datapoint=ok))


def test_custom_event_datapoint_needs_an_event_name() -> None:
    fails(
        lambda: validate_definition(
            draft(datapoint=point(event_type="custom_event", event_name=None))
        ),
        f"{D}.datapoint.event_name",
        "is required for custom_event",
    )


@pytest.mark.parametrize("kind", ["event_attribute", "user_attribute"])
def test_attribute_datapoints_need_an_attribute_name_in_definitions(kind: str) -> None:
    fails(
        lambda: validate_definition(draft(datapoint=point(type=kind))),
        f"{D}.datapoint.attribute_name",
        f"is required for type {kind}",
    )
    assert validate_definition(draft(datapoint=point(type=kind, attribute_name="Total")))


def test_datapoint_attribute_category_must_be_known() -> None:
    fails(
        lambda: validate_definition(draft(datapoint=point(attribute_category="user_attribute"))),
        f"{D}.datapoint.attribute_category",
        "not a valid attribute category",
    )


def test_seeding_needs_a_cutoff_date() -> None:
    fails(
        lambda: validate_definition(draft(seeding={"cutoff_date": ""})),
        f"{D}.seeding.cutoff_date",
        "is required",
    )


def test_definition_field_prefix_is_configurable() -> None:
    fails(
        lambda: validate_definition(draft(recipe_type="x"), field="active"),
        "active.recipe_type",
        "not a valid recipe type",
    )


# ---------------------------------------------------------------- what the docs require (issue 12)


@pytest.mark.parametrize("kind", ["event", "event_attribute"])
@pytest.mark.parametrize("missing", ["event_name", "event_type"])
def test_event_datapoints_need_event_name_and_event_type(kind: str, missing: str) -> None:
    # Both marked Required in "Data Point Object Properties" (platform-api.md line 1217).
    given = point(type=kind, attribute_name="a", event_type="screen_view", custom_event_type=None)
    given[missing] = None
    fails(
        lambda: validate_definition(draft(datapoint=given)),
        f"{D}.datapoint.{missing}",
        f"is required for type {kind}",
    )


def test_user_attribute_datapoints_need_no_event() -> None:
    given = {"type": "user_attribute", "attribute_name": "ltv"}
    assert validate_definition(draft(datapoint=given))["datapoint"] == given
