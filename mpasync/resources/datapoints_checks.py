"""The checks of DataPoints and DataPoint filters before they are sent (`DataPoints`,
`DataPointFilters`, filter migrations, ``mpasync filters apply``).

Strict on shape, open on the API's own vocabularies: a DataPoint or filter ``type``, an
event type, a commerce event type or a user identity type that mpasync does not know is
sent as given with one WARNING per value (mParticle adds such values; a filter it
exports must apply again), while a value of the wrong vocabulary (a commerce event type
on an ``Event`` filter) is still refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from mpasync._checks import fail as _fail
from mpasync._validate import list_of, open_enum, require, to_model
from mpasync.models.datapoints import DataPoint, DataPointFilter
from mpasync.models.enums import (
    CommerceEventType,
    DataPointType,
    EventType,
    FilterType,
    UserIdentityType,
)

__all__ = ["coerce_datapoint", "coerce_filter", "validate_datapoints", "validate_filters"]

P = TypeVar("P", DataPoint, DataPointFilter)

_APP_EVENT_TYPES = frozenset({DataPointType.EVENT, DataPointType.EVENT_ATTRIBUTE})
_COMMERCE_TYPES = frozenset({DataPointType.COMMERCE, DataPointType.COMMERCE_ATTRIBUTE})
_ATTRIBUTE_TYPES = frozenset(
    {
        DataPointType.EVENT_ATTRIBUTE,
        DataPointType.SCREEN_VIEW_ATTRIBUTE,
        DataPointType.COMMERCE_ATTRIBUTE,
    }
)


def _check_point(point: P, allowed_types: frozenset[str], where: str, *, is_filter: bool) -> P:
    """Rules shared by DataPoints and DataPoint filters; returns `point` with its type,
    event_type and enumerated names in their documented spelling."""
    name = require(point.name, f"{where}.name", "is required and must not be empty")
    # The API owns these vocabularies and extends them: values mpasync does not know are
    # sent with a warning (`open_enum`), and rules tied to a type apply to known types.
    other_types = (DataPointType.ALL | FilterType.ALL) - allowed_types
    kind = open_enum(point.type, allowed_types, f"{where}.type", "type", wrong=other_types)
    event_type = point.event_type
    et_field = f"{where}.event_type"
    if kind in _APP_EVENT_TYPES:
        what = f"event type for {kind}"
        wrong = CommerceEventType.ALL
        event_type = open_enum(event_type, EventType.ALL, et_field, what, wrong=wrong)
    elif kind in _COMMERCE_TYPES:
        # Only Event/EventAttribute require it, for filters and DataPoints alike
        # (platform-api.md line 1990); when given it must be a commerce event type (line 1971).
        if event_type is not None:
            what = f"commerce event type for {kind}"
            wrong = EventType.ALL
            event_type = open_enum(event_type, CommerceEventType.ALL, et_field, what, wrong=wrong)
    elif kind in allowed_types:
        # "ignored for other types" (platform-api.md line 1990): dropped rather than refused,
        # so what is sent is what the server keeps.
        event_type = None
    if kind in _ATTRIBUTE_TYPES:
        require(point.attribute_name, f"{where}.attribute_name", f"is required for type {kind}")
    if is_filter and kind == FilterType.USER_IDENTITY:
        name = open_enum(name, UserIdentityType.ALL, f"{where}.name", "user identity type")
    elif is_filter and kind == FilterType.EVENT_TYPE:
        what = "event type for an EventType filter"
        name = open_enum(name, EventType.ALL, f"{where}.name", what, wrong=CommerceEventType.ALL)
    return msgspec.structs.replace(point, name=name, type=kind, event_type=event_type)


def coerce_filter(
    f: DataPointFilter | Mapping[str, Any], *, field: str = "filter"
) -> DataPointFilter:
    """A checked `DataPointFilter` from a model or dict, in documented spelling.

    >>> coerce_filter({"name": "my event", "type": "event", "event_type": "navigation"})
    ... # doctest: +NORMALIZE_WHITESPACE
    DataPointFilter(name='my event', type='Event', event_type='navigation',
                    attribute_name=None, enabled=True, created_on=None, data_type=None)
    """
    flt = to_model(f, DataPointFilter, field)
    return _check_point(flt, FilterType.ALL, field, is_filter=True)


def validate_filters(
    filters: Iterable[DataPointFilter | Mapping[str, Any]], *, field: str = "filters"
) -> list[DataPointFilter]:
    """Every filter checked with `coerce_filter`; two filters for one DataPoint are an error."""
    checked: list[DataPointFilter] = []
    seen: dict[tuple[str, str, str | None, str | None], int] = {}
    for i, item in enumerate(list_of(filters, field, "filters")):
        flt = coerce_filter(item, field=f"{field}[{i}]")
        first = seen.setdefault(flt.key(), i)
        if first != i:
            _fail(f"{field}[{i}]", f"targets the same DataPoint as {field}[{first}]")
        checked.append(flt)
    return checked


def coerce_datapoint(p: DataPoint | Mapping[str, Any], *, field: str = "datapoint") -> DataPoint:
    """A checked `DataPoint` from a model or dict, in documented spelling."""
    point = to_model(p, DataPoint, field)
    return _check_point(point, DataPointType.ALL, field, is_filter=False)


def validate_datapoints(
    datapoints: Iterable[DataPoint | Mapping[str, Any]], *, field: str = "datapoints"
) -> list[DataPoint]:
    """Every DataPoint checked with `coerce_datapoint`."""
    items = list_of(datapoints, field, "datapoints")
    return [coerce_datapoint(p, field=f"{field}[{i}]") for i, p in enumerate(items)]
