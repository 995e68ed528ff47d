# mypy: disable-error-code="func-returns-value"
"""mp.datapoints, mp.datapoint_filters and service filtering (v1)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError
from mpasync.models import DataPoint, DataPointFilter, ServiceFiltering
from mpasync.resources.datapoints import MAX_FILTERS_PER_REQUEST
from tests.resources.conftest import (
    assert_nothing_sent,
    body_of,
    calls_to,
    envelope,
    sent,
    v1,
)

GA = "GoogleAnalyticsEventForwarder"
FILTERS_PATH = f"/apps/1/{GA}/datapoints"

DATAPOINTS = [
    {
        "name": "my event",
        "attribute_name": None,
        "type": "Event",
        "event_type": "navigation",
        "data_type": "datapoint",
        "created_on": "2015-06-04T18:11:06.027",
    },
    {
        "name": "my event",
        "attribute_name": "my event attribute",
        "type": "EventAttribute",
        "event_type": "navigation",
        "data_type": "datapoint",
        "created_on": "2015-06-04T18:53:23.25",
    },
    {
        "name": "my screen view",
        "attribute_name": None,
        "type": "ScreenView",
        "event_type": None,
        "data_type": "datapoint",
        "created_on": "2015-06-04T18:53:23.25",
    },
    {
        "name": "my screen view",
        "attribute_name": "my screen view attribute",
        "type": "ScreenViewAttribute",
        "event_type": None,
        "data_type": "datapoint",
        "created_on": "2015-06-04T18:53:23.25",
    },
]
FILTERS = [
    {
        "name": "my event",
        "attribute_name": None,
        "type": "Event",
        "event_type": "navigation",
        "enabled": True,
        "data_type": "datapoint",
        "created_on": "2015-06-04T18:11:06.027",
    },
    {
        "name": "my event",
        "attribute_name": "my event attribute",
        "type": "EventAttribute",
        "enabled": False,
        "event_type": "navigation",
        "data_type": "datapoint",
        "created_on": "2015-06-04T18:53:23.25",
    },
]
UPDATED = [
    {"name": "my event", "type": "Event", "event_type": "navigation", "enabled": True},
    {
        "name": "my event",
        "attribute_name": "my event attribute",
        "type": "EventAttribute",
        "event_type": "navigation",
        "enabled": False,
    },
]


# -- datapoints ---------------------------------------------------------------------------


async def test_datapoints_list(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1("/apps/1/datapoints"), payload=envelope(DATAPOINTS, "datapoint"))
    points = await mp.datapoints.list(1)
    assert sent(mocked, "GET", v1("/apps/1/datapoints")) is None
    assert all(isinstance(p, DataPoint) for p in points)
    assert [p.key() for p in points] == [
        ("event", "my event", None, "navigation"),
        ("eventattribute", "my event", "my event attribute", "navigation"),
        ("screenview", "my screen view", None, None),
        ("screenviewattribute", "my screen view", "my screen view attribute", None),
    ]
    assert points[1].type == "EventAttribute"
    assert points[0].created_on == "2015-06-04T18:11:06.027"


async def test_datapoints_add_models_and_dicts(mocked: aioresponses, mp: Client) -> None:
    mocked.put(v1("/apps/1/datapoints"), status=202)
    result = await mp.datapoints.add(
        1,
        [
            DataPoint(name="my event", type="event", event_type="navigation"),
            {
                "name": "my screen view",
                "type": "screenviewattribute",
                "attribute_name": "my screen view attribute",
            },
            {"name": "Email", "type": "Identity"},
        ],
    )
    assert result is None
    assert sent(mocked, "PUT", v1("/apps/1/datapoints")) == [
        {"name": "my event", "type": "Event", "event_type": "navigation"},
        {
            "name": "my screen view",
            "type": "ScreenViewAttribute",
            "attribute_name": "my screen view attribute",
        },
        {"name": "Email", "type": "Identity"},
    ]


# -- datapoint filters --------------------------------------------------------------------


async def test_filters_list(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v1(FILTERS_PATH), payload=envelope(FILTERS, "datapoint"))
    filters = await mp.datapoint_filters.list(1, GA)
    assert sent(mocked, "GET", v1(FILTERS_PATH)) is None
    assert all(isinstance(f, DataPointFilter) for f in filters)
    assert [(f.type, f.name, f.attribute_name, f.event_type, f.enabled) for f in filters] == [
        ("Event", "my event", None, "navigation", True),
        ("EventAttribute", "my event", "my event attribute", "navigation", False),
    ]


async def test_filters_update_sends_a_bare_array_and_decodes_the_answer(
    mocked: aioresponses, mp: Client
) -> None:
    mocked.put(v1(FILTERS_PATH), status=202, payload=UPDATED)
    result = await mp.datapoint_filters.update(
        1,
        GA,
        [
            # The reference's request spells types in lower case; dicts and models both work.
            {"name": "my event", "type": "event", "event_type": "navigation", "enabled": True},
            DataPointFilter(
                name="my event",
                attribute_name="my event attribute",
                event_type="navigation",
                type="eventattribute",
                enabled=False,
            ),
        ],
    )
    assert sent(mocked, "PUT", v1(FILTERS_PATH)) == UPDATED
    assert result == [
        DataPointFilter(name="my event", type="Event", event_type="navigation", enabled=True),
        DataPointFilter(
            name="my event",
            type="EventAttribute",
            event_type="navigation",
            attribute_name="my event attribute",
            enabled=False,
        ),
    ]


async def test_filters_update_sends_enabled_true_explicitly(
    mocked: aioresponses, mp: Client
) -> None:
    mocked.put(v1(FILTERS_PATH), status=202, payload=[])
    await mp.datapoint_filters.update(1, GA, [{"name": "Email", "type": "UserIdentity"}])
    assert sent(mocked, "PUT", v1(FILTERS_PATH)) == [
        {"name": "Email", "type": "UserIdentity", "enabled": True}
    ]


async def test_filters_update_is_split_into_chunks_of_500(mocked: aioresponses, mp: Client) -> None:
    assert MAX_FILTERS_PER_REQUEST == 500
    wanted = [
        {"name": f"event {i}", "type": "Event", "event_type": "navigation", "enabled": i % 2 == 0}
        for i in range(1201)
    ]
    chunks = [wanted[0:500], wanted[500:1000], wanted[1000:]]
    for chunk in chunks:
        mocked.put(v1(FILTERS_PATH), status=202, payload=chunk)
    result = await mp.datapoint_filters.update(1, GA, wanted)
    calls = calls_to(mocked, "PUT", v1(FILTERS_PATH))
    assert [len(body_of(c)) for c in calls] == [500, 500, 201]
    assert [body_of(c) for c in calls] == chunks
    assert len(result) == 1201
    assert [f.name for f in result] == [f"event {i}" for i in range(1201)]
    assert msgspec.to_builtins(result) == wanted


async def test_filters_update_of_exactly_500_is_one_request(
    mocked: aioresponses, mp: Client
) -> None:
    wanted = [{"name": f"e{i}", "type": "Event", "event_type": "other"} for i in range(500)]
    mocked.put(v1(FILTERS_PATH), status=202, payload=[])
    await mp.datapoint_filters.update(1, GA, wanted)
    assert len(sent(mocked, "PUT", v1(FILTERS_PATH))) == 500


async def test_get_service_filtering(mocked: aioresponses, mp: Client) -> None:
    payload = envelope([{"name": GA, "sendNewDataPointsByDefault": True}], "datapoint")
    mocked.get(v1(f"/apps/1/{GA}"), payload=payload)
    filtering = await mp.datapoint_filters.get_service_filtering(1, GA)
    assert sent(mocked, "GET", v1(f"/apps/1/{GA}")) is None
    assert isinstance(filtering, ServiceFiltering)
    assert filtering.name == GA
    assert filtering.send_new_datapoints_by_default is True


async def test_set_service_filtering(mocked: aioresponses, mp: Client) -> None:
    mocked.put(v1(f"/apps/1/{GA}"), status=202)
    result = await mp.datapoint_filters.set_service_filtering(
        1, GA, send_new_datapoints_by_default=False
    )
    assert result is None
    assert sent(mocked, "PUT", v1(f"/apps/1/{GA}")) == {"sendNewDataPointsByDefault": False}


# -- validation ---------------------------------------------------------------------------

EVENT = {"name": "my event", "type": "Event", "event_type": "navigation"}


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param([{"name": "my event", "type": "Event"}], id="event-without-event-type"),
        pytest.param(
            [{"name": "my event", "type": "Event", "event_type": "product_click"}],
            id="event-with-a-commerce-event-type",
        ),
        pytest.param(
            [{"name": "my event", "type": "EventAttribute", "event_type": "navigation"}],
            id="event-attribute-without-attribute-name",
        ),
        pytest.param([{"name": " ", "type": "UserIdentity"}], id="user-identity-blank-name"),
        pytest.param(
            [{"name": "product_click", "type": "EventType"}], id="event-type-filter-commerce-name"
        ),
        pytest.param(
            [{"name": "Email", "type": "UserIdentity", "enabeld": False}], id="typo-enabeld"
        ),
        pytest.param([{**EVENT, "event_typ": "other"}], id="typo-event_typ"),
        pytest.param([{"name": "x", "type": "Identity"}], id="a-datapoint-only-type"),
        pytest.param([{"name": "x", "type": ""}], id="blank-type"),
        pytest.param([{"name": "", "type": "Event", "event_type": "other"}], id="empty-name"),
        pytest.param([{**EVENT, "enabled": "yes"}], id="enabled-not-bool"),
        pytest.param([{"type": "Event", "event_type": "other"}], id="missing-name"),
        pytest.param([EVENT, {**EVENT, "enabled": False}], id="two-filters-one-datapoint"),
        pytest.param(EVENT, id="a-dict-not-a-list"),
        pytest.param("Event", id="a-string"),
        pytest.param([42], id="not-a-filter"),
    ],
)
async def test_filters_update_rejects_bad_filters_before_sending(
    mocked: aioresponses, mp: Client, filters: Any
) -> None:
    with pytest.raises(RequestValidationError):
        await mp.datapoint_filters.update(1, GA, filters)
    assert_nothing_sent(mocked)


async def test_filter_values_mpasync_does_not_know_are_sent_as_given(
    mocked: aioresponses, mp: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API owns these vocabularies and adds to them: it is the judge, not mpasync.
    from mpasync import _validate

    monkeypatch.setattr(_validate, "_WARNED", set())
    filters = [
        {"name": "x", "type": "Hologram", "enabled": False},
        {"name": "Passport", "type": "UserIdentity", "enabled": False},
        {"name": "warp", "type": "EventType", "enabled": False},
        {"name": "my event", "type": "Event", "event_type": "teleport", "enabled": False},
    ]
    mocked.put(v1(FILTERS_PATH), status=202, payload=filters)
    await mp.datapoint_filters.update(1, GA, filters)
    assert sent(mocked, "PUT", v1(FILTERS_PATH)) == filters


async def test_a_bad_filter_in_a_long_list_sends_no_chunk(mocked: aioresponses, mp: Client) -> None:
    filters: list[dict[str, Any]] = [
        {"name": f"e{i}", "type": "Event", "event_type": "other"} for i in range(1200)
    ]
    filters.append({"name": "bad", "type": "Event"})
    with pytest.raises(RequestValidationError) as info:
        await mp.datapoint_filters.update(1, GA, filters)
    assert info.value.field == "filters[1200].event_type"
    assert_nothing_sent(mocked)


@pytest.mark.parametrize(
    "points",
    [
        pytest.param([{"name": "my event", "type": "Event"}], id="event-without-event-type"),
        pytest.param(
            [{"name": "a", "type": "EventAttribute", "event_type": "navigation"}],
            id="event-attribute-without-attribute-name",
        ),
        pytest.param([{"name": "a", "type": "EventType"}], id="filter-only-type"),
        pytest.param([{"name": "a", "type": "UserAttribute", "attribute": "x"}], id="typo"),
        pytest.param({"name": "a", "type": "UserAttribute"}, id="a-dict-not-a-list"),
    ],
)
async def test_datapoints_add_rejects_bad_points_before_sending(
    mocked: aioresponses, mp: Client, points: Any
) -> None:
    with pytest.raises(RequestValidationError):
        await mp.datapoints.add(1, points)
    assert_nothing_sent(mocked)


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        pytest.param("list", (1, ""), {}, id="filters-list-empty-service"),
        pytest.param("list", (-1, GA), {}, id="filters-list-bad-app"),
        pytest.param("get_service_filtering", (1, ""), {}, id="get-filtering-empty-service"),
        pytest.param(
            "set_service_filtering",
            (1, GA),
            {"send_new_datapoints_by_default": "false"},
            id="set-filtering-not-bool",
        ),
        pytest.param(
            "set_service_filtering",
            (1, None),
            {"send_new_datapoints_by_default": False},
            id="set-filtering-no-service",
        ),
    ],
)
async def test_filtering_bad_input_is_rejected_before_sending(
    mocked: aioresponses, mp: Client, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(RequestValidationError):
        await getattr(mp.datapoint_filters, call)(*args, **kwargs)
    assert_nothing_sent(mocked)


async def test_datapoints_list_bad_app_id(mocked: aioresponses, mp: Client) -> None:
    with pytest.raises(RequestValidationError):
        await mp.datapoints.list("abc")  # type: ignore[arg-type]
    assert_nothing_sent(mocked)


async def test_the_enabeld_typo_is_refused_with_a_suggestion(
    mocked: aioresponses, mp: Client
) -> None:
    # Issue 10: this was accepted with enabled defaulting to True, turning the filter ON.
    typo = {"name": "Email", "type": "UserIdentity", "enabeld": False}
    with pytest.raises(RequestValidationError) as info:
        await mp.datapoint_filters.update(1, GA, [EVENT, typo])
    assert str(info.value) == "filters[1]: unknown field 'enabeld' (did you mean 'enabled'?)"
    assert info.value.field == "filters[1]"
    assert_nothing_sent(mocked)


async def test_filters_the_docs_allow_are_sent(mocked: aioresponses, mp: Client) -> None:
    # Issue 12: Commerce filters need no event_type (platform-api.md line 1990), and an
    # event_type on a type that does not use it is ignored by the API: it is dropped.
    url = v1(f"/apps/1/{GA}/datapoints")
    mocked.put(url, status=202, payload=[])
    filters = [
        {"name": "cart", "type": "Commerce", "enabled": False},
        {"name": "home", "type": "ScreenView", "event_type": "navigation", "enabled": False},
    ]
    await mp.datapoint_filters.update(1, GA, filters)
    assert sent(mocked, "PUT", url) == [
        {"name": "cart", "type": "Commerce", "enabled": False},
        {"name": "home", "type": "ScreenView", "enabled": False},
    ]


async def test_commerce_datapoint_without_event_type_is_sent(
    mocked: aioresponses, mp: Client
) -> None:
    url = v1("/apps/1/datapoints")
    mocked.put(url, status=202)
    await mp.datapoints.add(
        1, [{"name": "cart", "type": "CommerceAttribute", "attribute_name": "a"}]
    )
    assert sent(mocked, "PUT", url) == [
        {"name": "cart", "type": "CommerceAttribute", "attribute_name": "a"}
    ]
