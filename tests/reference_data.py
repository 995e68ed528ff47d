"""Request bodies taken from the reference, shared by the tests that send them."""

from __future__ import annotations

from typing import Any

# The draft definition of platform-api.md's "Create a Calculated Attribute" example.
# Shared: never mutate it (copy.deepcopy first).
CREATE_DRAFT_DEFINITION: dict[str, Any] = {
    "recipe_type": "event",
    "datapoint": {
        "type": "event",
        "event_name": "Add To Cart",
        "attribute_name": None,
        "event_type": "commerce_event",
        "custom_event_type": "add_to_cart",
        "attribute_category": "product_attribute",
        "use_product_quantity": True,
    },
    "conditions": [],
    "calculation_type": "count",
    "time_period": {
        "type": "since",
        "date": "2020-01-24T00:00:00",
        "within": None,
        "within_unit": None,
    },
    "seeding": {"cutoff_date": "2020-01-26T00:00:00"},
}

# The Android platform of platform-api.md's "Get a single app platform" example.
ANDROID_PLATFORM: dict[str, Any] = {
    "application_id": 1,
    "os": "Android",
    "access_keys": [{"key": "AccessKey", "secret": None, "data_type": "token"}],
    "crash_handling": "AppDefined",
    "network_performance": "AppDefined",
    "social_mode": "AppDefined",
    "profile_merging": False,
    "push_attribution_timer": 30,
    "last_modified_on": "2014-11-05T20:09:46.577",
    "data_type": "platform",
    "created_on": "2014-06-11T19:43:48.697",
}
