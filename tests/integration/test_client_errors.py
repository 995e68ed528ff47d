"""How failures surface through `mpasync.Client`: other accounts' entities are 404, 422s carry
the server's (code, message) items, expired tokens are refreshed transparently, bad
credentials raise `TokenError`, and bad input fails before anything is sent."""

from __future__ import annotations

import asyncio

import pytest

from mpasync import (
    APIError,
    AuthenticationError,
    Client,
    NotFoundError,
    RequestValidationError,
    TokenError,
    UnprocessableEntityError,
)
from mpasync.emulator import Emulator
from mpasync.errors import ErrorItem
from tests.integration.helpers import OTHER_APP, OTHER_WORKSPACE, WORKSPACE, api_requests

DEFINITION = {
    "recipe_type": "event",
    "datapoint": {"type": "event", "event_name": "Search", "event_type": "custom_event"},
    "calculation_type": "count",
    "time_period": {"type": "all"},
}


async def test_other_accounts_entities_are_not_found(emu: Emulator, mp: Client) -> None:
    other_ca = next(iter(emu.state.calculated_attributes))
    calls = [
        mp.apps.get(OTHER_APP),
        mp.platforms.list(OTHER_APP),
        mp.datapoints.list(OTHER_APP),
        mp.accounts.get(2),
        mp.feeds.list(OTHER_WORKSPACE),
        mp.audiences.list(workspace_id=OTHER_WORKSPACE),
        mp.calculated_attributes.list(OTHER_WORKSPACE),
        mp.calculated_attributes.get(OTHER_WORKSPACE, other_ca),
        mp.field_transformations.list(OTHER_WORKSPACE),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as info:
            await call
        assert info.value.status == 404
        assert isinstance(info.value, APIError)
    assert await mp.calculated_attributes.exists(OTHER_WORKSPACE) is False
    other_feed = next(f.id for f in emu.state.feeds.values() if f.workspace_id == OTHER_WORKSPACE)
    with pytest.raises(NotFoundError):
        await mp.feeds.get(other_feed)
    with pytest.raises(NotFoundError):
        await mp.apps.delete(OTHER_APP)
    assert OTHER_APP in emu.state.apps


async def test_unprocessable_errors_carry_code_and_message(mp: Client) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.apps.delete(1)
    error = info.value
    assert error.status == 422
    assert error.errors == [
        ("VALIDATION_ERROR", "Deleting an app that has active platforms is not allowed.")
    ]
    item = error.errors[0]
    assert isinstance(item, ErrorItem)
    assert (item.code, item.message) == (
        "VALIDATION_ERROR",
        "Deleting an app that has active platforms is not allowed.",
    )
    assert error.method == "DELETE"
    assert "/v1/apps/1" in error.url
    assert "Deleting an app" in str(error)

    # v2 error bodies decode into the same items.
    await mp.calculated_attributes.create(WORKSPACE, name="Dup", draft_definition=DEFINITION)
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.calculated_attributes.create(WORKSPACE, name="Dup", draft_definition=DEFINITION)
    assert info.value.errors == [("VALIDATION_ERROR", "Field 'name' must be unique.")]


async def test_expired_token_is_refreshed_and_the_call_replayed(emu: Emulator, mp: Client) -> None:
    assert len(await mp.apps.list()) == 5
    assert emu.token_requests == 1
    emu.expire_tokens()
    emu.reset_request_log()

    apps = await mp.apps.list()
    assert len(apps) == 5
    assert emu.token_requests == 1  # counted since the reset: one refresh
    statuses = [(e.path, e.status) for e in emu.request_log]
    assert statuses == [("/v1/apps", 401), ("/oauth/token", 200), ("/v1/apps", 200)]


async def test_short_token_ttl_is_transparent() -> None:
    async with Emulator(apps=1, token_ttl=1) as emu, emu.client() as mp:
        assert [a.id for a in await mp.apps.list()] == [1]
        await asyncio.sleep(1.1)
        assert [a.id for a in await mp.apps.list()] == [1]
        assert emu.token_requests == 2
        assert emu.request_log[-1].status == 200


async def test_concurrent_calls_share_one_refresh(emu: Emulator, mp: Client) -> None:
    await mp.apps.get(1)
    emu.expire_tokens()
    emu.reset_request_log()
    apps = await asyncio.gather(*(mp.apps.get(i) for i in range(1, 6)))
    assert [a.id for a in apps] == [1, 2, 3, 4, 5]
    assert emu.token_requests == 1


async def test_bad_client_secret_is_a_token_error(emu: Emulator) -> None:
    async with emu.client(client_secret="not-the-secret") as mp:
        with pytest.raises(TokenError) as info:
            await mp.apps.list()
    assert info.value.status == 401
    assert "not-the-secret" not in str(info.value)
    assert api_requests(emu) == []  # nothing reached the API without a token


async def test_v1_call_without_account_id_sends_nothing(emu: Emulator) -> None:
    async with emu.client(account_id=None) as mp:
        with pytest.raises(RequestValidationError) as info:
            await mp.apps.list()
        assert isinstance(info.value, ValueError)
        with pytest.raises(RequestValidationError):
            await mp.workspaces.list()
    assert emu.request_log == []


async def test_bad_input_is_rejected_before_sending(emu: Emulator, mp: Client) -> None:
    with pytest.raises(RequestValidationError):
        await mp.apps.create(name="x", platforms=["NotAnOS"])
    with pytest.raises(RequestValidationError):
        await mp.platforms.update(1, "iOS", crash_handling="Sometimes")
    with pytest.raises(RequestValidationError):
        await mp.calculated_attributes.create(
            WORKSPACE, name="bad", draft_definition={**DEFINITION, "calculation_type": "median"}
        )
    with pytest.raises(RequestValidationError):
        await mp.users.get("not-an-email")
    assert emu.request_log == []


async def test_unknown_account_id_is_rejected_by_the_server(emu: Emulator) -> None:
    async with emu.client(account_id=777) as mp:
        with pytest.raises(AuthenticationError) as info:
            await mp.apps.list()
    assert info.value.messages == ["Not authorized for account 777."]
