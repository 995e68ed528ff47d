"""The checks of a field transformation before it is sent: its id (it goes into the
path), name, destination type and each mapping by mapping type (column, static, ignore).

The mapping type is a closed vocabulary: the rules depend on knowing it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mpasync._checks import fail as _fail
from mpasync._validate import closed_enum, require, to_model
from mpasync.models.enums import MappingType
from mpasync.models.field_transformations import FieldMapping, FieldTransformation

__all__ = ["validate_transformation", "validate_transformation_id"]

_TRANSFORMATION_ID = re.compile(r"[A-Za-z0-9_-]+")


def validate_transformation_id(id: str, *, field: str = "transformation_id") -> str:
    """A field transformation id: non-empty, only ASCII letters, digits, ``-`` and ``_``."""
    if not isinstance(id, str):
        _fail(field, f"must be a string, not {type(id).__name__}")
    if not _TRANSFORMATION_ID.fullmatch(id):
        _fail(field, f"{id!r} is not a valid id; use only letters, digits, '-' and '_'")
    return id


def _check_mapping(m: FieldMapping, where: str) -> None:
    kind = closed_enum(m.mapping_type, MappingType.ALL, f"{where}.mapping_type", "mapping type")
    if kind == MappingType.COLUMN:
        require(m.source, f"{where}.source", "is required for a column mapping")
        require(m.destination, f"{where}.destination", "is required for a column mapping")
    elif kind == MappingType.STATIC:
        require(m.destination, f"{where}.destination", "is required for a static mapping")
        if m.value is None:
            _fail(f"{where}.value", "is required for a static mapping")
        if m.source is not None:
            _fail(f"{where}.source", "must be absent or null for a static mapping")
    else:
        require(m.source, f"{where}.source", "is required for an ignore mapping")
    if m.ignore_when is not None and kind != MappingType.COLUMN:
        _fail(f"{where}.ignore_when", "is only allowed on a column mapping")


def validate_transformation(
    t: FieldTransformation | Mapping[str, Any], *, field: str = "transformation"
) -> FieldTransformation:
    """A checked `FieldTransformation` from a model or dict.

    ``destination_type`` may be any non-empty string: ``event_batch`` is the only
    documented value, but the server may add others.
    """
    ft = to_model(t, FieldTransformation, field)
    validate_transformation_id(ft.id, field=f"{field}.id")
    require(ft.name, f"{field}.name", "is required and must not be empty")
    require(ft.destination_type, f"{field}.destination_type", "is required (e.g. event_batch)")
    for i, mapping in enumerate(ft.mappings):
        _check_mapping(mapping, f"{field}.mappings[{i}]")
    return ft
