"""Model behaviour beyond the reference examples: tolerance of unknown fields and new enum
values, secret masking, keyword-only construction, and the wire form of request bodies."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from mpasync.models import (
    OPERATOR_SUPPORT,
    AccessKey,
    App,
    CalculationType,
    Condition,
    ConditionOperator,
    DataPoint,
    DataPointFilter,
    Definition,
    DefinitionDataPoint,
    Envelope,
    FeedOS,
    FieldMapping,
    FieldTransformation,
    FilterType,
    Platform,
    PlatformOS,
    PlatformService,
    PlatformServiceSetting,
    ServiceFiltering,
    TimePeriod,
    canonical_os,
)


def envelope(model: type[Any]) -> msgspec.json.Decoder[Envelope[Any]]:
    return msgspec.json.Decoder(Envelope[model], strict=False)  # type: ignore[valid-type]


# ---------------------------------------------------------------- decoding tolerance


def test_unknown_fields_are_ignored() -> None:
    body = b"""{
      "data": [{"id": 7, "name": "A", "brand_new": {"nested": [1, 2]},
                "platforms": [{"os": "iOS", "future_flag": true}]}],
      "dataType": "application", "errors": null, "paging": {"next": null}
    }"""
    (app,) = envelope(App).decode(body).data or []
    assert app == App(id=7, name="A", platforms=[Platform(os="iOS")])


def test_new_enum_values_still_decode() -> None:
    body = b"""{"data": [{"application_id": 1, "os": "VisionOS",
                "crash_handling": "ForceSomethingNew"}], "dataType": "platform"}"""
    (platform,) = envelope(Platform).decode(body).data or []
    assert platform.os == "VisionOS"
    assert platform.crash_handling == "ForceSomethingNew"
    assert canonical_os(platform.os) is None


def test_string_ids_decode_as_int_with_strict_false() -> None:
    body = b'{"data": [{"id": "42", "name": "A"}], "dataType": "application"}'
    (app,) = envelope(App).decode(body).data or []
    assert app.id == 42


def test_envelope_accepts_both_type_key_spellings_and_null_data() -> None:
    camel = envelope(App).decode(b'{"data": null, "dataType": "application"}')
    snake = envelope(App).decode(b'{"data": [], "data_type": "Partner Feed"}')
    assert camel.data is None and camel.data_type == "application"
    assert snake.data == [] and snake.data_type == "Partner Feed"
    assert envelope(App).decode(b"{}").data_type is None


# ---------------------------------------------------------------- secrets


def test_access_key_repr_masks_the_secret() -> None:
    key = AccessKey(key="AccessKey", secret="s3cr3t-value", data_type="token")
    assert repr(key) == "AccessKey(key='AccessKey', secret='***', data_type='token')"
    assert str(key) == repr(key)
    assert key.secret == "s3cr3t-value"
    assert repr(AccessKey(key="k")) == "AccessKey(key='k', secret=None, data_type=None)"


def test_repr_of_app_holding_a_secret_does_not_show_it() -> None:
    app = App(
        id=1,
        name="Test App",
        platforms=[Platform(os="iOS", access_keys=[AccessKey(key="K", secret="s3cr3t-value")])],
    )
    assert "s3cr3t-value" not in repr(app)
    assert "secret='***'" in repr(app)
    assert "s3cr3t-value" not in repr([app])


def test_rich_repr_masks_the_secret() -> None:
    key = AccessKey(key="K", secret="s3cr3t-value")
    assert dict(key.__rich_repr__()) == {"key": "K", "secret": "***", "data_type": None}


def test_secret_is_kept_for_encoding() -> None:
    # Masking is for display only: the value is still there for whoever needs it.
    assert b"s3cr3t-value" in msgspec.json.encode(AccessKey(key="K", secret="s3cr3t-value"))


# ---------------------------------------------------------------- construction


def test_models_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        DataPointFilter("my event", "Event")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        App(1, "A")  # type: ignore[call-arg]


def test_datapoint_key_is_case_insensitive_on_type_only() -> None:
    a = DataPointFilter(name="my event", type="eventattribute", attribute_name="x", event_type="n")
    b = DataPointFilter(name="my event", type="EventAttribute", attribute_name="x", event_type="n")
    assert a.key() == b.key() == ("eventattribute", "my event", "x", "n")
    assert DataPointFilter(name="My Event", type="Event").key() != (
        DataPointFilter(name="my event", type="Event").key()
    )
    assert DataPoint(name="my event", type="Event", event_type="n").key() == (
        "event",
        "my event",
        None,
        "n",
    )
    # enabled is not part of the identity
    assert (
        DataPointFilter(name="e", type="Event", enabled=False).key()
        == DataPointFilter(name="e", type="Event").key()
    )


# ---------------------------------------------------------------- wire form


def test_datapoint_filter_encodes_to_the_wire_form() -> None:
    assert msgspec.json.encode(
        DataPointFilter(name="my event", type="Event", event_type="navigation")
    ) == (b'{"name":"my event","type":"Event","event_type":"navigation","enabled":true}')
    flt = DataPointFilter(
        name="my event",
        type="EventAttribute",
        event_type="navigation",
        attribute_name="my event attribute",
        enabled=False,
    )
    assert msgspec.json.decode(msgspec.json.encode(flt)) == {
        "name": "my event",
        "type": "EventAttribute",
        "event_type": "navigation",
        "attribute_name": "my event attribute",
        "enabled": False,
    }


def test_datapoint_encodes_without_unset_fields() -> None:
    assert msgspec.json.encode(
        DataPoint(name="my event", type="event", event_type="navigation")
    ) == (b'{"name":"my event","type":"event","event_type":"navigation"}')


def test_camel_case_fields_encode_with_wire_names() -> None:
    service = PlatformService(
        name="GoogleAnalyticsEventForwarder",
        account="Default Account",
        is_active=True,
        is_visible=True,
        settings=[PlatformServiceSetting(name="apiKey", value="My Test App Key")],
    )
    assert msgspec.json.decode(msgspec.json.encode(service)) == {
        "name": "GoogleAnalyticsEventForwarder",
        "account": "Default Account",
        "isActive": True,
        "isVisible": True,
        "settings": [{"name": "apiKey", "value": "My Test App Key"}],
    }
    assert msgspec.json.encode(ServiceFiltering(send_new_datapoints_by_default=False)) == (
        b'{"sendNewDataPointsByDefault":false}'
    )


def test_field_transformation_always_sends_destination_type() -> None:
    ft = FieldTransformation(
        id="events-v1",
        name="Events",
        mappings=[FieldMapping(mapping_type="column", source="eventId", destination="event_id")],
    )
    assert ft.destination_type == "event_batch"
    assert msgspec.json.decode(msgspec.json.encode(ft)) == {
        "id": "events-v1",
        "name": "Events",
        "destination_type": "event_batch",
        "mappings": [{"mapping_type": "column", "source": "eventId", "destination": "event_id"}],
    }


def test_field_mapping_ignore_when_accepts_string_or_list() -> None:
    dec = msgspec.json.Decoder(FieldMapping, strict=False)
    raw = b'{"mapping_type": "column", "source": "a", "destination": "b", "ignore_when": '
    assert dec.decode(raw + b'"empty"}').ignore_when == "empty"
    assert dec.decode(raw + b'["empty", "null"]}').ignore_when == ["empty", "null"]


def test_request_examples_decode_into_the_models() -> None:
    # The reference's request bodies (platform-api.md) fit the same models.
    configure = b"""{"account": "Default Account", "name":"GoogleAnalyticsEventForwarder",
      "isActive":true, "isVisible": true,
      "settings":[{"name":"apiKey", "value":"My Test App Key"}]}"""
    service = msgspec.json.decode(configure, type=PlatformService)
    assert service.is_active is True and service.settings is not None
    create_platform = b"""{"os": "android", "profile_merging": true,
      "push_attribution_timer": 30, "crash_handling": "ForceCatch",
      "network_performance": "ForceTrue", "social_mode": "FacebookAndTwitter"}"""
    platform = msgspec.json.decode(create_platform, type=Platform)
    assert (platform.os, platform.social_mode) == ("android", "FacebookAndTwitter")
    add = b'[{"name": "my event", "type": "event", "event_type": "navigation"}]'
    assert msgspec.json.decode(add, type=list[DataPoint]) == [
        DataPoint(name="my event", type="event", event_type="navigation")
    ]
    filtering = b'{"sendNewDataPointsByDefault": false}'
    assert msgspec.json.decode(filtering, type=ServiceFiltering).send_new_datapoints_by_default is (
        False
    )


# ---------------------------------------------------------------- calculated attributes


def test_definition_effective_properties_prefer_the_canonical_shape() -> None:
    definition = Definition(
        recipe_type="event",
        datapoint=DefinitionDataPoint(type="event", event_name="Add To Cart"),
        conditions=[],
        calculation_type="count",
        time_period=TimePeriod(type="all"),
    )
    assert definition.effective_datapoint is definition.datapoint
    assert definition.effective_calculation_type == "count"
    assert definition.effective_conditions == []
    assert definition.effective_time_period == TimePeriod(type="all")
    assert Definition().effective_datapoint is None
    assert Definition().effective_time_period is None


def test_condition_decodes_null_value_fields() -> None:
    cond = msgspec.json.decode(
        b'{"type": "number", "operator": "equals", "attribute_name": "a", "value": "22",'
        b' "values": null, "min_value": null, "max_value": null}',
        type=Condition,
    )
    assert cond == Condition(type="number", operator="equals", attribute_name="a", value="22")


# ---------------------------------------------------------------- enums


def test_canonical_os_is_case_insensitive() -> None:
    assert canonical_os("ios") == "iOS"
    assert canonical_os("ANDROID") == "Android"
    assert canonical_os("mobileweb") == "MobileWeb"
    assert canonical_os("VisionOS") is None
    assert canonical_os("unknown") is None
    assert canonical_os("unknown", allowed=FeedOS.ALL) == "Unknown"
    assert canonical_os(3) is None  # type: ignore[arg-type]


def test_enum_tables_match_the_reference() -> None:
    assert len(PlatformOS.ALL) == 9
    assert FeedOS.ALL == PlatformOS.ALL | {"Unknown"}
    assert len(FilterType.ALL) == 12
    assert "All_Account_User_Attributes" in FilterType.ALL
    assert len(CalculationType.ALL) == 12
    assert set(OPERATOR_SUPPORT) == ConditionOperator.ALL
    assert OPERATOR_SUPPORT["in_list"] == {"string", "number"}
    assert OPERATOR_SUPPORT["between_dates"] == {"date"}
    assert sum("boolean" in types for types in OPERATOR_SUPPORT.values()) == 4
