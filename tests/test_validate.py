"""The machinery under every client-side check (`mpasync._validate`): whatever the input,
only a `RequestValidationError` naming a field; unknown keys refused with the closest
name at every depth; Python and wire names both accepted; ISO date-times read alike on
every Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpasync._validate import parse_datetime, to_model
from mpasync.errors import RequestValidationError
from mpasync.resources.calculated_attributes_checks import validate_definition
from mpasync.resources.datapoints_checks import (
    coerce_datapoint,
    coerce_filter,
    validate_datapoints,
    validate_filters,
)
from mpasync.resources.field_transformations_checks import (
    validate_transformation,
    validate_transformation_id,
)
from mpasync.resources.platforms import validate_os
from tests.reference_data import CREATE_DRAFT_DEFINITION
from tests.resources.conftest import fails

# The reference's create example (platform-api.md, "Create a Calculated Attribute").
DRAFT: dict[str, Any] = CREATE_DRAFT_DEFINITION


# ---------------------------------------------------------------- arbitrary input

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = [
    "name", "type", "event_type", "attribute_name", "enabled", "recipe_type", "datapoint",
    "data_point", "conditions", "calculation_type", "time_period", "seeding", "operator",
    "value", "values", "min_value", "max_value", "within", "within_unit", "date", "id",
    "destination_type", "mappings", "mapping_type", "source", "destination", "ignore_when",
]  # fmt: skip
shaped = st.recursive(
    json_values,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)
    ),
    max_leaves=20,
)
anything = shaped | st.builds(object) | st.binary(max_size=4) | st.tuples(shaped)
VALIDATORS: list[Callable[[Any], object]] = [
    validate_os,
    coerce_filter,
    validate_filters,
    coerce_datapoint,
    validate_datapoints,
    validate_definition,
    validate_transformation_id,
    validate_transformation,
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALIDATORS), anything)
def test_validators_raise_only_request_validation_error(
    validator: Callable[[Any], object], value: Any
) -> None:
    try:
        validator(value)
    except RequestValidationError as exc:
        assert exc.field is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-11-29T18:16:24.5568051Z", "2021-11-29T18:16:24.556805+00:00"),
        ("2021-11-01T15:00:00Z", "2021-11-01T15:00:00+00:00"),
        ("2021-11-01T15:00:00.5+01:00", "2021-11-01T15:00:00.500000+01:00"),
        ("2019-10-01T00:00:00", "2019-10-01T00:00:00"),
    ],
)
def test_parse_datetime_reads_mparticle_timestamps_on_every_python(
    text: str, expected: str
) -> None:
    parsed = parse_datetime(text)
    assert parsed is not None and parsed.isoformat() == expected
    assert parse_datetime("yesterday") is None


# ---------------------------------------------------------------- unknown fields (issue 10)


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        pytest.param(
            lambda: validate_filters([{"name": "Email", "type": "UserIdentity", "enabeld": False}]),
            "filters[0]",
            "filters[0]: unknown field 'enabeld' (did you mean 'enabled'?)",
            id="filter",
        ),
        pytest.param(
            lambda: validate_datapoints([{"name": "u", "type": "UserAttribute", "tpye": "x"}]),
            "datapoints[0]",
            "datapoints[0]: unknown field 'tpye' (did you mean 'type'?)",
            id="datapoint",
        ),
        pytest.param(
            lambda: validate_definition({**DRAFT, "calculaton_type": "sum"}),
            "draft_definition",
            "draft_definition: unknown field 'calculaton_type' (did you mean 'calculation_type'?)",
            id="definition",
        ),
        pytest.param(
            lambda: validate_definition(
                {**DRAFT, "datapoint": {**DRAFT["datapoint"], "event_nmae": "x"}}
            ),
            "draft_definition.datapoint",
            "draft_definition.datapoint: unknown field 'event_nmae' (did you mean 'event_name'?)",
            id="definition-datapoint",
        ),
        pytest.param(
            lambda: validate_definition(
                {**DRAFT, "time_period": {"type": "within", "within": 3, "within_units": "days"}}
            ),
            "draft_definition.time_period",
            "draft_definition.time_period: unknown field 'within_units' "
            "(did you mean 'within_unit'?)",
            id="definition-time-period",
        ),
        pytest.param(
            lambda: validate_definition({**DRAFT, "seeding": {"cutoff": "2020-01-01"}}),
            "draft_definition.seeding",
            "draft_definition.seeding: unknown field 'cutoff' (did you mean 'cutoff_date'?)",
            id="definition-seeding",
        ),
        pytest.param(
            lambda: validate_definition(
                {
                    **DRAFT,
                    "conditions": [
                        {"type": "string", "operator": "equals", "attribute_name": "a"},
                        {"type": "string", "operatr": "equals", "attribute_name": "a"},
                    ],
                }
            ),
            "draft_definition.conditions[1]",
            "draft_definition.conditions[1]: unknown field 'operatr' (did you mean 'operator'?)",
            id="definition-condition",
        ),
        pytest.param(
            lambda: validate_transformation(
                {
                    "id": "t",
                    "name": "T",
                    "mappings": [{"mapping_type": "ignore", "source": "a", "ignore_wen": "x"}],
                }
            ),
            "transformation.mappings[0]",
            "transformation.mappings[0]: unknown field 'ignore_wen' (did you mean 'ignore_when'?)",
            id="transformation-mapping",
        ),
        pytest.param(
            lambda: validate_transformation({"id": "t", "name": "T", "mappings": [], "xyzzy": 1}),
            "transformation",
            "transformation: unknown field 'xyzzy'",
            id="no-close-name",
        ),
    ],
)
def test_unknown_fields_are_refused_with_the_closest_name(
    call: Callable[[], object], field: str, message: str
) -> None:
    with pytest.raises(RequestValidationError) as info:
        call()
    assert str(info.value) == message
    assert info.value.field == field


def test_unknown_fields_in_seeding_users_are_refused() -> None:
    from mpasync.seeding import validate_seed_user

    seed = {"attribute_name": "a", "calculation_type": "count", "cutoff_date": "2020-01-01"}
    user = {
        "environment": "production",
        "mpid": 1,
        "calculated_attributes": {"workspace": [{**seed, "seed": {"vlaue": 3}}]},
    }
    fails(
        lambda: validate_seed_user(user),
        "user.calculated_attributes.workspace[0].seed",
        "unknown field 'vlaue' \\(did you mean 'value'\\?\\)",
    )
    fails(
        lambda: validate_seed_user({"environment": "production", "mpid": 1, "identity": {}}),
        "user",
        "did you mean 'identities'",
    )


class _Renamed(msgspec.Struct, kw_only=True):
    send_new: bool | None = msgspec.field(default=None, name="sendNew")
    inner: list[_Inner] | None = None


class _Inner(msgspec.Struct, kw_only=True):
    is_on: bool = msgspec.field(default=False, name="isOn")


def test_python_and_wire_names_are_both_accepted_at_every_depth() -> None:
    both = to_model({"sendNew": True, "inner": [{"is_on": True}, {"isOn": True}]}, _Renamed, "x")
    assert both == _Renamed(send_new=True, inner=[_Inner(is_on=True), _Inner(is_on=True)])
    assert to_model({"send_new": False}, _Renamed, "x").send_new is False
    fails(lambda: to_model({"inner": [{"is_onn": 1}]}, _Renamed, "x"), "x.inner[0]", "'is_on'")
    fails(
        lambda: to_model({"send_new": True, "sendNew": False}, _Renamed, "x"),
        "x.send_new",
        "given twice",
    )


def test_deeply_nested_input_is_a_validation_error() -> None:
    deep: Any = {"name": "x"}
    for _ in range(100_000):
        deep = {"type": deep}
    with pytest.raises(RequestValidationError):
        coerce_filter(deep)
