"""One test per client-side rule for field transformations
(`mpasync.resources.field_transformations_checks`): each asserts a `RequestValidationError`
whose ``field`` is the offending path and whose message names the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from mpasync.models import FieldMapping, FieldTransformation
from mpasync.resources.field_transformations_checks import (
    validate_transformation,
    validate_transformation_id,
)
from tests.resources.conftest import fails

# ---------------------------------------------------------------- field transformations

TRANSFORMATION: dict[str, Any] = {
    "id": "example-field-transformation-id",
    "name": "Example Field Transformation",
    "destination_type": "event_batch",
    "mappings": [
        {"mapping_type": "column", "source": "eventId", "destination": "event_id"},
        {"mapping_type": "static", "destination": "event_type", "value": "custom_event"},
        {"mapping_type": "ignore", "source": "internal_*"},
        {
            "mapping_type": "column",
            "source": "$unmapped",
            "destination": "*",
            "ignore_when": "null",
        },
    ],
}
T = "transformation"


def transformation_with(mapping: dict[str, Any]) -> dict[str, Any]:
    return {**TRANSFORMATION, "mappings": [*TRANSFORMATION["mappings"], mapping]}


def test_transformation_id_allows_letters_digits_dash_underscore() -> None:
    assert validate_transformation_id("Events_v2-final") == "Events_v2-final"


@pytest.mark.parametrize("bad", ["", "has space", "slash/", "dot.", "é", "new\nline", "a\n"])
def test_transformation_id_rejects_other_characters(bad: str) -> None:
    fails(
        lambda: validate_transformation_id(bad),
        "transformation_id",
        "use only letters, digits, '-' and '_'",
    )


def test_transformation_id_must_be_a_string() -> None:
    fails(lambda: validate_transformation_id(12), "transformation_id", "must be a string")  # type: ignore[arg-type]


def test_valid_transformation_from_dict_or_model() -> None:
    ft = validate_transformation(TRANSFORMATION)
    assert ft.id == "example-field-transformation-id"
    assert ft.mappings[1] == FieldMapping(
        mapping_type="static", destination="event_type", value="custom_event"
    )
    assert validate_transformation(ft) == ft
    # Only event_batch is documented, but other destination types are accepted.
    other = validate_transformation({**TRANSFORMATION, "destination_type": "user_profile"})
    assert other.destination_type == "user_profile"
    # Left out, it defaults to event_batch.
    defaulted = {k: v for k, v in TRANSFORMATION.items() if k != "destination_type"}
    assert validate_transformation(defaulted).destination_type == "event_batch"


def test_transformation_id_is_required_and_checked() -> None:
    missing = {k: v for k, v in TRANSFORMATION.items() if k != "id"}
    fails(lambda: validate_transformation(missing), f"{T}.id", "is required")
    fails(
        lambda: validate_transformation({**TRANSFORMATION, "id": "bad id"}),
        f"{T}.id",
        "not a valid id",
    )


def test_transformation_name_is_required() -> None:
    fails(lambda: validate_transformation({**TRANSFORMATION, "name": ""}), f"{T}.name", "required")
    fails(
        lambda: validate_transformation({k: v for k, v in TRANSFORMATION.items() if k != "name"}),
        f"{T}.name",
        "is required",
    )


def test_transformation_destination_type_must_not_be_empty() -> None:
    fails(
        lambda: validate_transformation({**TRANSFORMATION, "destination_type": " "}),
        f"{T}.destination_type",
        "is required",
    )


def test_transformation_mappings_are_required_and_a_list() -> None:
    fails(
        lambda: validate_transformation(
            {k: v for k, v in TRANSFORMATION.items() if k != "mappings"}
        ),
        f"{T}.mappings",
        "is required",
    )
    fails(
        lambda: validate_transformation({**TRANSFORMATION, "mappings": "column"}),
        f"{T}.mappings",
        "Expected `array`",
    )


def test_mapping_type_must_be_column_static_or_ignore() -> None:
    fails(
        lambda: validate_transformation(transformation_with({"mapping_type": "copy"})),
        f"{T}.mappings[4].mapping_type",
        "'copy' is not a valid mapping type",
    )
    fails(
        lambda: validate_transformation(transformation_with({"source": "a"})),
        f"{T}.mappings[4].mapping_type",
        "is required",
    )


@pytest.mark.parametrize("missing", ["source", "destination"])
def test_column_mapping_needs_source_and_destination(missing: str) -> None:
    mapping = {"mapping_type": "column", "source": "a", "destination": "b", missing: None}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].{missing}",
        "is required for a column mapping",
    )


@pytest.mark.parametrize("missing", ["destination", "value"])
def test_static_mapping_needs_destination_and_value(missing: str) -> None:
    mapping = {"mapping_type": "static", "destination": "b", "value": "v", missing: None}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].{missing}",
        "is required for a static mapping",
    )


def test_static_mapping_must_not_have_a_source() -> None:
    mapping = {"mapping_type": "static", "source": "a", "destination": "b", "value": "v"}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].source",
        "must be absent or null for a static mapping",
    )


def test_ignore_mapping_needs_a_source() -> None:
    fails(
        lambda: validate_transformation(transformation_with({"mapping_type": "ignore"})),
        f"{T}.mappings[4].source",
        "is required for an ignore mapping",
    )


def test_ignore_when_is_only_for_column_mappings() -> None:
    mapping = {"mapping_type": "ignore", "source": "a", "ignore_when": "empty"}
    fails(
        lambda: validate_transformation(transformation_with(mapping)),
        f"{T}.mappings[4].ignore_when",
        "only allowed on a column mapping",
    )


def test_transformation_model_with_bad_field_types_is_rejected() -> None:
    bad = FieldTransformation(id="ok", name="n", mappings="column")  # type: ignore[arg-type]
    fails(lambda: validate_transformation(bad), f"{T}.mappings", "Expected `array`")
