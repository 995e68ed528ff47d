"""One test per client-side rule for DataPoints and DataPoint filters
(`mpasync.resources.datapoints_checks`): each asserts a `RequestValidationError` whose
``field`` is the offending path and whose message names the field and the rule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from mpasync import _validate
from mpasync.models import DataPoint, DataPointFilter
from mpasync.resources.datapoints_checks import (
    coerce_datapoint,
    coerce_filter,
    validate_datapoints,
    validate_filters,
)
from tests.resources.conftest import fails

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
