# mypy: disable-error-code="func-returns-value"
"""mp.field_transformations: create, read, replace, delete (Platform API v2).

Paths: ``/platform/v2/workspaces/{id}/transformations/fields[/{transformation_id}]``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError, UnprocessableEntityError
from mpasync.models import FieldMapping, FieldTransformation
from tests.resources.conftest import assert_nothing_sent, sent, v2

BASE_PATH = "/workspaces/77/transformations/fields"

EVENTS = {
    "id": "example-field-transformation-id",
    "name": "Example Field Transformation",
    "destination_type": "event_batch",
    "mappings": [
        {"mapping_type": "column", "source": "eventId", "destination": "event_id"},
        {"mapping_type": "column", "source": "timeStamp", "destination": "timestamp_unixtime_ms"},
        {"mapping_type": "static", "destination": "event_type", "value": "custom_event"},
        {"mapping_type": "ignore", "source": "$unmapped"},
    ],
}
EVENTS_MODEL = FieldTransformation(
    id="example-field-transformation-id",
    name="Example Field Transformation",
    mappings=[
        FieldMapping(mapping_type="column", source="eventId", destination="event_id"),
        FieldMapping(
            mapping_type="column", source="timeStamp", destination="timestamp_unixtime_ms"
        ),
        FieldMapping(mapping_type="static", destination="event_type", value="custom_event"),
        FieldMapping(mapping_type="ignore", source="$unmapped"),
    ],
)


def check_events(ft: FieldTransformation) -> None:
    assert isinstance(ft, FieldTransformation)
    assert ft == EVENTS_MODEL
    assert ft.destination_type == "event_batch"
    assert all(isinstance(m, FieldMapping) for m in ft.mappings)


async def test_list(mocked: aioresponses, mp: Client) -> None:
    other = {"id": "b", "name": "B", "destination_type": "event_batch", "mappings": []}
    mocked.get(v2(BASE_PATH), payload=[EVENTS, other])
    result = await mp.field_transformations.list(77)
    assert sent(mocked, "GET", v2(BASE_PATH)) is None
    check_events(result[0])
    assert (result[1].id, result[1].name, result[1].mappings) == ("b", "B", [])


async def test_create_from_a_dict(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v2(BASE_PATH), status=200, payload=EVENTS)
    created = await mp.field_transformations.create(77, copy.deepcopy(EVENTS))
    assert sent(mocked, "POST", v2(BASE_PATH)) == EVENTS
    check_events(created)


async def test_create_from_a_model_sends_destination_type(mocked: aioresponses, mp: Client) -> None:
    mocked.post(v2(BASE_PATH), status=200, payload=EVENTS)
    created = await mp.field_transformations.create(77, EVENTS_MODEL)
    # destination_type is at its default, and still sent: the API requires it.
    assert sent(mocked, "POST", v2(BASE_PATH)) == EVENTS
    check_events(created)


async def test_get(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/example-field-transformation-id")
    mocked.get(url, payload=EVENTS)
    ft = await mp.field_transformations.get(77, "example-field-transformation-id")
    assert sent(mocked, "GET", url) is None
    check_events(ft)


async def test_update(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/example-field-transformation-id")
    changed = {**copy.deepcopy(EVENTS), "name": "Renamed"}
    mocked.put(url, status=200, payload=changed)
    result = await mp.field_transformations.update(77, "example-field-transformation-id", changed)
    assert sent(mocked, "PUT", url) == changed
    assert isinstance(result, FieldTransformation)
    assert (result.id, result.name) == ("example-field-transformation-id", "Renamed")


async def test_delete(mocked: aioresponses, mp: Client) -> None:
    url = v2(f"{BASE_PATH}/example-field-transformation-id")
    mocked.delete(url, status=204)
    assert await mp.field_transformations.delete(77, "example-field-transformation-id") is None
    assert sent(mocked, "DELETE", url) is None


async def test_create_422(mocked: aioresponses, mp: Client) -> None:
    errors = [{"code": "DUPLICATE", "message": "A transformation with this id already exists."}]
    mocked.post(v2(BASE_PATH), status=422, payload={"errors": errors})
    with pytest.raises(UnprocessableEntityError) as info:
        await mp.field_transformations.create(77, EVENTS)
    assert info.value.errors == [("DUPLICATE", "A transformation with this id already exists.")]
    assert sent(mocked, "POST", v2(BASE_PATH)) == EVENTS


# -- validation ---------------------------------------------------------------------------


def with_mapping(**mapping: Any) -> dict[str, Any]:
    t = copy.deepcopy(EVENTS)
    t["mappings"] = [mapping]
    return t


@pytest.mark.parametrize(
    ("call", "args"),
    [
        pytest.param("get", (77, "a/b"), id="get-id-with-slash"),
        pytest.param("get", (77, ""), id="get-empty-id"),
        pytest.param("delete", (77, "a b"), id="delete-id-with-space"),
        pytest.param("delete", (77, ".."), id="delete-dot-dot"),
        pytest.param("update", (77, "a/b", {**EVENTS, "id": "a/b"}), id="update-id-with-slash"),
        pytest.param(
            "update",
            (77, "other-id", EVENTS),
            id="update-id-mismatch",
        ),
        pytest.param("create", (77, {**EVENTS, "id": "a/b"}), id="create-body-id-with-slash"),
        pytest.param("create", (77, {**EVENTS, "name": ""}), id="create-empty-name"),
        pytest.param(
            "create", (77, {**EVENTS, "destination_type": ""}), id="create-empty-destination-type"
        ),
        pytest.param(
            "create",
            (77, {k: v for k, v in EVENTS.items() if k != "mappings"}),
            id="create-without-mappings",
        ),
        pytest.param(
            "create",
            (77, with_mapping(mapping_type="rename", source="a", destination="b")),
            id="unknown-mapping-type",
        ),
        pytest.param(
            "create", (77, with_mapping(mapping_type="column", source="a")), id="column-no-dest"
        ),
        pytest.param(
            "create",
            (77, with_mapping(mapping_type="static", source="a", destination="b", value="v")),
            id="static-with-source",
        ),
        pytest.param(
            "create",
            (77, with_mapping(mapping_type="static", destination="b")),
            id="static-without-value",
        ),
        pytest.param("create", (77, with_mapping(mapping_type="ignore")), id="ignore-no-source"),
        pytest.param(
            "create",
            (77, with_mapping(mapping_type="ignore", source="a", ignore_when="empty")),
            id="ignore-when-not-on-column",
        ),
        pytest.param("create", ("ws", EVENTS), id="create-bad-workspace"),
        pytest.param("list", (-77,), id="list-negative-workspace"),
        pytest.param("create", (77, "not a transformation"), id="create-a-string"),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.field_transformations, call)(*args)
    assert_nothing_sent(mocked)


async def test_update_id_mismatch_names_the_field(mocked: aioresponses, mp: Client) -> None:
    with pytest.raises(RequestValidationError) as info:
        await mp.field_transformations.update(77, "other-id", EVENTS_MODEL)
    assert info.value.field == "transformation.id"
    assert_nothing_sent(mocked)
