"""Argument checks shared by resource methods; each raises `RequestValidationError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpasync._checks import digits
from mpasync._validate import check_keys
from mpasync.errors import RequestValidationError

__all__ = ["entity_id", "flag", "items", "setting_list", "text"]

# A setting entry as the API spells it; `isConfidential` comes back from GETs, so a list
# read from the server can be sent back as it is.
_SETTING_KEYS = frozenset({"name", "value", "isConfidential", "is_confidential"})


def entity_id(value: Any, field: str) -> int:
    """A non-negative integer id: an int, or a string of ASCII digits as some responses carry.

    Only ASCII digits: ``str.isdigit`` also accepts "²" (which `int` then refuses) and "٣"
    (which `int` reads as 3, so the wrong entity would be addressed).
    """
    if type(value) is int and value >= 0:
        return value  # the common case first
    if isinstance(value, bool):
        raise RequestValidationError(f"{field} must be an integer id, got a bool", field=field)
    if isinstance(value, str) and digits(value) is not None:
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise RequestValidationError(
            f"{field} must be a non-negative integer id (an int or ASCII digits), got {value!r}",
            field=field,
        )
    return value


def text(value: Any, field: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise RequestValidationError(f"{field} must be a non-empty string", field=field)
    return value


def flag(value: Any, field: str) -> bool:
    """A real bool (not 0/1, not "true")."""
    if not isinstance(value, bool):
        raise RequestValidationError(f"{field} must be true or false", field=field)
    return value


def setting_list(settings: Any, field: str = "settings") -> list[dict[str, Any]]:
    """``{"name": value}`` or ``[{"name": ..., "value": ...}]`` → the API's list of settings.

    Lists and dicts as values (Google Analytics' customDimensions) are sent as JSON
    strings, as the reference shows.
    """
    import msgspec

    if settings is None:
        return []
    if isinstance(settings, Mapping):
        items = [{"name": k, "value": v} for k, v in settings.items()]
    elif isinstance(settings, (list, tuple)):
        items = []
        for i, entry in enumerate(settings):
            if isinstance(entry, Mapping):
                check_keys(entry, _SETTING_KEYS, f"{field}[{i}]")
            if isinstance(entry, Mapping) and "name" in entry:
                items.append({"name": entry["name"], "value": entry.get("value")})
            elif hasattr(entry, "name") and hasattr(entry, "value"):
                items.append({"name": entry.name, "value": entry.value})
            else:
                raise RequestValidationError(
                    f"{field}[{i}] must have a name and a value", field=f"{field}[{i}]"
                )
    else:
        raise RequestValidationError(
            f"{field} must be a mapping of name to value or a list of settings", field=field
        )
    for item in items:
        name, value = item["name"], item["value"]
        if not isinstance(name, str) or not name:
            raise RequestValidationError(f"{field}: a setting name must be a string", field=field)
        if isinstance(value, (list, dict)):
            item["value"] = msgspec.json.encode(value).decode()
        elif value is not None and not isinstance(value, (str, bool, int, float)):
            raise RequestValidationError(
                f"{field}.{name} must be a string, number, bool, list or dict",
                field=f"{field}.{name}",
            )
    return items


def items(value: Any, field: str) -> list[Any]:
    """A list from any iterable except strings, bytes and mappings."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not hasattr(value, "__iter__"):
        raise RequestValidationError(
            f"{field} must be a list, got {type(value).__name__}", field=field
        )
    return list(value)
