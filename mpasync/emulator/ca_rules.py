"""The emulator's checks of a calculated attribute's ``draft_definition``: every invalid
definition is a 422 with the message of platform-api.md's "Validation Error Responses"
table (lines 1282-1316), or, where the reference gives none, a message in the same style
(marked "ours" below).

Written from the reference, not from `mpasync.resources.calculated_attributes_checks`, so
the two check each other.
Both shapes the reference shows are accepted: ``datapoint`` with conditions,
calculation_type and time_period beside it (create/update examples), and the Get
example's ``data_point`` holding conditions, ``operator`` (the calculation type) and
time_period.
"""

from __future__ import annotations

from typing import Any

from mpasync.emulator.responses import unprocessable

__all__ = ["check_definition"]

CALCULATION_TYPES = frozenset(
    {
        "count",
        "first_occurrence_timestamp",
        "last_occurrence_timestamp",
        "first_occurrence",
        "last_occurrence",
        "sum",
        "min",
        "max",
        "average",
        "unique_list",
        "unique_values_count",
        "most_frequent",
    }
)
_DATAPOINT_TYPES = frozenset({"event", "event_attribute", "user_attribute"})
_EVENT_POINTS = frozenset({"event", "event_attribute"})
_ATTRIBUTE_POINTS = frozenset({"event_attribute", "user_attribute"})
_ATTRIBUTE_CATEGORIES = frozenset({"event_attribute", "product_attribute", "promotion_attribute"})

# "Operator - Type Support Map" (platform-api.md line 1241): condition type -> operators.
# The errors table also has "Invalid datetime in-list condition values", but the map says
# in_list is not supported for dates; the map is followed (a date in_list is an operator
# error).
_OPERATORS = {
    "string": frozenset(
        {
            "exists",
            "not_exists",
            "empty",
            "in_list",
            "contains",
            "not_contains",
            "pattern",
            "equals",
            "not_equals",
        }
    ),
    "number": frozenset(
        {
            "exists",
            "not_exists",
            "empty",
            "in_list",
            "equals",
            "not_equals",
            "greater_than",
            "greater_or_equal",
            "less_than",
            "less_than_or_equal",
            "between",
        }
    ),
    "boolean": frozenset({"exists", "not_exists", "empty", "equals"}),
    "date": frozenset(
        {"exists", "not_exists", "empty", "equals", "before", "after", "between_dates"}
    ),
}
_PRESENCE = frozenset({"exists", "not_exists", "empty"})
_RANGE = frozenset({"between", "between_dates"})
# How each condition type names itself in the reference's messages.
_ADJECTIVE = {"string": "string", "number": "numeric", "boolean": "boolean", "date": "date"}


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _check_datapoint(point: Any) -> None:
    if not isinstance(point, dict):
        raise unprocessable("Invalid data point")  # ours
    kind = point.get("type")
    if kind not in _DATAPOINT_TYPES:
        raise unprocessable("Invalid data point type")  # ours
    event_type = point.get("event_type")
    if event_type == "custom_event" and not _present(point.get("event_name")):
        raise unprocessable("Invalid data point custom event name")
    if point.get("custom_event_type") is not None and event_type not in (
        "custom_event",
        "commerce_event",
    ):
        raise unprocessable("Invalid data point custom event type")
    if kind in _EVENT_POINTS:
        # Both marked Required (platform-api.md line 1217).
        if not isinstance(point.get("event_name"), str) or not point["event_name"].strip():
            raise unprocessable("Invalid data point event name")  # ours
        if not isinstance(event_type, str) or not event_type.strip():
            raise unprocessable("Invalid data point event type")  # ours
    if kind in _ATTRIBUTE_POINTS and not _present(point.get("attribute_name")):
        raise unprocessable("Invalid data point attribute name")  # ours
    category = point.get("attribute_category")
    if category is not None and category not in _ATTRIBUTE_CATEGORIES:
        raise unprocessable("Invalid data point attribute category")  # ours


def _check_time_period(period: Any) -> None:
    if not isinstance(period, dict):
        raise unprocessable("Invalid time period specification")
    kind = period.get("type")
    if kind not in ("all", "since", "within"):
        raise unprocessable("Invalid 'type' time period specification")
    if kind == "since" and not (isinstance(period.get("date"), str) and period["date"].strip()):
        # "date: Conditionally Required ... Optional for type all" (line 1268).
        raise unprocessable("Invalid time period specification")
    if kind == "within":
        within = period.get("within")
        if isinstance(within, bool) or not isinstance(within, int) or within <= 0:
            raise unprocessable("Invalid 'within' time period specification")
        if period.get("within_unit") not in ("days", "weeks"):
            raise unprocessable("Invalid 'within_unit' time period specification")


def _check_condition(condition: Any) -> None:
    if not isinstance(condition, dict):
        raise unprocessable("Invalid condition definition")
    kind = condition.get("type")
    if kind not in _OPERATORS:
        raise unprocessable("Invalid condition definition type")
    adjective = _ADJECTIVE[kind]
    op = condition.get("operator")
    if op not in _OPERATORS[kind]:
        raise unprocessable(f"Invalid {adjective} condition operator")
    if not isinstance(condition.get("attribute_name"), str) or not condition["attribute_name"]:
        raise unprocessable("Condition attribute name must be specified")
    value, values = condition.get("value"), condition.get("values")
    low, high = condition.get("min_value"), condition.get("max_value")
    # A value is ignored for in_list (line 1303) and, with no error documented, for the
    # presence operators.
    if op in _RANGE and _present(value):
        raise unprocessable("Condition value must be empty")
    if op != "in_list" and _present(values):
        raise unprocessable("Condition values must be empty")
    if op not in _RANGE and _present(low):
        raise unprocessable("Condition minimum value must be empty")
    if op not in _RANGE and _present(high):
        raise unprocessable("Condition maximum value must be empty")
    if op in _PRESENCE:
        return
    if op == "in_list":
        if not isinstance(values, list) or not values:
            raise unprocessable(
                "In-list condition values must be specified"
                if kind == "string"
                else f"Invalid {adjective} in-list condition values"
            )
        return
    if op in _RANGE:
        if not _present(low):
            raise unprocessable(f"Invalid {adjective} condition minimum value")
        if not _present(high):
            raise unprocessable(f"Invalid {adjective} condition maximum value")
        return
    if not _present(value):
        raise unprocessable(
            "String condition value must be specified"
            if kind == "string"
            else f"Invalid {adjective} condition value"
        )


def check_definition(definition: Any) -> dict[str, Any]:
    """`definition` if the API would accept it; else the `ApiFailure` (422) it would answer."""
    if not isinstance(definition, dict):
        raise unprocessable("Field 'draft_definition' is required.")
    if definition.get("recipe_type") != "event":
        raise unprocessable("Invalid recipe type")
    has_new, has_old = "datapoint" in definition, "data_point" in definition
    if has_new and has_old:
        raise unprocessable("Invalid data point")  # ours: one shape or the other
    point = definition.get("datapoint") if has_new else definition.get("data_point")
    _check_datapoint(point)
    assert isinstance(point, dict)
    calculation = definition.get("calculation_type", point.get("operator"))
    if calculation not in CALCULATION_TYPES:
        raise unprocessable("Invalid calculation type")
    _check_time_period(definition.get("time_period", point.get("time_period")))
    conditions = definition.get("conditions", point.get("conditions"))
    if conditions is not None:
        if not isinstance(conditions, list):
            raise unprocessable("Invalid condition definition")
        for condition in conditions:
            _check_condition(condition)
    seeding = definition.get("seeding")
    if seeding is not None and not (
        isinstance(seeding, dict)
        and isinstance(seeding.get("cutoff_date"), str)
        and seeding["cutoff_date"].strip()
    ):
        raise unprocessable("Invalid seeding specification")  # ours; cutoff_date is Required
    return definition
