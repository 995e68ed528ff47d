# mypy: disable-error-code="func-returns-value"
"""mp.apps: get, list, create, update, delete (v1, ``/v1/apps``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError, UnprocessableEntityError
from mpasync.models import AccessKey, App, Platform
from tests.reference_data import ANDROID_PLATFORM
from tests.resources.conftest import assert_nothing_sent, envelope, sent, v1

ANDROID = ANDROID_PLATFORM
APP = {
    "name": "Test App",
    "platforms": [ANDROID],
    "last_modified_on": "2014-06-11T19:43:45.617",
    "data_type": "application",
    "id": 1,
    "created_on": "2014-06-11T19:43:45.617",
}
CREATED = {
    "name": "Test App",
    "platforms": [
        {
            "application_id": 1,
            "os": "iOS",
            "access_keys": [{"key": "AccessKey", "secret": "AccessSecret", "data_type": "token"}],
            "crash_handling": None,
            "network_performance": None,
            "social_mode": None,
            "profile_merging": True,
            "push_attribution_timer": 30,
            "last_modified_on": "2015-03-11T12:07:08.077",
            "data_type": "platform",
            "created_on": "2015-03-11T12:07:08.077",
        }
    ],
    "last_modified_on": "2015-03-11T12:07:07.877",
    "data_type": "application",
    "id": 1,
    "created_on": "2015-03-11T12:07:07.877",
}


def check_test_app(app: App) -> None:
    assert isinstance(app, App)
    assert (app.id, app.name) == (1, "Test App")
    assert app.platforms is not None
    (platform,) = app.platforms
    assert isinstance(platform, Platform)
    assert platform.os == "Android"
    assert platform.application_id == 1
    assert platform.crash_handling == "AppDefined"
    assert platform.profile_merging is False
    assert platform.push_attribution_timer == 30
    assert platform.access_keys == [AccessKey(key="AccessKey", secret=None, data_type="token")]


async def test_get(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/apps/1"), payload=envelope([APP], "application"))
    app = await mp.apps.get(1)
    assert sent(mocked, "GET", v1("/apps/1")) is None
    check_test_app(app)


async def test_list(mocked: aioresponses, mp: Client) -> None:
    second = {**copy.deepcopy(APP), "id": 2, "name": "Other App", "platforms": []}
    mocked.get(v1("/apps"), payload=envelope([APP, second], "application"))
    apps = await mp.apps.list()
    assert sent(mocked, "GET", v1("/apps")) is None
    assert len(apps) == 2
    check_test_app(apps[0])
    assert (apps[1].id, apps[1].name, apps[1].platforms) == (2, "Other App", [])


async def test_list_of_an_empty_account(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/apps"), payload={"data": None, "dataType": "application", "errors": None})
    assert await mp.apps.list() == []
    assert sent(mocked, "GET", v1("/apps")) is None


async def test_create_keeps_the_secret_but_never_shows_it(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v1("/apps"), status=201, payload=envelope([CREATED], "application"))
    app = await mp.apps.create(name="Test App", platforms=["ios", "ANDROID"])
    assert sent(mocked, "POST", v1("/apps")) == {
        "name": "Test App",
        "platforms": [{"os": "iOS"}, {"os": "Android"}],
    }
    assert isinstance(app, App)
    assert app.id == 1
    assert app.platforms is not None and app.platforms[0].access_keys is not None
    assert app.platforms[0].os == "iOS"
    assert app.platforms[0].profile_merging is True
    assert app.platforms[0].crash_handling is None
    assert app.platforms[0].access_keys[0].key == "AccessKey"
    assert app.platforms[0].access_keys[0].secret == "AccessSecret"
    assert "AccessSecret" not in repr(app)
    assert "AccessSecret" not in repr(app.platforms[0])
    assert "AccessSecret" not in repr(app.platforms[0].access_keys[0])
    assert "AccessSecret" not in str(app)


async def test_create_accepts_any_iterable_of_platforms(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v1("/apps"), status=201, payload=envelope([CREATED], "application"))
    await mp.apps.create(name="Test App", platforms=(os for os in ["tvOS", "mobileweb"]))
    assert sent(mocked, "POST", v1("/apps")) == {
        "name": "Test App",
        "platforms": [{"os": "tvOS"}, {"os": "MobileWeb"}],
    }


async def test_update(mocked: aioresponses, mp: Client) -> None:
    mocked.put(v1("/apps/1"), status=202)
    assert await mp.apps.update(1, name="Test App New Name") is None
    assert sent(mocked, "PUT", v1("/apps/1")) == {"name": "Test App New Name"}


async def test_update_returns_the_app_when_sent_back(mocked: aioresponses, mp: Client) -> None:
    renamed = {**copy.deepcopy(APP), "name": "Renamed"}
    mocked.put(v1("/apps/1"), status=202, payload=envelope([renamed], "application"))
    app = await mp.apps.update(1, name="Renamed")
    assert isinstance(app, App) and app.name == "Renamed"
    assert sent(mocked, "PUT", v1("/apps/1")) == {"name": "Renamed"}


async def test_delete(mocked: aioresponses, mp: Client) -> None:
    mocked.delete(v1("/apps/1"), status=204)
    assert await mp.apps.delete(1) is None
    assert sent(mocked, "DELETE", v1("/apps/1")) is None


async def test_create_422_carries_the_envelope_errors(mocked: aioresponses, mp: Client) -> None:
    errors = [
        {"code": "VALIDATION_ERROR", "message": "App name already exists."},
        {"code": "VALIDATION_ERROR", "message": "Exceeded app limit."},
    ]
    mocked.post(v1("/apps"), status=422, payload={"data": None, "dataType": None, "errors": errors})
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.apps.create(name="Test App", platforms=["iOS"])
    err = info.value
    assert err.status == 422
    assert err.errors == [
        ("VALIDATION_ERROR", "App name already exists."),
        ("VALIDATION_ERROR", "Exceeded app limit."),
    ]
    assert all(isinstance(e, tuple) for e in err.errors)
    assert err.method == "POST"
    # A POST that got an answer is not retried.
    sent(mocked, "POST", v1("/apps"))


async def test_delete_422(mocked: aioresponses, mp: Client) -> None:
    message = "Deleting an app that has active platforms is not allowed."
    errors = [{"code": "VALIDATION_ERROR", "message": message}]
    mocked.delete(v1("/apps/1"), status=422, payload={"data": None, "errors": errors})
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.apps.delete(1)
    assert info.value.errors == [("VALIDATION_ERROR", message)]
    assert sent(mocked, "DELETE", v1("/apps/1")) is None


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        pytest.param("create", {"name": "A", "platforms": ["VisionOS"]}, id="create-unknown-os"),
        pytest.param("create", {"name": "A", "platforms": ["iOS", 3]}, id="create-non-string-os"),
        pytest.param("create", {"name": "A", "platforms": "iOS"}, id="create-platforms-string"),
        pytest.param("create", {"name": "A", "platforms": []}, id="create-no-platforms"),
        pytest.param("create", {"name": "", "platforms": ["iOS"]}, id="create-empty-name"),
        pytest.param("get", {"app_id": "1/2"}, id="get-bad-id"),
        pytest.param("update", {"app_id": 1, "name": None}, id="update-no-name"),
        pytest.param("delete", {"app_id": 1.5}, id="delete-float-id"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.apps, call)(**kwargs)
    assert_nothing_sent(mocked)
