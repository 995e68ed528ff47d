# mypy: disable-error-code="func-returns-value"
"""mp.accounts: get, list, create, update, delete (v1, ``/v1/accounts``)."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError, UnprocessableEntityError
from mpasync.models import Account
from tests.resources.conftest import assert_nothing_sent, envelope, sent, v1

ACCOUNT_1 = {
    "name": "My Account",
    "last_modified_on": "2014-11-14T22:46:38.673",
    "data_type": "account",
    "id": 1,
    "created_on": "2013-07-23T18:49:38.547",
}
ACCOUNT_2 = {**ACCOUNT_1, "name": "My Account 2", "id": 2, "created_on": "2013-07-25T18:49:38.547"}


async def test_get(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/accounts/1"), payload=envelope([ACCOUNT_1], "account"))
    account = await mp.accounts.get(1)
    assert sent(mocked, "GET", v1("/accounts/1")) is None
    assert isinstance(account, Account)
    assert account.id == 1
    assert account.name == "My Account"
    assert account.created_on == "2013-07-23T18:49:38.547"
    assert account.last_modified_on == "2014-11-14T22:46:38.673"


async def test_list(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/accounts"), payload=envelope([ACCOUNT_1, ACCOUNT_2], "account"))
    accounts = await mp.accounts.list()
    assert sent(mocked, "GET", v1("/accounts")) is None
    assert all(isinstance(a, Account) for a in accounts)
    assert [(a.id, a.name) for a in accounts] == [(1, "My Account"), (2, "My Account 2")]


async def test_create_returns_the_account_when_sent_back(mocked: aioresponses, mp: Client) -> None:
    created = {**ACCOUNT_1, "id": 3, "name": "New Account"}
    mocked.post(v1("/accounts"), status=201, payload=envelope([created], "account"))
    account = await mp.accounts.create(name="New Account")
    assert sent(mocked, "POST", v1("/accounts")) == {"name": "New Account"}
    assert isinstance(account, Account)
    assert (account.id, account.name) == (3, "New Account")


async def test_create_with_an_empty_answer_returns_none(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v1("/accounts"), status=201, body="")
    assert await mp.accounts.create(name="New Account") is None
    assert sent(mocked, "POST", v1("/accounts")) == {"name": "New Account"}


async def test_update(mocked: aioresponses, mp: Client) -> None:
    mocked.put(v1("/accounts/1"), status=202)
    assert await mp.accounts.update(1, name="Updated Name") is None
    assert sent(mocked, "PUT", v1("/accounts/1")) == {"name": "Updated Name"}


async def test_delete_targets_the_clients_own_account(mocked: aioresponses, mp: Client) -> None:
    mocked.delete(v1("/accounts"), status=204)
    assert await mp.accounts.delete() is None
    assert sent(mocked, "DELETE", v1("/accounts")) is None


async def test_update_422_carries_the_envelope_errors(mocked: aioresponses, mp: Client) -> None:
    errors = [{"code": "VALIDATION_ERROR", "message": "Account name is not unique."}]
    mocked.put(v1("/accounts/1"), status=422, payload={"data": None, "errors": errors})
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.accounts.update(1, name="Taken")
    assert info.value.status == 422
    assert info.value.errors == [("VALIDATION_ERROR", "Account name is not unique.")]
    assert sent(mocked, "PUT", v1("/accounts/1")) == {"name": "Taken"}


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        pytest.param("get", {"account_id": "abc"}, id="get-non-numeric-id"),
        pytest.param("get", {"account_id": -1}, id="get-negative-id"),
        pytest.param("get", {"account_id": True}, id="get-bool-id"),
        pytest.param("create", {"name": ""}, id="create-empty-name"),
        pytest.param("create", {"name": 5}, id="create-non-string-name"),
        pytest.param("update", {"account_id": 1, "name": "  "}, id="update-blank-name"),
        pytest.param("update", {"account_id": None, "name": "x"}, id="update-no-id"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.accounts, call)(**kwargs)
    assert_nothing_sent(mocked)
