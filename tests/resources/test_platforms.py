# mypy: disable-error-code="func-returns-value"
"""mp.platforms and mp.platform_services (v1, ``/v1/apps/{id}/platforms``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, NotFoundError, RequestValidationError
from mpasync.models import AccessKey, FeedOS, Platform, PlatformService
from mpasync.resources.platforms import validate_os
from tests.reference_data import ANDROID_PLATFORM
from tests.resources.conftest import (
    BASE,
    TOKEN_URL,
    assert_nothing_sent,
    envelope,
    fails,
    sent,
    v1,
)

ANDROID = ANDROID_PLATFORM
SETTINGS: dict[str, Any] = {
    "profile_merging": True,
    "push_attribution_timer": 30,
    "crash_handling": "ForceCatch",
    "network_performance": "ForceTrue",
    "social_mode": "FacebookAndTwitter",
}
GA_SERVICE = {
    "account": "Default Account",
    "name": "GoogleAnalyticsEventForwarder",
    "isActive": True,
    "isVisible": True,
    "settings": [{"name": "apiKey", "value": "*********** Key", "isConfidential": True}],
    "data_type": "service",
}


def check_android(platform: Platform) -> None:
    assert isinstance(platform, Platform)
    assert platform.os == "Android"
    assert platform.application_id == 1
    assert platform.network_performance == "AppDefined"
    assert platform.push_attribution_timer == 30
    assert platform.access_keys == [AccessKey(key="AccessKey", secret=None, data_type="token")]


# -- platforms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("os", "segment"),
    [("Android", "android"), ("android", "android"), ("iOS", "ios"), ("MobileWeb", "mobileweb")],
)
async def test_get_lower_cases_the_os_in_the_path(
    mocked: aioresponses, mp: Client, os: str, segment: str
) -> None:
    url = v1(f"/apps/1/platforms/{segment}")
    mocked.get(url, payload=envelope([ANDROID], "platform"))
    platform = await mp.platforms.get(1, os)
    assert sent(mocked, "GET", url) is None
    check_android(platform)


async def test_list(mocked: aioresponses, mp: Client) -> None:
    ios = {**ANDROID, "os": "iOS", "profile_merging": True}
    mocked.get(v1("/apps/1/platforms"), payload=envelope([ANDROID, ios], "platform"))
    platforms = await mp.platforms.list(1)
    assert sent(mocked, "GET", v1("/apps/1/platforms")) is None
    check_android(platforms[0])
    assert (platforms[1].os, platforms[1].profile_merging) == ("iOS", True)


async def test_create_posts_to_the_newer_platforms_path_with_os_and_settings(
    mocked: aioresponses, mp: Client
) -> None:
    created = {
        **ANDROID,
        "os": "iOS",
        "access_keys": [{"key": "AccessKey", "secret": "AccessSecret", "data_type": "token"}],
    }
    mocked.post(v1("/apps/1/platforms"), status=201, payload=envelope([created], "platform"))
    platform = await mp.platforms.create(1, "ios", **SETTINGS)
    assert sent(mocked, "POST", v1("/apps/1/platforms")) == {"os": "iOS", **SETTINGS}
    assert isinstance(platform, Platform)
    assert platform.os == "iOS"
    assert platform.access_keys is not None
    assert platform.access_keys[0].secret == "AccessSecret"
    assert "AccessSecret" not in repr(platform)


async def test_create_without_settings_sends_only_the_os(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v1("/apps/1/platforms"), status=201, payload=envelope([ANDROID], "platform"))
    platform = await mp.platforms.create(1, "ANDROID")
    assert sent(mocked, "POST", v1("/apps/1/platforms")) == {"os": "Android"}
    check_android(platform)


def _posts(mocked: aioresponses) -> dict[str, int]:
    """How many POSTs each API path received (aioresponses groups calls by URL)."""
    return {
        url.path: len(calls)
        for (method, url), calls in mocked.requests.items()
        if method == "POST" and url.path.startswith("/v1")
    }


@pytest.mark.parametrize("status", [404, 405])
async def test_create_falls_back_once_to_the_older_path_and_remembers_it(
    mocked: aioresponses, mp: Client, status: int
) -> None:
    # An older server: the newer path does not exist there.
    mocked.post(v1("/apps/1/platforms"), status=status, repeat=True)
    mocked.post(v1("/apps/1"), status=201, payload=envelope([ANDROID], "platform"), repeat=True)
    mocked.post(v1("/apps/2"), status=201, payload=envelope([ANDROID], "platform"), repeat=True)
    check_android(await mp.platforms.create(1, "Android"))
    assert _posts(mocked) == {"/v1/apps/1/platforms": 1, "/v1/apps/1": 1}
    check_android(await mp.platforms.create(2, "Android"))  # straight to the older path
    assert _posts(mocked) == {"/v1/apps/1/platforms": 1, "/v1/apps/1": 1, "/v1/apps/2": 1}


async def test_create_on_a_newer_server_does_not_retry_a_missing_app(
    mocked: aioresponses, mp: Client
) -> None:
    mocked.post(v1("/apps/1/platforms"), status=201, payload=envelope([ANDROID], "platform"))
    await mp.platforms.create(1, "Android")
    mocked.post(v1("/apps/9/platforms"), status=404, payload={"errors": [{"message": "no app"}]})
    with pytest.raises(NotFoundError):
        await mp.platforms.create(9, "Android")
    assert _posts(mocked) == {"/v1/apps/1/platforms": 1, "/v1/apps/9/platforms": 1}


async def test_create_fallback_failing_too_is_not_remembered(
    mocked: aioresponses, mp: Client
) -> None:
    mocked.post(v1("/apps/9/platforms"), status=404)
    mocked.post(v1("/apps/9"), status=404)
    with pytest.raises(NotFoundError):
        await mp.platforms.create(9, "Android")
    mocked.post(v1("/apps/1/platforms"), status=201, payload=envelope([ANDROID], "platform"))
    await mp.platforms.create(1, "Android")
    assert _posts(mocked) == {"/v1/apps/9/platforms": 1, "/v1/apps/9": 1, "/v1/apps/1/platforms": 1}


async def test_the_remembered_path_is_per_client(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v1("/apps/1/platforms"), status=405)
    mocked.post(v1("/apps/1"), status=201, payload=envelope([ANDROID], "platform"))
    await mp.platforms.create(1, "Android")
    async with Client("cid", "secret", 42, base_url=BASE, token_url=TOKEN_URL) as other:
        mocked.post(v1("/apps/1/platforms"), status=201, payload=envelope([ANDROID], "platform"))
        await other.platforms.create(1, "Android")
    assert _posts(mocked) == {"/v1/apps/1/platforms": 2, "/v1/apps/1": 1}


async def test_update(mocked: aioresponses, mp: Client) -> None:
    mocked.put(v1("/apps/1/platforms/ios"), status=202)
    assert await mp.platforms.update(1, "iOS", **SETTINGS) is None
    assert sent(mocked, "PUT", v1("/apps/1/platforms/ios")) == SETTINGS


async def test_update_some_settings(mocked: aioresponses, mp: Client) -> None:
    mocked.put(v1("/apps/1/platforms/android"), status=202, payload=envelope([ANDROID]))
    platform = await mp.platforms.update(1, "Android", crash_handling="ForceIgnore")
    assert sent(mocked, "PUT", v1("/apps/1/platforms/android")) == {"crash_handling": "ForceIgnore"}
    assert platform is not None
    check_android(platform)


async def test_delete(mocked: aioresponses, mp: Client) -> None:
    mocked.delete(v1("/apps/1/platforms/ios"), status=204)
    assert await mp.platforms.delete(1, "iOS") is None
    assert sent(mocked, "DELETE", v1("/apps/1/platforms/ios")) is None


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        pytest.param("create", (1, "iOS"), {"colour": "red"}, id="unknown-setting"),
        pytest.param("create", (1, "iOS"), {"profile_mergin": True}, id="typo-setting"),
        pytest.param("update", (1, "iOS"), {"profileMerging": True}, id="camel-case-setting"),
        pytest.param("create", (1, "iOS"), {"crash_handling": "Sometimes"}, id="crash-handling"),
        pytest.param(
            "update", (1, "iOS"), {"network_performance": "Yes"}, id="network-performance"
        ),
        pytest.param("create", (1, "iOS"), {"social_mode": "MySpace"}, id="social-mode"),
        pytest.param("create", (1, "iOS"), {"profile_merging": 1}, id="profile-merging-int"),
        pytest.param(
            "update", (1, "iOS"), {"push_attribution_timer": -5}, id="push-timer-negative"
        ),
        pytest.param("update", (1, "iOS"), {"push_attribution_timer": True}, id="push-timer-bool"),
        pytest.param(
            "update", (1, "iOS"), {"push_attribution_timer": "30"}, id="push-timer-string"
        ),
        pytest.param("update", (1, "iOS"), {}, id="update-without-settings"),
        pytest.param("create", (1, "VisionOS"), {}, id="create-unknown-os"),
        pytest.param("get", (1, "VisionOS"), {}, id="get-unknown-os"),
        pytest.param("delete", (1, "win95"), {}, id="delete-unknown-os"),
        pytest.param("list", ("x",), {}, id="list-bad-app-id"),
    ],
)
async def test_platform_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.platforms, call)(*args, **kwargs)
    assert_nothing_sent(mocked)


# -- platform services --------------------------------------------------------------------


async def test_services_list(mocked: aioresponses, mp: Client) -> None:
    url = v1("/apps/1/platforms/ios/services")
    mocked.get(url, payload=envelope([GA_SERVICE], "service"))
    services = await mp.platform_services.list(1, "iOS")
    assert sent(mocked, "GET", url) is None
    (service,) = services
    assert isinstance(service, PlatformService)
    assert service.name == "GoogleAnalyticsEventForwarder"
    assert service.account == "Default Account"
    assert service.is_active is True and service.is_visible is True
    assert service.settings is not None
    assert service.settings[0].name == "apiKey"
    assert service.settings[0].value == "*********** Key"
    assert service.settings[0].is_confidential is True


async def test_configure_with_account_and_json_encoded_values(
    mocked: aioresponses, mp: Client
) -> None:
    url = v1("/apps/1/platforms/ios/services")
    mocked.put(url, status=202)
    dimensions = [
        {"maptype": "EventAttributeClass.Name", "map": "Bitcoins", "value": "Dimension 3"}
    ]
    result = await mp.platform_services.configure(
        1,
        "ios",
        name="GoogleAnalyticsEventForwarder",
        settings={
            "apiKey": "My Test App Key",
            "customDimensions": dimensions,
            "extra": {"a": 1},
            "anonymizeIp": True,
        },
        account="Default Account",
    )
    assert result is None
    body = sent(mocked, "PUT", url)
    assert body == {
        "name": "GoogleAnalyticsEventForwarder",
        "isActive": True,
        "isVisible": True,
        "settings": [
            {"name": "apiKey", "value": "My Test App Key"},
            {
                "name": "customDimensions",
                "value": '[{"maptype":"EventAttributeClass.Name","map":"Bitcoins",'
                '"value":"Dimension 3"}]',
            },
            {"name": "extra", "value": '{"a":1}'},
            {"name": "anonymizeIp", "value": True},
        ],
        "account": "Default Account",
    }
    assert json.loads(body["settings"][1]["value"]) == dimensions


async def test_configure_without_account_leaves_it_out(mocked: aioresponses, mp: Client) -> None:
    url = v1("/apps/1/platforms/android/services")
    mocked.put(url, status=202, payload=envelope([GA_SERVICE], "service"))
    result = await mp.platform_services.configure(
        1,
        "Android",
        name="GoogleAnalyticsEventForwarder",
        settings=[{"name": "apiKey", "value": "k"}],
        is_active=False,
        is_visible=False,
    )
    assert sent(mocked, "PUT", url) == {
        "name": "GoogleAnalyticsEventForwarder",
        "isActive": False,
        "isVisible": False,
        "settings": [{"name": "apiKey", "value": "k"}],
    }
    assert isinstance(result, PlatformService)
    assert result.name == "GoogleAnalyticsEventForwarder"


async def test_configure_without_settings_sends_an_empty_list(
    mocked: aioresponses, mp: Client
) -> None:
    url = v1("/apps/1/platforms/ios/services")
    mocked.put(url, status=202)
    await mp.platform_services.configure(1, "iOS", name="Amplitude")
    assert sent(mocked, "PUT", url) == {
        "name": "Amplitude",
        "isActive": True,
        "isVisible": True,
        "settings": [],
    }


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        pytest.param("list", (1, "VisionOS"), {}, id="list-unknown-os"),
        pytest.param("configure", (1, "VisionOS"), {"name": "A"}, id="configure-unknown-os"),
        pytest.param("configure", (1, "iOS"), {"name": ""}, id="configure-empty-name"),
        pytest.param(
            "configure", (1, "iOS"), {"name": "A", "is_active": "yes"}, id="is-active-not-bool"
        ),
        pytest.param(
            "configure", (1, "iOS"), {"name": "A", "is_visible": 1}, id="is-visible-not-bool"
        ),
        pytest.param(
            "configure", (1, "iOS"), {"name": "A", "settings": "apiKey=1"}, id="settings-string"
        ),
        pytest.param(
            "configure", (1, "iOS"), {"name": "A", "settings": [{"value": 1}]}, id="setting-no-name"
        ),
        pytest.param(
            "configure",
            (1, "iOS"),
            {"name": "A", "settings": {"apiKey": object()}},
            id="setting-bad-value",
        ),
        pytest.param("configure", (1, "iOS"), {"name": "A", "account": ""}, id="empty-account"),
    ],
)
async def test_service_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.platform_services, call)(*args, **kwargs)
    assert_nothing_sent(mocked)


async def test_a_platform_setting_typo_names_the_closest_setting(
    mocked: aioresponses, mp: Client
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await mp.platforms.update(1, "iOS", crash_handlng="ForceCatch")
    assert str(info.value) == (
        "settings: unknown field 'crash_handlng' (did you mean 'crash_handling'?)"
    )
    assert_nothing_sent(mocked)


async def test_a_service_setting_entry_with_an_unknown_key_is_refused(
    mocked: aioresponses, mp: Client
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await mp.platform_services.configure(
            1, "iOS", name="Amplitude", settings=[{"name": "apiKey", "valeu": "k"}]
        )
    assert str(info.value) == "settings[0]: unknown field 'valeu' (did you mean 'value'?)"
    assert_nothing_sent(mocked)


# -- os ---------------------------------------------------------------------------------


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
