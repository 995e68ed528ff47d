"""mp.services, mp.users and mp.workspaces: the account's read-only directories (v1)."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError
from mpasync.models import Service, User, Workspace
from mpasync.resources.directory import encode_email
from tests.resources.conftest import assert_nothing_sent, envelope, sent, v1

ACTIONX = {
    "name": "ActionX",
    "settings": [
        {
            "is_required": True,
            "name": "advertiserToken",
            "description": "The ActionX Advertiser Token for your app.",
            "type": "String",
        },
        {
            "is_required": False,
            "name": "useCustomerId",
            "description": "If enabled, mParticle will forward your Customer ID values to ActionX.",
            "type": "Bool",
        },
    ],
    "data_type": "service",
}
AMPLITUDE = {
    "name": "Amplitude",
    "settings": [
        {
            "is_required": True,
            "name": "apiKey",
            "description": "Your app's Amplitude API Key.",
            "type": "String",
        },
        {
            "is_required": True,
            "name": "userIdentification",
            "description": "To identify users, choose Customer ID or Email.",
            "type": "String",
        },
        {
            "is_required": False,
            "name": "includeEmailAsUserProperty",
            "description": "If true, a hashed Customer ID will be forwarded as User ID",
            "type": "Bool",
        },
    ],
    "data_type": "service",
}


# -- services -----------------------------------------------------------------------------


async def test_services_list(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/services"), payload=envelope([ACTIONX], "service"))
    services = await mp.services.list()
    assert sent(mocked, "GET", v1("/services")) is None
    (service,) = services
    assert isinstance(service, Service)
    assert service.name == "ActionX"
    assert service.settings is not None
    assert [(s.name, s.type, s.is_required) for s in service.settings] == [
        ("advertiserToken", "String", True),
        ("useCustomerId", "Bool", False),
    ]


async def test_services_get(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/services/Amplitude"), payload=envelope([AMPLITUDE], "service"))
    service = await mp.services.get("Amplitude")
    assert sent(mocked, "GET", v1("/services/Amplitude")) is None
    assert isinstance(service, Service)
    assert service.name == "Amplitude"
    assert service.settings is not None
    assert [s.name for s in service.settings] == [
        "apiKey",
        "userIdentification",
        "includeEmailAsUserProperty",
    ]
    assert service.settings[0].description == "Your app's Amplitude API Key."


async def test_services_get_cannot_escape_its_path(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/services/..%2Faccounts"), payload=envelope([AMPLITUDE], "service"))
    await mp.services.get("../accounts")
    ((method, url),) = [
        (m, u) for (m, u) in mocked.requests if u.path.startswith(("/v1", "/platform"))
    ]
    assert method == "GET"
    assert url.raw_path == "/v1/services/..%2Faccounts"
    assert url.query == {"accountId": "42"}


# -- users --------------------------------------------------------------------------------


async def test_users_list(mocked: aioresponses, mp: Client) -> None:
    user = {
        "first_name": "Test",
        "last_name": "User",
        "email": "testuser@mparticle.com",
        "data_type": "user",
    }
    mocked.get(v1("/users"), payload=envelope([user], "user"))
    users = await mp.users.list()
    assert sent(mocked, "GET", v1("/users")) is None
    assert users == [
        User(email="testuser@mparticle.com", first_name="Test", last_name="User", data_type="user")
    ]


async def test_users_get_encodes_the_address(mocked: aioresponses, mp: Client) -> None:
    user = {
        "first_name": "Test",
        "last_name": "User",
        "email": "test@mparticle.com",
        "data_type": "user",
    }
    mocked.get(v1("/users/test40mparticle2Ecom"), payload=envelope([user], "user"))
    result = await mp.users.get("test@mparticle.com")
    assert sent(mocked, "GET", v1("/users/test40mparticle2Ecom")) is None
    assert isinstance(result, User)
    assert (result.email, result.first_name, result.last_name) == (
        "test@mparticle.com",
        "Test",
        "User",
    )


def test_encode_email() -> None:
    assert encode_email("test@mparticle.com") == "test40mparticle2Ecom"
    assert encode_email("a.b+c_d@x-y.io") == "a2Eb2Bc5Fd40x2Dy2Eio"
    assert encode_email("zoë@x.fr") == "zo" + "ë".encode().hex().upper() + "40x2Efr"


# -- workspaces ---------------------------------------------------------------------------


async def test_workspaces_list_decodes_string_ids(mocked: aioresponses, mp: Client) -> None:
    workspace = {
        "id": "4302",
        "name": "mP Traveller",
        "data_type": "workspace",
        "created_on": "2017-02-02T11:20:23",
    }
    mocked.get(v1("/workspace"), payload=envelope([workspace], "workspace"))
    workspaces = await mp.workspaces.list()
    assert sent(mocked, "GET", v1("/workspace")) is None
    (ws,) = workspaces
    assert isinstance(ws, Workspace)
    assert ws.id == 4302
    assert isinstance(ws.id, int)
    assert (ws.name, ws.created_on) == ("mP Traveller", "2017-02-02T11:20:23")


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "call", "args"),
    [
        pytest.param("services", "get", ("",), id="service-empty-name"),
        pytest.param("services", "get", (None,), id="service-no-name"),
        pytest.param("users", "get", ("not-an-email",), id="user-not-an-email"),
        pytest.param("users", "get", ("",), id="user-empty-email"),
        pytest.param("users", "get", (7,), id="user-email-not-a-string"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, resource: str, call: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(getattr(mp, resource), call)(*args)
    assert_nothing_sent(mocked)
