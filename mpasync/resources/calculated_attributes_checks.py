"""The checks of a calculated attribute's draft definition before it is sent: recipe and
calculation type, the datapoint, the time period, and each condition against the
operator table (`mpasync.models.enums.OPERATOR_SUPPORT`).

Every vocabulary here is closed: the rules depend on knowing the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from mpasync._checks import fail as _fail
from mpasync._validate import closed_enum, listing, require, to_model
from mpasync.models.calculated_attributes import (
    Condition,
    Definition,
    DefinitionDataPoint,
    TimePeriod,
)
from mpasync.models.enums import (
    OPERATOR_SUPPORT,
    AttributeCategory,
    CalculationType,
    ConditionOperator,
    ConditionType,
    DefinitionDataPointType,
    RecipeType,
    TimePeriodType,
    WithinUnit,
)

__all__ = ["validate_definition"]

_CUSTOM_EVENT_TYPE_HOSTS = frozenset({"custom_event", "commerce_event"})
_EVENT_POINTS = frozenset({DefinitionDataPointType.EVENT, DefinitionDataPointType.EVENT_ATTRIBUTE})
_ATTRIBUTE_POINTS = frozenset(
    {DefinitionDataPointType.EVENT_ATTRIBUTE, DefinitionDataPointType.USER_ATTRIBUTE}
)


def _check_datapoint(point: DefinitionDataPoint, where: str) -> None:
    kind = closed_enum(point.type, DefinitionDataPointType.ALL, f"{where}.type", "datapoint type")
    if kind in _ATTRIBUTE_POINTS:
        require(point.attribute_name, f"{where}.attribute_name", f"is required for type {kind}")
    if point.custom_event_type is not None and point.event_type not in _CUSTOM_EVENT_TYPE_HOSTS:
        _fail(
            f"{where}.custom_event_type",
            "is only allowed when event_type is custom_event or commerce_event",
        )
    if point.event_type == "custom_event":
        require(point.event_name, f"{where}.event_name", "is required for custom_event")
    if kind in _EVENT_POINTS:
        # Both marked Required in "Data Point Object Properties" (platform-api.md line 1217).
        require(point.event_name, f"{where}.event_name", f"is required for type {kind}")
        require(point.event_type, f"{where}.event_type", f"is required for type {kind}")
    if point.attribute_category is not None:
        closed_enum(
            point.attribute_category,
            AttributeCategory.ALL,
            f"{where}.attribute_category",
            "attribute category",
        )


def _check_time_period(period: TimePeriod | None, where: str) -> None:
    if period is None:
        _fail(where, "is required")
    kind = closed_enum(period.type, TimePeriodType.ALL, f"{where}.type", "time period type")
    if kind == TimePeriodType.WITHIN:
        if period.within is None or period.within <= 0:
            _fail(f"{where}.within", "is required for type within and must be a positive integer")
        closed_enum(period.within_unit, WithinUnit.ALL, f"{where}.within_unit", "within unit")
    elif kind == TimePeriodType.SINCE:
        require(period.date, f"{where}.date", "is required for type since (an ISO 8601 date)")


def _check_condition(cond: Condition, where: str) -> Condition:
    """`cond` checked against the operator table; returns it as it should be sent."""
    kind = closed_enum(cond.type, ConditionType.ALL, f"{where}.type", "condition type")
    op = closed_enum(
        cond.operator, ConditionOperator.ALL, f"{where}.operator", "condition operator"
    )
    if kind not in OPERATOR_SUPPORT[op]:
        supported = [o for o, types in OPERATOR_SUPPORT.items() if kind in types]
        _fail(
            f"{where}.operator",
            f"{op!r} is not supported for {kind} conditions; use one of: {listing(supported)}",
        )
    require(cond.attribute_name, f"{where}.attribute_name")

    present = {
        "value": cond.value is not None,
        "values": bool(cond.values),
        "min_value": cond.min_value is not None,
        "max_value": cond.max_value is not None,
    }
    if op in ConditionOperator.NO_VALUE:
        # No documented error for a `value` here (platform-api.md lines 1282-1316 list only
        # values/min/max as "must be empty" for non-list, non-range conditions): it is
        # dropped, not refused.
        needed: tuple[str, ...] = ()
        forbidden: tuple[str, ...] = ("values", "min_value", "max_value")
    elif op in ConditionOperator.LIST:
        # The reference: "Field `value` is ignored when using the `in_list` operator."
        needed, forbidden = ("values",), ("min_value", "max_value")
    elif op in ConditionOperator.RANGE:
        needed, forbidden = ("min_value", "max_value"), ("value", "values")
    else:
        needed, forbidden = ("value",), ("values", "min_value", "max_value")
    for name in needed:
        if not present[name]:
            rule = "a non-empty list " if name == "values" else ""
            _fail(f"{where}.{name}", f"{rule}is required for operator {op}")
    for name in forbidden:
        if present[name]:
            _fail(f"{where}.{name}", f"must be empty for operator {op}")
    if op in ConditionOperator.NO_VALUE and cond.value is not None:
        return msgspec.structs.replace(cond, value=None)
    return cond


def validate_definition(
    defn: Definition | Mapping[str, Any], *, field: str = "draft_definition"
) -> dict[str, Any]:
    """Check a calculated attribute draft definition; returns it as a JSON-ready dict.

    Checks the canonical shape (``datapoint`` with conditions, calculation_type,
    time_period and seeding beside it) and also accepts the ``data_point`` spelling of the
    reference's Get example, reading conditions/"operator"/time_period from inside it.
    """
    d = to_model(defn, Definition, field)
    closed_enum(d.recipe_type, RecipeType.ALL, f"{field}.recipe_type", "recipe type")

    if d.datapoint is not None and d.data_point is not None:
        _fail(f"{field}.data_point", "set either datapoint or data_point, not both")
    point, point_field = d.datapoint, f"{field}.datapoint"
    if point is None and d.data_point is not None:
        point, point_field = d.data_point, f"{field}.data_point"
    if point is None:
        _fail(f"{field}.datapoint", "is required")
    _check_datapoint(point, point_field)

    # Values read from inside the older `data_point` shape are reported where they were.
    calc_field = f"{field}.calculation_type"
    if d.calculation_type is None and point.operator is not None:
        calc_field = f"{point_field}.operator"
    closed_enum(d.effective_calculation_type, CalculationType.ALL, calc_field, "calculation type")

    period_field = f"{field}.time_period"
    if d.time_period is None and point.time_period is not None:
        period_field = f"{point_field}.time_period"
    _check_time_period(d.effective_time_period, period_field)

    conditions_field = f"{field}.conditions"
    if d.conditions is None and point.conditions is not None:
        conditions_field = f"{point_field}.conditions"
    checked = [
        _check_condition(cond, f"{conditions_field}[{i}]")
        for i, cond in enumerate(d.effective_conditions or ())
    ]
    if d.conditions is not None:
        d = msgspec.structs.replace(d, conditions=checked)
    elif point.conditions is not None:
        point = msgspec.structs.replace(point, conditions=checked)
        if d.datapoint is not None:
            d = msgspec.structs.replace(d, datapoint=point)
        else:
            d = msgspec.structs.replace(d, data_point=point)

    if d.seeding is not None:
        require(d.seeding.cutoff_date, f"{field}.seeding.cutoff_date")
    result: dict[str, Any] = msgspec.to_builtins(d)
    return result
