# mypy: disable-error-code="func-returns-value"
"""mp.audiences: list (account or workspace) and delete (v1; bare JSON arrays)."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError
from mpasync.models import Audience, Workspace
from tests.resources.conftest import assert_nothing_sent, sent, v1


def audience(*workspaces: tuple[int, str]) -> dict[str, Any]:
    """The reference's example audience (its stray double comma fixed)."""
    return {
        "name": "Abandoned Cart",
        "external_name": "Abandoned Cart",
        "size": 342,
        "created_by": "jsmith",
        "last_modified_by": "mmann",
        "last_modified_on": "2017-01-12T17:27:34.387",
        "is_calculated": False,
        "added_last_24_hours": 10,
        "dropped_last_24_hours": 7,
        "status": "active",
        "workspaces": [
            {
                "name": name,
                "id": wid,
                "data_type": "workspace",
                "created_on": "2016-05-09T18:27:57.337",
            }
            for wid, name in workspaces
        ],
        "connected_outputs": [
            {
                "provider_name": "Mixpanel",
                "configurations": [{"name": "Prod"}],
                "data_type": "audience_output",
            },
            {
                "provider_name": "ActionX",
                "configurations": [{"name": "Dev"}],
                "data_type": "audience_output",
            },
        ],
        "data_type": "audience",
        "id": 7622,
    }


def check_abandoned_cart(a: Audience) -> None:
    assert isinstance(a, Audience)
    assert (a.id, a.name, a.external_name) == (7622, "Abandoned Cart", "Abandoned Cart")
    assert (a.size, a.status, a.is_calculated) == (342, "active", False)
    assert (a.added_last_24_hours, a.dropped_last_24_hours) == (10, 7)
    assert a.connected_outputs is not None
    assert [o.provider_name for o in a.connected_outputs] == ["Mixpanel", "ActionX"]
    assert a.connected_outputs[0].configurations is not None
    assert a.connected_outputs[0].configurations[0].name == "Prod"


async def test_list_for_the_account(mocked: aioresponses, mp: Client) -> None:
    payload = [audience((123, "First Workspace"), (456, "Second Workspace"))]
    mocked.get(v1("/audiences"), payload=payload)
    audiences = await mp.audiences.list()
    assert sent(mocked, "GET", v1("/audiences")) is None
    (a,) = audiences
    check_abandoned_cart(a)
    assert a.workspaces is not None
    assert all(isinstance(w, Workspace) for w in a.workspaces)
    assert [(w.id, w.name) for w in a.workspaces] == [
        (123, "First Workspace"),
        (456, "Second Workspace"),
    ]


async def test_list_for_a_workspace(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/workspace/5/audiences"), payload=[audience((5, "First Workspace"))])
    audiences = await mp.audiences.list(workspace_id=5)
    assert sent(mocked, "GET", v1("/workspace/5/audiences")) is None
    (a,) = audiences
    check_abandoned_cart(a)
    assert a.workspaces is not None and a.workspaces[0].id == 5


async def test_list_empty(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/audiences"), payload=[])
    assert await mp.audiences.list() == []
    assert sent(mocked, "GET", v1("/audiences")) is None


async def test_delete(mocked: aioresponses, mp: Client) -> None:
    mocked.delete(v1("/audiences/7239"), status=204)
    assert await mp.audiences.delete(7239) is None
    assert sent(mocked, "DELETE", v1("/audiences/7239")) is None


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        pytest.param("list", {"workspace_id": -1}, id="list-negative-workspace"),
        pytest.param("list", {"workspace_id": "five"}, id="list-word-workspace"),
        pytest.param("delete", {"audience_id": "../apps"}, id="delete-bad-id"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.audiences, call)(**kwargs)
    assert_nothing_sent(mocked)
