"""Every example response in platform-api.md, copied verbatim and decoded the way the
transport decodes: ``Envelope[Model]`` for v1 envelopes, the bare type for bare bodies,
always with ``strict=False``.

Not here: the OAuth token response (the auth module's) and the User Insights example,
which sits inside an HTML comment in the reference (no documented endpoint).
"""

# The examples are verbatim, long lines included.
# ruff: noqa: E501

from __future__ import annotations

from typing import Any

import msgspec

from mpasync.models import (
    AccessKey,
    Account,
    ActivationStatus,
    App,
    Audience,
    CalculatedAttribute,
    CalculationStatus,
    Condition,
    DataPoint,
    DataPointFilter,
    DefinitionDataPoint,
    EntityRef,
    Envelope,
    ErrorBody,
    Feed,
    FeedSetting,
    FeedSubscription,
    OutputConfiguration,
    Platform,
    PlatformService,
    PlatformServiceSetting,
    Seeding,
    Service,
    ServiceConfiguration,
    ServiceFiltering,
    ServiceSetting,
    TimePeriod,
    User,
    Workspace,
)


def envelope(model: type[Any]) -> msgspec.json.Decoder[Envelope[Any]]:
    """The transport's decoder for a v1 envelope of `model`."""
    return msgspec.json.Decoder(Envelope[model], strict=False)  # type: ignore[valid-type]


def bare(tp: Any) -> msgspec.json.Decoder[Any]:
    """The transport's decoder for a bare (unenveloped) body."""
    return msgspec.json.Decoder(tp, strict=False)


# platform-api.md line 97
ENVELOPE = r"""{
  "data": [],
  "dataType": "app",
  "errors": [
    {
        "code": "VALIDATION_ERROR",
        "message": "Error message here"
    }
  ]
}"""


def test_return_data_envelope_example() -> None:
    env = envelope(App).decode(ENVELOPE)
    assert env.data == []
    assert env.data_type == "app"
    assert env.errors == [ErrorBody(code="VALIDATION_ERROR", message="Error message here")]


# platform-api.md line 152
GET_SINGLE_ACCOUNT = r"""{
  "data": [
    {
      "name": "My Account",
      "last_modified_on": "2014-11-14T22:46:38.673",
      "data_type": "account",
      "id": 1,
      "created_on": "2013-07-23T18:49:38.547"
    }
  ],
  "dataType": "account",
  "errors": null
}"""


def test_get_single_account_example() -> None:
    env = envelope(Account).decode(GET_SINGLE_ACCOUNT)
    assert env.data_type == "account"
    assert env.errors is None
    assert env.data == [
        Account(
            id=1,
            name="My Account",
            created_on="2013-07-23T18:49:38.547",
            last_modified_on="2014-11-14T22:46:38.673",
            data_type="account",
        )
    ]


# platform-api.md line 184
GET_ALL_ACCOUNTS = r"""{
  "data": [
    {
      "name": "My Account 1",
      "last_modified_on": "2014-11-14T22:46:38.673",
      "data_type": "account",
      "id": 1,
      "created_on": "2013-07-23T18:49:38.547"
    },
    {
      "name": "My Account 2",
      "last_modified_on": "2014-11-14T22:46:38.673",
      "data_type": "account",
      "id": 2,
      "created_on": "2013-07-25T18:49:38.547"
    }
  ],
  "dataType": "account",
  "errors": null
}"""


def test_get_all_accounts_example() -> None:
    env = envelope(Account).decode(GET_ALL_ACCOUNTS)
    assert env.data is not None
    assert [(a.id, a.name) for a in env.data] == [(1, "My Account 1"), (2, "My Account 2")]
    assert env.data[1].created_on == "2013-07-25T18:49:38.547"


# platform-api.md line 280
GET_SINGLE_APP = r"""{
  "data": [
    {
      "name": "Test App",
      "platforms": [
        {
          "application_id": 1,
          "os": "Android",
          "access_keys": [
            {
              "key": "AccessKey",
              "secret": null,
              "data_type": "token"
            }
          ],
          "crash_handling": "AppDefined",
          "network_performance": "AppDefined",
          "social_mode": "AppDefined",
          "profile_merging": false,
          "push_attribution_timer": 30,
          "last_modified_on": "2014-11-05T20:09:46.577",
          "data_type": "platform",
          "created_on": "2014-06-11T19:43:48.697"
        }
      ],
      "last_modified_on": "2014-06-11T19:43:45.617",
      "data_type": "application",
      "id": 1,
      "created_on": "2014-06-11T19:43:45.617"
    }
  ],
  "dataType": "application",
  "errors": null
}"""


def _check_android_app(app: App) -> None:
    assert (app.id, app.name, app.data_type) == (1, "Test App", "application")
    assert app.created_on == "2014-06-11T19:43:45.617"
    assert app.platforms is not None
    (platform,) = app.platforms
    assert platform.application_id == 1
    assert platform.os == "Android"
    assert platform.access_keys == [AccessKey(key="AccessKey", secret=None, data_type="token")]
    assert platform.crash_handling == "AppDefined"
    assert platform.network_performance == "AppDefined"
    assert platform.social_mode == "AppDefined"
    assert platform.profile_merging is False
    assert platform.push_attribution_timer == 30
    assert platform.data_type == "platform"


def test_get_single_app_example() -> None:
    env = envelope(App).decode(GET_SINGLE_APP)
    assert env.data_type == "application"
    assert env.data is not None
    (app,) = env.data
    _check_android_app(app)


# platform-api.md line 328
GET_ALL_APPS = r"""{
  "data": [
    {
      "name": "Test App",
      "platforms": [
        {
          "application_id": 1,
          "os": "Android",
          "access_keys": [
            {
              "key": "AccessKey",
              "secret": null,
              "data_type": "token"
            }
          ],
          "crash_handling": "AppDefined",
          "network_performance": "AppDefined",
          "social_mode": "AppDefined",
          "profile_merging": false,
          "push_attribution_timer": 30,
          "last_modified_on": "2014-11-05T20:09:46.577",
          "data_type": "platform",
          "created_on": "2014-06-11T19:43:48.697"
        }
      ],
      "last_modified_on": "2014-06-11T19:43:45.617",
      "data_type": "application",
      "id": 1,
      "created_on": "2014-06-11T19:43:45.617"
    }
  ],
  "dataType": "application",
  "errors": null
}"""


def test_get_all_apps_example() -> None:
    env = envelope(App).decode(GET_ALL_APPS)
    assert env.data is not None
    (app,) = env.data
    _check_android_app(app)


# platform-api.md line 435
CREATE_APP = r"""
{
  "data": [
    {
      "name": "Test App",
      "platforms": [
        {
          "application_id": 1,
          "os": "iOS",
          "access_keys": [
            {
              "key": "AccessKey",
              "secret": "AccessSecret",
              "data_type": "token"
            }
          ],
          "crash_handling": null,
          "network_performance": null,
          "social_mode": null,
          "profile_merging": true,
          "push_attribution_timer": 30,
          "last_modified_on": "2015-03-11T12:07:08.077",
          "data_type": "platform",
          "created_on": "2015-03-11T12:07:08.077"
        }
      ],
      "last_modified_on": "2015-03-11T12:07:07.877",
      "data_type": "application",
      "id": 1,
      "created_on": "2015-03-11T12:07:07.877"
    }
  ],
  "dataType": "application",
  "errors": null
}"""


def test_create_app_example() -> None:
    env = envelope(App).decode(CREATE_APP)
    assert env.data is not None
    (app,) = env.data
    assert (app.id, app.name) == (1, "Test App")
    assert app.platforms is not None
    (platform,) = app.platforms
    assert platform.os == "iOS"
    assert platform.crash_handling is None
    assert platform.network_performance is None
    assert platform.social_mode is None
    assert platform.profile_merging is True
    assert platform.access_keys is not None
    # The secret is sent only on creation: it is kept, but never shown in a repr.
    assert platform.access_keys[0].secret == "AccessSecret"
    assert "AccessSecret" not in repr(app)


# platform-api.md line 532
GET_SINGLE_PLATFORM = r"""
{
  "data": [
    {
      "application_id": 1,
      "os": "Android",
      "access_keys": [
        {
          "key": "AccessKey",
          "secret": null,
          "data_type": "token"
        }
      ],
      "crash_handling": "AppDefined",
      "network_performance": "AppDefined",
      "social_mode": "AppDefined",
      "profile_merging": false,
      "push_attribution_timer": 30,
      "last_modified_on": "2014-11-05T20:09:46.577",
      "data_type": "platform",
      "created_on": "2014-06-11T19:43:48.697"
    }
  ],
  "dataType": "platform",
  "errors": null
}
"""


def test_get_single_platform_example() -> None:
    env = envelope(Platform).decode(GET_SINGLE_PLATFORM)
    assert env.data_type == "platform"
    assert env.data is not None
    (platform,) = env.data
    assert (platform.application_id, platform.os) == (1, "Android")
    assert platform.access_keys == [AccessKey(key="AccessKey", data_type="token")]
    assert platform.last_modified_on == "2014-11-05T20:09:46.577"
    assert platform.created_on == "2014-06-11T19:43:48.697"


# platform-api.md line 578
GET_ALL_PLATFORMS = r"""{
  "data": [
    {
      "application_id": 1,
      "os": "Android",
      "access_keys": [
        {
          "key": "AccessKey",
          "secret": null,
          "data_type": "token"
        }
      ],
      "crash_handling": "AppDefined",
      "network_performance": "AppDefined",
      "social_mode": "AppDefined",
      "profile_merging": false,
      "push_attribution_timer": 30,
      "last_modified_on": "2014-11-05T20:09:46.577",
      "data_type": "platform",
      "created_on": "2014-06-11T19:43:48.697"
    }
  ],
  "dataType": "platform",
  "errors": null
}"""


def test_get_all_platforms_example() -> None:
    env = envelope(Platform).decode(GET_ALL_PLATFORMS)
    assert env.data is not None
    assert [p.os for p in env.data] == ["Android"]
    assert env.data[0].push_attribution_timer == 30


# platform-api.md line 679
CREATE_PLATFORM = r"""{
  "data": [
    {
      "application_id": 1,
      "os": "Android",
      "access_keys": [
        {
          "key": "AccessKey",
          "secret": "AccessSecret",
          "data_type": "token"
        }
      ],
      "crash_handling": "AppDefined",
      "network_performance": "AppDefined",
      "social_mode": "AppDefined",
      "profile_merging": false,
      "push_attribution_timer": 30,
      "last_modified_on": "2014-11-05T20:09:46.577",
      "data_type": "platform",
      "created_on": "2014-06-11T19:43:48.697"
    }
  ],
  "dataType": "platform",
  "errors": null
}"""


def test_create_platform_example() -> None:
    env = envelope(Platform).decode(CREATE_PLATFORM)
    assert env.data is not None
    (platform,) = env.data
    assert platform.os == "Android"
    assert platform.access_keys is not None
    assert platform.access_keys[0].key == "AccessKey"
    assert platform.access_keys[0].secret == "AccessSecret"
    assert "AccessSecret" not in repr(platform)


# platform-api.md line 757
GET_PLATFORM_SERVICES = r"""{
  "data": [
    {
      "account": "Default Account",
      "name": "GoogleAnalyticsEventForwarder",
      "isActive": true,
      "isVisible": true,
      "settings": [
        {
          "name": "apiKey",
          "value": "*********** Key",
          "isConfidential": true
        }
      ],
      "data_type": "service"
    }
  ],
  "dataType": "service",
  "errors": null
}"""


def test_get_platform_services_example() -> None:
    env = envelope(PlatformService).decode(GET_PLATFORM_SERVICES)
    assert env.data_type == "service"
    assert env.data == [
        PlatformService(
            account="Default Account",
            name="GoogleAnalyticsEventForwarder",
            is_active=True,
            is_visible=True,
            settings=[
                PlatformServiceSetting(name="apiKey", value="*********** Key", is_confidential=True)
            ],
            data_type="service",
        )
    ]


# platform-api.md line 908. The one edit: the reference has a syntax typo
# (`"name": "Second Workspace",,`); the extra comma is removed.
GET_ACCOUNT_AUDIENCES = r"""[
    {
        "name": "Abandoned Cart",
        "external_name": "Abandoned Cart",
        "size": 342,
        "created_by": "jsmith",
        "last_modified_by": "mmann",
        "last_modified_on": "2017-01-12T17:27:34.387",
        "is_calculated": false,
        "added_last_24_hours": 10,
        "dropped_last_24_hours": 7,
        "status": "active",
        "workspaces": [
            {
                "name": "First Workspace",
                "id": 123,
                "data_type": "workspace",
                "created_on": "2016-05-09T18:27:57.337"
            },
            {
                "name": "Second Workspace",
                "id": 456,
                "data_type": "workspace",
                "created_on": "2016-05-09T18:27:57.337"
            }
        ],
        "connected_outputs": [
            {
                "provider_name": "Mixpanel",
                "configurations": [
                {
                    "name": "Prod"
                }
                ],
                "data_type": "audience_output"
            },
            {
                "provider_name": "ActionX",
                "configurations": [
                {
                    "name": "Dev"
                }
                ],
                "data_type": "audience_output"
            }
        ],
        "data_type": "audience",
        "id": 7622
    }
]"""


def test_get_all_audiences_for_account_example() -> None:
    # A bare array, not an envelope.
    audiences = bare(list[Audience]).decode(GET_ACCOUNT_AUDIENCES)
    (audience,) = audiences
    assert (audience.id, audience.name, audience.external_name) == (
        7622,
        "Abandoned Cart",
        "Abandoned Cart",
    )
    assert audience.size == 342
    assert (audience.created_by, audience.last_modified_by) == ("jsmith", "mmann")
    assert audience.last_modified_on == "2017-01-12T17:27:34.387"
    assert audience.is_calculated is False
    assert (audience.added_last_24_hours, audience.dropped_last_24_hours) == (10, 7)
    assert audience.status == "active"
    assert audience.data_type == "audience"
    assert audience.workspaces is not None
    assert [(w.id, w.name) for w in audience.workspaces] == [
        (123, "First Workspace"),
        (456, "Second Workspace"),
    ]
    assert audience.connected_outputs is not None
    mixpanel, actionx = audience.connected_outputs
    assert mixpanel.provider_name == "Mixpanel"
    assert mixpanel.configurations == [OutputConfiguration(name="Prod")]
    assert mixpanel.data_type == "audience_output"
    assert actionx.provider_name == "ActionX"
    assert actionx.configurations == [OutputConfiguration(name="Dev")]


# platform-api.md line 976
GET_WORKSPACE_AUDIENCES = r"""[
    {
        "name": "Abandoned Cart",
        "external_name": "Abandoned Cart",
        "size": 342,
        "created_by": "jsmith",
        "last_modified_by": "mmann",
        "last_modified_on": "2017-01-12T17:27:34.387",
        "is_calculated": false,
        "added_last_24_hours": 10,
        "dropped_last_24_hours": 7,
        "status": "active",
        "workspaces": [
            {
                "name": "First Workspace",
                "id": 1,
                "data_type": "workspace",
                "created_on": "2016-05-09T18:27:57.337"
            }
        ],
        "connected_outputs": [
            {
                "provider_name": "Mixpanel",
                "configurations": [
                {
                    "name": "Prod"
                }
                ],
                "data_type": "audience_output"
            },
            {
                "provider_name": "ActionX",
                "configurations": [
                {
                    "name": "Dev"
                }
                ],
                "data_type": "audience_output"
            }
        ],
        "data_type": "audience",
        "id": 7622
    }
]"""


def test_get_all_audiences_for_workspace_example() -> None:
    audiences = bare(list[Audience]).decode(GET_WORKSPACE_AUDIENCES)
    (audience,) = audiences
    assert audience.id == 7622
    assert audience.workspaces == [
        Workspace(
            id=1,
            name="First Workspace",
            data_type="workspace",
            created_on="2016-05-09T18:27:57.337",
        )
    ]


# platform-api.md line 1065
GET_ALL_CALCULATED_ATTRIBUTES = r"""[
  {
    "id": 5,
    "name": "ca1",
    "description": "Calculated attribute description.",
    "created_by": "user@mparticle.com",
    "created_on": "2019-09-10T15:34:44.69",
    "last_modified_on": "2019-12-06T15:04:22.043",
    "last_modified_by": "user@mparticle.com",
    "active_definition": {
      "recipe_type": "event",
      "datapoint": {
        "type": "event",
        "event_name": "Purchase",
        "attribute_name": "Total Amount",
        "event_type": "commerce_event",
        "custom_event_type": "purchase",
        "attribute_category": "product_attribute",
        "use_product_quantity": true
      },
      "conditions": [
        {
          "type": "number",
          "operator": "equals",
          "attribute_name": "Checkout Step",
          "value": "22",
          "values": null,
          "min_value": null,
          "max_value": null
        }
      ],
      "calculation_type": "sum",
      "time_period": {
        "type": "since",
        "date": "2019-10-01T00:00:00",
        "within": null,
        "within_unit": null
      },
      "seeding": {
        "cutoff_date": "2019-10-02T00:00:00"
      }
    },
    "draft_definition": {
      "recipe_type": "event",
      "datapoint": {
        "type": "event",
        "event_name": "Purchase",
        "attribute_name": "Total Amount",
        "event_type": "commerce_event",
        "custom_event_type": "purchase",
        "attribute_category": "product_attribute",
        "use_product_quantity": true
      },
      "conditions": null,
      "calculation_type": "sum",
      "time_period": {
        "type": "since",
        "date": "2019-10-01T00:00:00",
        "within": null,
        "within_unit": null
      },
      "seeding": null
    },
    "audience_count": 1,
    "activated_on": "2020-02-18T19:24:50.426Z",
    "activated_by": "user@mparticle.com"
  }
]"""


def test_get_all_calculated_attributes_example() -> None:
    # v2: a bare array; definitions use the `datapoint` shape.
    (ca,) = bare(list[CalculatedAttribute]).decode(GET_ALL_CALCULATED_ATTRIBUTES)
    assert (ca.id, ca.name) == (5, "ca1")
    assert ca.description == "Calculated attribute description."
    assert ca.created_by == ca.last_modified_by == "user@mparticle.com"
    assert ca.created_on == "2019-09-10T15:34:44.69"
    assert ca.audience_count == 1
    assert ca.activated_on == "2020-02-18T19:24:50.426Z"
    assert ca.activated_by == "user@mparticle.com"

    active = ca.active_definition
    assert active is not None
    assert active.recipe_type == "event"
    assert active.data_point is None
    assert active.effective_datapoint is active.datapoint
    assert active.datapoint == DefinitionDataPoint(
        type="event",
        event_name="Purchase",
        attribute_name="Total Amount",
        event_type="commerce_event",
        custom_event_type="purchase",
        attribute_category="product_attribute",
        use_product_quantity=True,
    )
    assert active.conditions == [
        Condition(
            type="number",
            operator="equals",
            attribute_name="Checkout Step",
            value="22",
        )
    ]
    assert active.calculation_type == "sum"
    assert active.time_period == TimePeriod(type="since", date="2019-10-01T00:00:00")
    assert active.seeding == Seeding(cutoff_date="2019-10-02T00:00:00")

    draft = ca.draft_definition
    assert draft is not None
    assert draft.conditions is None
    assert draft.seeding is None
    assert draft.datapoint == active.datapoint


# platform-api.md line 1333
GET_CALCULATED_ATTRIBUTE = r"""{
  "id": 0,
  "name": "string",
  "description": "string",
  "created_by": "string",
  "created_on": "2020-01-30T17:37:41.608Z",
  "last_modified_on": "2020-01-30T17:37:41.608Z",
  "last_modified_by": "string",
  "active_definition": {
    "recipe_type": "event",
    "data_point": {
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
          "values": [
            "string"
          ],
          "min_value": "string",
          "max_value": "string"
        }
      ],
      "operator": "count",
      "time_period": {
        "type": "all",
        "date": "2020-01-30",
        "within": 0,
        "within_unit": "days"
      }
    }
  },
  "draft_definition": {
    "recipe_type": "event",
    "data_point": {
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
          "values": [
            "string"
          ],
          "min_value": "string",
          "max_value": "string"
        }
      ],
      "operator": "count",
      "time_period": {
        "type": "all",
        "date": "2020-01-30",
        "within": 0,
        "within_unit": "days"
      }
    }
  },
  "audience_count": 0,
  "activated_on": "2020-02-18T19:24:50.426Z",
  "activated_by": "user@mparticle.com"
}"""


def test_get_calculated_attribute_example() -> None:
    # v2: a bare object; this example uses the older `data_point` shape, with
    # conditions, "operator" and time_period inside the datapoint.
    ca = bare(CalculatedAttribute).decode(GET_CALCULATED_ATTRIBUTE)
    assert (ca.id, ca.name, ca.description) == (0, "string", "string")
    assert ca.created_on == "2020-01-30T17:37:41.608Z"
    assert ca.audience_count == 0
    assert ca.activated_by == "user@mparticle.com"
    for definition in (ca.active_definition, ca.draft_definition):
        assert definition is not None
        assert definition.recipe_type == "event"
        assert definition.datapoint is None
        point = definition.effective_datapoint
        assert point is not None
        assert point is definition.data_point
        assert (point.type, point.event_name, point.attribute_name) == (
            "event",
            "string",
            "string",
        )
        assert (point.event_type, point.custom_event_type) == ("unknown", "unknown")
        assert point.operator == "count"
        assert definition.effective_calculation_type == "count"
        assert definition.effective_time_period == TimePeriod(
            type="all", date="2020-01-30", within=0, within_unit="days"
        )
        assert definition.effective_conditions == [
            Condition(
                type="string",
                operator="exists",
                attribute_name="string",
                value="string",
                values=["string"],
                min_value="string",
                max_value="string",
            )
        ]


# platform-api.md line 1515
GET_ACTIVATION_STATUS = r"""{
  "calculated_attribute_id": 5678,
  "is_active": true,
  "activated_on": "2020-02-18T19:24:50.426Z",
  "activated_by": "user@mparticle.com"
}"""


def test_get_activation_status_example() -> None:
    status = bare(ActivationStatus).decode(GET_ACTIVATION_STATUS)
    assert status == ActivationStatus(
        calculated_attribute_id=5678,
        is_active=True,
        activated_on="2020-02-18T19:24:50.426Z",
        activated_by="user@mparticle.com",
    )


# platform-api.md line 1559
GET_CALCULATION_STATUS = r"""{
  "id": 5678,
  "name": "New Name",
  "revision_id": 123,
  "is_calculated": false,
  "calculation_percent_complete": 50,
  "estimated_completion_time": "2020-01-29T19:24:19.051Z"
}"""


def test_get_calculation_status_example() -> None:
    status = bare(CalculationStatus).decode(GET_CALCULATION_STATUS)
    assert (status.id, status.name, status.revision_id) == (5678, "New Name", 123)
    assert status.is_calculated is False
    assert status.calculation_percent_complete == 50
    assert status.estimated_completion_time == "2020-01-29T19:24:19.051Z"


# platform-api.md line 1591
GET_DATAPOINTS = r"""{
  "data": [
    {
      "name": "my event",
      "attribute_name": null,
      "type": "Event",
      "event_type": "navigation",
      "data_type": "datapoint",
      "created_on": "2015-06-04T18:11:06.027"
    },
    {
      "name": "my event",
      "attribute_name": "my event attribute",
      "type": "EventAttribute",
      "event_type": "navigation",
      "data_type": "datapoint",
      "created_on": "2015-06-04T18:53:23.25"
    },
    {
      "name": "my screen view",
      "attribute_name": null,
      "type": "ScreenView",
      "event_type": null,
      "data_type": "datapoint",
      "created_on": "2015-06-04T18:53:23.25"
    },
    {
      "name": "my screen view",
      "attribute_name": "my screen view attribute",
      "type": "ScreenViewAttribute",
      "event_type": null,
      "data_type": "datapoint",
      "created_on": "2015-06-04T18:53:23.25"
    }
  ],
  "dataType": "datapoint",
  "errors": null
}"""


def test_get_datapoints_example() -> None:
    env = envelope(DataPoint).decode(GET_DATAPOINTS)
    assert env.data_type == "datapoint"
    assert env.data is not None
    assert [p.key() for p in env.data] == [
        ("event", "my event", None, "navigation"),
        ("eventattribute", "my event", "my event attribute", "navigation"),
        ("screenview", "my screen view", None, None),
        ("screenviewattribute", "my screen view", "my screen view attribute", None),
    ]
    assert env.data[1].type == "EventAttribute"
    assert env.data[1].created_on == "2015-06-04T18:53:23.25"
    assert env.data[0].data_type == "datapoint"


# platform-api.md line 1776
GET_SERVICE_FILTERING = r"""{
  "data": [
    {
      "name": "GoogleAnalyticsEventForwarder",
      "sendNewDataPointsByDefault": true
    }
  ],
  "dataType": "datapoint",
  "errors": null
}"""


def test_get_service_filtering_example() -> None:
    env = envelope(ServiceFiltering).decode(GET_SERVICE_FILTERING)
    assert env.data == [
        ServiceFiltering(name="GoogleAnalyticsEventForwarder", send_new_datapoints_by_default=True)
    ]


# platform-api.md line 1842
GET_DATAPOINT_FILTERS = r"""{
  "data": [
    {
      "name": "my event",
      "attribute_name": null,
      "type": "Event",
      "event_type": "navigation",
      "enabled": true,
      "data_type": "datapoint",
      "created_on": "2015-06-04T18:11:06.027"
    },
    {
      "name": "my event",
      "attribute_name": "my event attribute",
      "type": "EventAttribute",
      "enabled": false,
      "event_type": "navigation",
      "data_type": "datapoint",
      "created_on": "2015-06-04T18:53:23.25"
    }
  ],
  "dataType": "datapoint",
  "errors": null
}"""


def test_get_datapoint_filters_example() -> None:
    env = envelope(DataPointFilter).decode(GET_DATAPOINT_FILTERS)
    assert env.data is not None
    event, attribute = env.data
    assert event == DataPointFilter(
        name="my event",
        type="Event",
        event_type="navigation",
        attribute_name=None,
        enabled=True,
        data_type="datapoint",
        created_on="2015-06-04T18:11:06.027",
    )
    assert attribute.type == "EventAttribute"
    assert attribute.attribute_name == "my event attribute"
    assert attribute.enabled is False


# platform-api.md line 1891
UPDATE_DATAPOINT_FILTERS = r"""[
  {
    "name": "my event",
    "type": "Event",
    "event_type": "navigation",
    "enabled": true
  },
  {
    "name": "my event",
    "attribute_name": "my event attribute",
    "type": "EventAttribute",
    "event_type": "navigation",
    "enabled": false
  }
]"""


def test_update_datapoint_filters_example() -> None:
    # A bare array; the request sent "event"/"eventattribute", the answer capitalises.
    filters = bare(list[DataPointFilter]).decode(UPDATE_DATAPOINT_FILTERS)
    assert filters == [
        DataPointFilter(name="my event", type="Event", event_type="navigation", enabled=True),
        DataPointFilter(
            name="my event",
            attribute_name="my event attribute",
            type="EventAttribute",
            event_type="navigation",
            enabled=False,
        ),
    ]
    sent = DataPointFilter(
        name="my event",
        attribute_name="my event attribute",
        event_type="navigation",
        type="eventattribute",
        enabled=False,
    )
    assert sent.key() == filters[1].key()


# platform-api.md line 2014
GET_WORKSPACE_FEEDS = r"""
{
  "data": [
    {
      "id": "4302",
      "name": "SFMC Feed",
      "data_type": "partner_feed",
      "created_on": "2019-04-05T10:40:23"
    }
  ],
  "dataType": "partner_feed",
  "errors": null
}"""


def test_get_workspace_feeds_example() -> None:
    env = envelope(Feed).decode(GET_WORKSPACE_FEEDS)
    # Feeds spell the envelope key `data_type`.
    assert env.data_type == "partner_feed"
    assert env.data == [
        Feed(id=4302, name="SFMC Feed", data_type="partner_feed", created_on="2019-04-05T10:40:23")
    ]


# platform-api.md line 2045
GET_FEED = r"""{
    "data": [
        {
            "module_name": "MailChimp",
            "name": "Mailchimp1",
            "os": "Unknown",
            "is_debug": false,
            "settings": [
                {
                    "value": null,
                    "name": "apiKey"
                },
                {
                    "value": null,
                    "name": "listId"
                },
                {
                    "value": "html",
                    "name": "emailType"
                },
                {
                    "value": "True",
                    "name": "doubleOptIn"
                },
                {
                    "value": "False",
                    "name": "deleteMemberOnUnsubscribe"
                },
                {
                    "value": "True",
                    "name": "deleteMemberAtSubscriptionEnd"
                }
            ],
            "data_type": "Partner Feed",
            "id": 229
        }
    ],
    "data_type": "Partner Feed",
    "errors": null
}"""


def test_get_feed_example() -> None:
    env = envelope(Feed).decode(GET_FEED)
    assert env.data_type == "Partner Feed"
    assert env.data is not None
    (feed,) = env.data
    assert (feed.id, feed.module_name, feed.name) == (229, "MailChimp", "Mailchimp1")
    assert feed.os == "Unknown"
    assert feed.is_debug is False
    assert feed.settings is not None
    assert feed.settings[0] == FeedSetting(name="apiKey", value=None)
    assert feed.settings[2] == FeedSetting(name="emailType", value="html")
    assert {s.name: s.value for s in feed.settings}["doubleOptIn"] == "True"
    assert len(feed.settings) == 6


# platform-api.md line 2118
CREATE_FEED = r"""{
    "data": [
        {
            "data_type": "Partner Feed",
            "id": 689,
            "created_on": "2019-07-16T20:46:45.25"
        }
    ],
    "data_type": "Partner Feed",
    "errors": null
}"""


def test_create_feed_example() -> None:
    env = envelope(EntityRef).decode(CREATE_FEED)
    assert env.data_type == "Partner Feed"
    assert env.data == [
        EntityRef(id=689, data_type="Partner Feed", created_on="2019-07-16T20:46:45.25")
    ]


# platform-api.md line 2163
UPDATE_FEED = r"""{
    "data": [
        {
            "data_type": "Partner Feed",
            "id": 689,
            "created_on": "2019-07-16T20:46:45.25"
        }
    ],
    "data_type": "Partner Feed",
    "errors": null
}"""


def test_update_feed_example() -> None:
    env = envelope(EntityRef).decode(UPDATE_FEED)
    assert env.data is not None
    assert env.data[0].id == 689


# platform-api.md line 2192
LIST_OUTPUT_CONFIGURATIONS = r"""{
    "data": [
        {
            "id": 24020,
            "name": "Amplitude Main Project",
            "data_type": "Service Configuration",
            "created_on": "2018-02-09T20:54:25.52"
        },
        {
            "id": 24022,
            "name": "Amplitude Development",
            "data_type": "Service Configuration",
            "created_on": "2018-02-12T21:02:11.317"
        }
    ],
    "data_type": "Service Configuration",
    "errors": null
}"""


def test_list_output_configurations_example() -> None:
    env = envelope(ServiceConfiguration).decode(LIST_OUTPUT_CONFIGURATIONS)
    assert env.data_type == "Service Configuration"
    assert env.data is not None
    assert [(c.id, c.name) for c in env.data] == [
        (24020, "Amplitude Main Project"),
        (24022, "Amplitude Development"),
    ]
    assert env.data[1].created_on == "2018-02-12T21:02:11.317"


# platform-api.md line 2219
LIST_FEED_SUBSCRIPTIONS = r"""{
    "data": [
        {
            "settings": [
                {
                    "value": "True",
                    "name": "useCustomerId"
                }
            ],
            "is_active": false,
            "service_configuration_id": 24016,
            "config_name": "config1",
            "data_type": "Partner Feed Subscription",
            "id": 24572,
            "created_on": "2019-07-16T17:29:54.8934721Z"
        },
        {
            "settings": [],
            "is_active": false,
            "service_configuration_id": 22411,
            "config_name": "OutputConfiguration for Redshift Cluster",
            "data_type": "Partner Feed Subscription",
            "id": 24273,
            "created_on": "2019-07-16T17:29:54.9471796Z"
        }
    ],
    "data_type": "Partner Feed Subscription",
    "errors": null
}"""


def test_list_feed_subscriptions_example() -> None:
    env = envelope(FeedSubscription).decode(LIST_FEED_SUBSCRIPTIONS)
    assert env.data_type == "Partner Feed Subscription"
    assert env.data is not None
    first, second = env.data
    assert first == FeedSubscription(
        id=24572,
        settings=[FeedSetting(name="useCustomerId", value="True")],
        is_active=False,
        service_configuration_id=24016,
        config_name="config1",
        data_type="Partner Feed Subscription",
        created_on="2019-07-16T17:29:54.8934721Z",
    )
    assert (second.id, second.service_configuration_id) == (24273, 22411)
    assert second.settings == []


# platform-api.md line 2279
CREATE_FEED_SUBSCRIPTION = r"""{
    "data": [
        {
            "data_type": "PartnerFeed Subscription",
            "id": 26368,
            "created_on": "2019-07-16T16:49:31.852015-04:00"
        }
    ],
    "data_type": "PartnerFeed Subscription",
    "errors": null
}"""


def test_create_feed_subscription_example() -> None:
    env = envelope(EntityRef).decode(CREATE_FEED_SUBSCRIPTION)
    assert env.data_type == "PartnerFeed Subscription"
    assert env.data == [
        EntityRef(
            id=26368,
            data_type="PartnerFeed Subscription",
            created_on="2019-07-16T16:49:31.852015-04:00",
        )
    ]


# platform-api.md line 2315
GET_ALL_SERVICES = r"""{
  "data": [
    {
      "name": "ActionX",
      "settings": [
        {
          "is_required": true,
          "name": "advertiserToken",
          "description": "The ActionX Advertiser Token for your app.",
          "type": "String"
        },
        {
          "is_required": false,
          "name": "useCustomerId",
          "description": "If enabled, mParticle will forward your Customer ID values to ActionX.",
          "type": "Bool"
        }
      ],
      "data_type": "service"
    }
  ],
  "dataType": "service",
  "errors": null
}"""


def test_get_all_services_example() -> None:
    env = envelope(Service).decode(GET_ALL_SERVICES)
    assert env.data is not None
    (service,) = env.data
    assert service.name == "ActionX"
    assert service.data_type == "service"
    assert service.settings == [
        ServiceSetting(
            name="advertiserToken",
            type="String",
            description="The ActionX Advertiser Token for your app.",
            is_required=True,
        ),
        ServiceSetting(
            name="useCustomerId",
            type="Bool",
            description="If enabled, mParticle will forward your Customer ID values to ActionX.",
            is_required=False,
        ),
    ]


# platform-api.md line 2359
GET_SERVICE = r"""{
  "data": [
    {
      "name": "Amplitude",
      "settings": [
        {
          "is_required": true,
          "name": "apiKey",
          "description": "Your app's Amplitude API Key.  You can find this on the \"My Account\" page of Amplitude's dashboard.",
          "type": "String"
        },
        {
          "is_required": true,
          "name": "userIdentification",
          "description": "To identify users, choose \"Customer ID\" to send Customer ID if provided or or \"Email\" to send Email addresses if provided.",
          "type": "String"
        },
        {
          "is_required": false,
          "name": "includeEmailAsUserProperty",
          "description": "If true, a hashed Customer ID, when available, will be forwarded as User ID",
          "type": "Bool"
        }
      ],
      "data_type": "service"
    }
  ],
  "dataType": "service",
  "errors": null
}"""


def test_get_specific_service_example() -> None:
    env = envelope(Service).decode(GET_SERVICE)
    assert env.data is not None
    (service,) = env.data
    assert service.name == "Amplitude"
    assert service.settings is not None
    assert [s.name for s in service.settings] == [
        "apiKey",
        "userIdentification",
        "includeEmailAsUserProperty",
    ]
    assert '"My Account"' in (service.settings[0].description or "")
    assert [s.is_required for s in service.settings] == [True, True, False]


# platform-api.md line 2410
GET_ALL_USERS = r"""{
  "data": [
    {
      "first_name": "Test",
      "last_name": "User",
      "email": "testuser@mparticle.com",
      "data_type": "user"
    }
  ],
  "dataType": "user",
  "errors": null
}"""


def test_get_all_users_example() -> None:
    env = envelope(User).decode(GET_ALL_USERS)
    assert env.data_type == "user"
    assert env.data == [
        User(
            first_name="Test",
            last_name="User",
            email="testuser@mparticle.com",
            data_type="user",
        )
    ]


# platform-api.md line 2441
GET_USER = r"""{
  "data": [
    {
      "first_name": "Test",
      "last_name": "User",
      "email": "test@mparticle.com",
      "data_type": "user"
    }
  ],
  "dataType": "user",
  "errors": null
}"""


def test_get_specific_user_example() -> None:
    env = envelope(User).decode(GET_USER)
    assert env.data is not None
    assert env.data[0].email == "test@mparticle.com"
    assert (env.data[0].first_name, env.data[0].last_name) == ("Test", "User")


# platform-api.md line 2536
GET_WORKSPACES = r"""{
  "data": [
    {
      "id": "4302",
      "name": "mP Traveller",
      "data_type": "workspace",
      "created_on": "2017-02-02T11:20:23"
    }
  ],
  "dataType": "workspace",
  "errors": null
}"""


def test_get_workspaces_example() -> None:
    env = envelope(Workspace).decode(GET_WORKSPACES)
    assert env.data_type == "workspace"
    # The id arrives as the string "4302"; strict=False decodes it into an int.
    assert env.data == [
        Workspace(
            id=4302, name="mP Traveller", data_type="workspace", created_on="2017-02-02T11:20:23"
        )
    ]
