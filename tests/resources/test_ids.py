"""Every id argument of every resource method takes an int or a string of ASCII digits, and
refuses anything else with a `RequestValidationError` naming the argument, before sending.

Issue 10: ``apps.get("²")`` raised a bare ValueError (``str.isdigit`` accepts it, ``int``
does not) and ``apps.get("٣")`` requested ``/apps/3``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aioresponses import aioresponses

from mpasync import Client, RequestValidationError
from mpasync.resources._args import entity_id
from tests.resources.conftest import assert_nothing_sent, sent, v2

Call = Callable[[Client, Any], Coroutine[Any, Any, Any]]

DEFINITION = {
    "recipe_type": "event",
    "datapoint": {"type": "event", "event_name": "e", "event_type": "custom_event"},
    "calculation_type": "count",
    "time_period": {"type": "all"},
}

# (field the error must name, call with the bad id in that place)
CALLS: list[tuple[str, Call]] = [
    ("app_id", lambda mp, i: mp.apps.get(i)),
    ("app_id", lambda mp, i: mp.apps.update(i, name="n")),
    ("app_id", lambda mp, i: mp.apps.delete(i)),
    ("app_id", lambda mp, i: mp.platforms.get(i, "ios")),
    ("app_id", lambda mp, i: mp.platforms.list(i)),
    ("app_id", lambda mp, i: mp.platforms.create(i, "ios")),
    ("app_id", lambda mp, i: mp.platforms.update(i, "ios", profile_merging=True)),
    ("app_id", lambda mp, i: mp.platforms.delete(i, "ios")),
    ("app_id", lambda mp, i: mp.platform_services.list(i, "ios")),
    ("app_id", lambda mp, i: mp.platform_services.configure(i, "ios", name="Amplitude")),
    ("app_id", lambda mp, i: mp.datapoints.list(i)),
    ("app_id", lambda mp, i: mp.datapoints.add(i, [])),
    ("app_id", lambda mp, i: mp.datapoint_filters.list(i, "Amplitude")),
    ("app_id", lambda mp, i: mp.datapoint_filters.update(i, "Amplitude", [])),
    ("app_id", lambda mp, i: mp.datapoint_filters.get_service_filtering(i, "Amplitude")),
    (
        "app_id",
        lambda mp, i: mp.datapoint_filters.set_service_filtering(
            i, "Amplitude", send_new_datapoints_by_default=True
        ),
    ),
    ("account_id", lambda mp, i: mp.accounts.get(i)),
    ("account_id", lambda mp, i: mp.accounts.update(i, name="n")),
    ("workspace_id", lambda mp, i: mp.audiences.list(i)),
    ("audience_id", lambda mp, i: mp.audiences.delete(i)),
    ("workspace_id", lambda mp, i: mp.feeds.list(i)),
    ("feed_id", lambda mp, i: mp.feeds.get(i)),
    ("workspace_id", lambda mp, i: mp.feeds.create(i, module_name="m", name="n", os="ios")),
    ("workspace_id", lambda mp, i: mp.feeds.update(i, 1, module_name="m", name="n", os="ios")),
    ("feed_id", lambda mp, i: mp.feeds.update(1, i, module_name="m", name="n", os="ios")),
    ("workspace_id", lambda mp, i: mp.feeds.list_output_configurations(i, "m")),
    ("workspace_id", lambda mp, i: mp.feeds.list_subscriptions(i)),
    (
        "feed_id",
        lambda mp, i: mp.feeds.create_subscription(i, service_configuration_id=1, is_active=True),
    ),
    (
        "service_configuration_id",
        lambda mp, i: mp.feeds.create_subscription(1, service_configuration_id=i, is_active=True),
    ),
    ("workspace_id", lambda mp, i: mp.calculated_attributes.list(i)),
    ("workspace_id", lambda mp, i: mp.calculated_attributes.exists(i)),
    (
        "workspace_id",
        lambda mp, i: mp.calculated_attributes.create(i, name="n", draft_definition=DEFINITION),
    ),
    ("ca_id", lambda mp, i: mp.calculated_attributes.get(1, i)),
    ("ca_id", lambda mp, i: mp.calculated_attributes.update(1, i, name="n")),
    ("ca_id", lambda mp, i: mp.calculated_attributes.delete(1, i)),
    ("ca_id", lambda mp, i: mp.calculated_attributes.activate(1, i)),
    ("ca_id", lambda mp, i: mp.calculated_attributes.activation_status(1, i)),
    ("ca_id", lambda mp, i: mp.calculated_attributes.delete_draft(1, i)),
    ("ca_id", lambda mp, i: mp.calculated_attributes.calculation_status(1, i)),
    ("workspace_id", lambda mp, i: mp.field_transformations.list(i)),
    ("workspace_id", lambda mp, i: mp.field_transformations.get(i, "t")),
    ("workspace_id", lambda mp, i: mp.field_transformations.delete(i, "t")),
]

# Superscript two, Arabic-Indic three, full-width one, a Devanagari digit, whitespace, signs,
# floats, bools, an empty string, a list.
BAD_IDS: list[Any] = [
    "\u00b2",
    "\u0663",
    "\uff11",
    "\u0967",
    " 3",
    "3 ",
    "+3",
    "-3",
    "",
    "3.0",
    3.0,
    True,
    -1,
    [3],
]


@pytest.mark.parametrize("bad", ["\u00b2", "\u0663"], ids=["superscript", "arabic-indic"])
@pytest.mark.parametrize(
    ("field", "call"), CALLS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CALLS)]
)
async def test_every_id_argument_refuses_non_ascii_digits(
    mocked: aioresponses, mp: Client, field: str, call: Call, bad: Any
) -> None:
    with pytest.raises(RequestValidationError) as info:
        await call(mp, bad)
    assert info.value.field == field
    assert field in str(info.value)
    assert_nothing_sent(mocked)


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_ids_refuse_anything_but_ascii_digits(bad: Any) -> None:
    with pytest.raises(RequestValidationError) as info:
        entity_id(bad, "feed_id")
    assert info.value.field == "feed_id"


def test_entity_id_accepts_ints_and_ascii_digit_strings() -> None:
    assert entity_id(3, "app_id") == 3
    assert entity_id("3", "app_id") == 3
    assert entity_id("0042", "app_id") == 42
    assert entity_id(0, "app_id") == 0


async def test_an_arabic_indic_digit_never_reaches_the_server(
    mocked: aioresponses, mp: Client
) -> None:
    with pytest.raises(RequestValidationError, match="app_id"):
        await mp.apps.get("\u0663")  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="app_id"):
        await mp.apps.get("\u00b2")  # type: ignore[arg-type]
    assert_nothing_sent(mocked)


async def test_digit_string_ids_are_sent_as_numbers(mocked: aioresponses, mp: Client) -> None:
    mocked.get(v2("/workspaces/7/calculatedattributes"), payload=[])
    assert await mp.calculated_attributes.list("7") == []  # type: ignore[arg-type]
    sent(mocked, "GET", v2("/workspaces/7/calculatedattributes"))
