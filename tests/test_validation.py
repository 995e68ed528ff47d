"""One test per client-side validation rule: each asserts a `RequestValidationError` whose
``field`` is the offending path and whose message names the field and the rule."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpasync import _validate
from mpasync.errors import RequestValidationError
from mpasync.models import (
    DataPoint,
    DataPointFilter,
    Definition,
    FeedOS,
    FieldMapping,
    FieldTransformation,
)
from mpasync.resources.calculated_attributes_checks import validate_definition
from mpasync.resources.datapoints_checks import (
    coerce_datapoint,
    coerce_filter,
    validate_datapoints,
    validate_filters,
)
from mpasync.resources.field_transformations_checks import (
    validate_transformation,
    validate_transformation_id,
)
from mpasync.resources.platforms import validate_os
from tests.reference_data import CREATE_DRAFT_DEFINITION


def fails(call: Callable[[], object], field: str, match: str) -> RequestValidationError:
    """Run `call`, expect a RequestValidationError on `field` whose message matches."""
    with pytest.raises(RequestValidationError, match=match) as info:
        call()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)
    return info.value


# ---------------------------------------------------------------- os


def test_validate_os_returns_the_documented_spelling() -> None:
    assert validate_os("ios") == "iOS"
    assert validate_os("Android") == "Android"
    assert validate_os("unknown", allowed=FeedOS.ALL) == "Unknown"


def test_validate_os_rejects_unknown_values_and_lists_valid_ones() -> None:
    err = fails(lambda: validate_os("VisionOS"), "os", "'VisionOS' is not a valid os")
    assert "iOS" in str(err) and "Xbox" in str(err)
    fails(lambda: validate_os("Unknown"), "os", "not a valid os")


def test_validate_os_rejects_non_strings() -> None:
    fails(lambda: validate_os({"os": "iOS"}), "os", "must be a string")  # type: ignore[arg-type]


# ---------------------------------------------------------------- datapoint filters

EVENT: dict[str, Any] = {"name": "my event", "type": "Event", "event_type": "navigation"}


def test_filters_accept_dicts_and_models_and_canonicalise_spelling() -> None:
    checked = validate_filters(
        [
            {"name": "my event", "type": "event", "event_type": "Navigation", "enabled": False},
            DataPointFilter(
                name="my event",
                type="eventattribute",
                event_type="navigation",
                attribute_name="my event attribute",
            ),
            {"name": "email", "type": "useridentity"},
            {"name": "Navigation", "type": "EventType"},
            {"name": "cart", "type": "commerce", "event_type": "product_add_to_cart"},
            {"name": "x", "type": "all_user_attributes"},
        ]
    )
    assert checked == [
        DataPointFilter(name="my event", type="Event", event_type="navigation", enabled=False),
        DataPointFilter(
            name="my event",
            type="EventAttribute",
            event_type="navigation",
            attribute_name="my event attribute",
        ),
        DataPointFilter(name="Email", type="UserIdentity"),
        DataPointFilter(name="navigation", type="EventType"),
        DataPointFilter(name="cart", type="Commerce", event_type="product_add_to_cart"),
        DataPointFilter(name="x", type="All_User_Attributes"),
    ]
    assert coerce_filter(EVENT) == DataPointFilter(**EVENT)


@pytest.fixture
def warnings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Callable[[], list[str]]:
    """The WARNINGs mpasync logged so far in the test (each unknown value warned afresh)."""
    monkeypatch.setattr(_validate, "_WARNED", set())
    caplog.set_level(logging.WARNING, logger="mpasync")
    return lambda: [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_an_unknown_filter_type_is_sent_as_given_with_one_warning(
    warnings: Callable[[], list[str]],
) -> None:
    # Strict on the way in, lenient on the way out: mParticle adds filter types, and a
    # filter `filters export` read must apply again. Today: 'Bogus' is not a valid type.
    new = {"name": "a", "type": "Bogus", "event_type": "whatever", "attribute_name": "x"}
    checked = validate_filters([EVENT, new])
    assert checked[1] == DataPointFilter(**new)  # as given: the API decides what it means
    assert validate_filters([new])[0].type == "Bogus"  # a second check: no second warning
    [warning] = warnings()
    assert warning.startswith("filters[1].type: 'Bogus' is not a known type")
    assert "sends it as given for the API to judge" in warning
    coerce_filter({"name": "a", "type": "Evnt"})
    assert len(warnings()) == 2 and "(did you mean 'Event'?)" in warnings()[1]


def test_shape_stays_strict_for_unknown_types(warnings: Callable[[], list[str]]) -> None:
    fails(lambda: coerce_filter({"name": "a", "type": " "}), "filter.type", "is required")
    fails(lambda: coerce_filter({"name": "a", "type": 5}), "filter.type", "Expected `str`")
    fails(lambda: coerce_filter({"name": "", "type": "Bogus"}), "filter.name", "is required")
    fails(
        lambda: coerce_filter({"name": "a", "type": "Bogus", "enabeld": False}),
        "filter",
        "unknown field 'enabeld'",
    )
    # A value of a neighbouring vocabulary is a mistake, not a new value: refused.
    fails(lambda: coerce_filter({"name": "a", "type": "Identity"}), "filter.type", "not a valid")
    assert warnings() == []


def test_filter_type_is_required() -> None:
    fails(lambda: coerce_filter({"name": "a"}), "filter.type", "is required")


def test_filter_name_is_required_and_non_empty() -> None:
    fails(lambda: coerce_filter({"type": "UserAttribute"}), "filter.name", "is required")
    fails(
        lambda: validate_filters([{"name": "  ", "type": "UserAttribute"}]),
        "filters[0].name",
        "must not be empty",
    )


def test_event_filters_need_an_event_type() -> None:
    filters = [EVENT, EVENT, EVENT, {"name": "other", "type": "Event"}]
    filters[1] = {**EVENT, "name": "b"}
    filters[2] = {**EVENT, "name": "c"}
    fails(lambda: validate_filters(filters), "filters[3].event_type", "is required")


@pytest.mark.parametrize("kind", ["Event", "EventAttribute"])
def test_event_filters_need_an_app_event_type(kind: str) -> None:
    flt = {"name": "e", "type": kind, "event_type": "product_purchase", "attribute_name": "a"}
    fails(
        lambda: coerce_filter(flt),
        "filter.event_type",
        "'product_purchase' is not a valid event type for",
    )


@pytest.mark.parametrize("kind", ["Commerce", "CommerceAttribute"])
def test_commerce_filters_without_event_type_are_sent(kind: str) -> None:
    # Issue 12: only Event/EventAttribute require event_type (platform-api.md line 1990).
    flt: dict[str, Any] = {"name": "c", "type": kind, "attribute_name": "a"}
    assert coerce_filter(flt).event_type is None
    assert coerce_datapoint(flt).event_type is None
    fails(
        lambda: coerce_filter({**flt, "event_type": "navigation"}),
        "filter.event_type",
        "'navigation' is not a valid commerce event type",
    )


def test_event_type_on_other_filter_types_is_dropped_not_refused() -> None:
    # "The event_type field is ignored for other types" (platform-api.md line 1990).
    flt = coerce_filter({"name": "home", "type": "ScreenView", "event_type": "navigation"})
    assert flt.event_type is None
    point = coerce_datapoint({"name": "home", "type": "ScreenView", "event_type": "whatever"})
    assert point.event_type is None


@pytest.mark.parametrize(
    ("kind", "event_type"),
    [
        ("EventAttribute", "navigation"),
        ("ScreenViewAttribute", None),
        ("CommerceAttribute", "product_purchase"),
    ],
)
def test_attribute_filters_need_an_attribute_name(kind: str, event_type: str | None) -> None:
    flt = {"name": "parent", "type": kind, "event_type": event_type}
    fails(lambda: coerce_filter(flt), "filter.attribute_name", f"is required for type {kind}")


def test_an_unknown_user_identity_type_is_sent_with_a_warning(
    warnings: Callable[[], list[str]],
) -> None:
    # mParticle has added identity types before (Today: 'Phone' is not a valid ...).
    assert coerce_filter({"name": "Phone", "type": "UserIdentity"}).name == "Phone"
    assert coerce_filter({"name": "email", "type": "UserIdentity"}).name == "Email"
    [warning] = warnings()
    assert "'Phone' is not a known user identity type" in warning


def test_event_type_filter_name_must_be_an_app_event_type() -> None:
    fails(
        lambda: coerce_filter({"name": "product_purchase", "type": "EventType"}),
        "filter.name",
        "not a valid event type for an EventType filter",
    )


def test_filters_must_not_target_one_datapoint_twice() -> None:
    fails(
        lambda: validate_filters([EVENT, {**EVENT, "type": "event", "enabled": False}]),
        "filters[1]",
        r"targets the same DataPoint as filters\[0\]",
    )


def test_filter_fields_of_the_wrong_type_are_named() -> None:
    fails(lambda: coerce_filter({**EVENT, "name": 5}), "filter.name", "Expected `str`")
    fails(lambda: coerce_filter({**EVENT, "enabled": "yes"}), "filter.enabled", "Expected `bool`")
    fails(
        lambda: coerce_filter({**EVENT, "event_type": {"a": 1}}),
        "filter.event_type",
        "Expected `str | null`, got `object`",
    )
    bad_model = DataPointFilter(name=b"bytes", type="Event")  # type: ignore[arg-type]
    fails(lambda: validate_filters([bad_model]), "filters[0].name", "Expected `str`")


def test_filter_items_and_lists_of_the_wrong_type_are_rejected() -> None:
    fails(
        lambda: validate_filters([EVENT, "Event"]),  # type: ignore[list-item]
        "filters[1]",
        "must be a DataPointFilter",
    )
    fails(lambda: validate_filters("Event"), "filters", "must be a list of filters")  # type: ignore[arg-type]
    fails(lambda: validate_filters(None), "filters", "must be a list")  # type: ignore[arg-type]
    fails(lambda: validate_filters(EVENT), "filters", "must be a list")  # type: ignore[arg-type]
    fails(lambda: coerce_filter({1: "x"}), "filter", "unknown field 1")  # type: ignore[dict-item]


# ---------------------------------------------------------------- datapoints


def test_datapoints_accept_dicts_and_models() -> None:
    assert validate_datapoints(
        [
            {"name": "my event", "type": "event", "event_type": "navigation"},
            DataPoint(name="home", type="ScreenView"),
            {"name": "cart", "type": "Commerce"},
        ]
    ) == [
        DataPoint(name="my event", type="Event", event_type="navigation"),
        DataPoint(name="home", type="ScreenView"),
        DataPoint(name="cart", type="Commerce"),
    ]


def test_datapoint_type_must_be_a_datapoint_type() -> None:
    # EventType is a filter type, not a DataPoint type.
    fails(
        lambda: validate_datapoints([{"name": "navigation", "type": "EventType"}]),
        "datapoints[0].type",
        "'EventType' is not a valid type",
    )


def test_event_datapoints_need_an_app_event_type() -> None:
    fails(
        lambda: coerce_datapoint({"name": "e", "type": "Event"}),
        "datapoint.event_type",
        "is required",
    )
    # A commerce event type on an Event is refused; an unknown one is the API's to judge.
    fails(
        lambda: coerce_datapoint({"name": "e", "type": "Event", "event_type": "product_click"}),
        "datapoint.event_type",
        "'product_click' is not a valid event type",
    )
    point = coerce_datapoint({"name": "e", "type": "Event", "event_type": "bogus"})
    assert point.event_type == "bogus"


def test_commerce_datapoint_event_type_must_be_a_commerce_type() -> None:
    fails(
        lambda: coerce_datapoint({"name": "c", "type": "Commerce", "event_type": "navigation"}),
        "datapoint.event_type",
        "not a valid commerce event type",
    )


def test_attribute_datapoints_need_an_attribute_name() -> None:
    fails(
        lambda: coerce_datapoint({"name": "home", "type": "ScreenViewAttribute"}),
        "datapoint.attribute_name",
        "is required for type ScreenViewAttribute",
    )


def test_datapoint_event_type_on_other_types_is_dropped() -> None:
    point = coerce_datapoint({"name": "u", "type": "UserAttribute", "event_type": "other"})
    assert point.event_type is None


def test_datapoint_of_the_wrong_kind_is_rejected() -> None:
    flt = DataPointFilter(name="e", type="Event", event_type="other")
    fails(lambda: coerce_datapoint(flt), "datapoint", "must be a DataPoint or a mapping")  # type: ignore[arg-type]


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


# ---------------------------------------------------------------- field transformations

TRANSFORMATION: dict[str, Any] = {
    "id": "example-field-transformation-id",
    "name": "Example Field Transformation",
    "destination_type": "event_batch",
    "mappings": [
        {"mapping_type": "column", "source": "eventId", "destination": "event_id"},
        {"mapping_type": "static", "destination": "event_type", "value": "custom_event"},
        {"mapping_type": "ignore", "source": "internal_*"},
        {
            "mapping_type": "column",
            "source": "$unmapped",
            "destination": "*",
            "ignore_when": "null",
        },
    ],
}
T = "transformation"


def transformation_with(mapping: dict[str, Any]) -> dict[str, Any]:
    return {**TRANSFORMATION, "mappings": [*TRANSFORMATION["mappings"], mapping]}


def test_transformation_id_allows_letters_digits_dash_underscore() -> None:
    assert validate_transformation_id("Events_v2-final") == "Events_v2-final"


@pytest.mark.parametrize("bad", ["", "has space", "slash/", "dot.", "é", "new\nline", "a\n"])
def test_transformation_id_rejects_other_characters(bad: str) -> None:
    fails(
        lambda: validate_transformation_id(bad),
        "transformation_id",
        "use only letters, digits, '-' and '_'",
    )


def test_transformation_id_must_be_a_string() -> None:
    fails(lambda: validate_transformation_id(12), "transformation_id", "must be a string")  # type: ignore[arg-type]


def test_valid_transformation_from_dict_or_model() -> None:
    ft = validate_transformation(TRANSFORMATION)
    assert ft.id == "example-field-transformation-id"
    assert ft.mappings[1] == FieldMapping(
        mapping_type="static", destination="event_type", value="custom_event"
    )
    assert validate_transformation(ft) == ft
    # Only event_batch is documented, but other destination types are accepted.
    other = validate_transformation({**TRANSFORMATION, "destination_type": "user_profile"})
    assert other.destination_type == "user_profile"
    # Left out, it defaults to event_batch.
    defaulted = {k: v for k, v in TRANSFORMATION.items() if k != "destination_type"}
    assert validate_transformation(defaulted).destination_type == "event_batch"


def test_transformation_id_is_required_and_checked() -> None:
    missing = {k: v for k, v in TRANSFORMATION.items() if k != "id"}
    fails(lambda: validate_transformation(missing), f"{T}.id", "is required")
    fails(
        lambda: validate_transformation({**TRANSFORMATION, "id": "bad id"}),
        f"{T}.id",
        "not a valid id",
    )


def test_transformation_name_is_required() -> None:
    fails(lambda: validate_transformation({**TRANSFORMATION, "name": ""}), f"{T}.name", "required")
    fails(
        lambda: validate_transformation({k: v for k, v in TRANSFORMATION.items() if k != "name"}),
        f"{T}.name",
        "is required",
    )


def test_transformation_destination_type_must_not_be_empty() -> None:
    fails(
        lambda: validate_transformation({**TRANSFORMATION, "destination_type": " "}),
        f"{T}.destination_type",
        "is required",
    )


def test_transformation_mappings_are_required_and_a_list() -> None:
    fails(
        lambda: validate_transformation(
            {k: v for k, v in TRANSFORMATION.items() if k != "mappings"}
        ),
        f"{T}.mappings",
        "is required",
    )
    fails(
        lambda: validate_transformation({**TRANSFORMATION, "mappings": "column"}),
        f"{T}.mappings",
        "Expected `array`",
    )


def test_mapping_type_must_be_column_static_or_ignore() -> None:
    fails(
        lambda: validate_transformation(transformation_with({"mapping_type": "copy"})),
        f"{T}.mappings[4].mapping_type",
        "'copy' is not a valid mapping type",
    )
    fails(
        lambda: validate_transformation(transformation_with({"source": "a"})),
        f"{T}.mappings[4].mapping_type",
        "is required",
    )


@pytest.mark.parametrize("missing", ["source", "destination"])
def test_column_mapping_needs_source_and_destination(missing: str) -> None:
    mapping = {"mapping_type": "column", "source": "a", "destination": "b", missing: None}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].{missing}",
        "is required for a column mapping",
    )


@pytest.mark.parametrize("missing", ["destination", "value"])
def test_static_mapping_needs_destination_and_value(missing: str) -> None:
    mapping = {"mapping_type": "static", "destination": "b", "value": "v", missing: None}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].{missing}",
        "is required for a static mapping",
    )


def test_static_mapping_must_not_have_a_source() -> None:
    mapping = {"mapping_type": "static", "source": "a", "destination": "b", "value": "v"}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].source",
        "must be absent or null for a static mapping",
    )


def test_ignore_mapping_needs_a_source() -> None:
    fails(
        lambda: validate_transformation(transformation_with({"mapping_type": "ignore"})),
        f"{T}.mappings[4].source",
        "is required for an ignore mapping",
    )


def test_ignore_when_is_only_for_column_mappings() -> None:
    mapping = {"mapping_type": "ignore", "source": "a", "ignore_when": "empty"}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].ignore_when",
        "only allowed on a column mapping",
    )


def test_transformation_model_with_bad_field_types_is_rejected() -> None:
    bad = FieldTransformation(id="ok", name="n", mappings="column")  # type: ignore[arg-type]
    fails(lambda: validate_transformation(bad), f"{T}.mappings", "Expected `array`")


# ---------------------------------------------------------------- arbitrary input

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = [
    "name", "type", "event_type", "attribute_name", "enabled", "recipe_type", "datapoint",
    "data_point", "conditions", "calculation_type", "time_period", "seeding", "operator",
    "value", "values", "min_value", "max_value", "within", "within_unit", "date", "id",
    "destination_type", "mappings", "mapping_type", "source", "destination", "ignore_when",
]  # fmt: skip
shaped = st.recursive(
    json_values,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=20,
)
anything = shaped | st.builds(object) | st.binary(max_size=4) | st.tuples(shaped)
VALIDATORS: list[Callable[[Any], object]] = [
    validate_os,
    coerce_filter,
    validate_filters,
    coerce_datapoint,
    validate_datapoints,
    validate_definition,
    validate_transformation_id,
    validate_transformation,
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALIDATORS), anything)
def test_validators_raise_only_request_validation_error(
    validator: Callable[[Any], object], value: Any
) -> None:
    try:
        validator(value)
    except RequestValidationError as exc:
        assert exc.field is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-29T18:16:24.5568051Z", "2021-11-29T18:16:24.556805+00:00"),
        ("2021-11-01T15:00:00Z", "2021-11-01T15:00:00+00:00"),
        ("2021-11-01T15:00:00.5+01:00", "2021-11-01T15:00:00.500000+01:00"),
        ("2019-10-01T00:00:00", "2019-10-01T00:00:00"),
    ],
)
def test_parse_datetime_reads_mparticle_timestamps_on_every_python(
    text: str, expected: str
) -> None:
    from mpasync._validate import parse_datetime

    parsed = parse_datetime(text)
    assert parsed is not None and parsed.isoformat() == expected
    assert parse_datetime("yesterday") is None


# ---------------------------------------------------------------- unknown fields (issue 10)


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        pytest.param(
            lambda: validate_filters([{"name": "Email", "type": "UserIdentity", "enabeld": False}]),
            "filters[0]",
            "filters[0]: unknown field 'enabeld' (did you mean 'enabled'?)",
            id="filter",
        ),
        pytest.param(
            lambda: validate_datapoints([{"name": "u", "type": "UserAttribute", "tpye": "x"}]),
            "datapoints[0]",
            "datapoints[0]: unknown field 'tpye' (did you mean 'type'?)",
            id="datapoint",
        ),
        pytest.param(
            lambda: validate_definition({**DRAFT, "calculaton_type": "sum"}),
            "draft_definition",
            "draft_definition: unknown field 'calculaton_type' (did you mean 'calculation_type'?)",
            id="definition",
        ),
        pytest.param(
            lambda: validate_definition(
                {**DRAFT, "datapoint": {**DRAFT["datapoint"], "event_nmae": "x"}}
            ),
            "draft_definition.datapoint",
            "draft_definition.datapoint: unknown field 'event_nmae' (did you mean 'event_name'?)",
            id="definition-datapoint",
        ),
        pytest.param(
            lambda: validate_definition(
                {**DRAFT, "time_period": {"type": "within", "within": 3, "within_units": "days"}}
            ),
            "draft_definition.time_period",
            "draft_definition.time_period: unknown field 'within_units' "
            "(did you mean 'within_unit'?)",
            id="definition-time-period",
        ),
        pytest.param(
            lambda: validate_definition({**DRAFT, "seeding": {"cutoff": "2020-01-01"}}),
            "draft_definition.seeding",
            "draft_definition.seeding: unknown field 'cutoff' (did you mean 'cutoff_date'?)",
            id="definition-seeding",
        ),
        pytest.param(
            lambda: validate_definition(
                {
                    **DRAFT,
                    "conditions": [
                        {"type": "string", "operator": "equals", "attribute_name": "a"},
                        {"type": "string", "operatr": "equals", "attribute_name": "a"},
                    ],
                }
            ),
            "draft_definition.conditions[1]",
            "draft_definition.conditions[1]: unknown field 'operatr' (did you mean 'operator'?)",
            id="definition-condition",
        ),
        pytest.param(
            lambda: validate_transformation(
                {
                    "id": "t",
                    "name": "T",
                    "mappings": [{"mapping_type": "ignore", "source": "a", "ignore_wen": "x"}],
                }
            ),
            "transformation.mappings[0]",
            "transformation.mappings[0]: unknown field 'ignore_wen' (did you mean 'ignore_when'?)",
            id="transformation-mapping",
        ),
        pytest.param(
            lambda: validate_transformation({"id": "t", "name": "T", "mappings": [], "xyzzy": 1}),
            "transformation",
            "transformation: unknown field 'xyzzy'",
            id="no-close-name",
        ),
    ],
)
def test_unknown_fields_are_refused_with_the_closest_name(
    call: Callable[[], object], field: str, message: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        call()
    assert str(info.value) == message
    assert info.value.field == field


def test_unknown_fields_in_seeding_users_are_refused() -> None:
    from mpasync.seeding import validate_seed_user

    seed = {"attribute_name": "a", "calculation_type": "count", "cutoff_date": "2020-01-01"}
    user = {
        "environment": "production",
        "mpid": 1,
        "calculated_attributes": {"workspace": [{**seed, "seed": {"vlaue": 3}}]},
    }
    fails(
        lambda: validate_seed_user(user),
        "user.calculated_attributes.workspace[0].seed",
        "unknown field 'vlaue' \\(did you mean 'value'\\?\\)",
    )
    fails(
        lambda: validate_seed_user({"environment": "production", "mpid": 1, "identity": {}}),
        "user",
        "did you mean 'identities'",
    )


class _Renamed(msgspec.Struct, kw_only=True):
    send_new: bool | None = msgspec.field(default=None, name="sendNew")
    inner: list[_Inner] | None = None


class _Inner(msgspec.Struct, kw_only=True):
    is_on: bool = msgspec.field(default=False, name="isOn")


def test_python_and_wire_names_are_both_accepted_at_every_depth() -> None:
    from mpasync._validate import to_model

    both = to_model({"sendNew": True, "inner": [{"is_on": True}, {"isOn": True}]}, _Renamed, "x")
    assert both == _Renamed(send_new=True, inner=[_Inner(is_on=True), _Inner(is_on=True)])
    assert to_model({"send_new": False}, _Renamed, "x").send_new is False
    fails(lambda: to_model({"inner": [{"is_onn": 1}]}, _Renamed, "x"), "x.inner[0]", "'is_on'")
    fails(
        lambda: to_model({"send_new": True, "sendNew": False}, _Renamed, "x"),
        "x.send_new",
        "given twice",
    )


def test_deeply_nested_input_is_a_validation_error() -> None:
    deep: Any = {"name": "x"}
    for _ in range(100_000):
        deep = {"type": deep}
    with pytest.raises(RequestValidationError):
        coerce_filter(deep)


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
