"""mp.feeds: partner feeds, output configurations and subscriptions.

v1, answered in envelopes that spell the type key ``data_type``.
"""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError
from mpasync.models import EntityRef, Feed, FeedSubscription, ServiceConfiguration
from mpasync.models.feeds import FeedSetting
from tests.resources.conftest import assert_nothing_sent, envelope, sent, v1

MAILCHIMP = {
    "module_name": "MailChimp",
    "name": "Mailchimp1",
    "os": "Unknown",
    "is_debug": False,
    "settings": [
        {"value": None, "name": "apiKey"},
        {"value": None, "name": "listId"},
        {"value": "html", "name": "emailType"},
        {"value": "True", "name": "doubleOptIn"},
        {"value": "False", "name": "deleteMemberOnUnsubscribe"},
        {"value": "True", "name": "deleteMemberAtSubscriptionEnd"},
    ],
    "data_type": "Partner Feed",
    "id": 229,
}
FEED_REF = {"data_type": "Partner Feed", "id": 689, "created_on": "2019-07-16T20:46:45.25"}
RADAR_BODY = {
    "module_name": "radar",
    "name": "radariOSFeed",
    "os": "iOS",
    "settings": [],
    "is_debug": True,
}


async def test_list_decodes_string_ids(mocked: aioresponses, mp: Client) -> None:
    feed = {
        "id": "4302",
        "name": "SFMC Feed",
        "data_type": "partner_feed",
        "created_on": "2019-04-05T10:40:23",
    }
    mocked.get(v1("/workspace/1/partnerfeeds"), payload=envelope([feed], "partner_feed"))
    feeds = await mp.feeds.list(1)
    assert sent(mocked, "GET", v1("/workspace/1/partnerfeeds")) is None
    (f,) = feeds
    assert isinstance(f, Feed)
    assert (f.id, f.name, f.created_on) == (4302, "SFMC Feed", "2019-04-05T10:40:23")


async def test_get(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/partnerfeeds/229"), payload=envelope([MAILCHIMP], "Partner Feed", snake=True))
    feed = await mp.feeds.get(229)
    assert sent(mocked, "GET", v1("/partnerfeeds/229")) is None
    assert isinstance(feed, Feed)
    assert (feed.id, feed.module_name, feed.name) == (229, "MailChimp", "Mailchimp1")
    assert (feed.os, feed.is_debug) == ("Unknown", False)
    assert feed.settings is not None
    assert feed.settings[0] == FeedSetting(name="apiKey", value=None)
    assert feed.settings[3] == FeedSetting(name="doubleOptIn", value="True")


async def test_create(mocked: aioresponses, mp: Client) -> None:
    url = v1("/workspace/1/partnerfeeds")
    mocked.post(url, status=201, payload=envelope([FEED_REF], "Partner Feed", snake=True))
    ref = await mp.feeds.create(
        1, module_name="radar", name="radariOSFeed", os="ios", settings=[], is_debug=True
    )
    assert sent(mocked, "POST", url) == RADAR_BODY
    assert isinstance(ref, EntityRef)
    assert (ref.id, ref.created_on) == (689, "2019-07-16T20:46:45.25")


async def test_create_with_defaults_and_unknown_os(mocked: aioresponses, mp: Client) -> None:
    url = v1("/workspace/1/partnerfeeds")
    mocked.post(url, status=201, payload=envelope([FEED_REF], "Partner Feed", snake=True))
    await mp.feeds.create(
        1, module_name="MailChimp", name="mc", os="unknown", settings={"emailType": "html"}
    )
    assert sent(mocked, "POST", url) == {
        "module_name": "MailChimp",
        "name": "mc",
        "os": "Unknown",
        "settings": [{"name": "emailType", "value": "html"}],
        "is_debug": False,
    }


async def test_update(mocked: aioresponses, mp: Client) -> None:
    url = v1("/workspace/1/partnerfeeds/689")
    mocked.put(url, status=202, payload=envelope([FEED_REF], "Partner Feed", snake=True))
    ref = await mp.feeds.update(
        1, 689, module_name="radar", name="radariOSFeed", os="iOS", settings=[], is_debug=True
    )
    assert sent(mocked, "PUT", url) == RADAR_BODY
    assert isinstance(ref, EntityRef) and ref.id == 689


async def test_list_output_configurations(mocked: aioresponses, mp: Client) -> None:
    url = v1("/workspace/3999/amplitude/serviceconfigurations")
    configs = [
        {
            "id": 24020,
            "name": "Amplitude Main Project",
            "data_type": "Service Configuration",
            "created_on": "2018-02-09T20:54:25.52",
        },
        {
            "id": 24022,
            "name": "Amplitude Development",
            "data_type": "Service Configuration",
            "created_on": "2018-02-12T21:02:11.317",
        },
    ]
    mocked.get(url, payload=envelope(configs, "Service Configuration", snake=True))
    result = await mp.feeds.list_output_configurations(3999, "amplitude")
    assert sent(mocked, "GET", url) is None
    assert all(isinstance(c, ServiceConfiguration) for c in result)
    assert [(c.id, c.name) for c in result] == [
        (24020, "Amplitude Main Project"),
        (24022, "Amplitude Development"),
    ]


async def test_list_subscriptions(mocked: aioresponses, mp: Client) -> None:
    url = v1("/partnerfeeds/1/subscriptions")
    subs = [
        {
            "settings": [{"value": "True", "name": "useCustomerId"}],
            "is_active": False,
            "service_configuration_id": 24016,
            "config_name": "config1",
            "data_type": "Partner Feed Subscription",
            "id": 24572,
            "created_on": "2019-07-16T17:29:54.8934721Z",
        },
        {
            "settings": [],
            "is_active": False,
            "service_configuration_id": 22411,
            "config_name": "OutputConfiguration for Redshift Cluster",
            "data_type": "Partner Feed Subscription",
            "id": 24273,
            "created_on": "2019-07-16T17:29:54.9471796Z",
        },
    ]
    mocked.get(url, payload=envelope(subs, "Partner Feed Subscription", snake=True))
    result = await mp.feeds.list_subscriptions(1)
    assert sent(mocked, "GET", url) is None
    assert all(isinstance(s, FeedSubscription) for s in result)
    first, second = result
    assert (first.id, first.service_configuration_id, first.config_name) == (
        24572,
        24016,
        "config1",
    )
    assert first.is_active is False
    assert first.settings == [FeedSetting(name="useCustomerId", value="True")]
    assert (second.id, second.settings) == (24273, [])


async def test_create_subscription(mocked: aioresponses, mp: Client) -> None:
    url = v1("/partnerfeeds/689/subscriptions")
    created = {
        "data_type": "PartnerFeed Subscription",
        "id": 26368,
        "created_on": "2019-07-16T16:49:31.852015-04:00",
    }
    mocked.post(
        url, status=201, payload=envelope([created], "PartnerFeed Subscription", snake=True)
    )
    ref = await mp.feeds.create_subscription(
        689, service_configuration_id=24017, is_active=False, settings={"useCustomerId": True}
    )
    assert sent(mocked, "POST", url) == {
        "service_configuration_id": 24017,
        "is_active": False,
        "settings": [{"name": "useCustomerId", "value": True}],
    }
    assert isinstance(ref, EntityRef)
    assert (ref.id, ref.created_on) == (26368, "2019-07-16T16:49:31.852015-04:00")


FEED = {"module_name": "radar", "name": "radariOSFeed", "os": "iOS"}


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        pytest.param("list", ("one",), {}, id="list-bad-workspace"),
        pytest.param("get", (-2,), {}, id="get-negative-id"),
        pytest.param("create", (1,), {**FEED, "os": "VisionOS"}, id="create-unknown-os"),
        pytest.param("create", (1,), {**FEED, "module_name": ""}, id="create-empty-module"),
        pytest.param("create", (1,), {**FEED, "name": ""}, id="create-empty-name"),
        pytest.param("create", (1,), {**FEED, "is_debug": "true"}, id="create-debug-not-bool"),
        pytest.param("create", (1,), {**FEED, "settings": 5}, id="create-bad-settings"),
        pytest.param(
            "create",
            (1,),
            {**FEED, "settings": [{"name": "apiKey", "vaule": "k"}]},
            id="create-setting-typo",
        ),
        pytest.param("update", (1, "x"), FEED, id="update-bad-feed-id"),
        pytest.param("update", (1, 689), {**FEED, "os": ""}, id="update-empty-os"),
        pytest.param("list_output_configurations", (1, ""), {}, id="configs-empty-module"),
        pytest.param("list_subscriptions", (None,), {}, id="subscriptions-no-workspace"),
        pytest.param(
            "create_subscription",
            (689,),
            {"service_configuration_id": "abc", "is_active": True},
            id="subscription-bad-config-id",
        ),
        pytest.param(
            "create_subscription",
            (689,),
            {"service_configuration_id": 1, "is_active": "no"},
            id="subscription-active-not-bool",
        ),
        pytest.param(
            "create_subscription",
            (689,),
            {
                "service_configuration_id": 1,
                "is_active": True,
                "settings": [{"nmae": "useCustomerId", "value": True}],
            },
            id="subscription-setting-typo",
        ),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.feeds, call)(*args, **kwargs)
    assert_nothing_sent(mocked)


async def test_a_feed_setting_typo_names_the_closest_key(mocked: aioresponses, mp: Client) -> None:
    settings = [{"name": "useCustomerId", "value": True}, {"name": "apiKey", "vaule": "k"}]
    with pytest.raises(RequestValidationError) as info:
        await mp.feeds.create(1, **{**FEED, "settings": settings})
    assert str(info.value) == "settings[1]: unknown field 'vaule' (did you mean 'value'?)"
    assert_nothing_sent(mocked)


async def test_a_subscription_setting_typo_names_the_closest_key(
    mocked: aioresponses, mp: Client
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await mp.feeds.create_subscription(
            689,
            service_configuration_id=1,
            is_active=True,
            settings=[{"nmae": "useCustomerId", "value": True}],
        )
    assert str(info.value) == "settings[0]: unknown field 'nmae' (did you mean 'name'?)"
    assert_nothing_sent(mocked)
