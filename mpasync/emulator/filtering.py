"""Datapoints and datapoint filters: type vocabulary, validation and the filter hierarchy.

The exact semantics the emulator implements (the reference leaves details open):

* **Identity.** A datapoint or filter is identified by (type, name, attribute_name,
  event_type). Types are matched case-insensitively (`"eventattribute"` and
  `"EventAttribute"` are the same) and stored in canonical casing. `event_type` is
  lower-cased and kept only for `Event`, `EventAttribute`, `Commerce` and
  `CommerceAttribute` (ignored, i.e. None, for other types); `attribute_name` is kept only
  for the attribute types. For an `EventType` filter the name is the event type, lower-cased.
* **Validation** (422, nothing is applied when any item fails): unknown type → "Invalid
  datapoint type specified."; missing name → "Datapoint name must be specified."; an
  attribute type without attribute_name → "Attribute name must be specified."; `Event`,
  `EventAttribute` without event_type → "Event type must be specified." (Commerce types
  may leave it out); an event_type outside the documented lists (custom types for events,
  commerce types for commerce) → "Invalid event type specified."; a `UserIdentity` filter
  (or `Identity` datapoint) whose name is not a documented identity type → "Invalid user
  identity type specified.". Only the
  "Specified service not found." message comes from the reference; the others are ours.
* **The filter list** of (app, service) is every datapoint of the app (an `Identity`
  datapoint shows as a `UserIdentity` filter) plus the filters that are not datapoints
  (`EventType`, `All_*_Attributes`), in creation order. A datapoint with no explicit
  filter reports the service's `sendNewDataPointsByDefault`. Changing that flag first pins
  every datapoint without an explicit filter to the old value, so, as the reference says,
  existing datapoints are not affected; only later datapoints follow the new default.
* **Updating** (`PUT .../{service}/datapoints`) stores each filter's `enabled` as given
  (last one wins for duplicates). A filter whose datapoint does not exist creates that
  datapoint (filters of type `EventType`/`All_*` create none).
* **Hierarchy** (computed when listing, so re-enabling a parent restores the children's own
  values): a disabled `EventType` filter named T reports every `Event` and `EventAttribute`
  with event_type T as disabled; a disabled `Event` reports its `EventAttribute`s (same
  name and event_type) as disabled; likewise `Commerce` → `CommerceAttribute` and
  `ScreenView` → `ScreenViewAttribute`. The update response lists the submitted filters
  (deduplicated) with these effective values.
"""

from __future__ import annotations

from typing import Any

from mpasync.emulator.responses import unprocessable
from mpasync.emulator.state import (
    CUSTOM_TYPED,
    FILTER_PARENT,
    App,
    DataPoint,
    DataPointFilter,
    FilterKey,
    ServiceFilters,
    effective_filters,
    effective_map,
    filter_key_of,
    service_filters_for,
    stored_filters,
)

__all__ = [
    "COMMERCE_EVENT_TYPES",
    "DATAPOINT_TYPES",
    "EVENT_TYPES",
    "FILTER_TYPES",
    "USER_IDENTITY_TYPES",
    "apply_filters",
    "datapoint_json",
    "effective_filters",
    "filter_json",
    "parse_datapoint",
    "service_filters_for",
    "set_send_new_by_default",
]

EVENT_TYPES = (
    "unknown",
    "navigation",
    "location",
    "search",
    "transaction",
    "user_content",
    "user_preference",
    "social",
    "other",
    "media",
)
COMMERCE_EVENT_TYPES = (
    "product_add_to_cart",
    "product_remove_from_cart",
    "product_checkout",
    "product_checkout_option",
    "product_click",
    "product_view_detail",
    "product_purchase",
    "product_refund",
    "promotion_view",
    "promotion_click",
)
#: The user identity types a `UserIdentity` filter (or `Identity` datapoint) may name, by
#: lower-case name (platform-api.md "Supported User Identity Types").
USER_IDENTITY_TYPES = {
    name.lower(): name
    for name in (
        "CustomerId",
        "Facebook",
        "Twitter",
        "Google",
        "Microsoft",
        "Yahoo",
        "Email",
        "Other",
    )
}
_IDENTITY_TYPED = frozenset({"UserIdentity", "Identity"})
_EVENT_TYPE_SET = frozenset(EVENT_TYPES)
_COMMERCE_TYPE_SET = frozenset(COMMERCE_EVENT_TYPES)


def _vocabulary(*names: str) -> dict[str, str]:
    # Matched case-insensitively and with or without underscores: "eventattribute",
    # "EventAttribute" and "All_User_Attributes"/"alluserattributes" all resolve.
    return {name.lower().replace("_", ""): name for name in names}


#: Canonical datapoint types (`PUT /apps/{id}/datapoints`).
DATAPOINT_TYPES = _vocabulary(
    "Event",
    "EventAttribute",
    "UserAttribute",
    "ScreenView",
    "ScreenViewAttribute",
    "Identity",
    "Commerce",
    "CommerceAttribute",
)
#: Canonical filter types (`PUT /apps/{id}/{service}/datapoints`).
FILTER_TYPES = _vocabulary(
    "Event",
    "EventAttribute",
    "UserAttribute",
    "EventType",
    "ScreenView",
    "ScreenViewAttribute",
    "UserIdentity",
    "Commerce",
    "CommerceAttribute",
    "All_User_Attributes",
    "All_Workspace_User_Attributes",
    "All_Account_User_Attributes",
)
_COMMERCE_TYPED = frozenset({"Commerce", "CommerceAttribute"})
# Filter type <-> datapoint type where they differ; EventType and All_* have no datapoint.
_DATAPOINT_OF_FILTER = {"UserIdentity": "Identity"}
_NOT_DATAPOINTS = frozenset(
    {
        "EventType",
        "All_User_Attributes",
        "All_Workspace_User_Attributes",
        "All_Account_User_Attributes",
    }
)


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise unprocessable(f"Invalid value for {name}.")
    return value


def parse_datapoint(obj: Any, vocabulary: dict[str, str]) -> FilterKey:
    """Validate one datapoint or filter object and return its canonical identity."""
    if not isinstance(obj, dict):
        raise unprocessable("Invalid datapoint specified.")
    raw_type = obj.get("type")
    canonical = (
        vocabulary.get(raw_type.lower().replace("_", "")) if isinstance(raw_type, str) else None
    )
    if canonical is None:
        raise unprocessable("Invalid datapoint type specified.")
    name = _optional_str(obj, "name")
    if name is None:
        raise unprocessable("Datapoint name must be specified.")
    attribute_name = _optional_str(obj, "attribute_name") if canonical in FILTER_PARENT else None
    if canonical in FILTER_PARENT and attribute_name is None:
        raise unprocessable("Attribute name must be specified.")
    event_type: str | None = None
    if canonical in CUSTOM_TYPED or canonical in _COMMERCE_TYPED:
        raw_event_type = _optional_str(obj, "event_type")
        # Only Event/EventAttribute must name it (platform-api.md line 1990); a Commerce
        # datapoint or filter without one is accepted.
        if raw_event_type is None and canonical in CUSTOM_TYPED:
            raise unprocessable("Event type must be specified.")
        if raw_event_type is not None:
            event_type = raw_event_type.lower()
            allowed = _EVENT_TYPE_SET if canonical in CUSTOM_TYPED else _COMMERCE_TYPE_SET
            if event_type not in allowed:
                raise unprocessable("Invalid event type specified.")
    if canonical == "EventType":
        name = name.lower()
        if name not in _EVENT_TYPE_SET:
            raise unprocessable("Invalid event type specified.")
    if canonical in _IDENTITY_TYPED:
        # "the name field should be set to one of the following allowed values" (line 1941).
        found = USER_IDENTITY_TYPES.get(name.lower())
        if found is None:
            raise unprocessable("Invalid user identity type specified.")
        name = found
    return (canonical, name, attribute_name, event_type)


def datapoint_json(dp: DataPoint) -> dict[str, Any]:
    """A datapoint as `GET /v1/apps/{id}/datapoints` shows it."""
    return {
        "name": dp.name,
        "attribute_name": dp.attribute_name,
        "type": dp.type,
        "event_type": dp.event_type,
        "data_type": "datapoint",
        "created_on": dp.created_on,
    }


def filter_json(f: DataPointFilter, *, listing: bool = True) -> dict[str, Any]:
    """A filter as the GET listing (`listing=True`) or the PUT response shows it."""
    if listing:
        return {
            "name": f.name,
            "attribute_name": f.attribute_name,
            "type": f.type,
            "event_type": f.event_type,
            "enabled": f.enabled,
            "data_type": "datapoint",
            "created_on": f.created_on,
        }
    # The reference's update response omits attribute_name for non-attribute filters.
    out: dict[str, Any] = {"name": f.name}
    if f.attribute_name is not None:
        out["attribute_name"] = f.attribute_name
    out["type"] = f.type
    out["event_type"] = f.event_type
    out["enabled"] = f.enabled
    return out


def apply_filters(app: App, service: str, items: Any, now: str) -> list[DataPointFilter]:
    """Validate and store filters for (app, service); return the submitted ones, effective."""
    if not isinstance(items, list):
        raise unprocessable("An array of datapoint filters is required.")
    parsed: dict[FilterKey, bool] = {}
    for obj in items:
        key = parse_datapoint(obj, FILTER_TYPES)
        enabled = obj.get("enabled", True)
        if not isinstance(enabled, bool):
            raise unprocessable("Invalid value for enabled.")
        parsed.pop(key, None)  # a later duplicate wins and moves to its own position
        parsed[key] = enabled
    sf = service_filters_for(app, service)
    for key, enabled in parsed.items():
        created_on = now
        if key[0] not in _NOT_DATAPOINTS:
            dp_key = (_DATAPOINT_OF_FILTER.get(key[0], key[0]), key[1], key[2], key[3])
            dp = app.datapoints.get(dp_key)
            if dp is None:
                dp = app.datapoints[dp_key] = DataPoint(*dp_key, created_on=now)
            created_on = dp.created_on
        existing = sf.filters.get(key)
        if existing is not None:
            existing.enabled = enabled
        else:
            sf.filters[key] = DataPointFilter(key[0], key[1], key[2], key[3], enabled, created_on)
    effective = effective_map(stored_filters(app, service))
    return [effective[key] for key in parsed]


def set_send_new_by_default(app: App, service: str, value: bool) -> ServiceFilters:
    """Set `sendNewDataPointsByDefault`, pinning existing datapoints to the old default."""
    sf = service_filters_for(app, service)
    if value != sf.send_new_datapoints_by_default:
        old = sf.send_new_datapoints_by_default
        for dp in app.datapoints.values():
            key = filter_key_of(dp)
            if key not in sf.filters:
                sf.filters[key] = DataPointFilter(
                    key[0], key[1], key[2], key[3], old, dp.created_on
                )
        sf.send_new_datapoints_by_default = value
    return sf
