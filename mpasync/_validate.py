"""The machinery every client-side input check is built on, so bad input fails before
anything is sent: strict conversion of mappings into models, open and closed vocabularies,
lists, required text and ISO 8601 date-times.

Every check raises `RequestValidationError` — and nothing else, whatever it is given —
with ``field`` set to the dotted path of the offending value (``filters[3].event_type``,
``draft_definition.conditions[0].operator``) and a message naming the field and the rule.
Models and plain dicts are both accepted; dicts are converted with `msgspec.convert`
after every key, at every depth, is checked against the model: a typo is an error naming
the closest valid field, never a silently defaulted value (`enabeld` would leave a filter
enabled).

The rules of each resource's input live beside the resource (`resources.datapoints_checks`,
`resources.calculated_attributes_checks`, `resources.field_transformations_checks`,
`resources.platforms.validate_os`); the one-line primitives (`fail`, numbers, ids) are in
`mpasync._checks`.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

import msgspec

from mpasync._checks import fail as _fail
from mpasync.errors import RequestValidationError

__all__ = [
    "check_keys",
    "closed_enum",
    "list_of",
    "listing",
    "open_enum",
    "parse_datetime",
    "require",
    "to_model",
]

logger = logging.getLogger("mpasync")

S = TypeVar("S", bound=msgspec.Struct)


def listing(values: Iterable[str]) -> str:
    """`values` sorted and comma-separated, for a message listing the valid choices."""
    return ", ".join(sorted(values))


# ---------------------------------------------------------------- conversion


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")


def _plain(obj: object) -> object:
    """Structs (recursively) as dicts keyed by wire names, so `msgspec.convert` type-checks
    every value; unlike `msgspec.to_builtins` it does not turn bytes or dates into strings."""
    if isinstance(obj, msgspec.Struct):
        return {f.encode_name: _plain(getattr(obj, f.name)) for f in msgspec.structs.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


@functools.cache
def _type_info(model: type[msgspec.Struct]) -> msgspec.inspect.StructType:
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    return info


@functools.cache
def _field_names(model: type[msgspec.Struct]) -> dict[str, msgspec.inspect.Field]:
    """Every accepted key of a struct: the Python attribute name and the wire name."""
    names: dict[str, msgspec.inspect.Field] = {}
    for f in _type_info(model).fields:
        names[f.name] = f
        names[f.encode_name] = f
    return names


def _unknown_field(where: str, key: object, known: Iterable[str]) -> NoReturn:
    """Raise for an unknown key: ``filters[0]: unknown field 'enabeld' (did you mean
    'enabled'?)``."""
    hint = ""
    if isinstance(key, str):
        close = difflib.get_close_matches(key, sorted(set(known)), n=1, cutoff=0.6)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    # `field` is the object holding the typo; the message names the key and the suggestion.
    raise RequestValidationError(f"{where}: unknown field {key!r}{hint}", field=where)


def check_keys(mapping: Mapping[Any, Any], known: Iterable[str], where: str) -> None:
    """Refuse any key of `mapping` not in `known`, suggesting the closest known name."""
    names = frozenset(known)
    for key in mapping:
        if key not in names:
            _unknown_field(where, key, names)


def _known_keys(value: object, tp: msgspec.inspect.Type, where: str) -> object:
    """`value` with every mapping meant for a struct re-keyed by wire names; a key that is
    neither a field's name nor its wire name is an error naming the closest valid one."""
    if isinstance(tp, msgspec.inspect.UnionType):
        for option in tp.types:
            if isinstance(value, Mapping) and isinstance(option, msgspec.inspect.StructType):
                return _known_keys(value, option, where)
            if isinstance(value, list) and isinstance(option, msgspec.inspect.ListType):
                return _known_keys(value, option, where)
        return value
    if isinstance(tp, msgspec.inspect.StructType) and isinstance(value, Mapping):
        names = _field_names(tp.cls)
        out: dict[object, object] = {}
        for key, item in value.items():
            f = names.get(key) if isinstance(key, str) else None
            if f is None:
                _unknown_field(where, key, names)
            if f.encode_name in out:
                _fail(f"{where}.{f.name}", f"given twice (as {f.name!r} and {f.encode_name!r})")
            out[f.encode_name] = _known_keys(item, f.type, f"{where}.{f.name}")
        return out
    if isinstance(tp, (msgspec.inspect.ListType, msgspec.inspect.VarTupleType)) and isinstance(
        value, list
    ):
        return [_known_keys(v, tp.item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, msgspec.inspect.DictType) and isinstance(value, Mapping):
        return {k: _known_keys(v, tp.value_type, f"{where}.{k}") for k, v in value.items()}
    return value


def to_model(obj: object, model: type[S], where: str) -> S:
    """`obj` (a `model` instance or a mapping) as a type-checked `model`.

    A mapping's keys may be a field's Python name or its wire name; any other key, at any
    depth, is a `RequestValidationError` suggesting the closest valid name.
    """
    if not isinstance(obj, (model, Mapping)):
        _fail(where, f"must be a {model.__name__} or a mapping, not {type(obj).__name__}")
    try:
        plain = _known_keys(_plain(obj), _type_info(model), where)
        return msgspec.convert(plain, model)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = ""
        at = _AT.search(message)
        if at is not None:
            path, message = at["path"], message[: at.start()]
        missing = _MISSING.match(message)
        if missing is not None:
            path, message = f"{path}.{missing['name']}", "is required"
        _fail(where + path, message)
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, RequestValidationError):
            raise
        _fail(where, f"cannot be read as a {model.__name__} ({exc})")


# ---------------------------------------------------------------- lists and text


def list_of(items: object, where: str, what: str) -> list[Any]:
    """`items` as a list: any iterable except a string, bytes or a mapping (``what`` names
    the items in the message)."""
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        _fail(where, f"must be a list of {what}, not {type(items).__name__}")
    return list(items)


def require(value: str | None, where: str, rule: str = "is required") -> str:
    """`value`, which must be present and not blank (else ``rule`` is the message)."""
    if value is None or not value.strip():
        _fail(where, rule)
    return value


# ---------------------------------------------------------------- vocabularies

# Values of the API's own vocabularies already warned about (once per process each).
_WARNED: set[tuple[str, str]] = set()


def open_enum(
    value: str | None,
    allowed: frozenset[str],
    where: str,
    what: str,
    *,
    wrong: frozenset[str] = frozenset(),
) -> str:
    """`value` in its documented spelling; a value outside `allowed` is passed on as given
    for the API to judge (it adds types mpasync cannot know yet), with one WARNING per
    value. Still refused: a missing or blank value, and a value of a neighbouring
    vocabulary (`wrong`: a commerce event type given as an app event type, say)."""
    if value is None or not value.strip():
        _fail(where, f"is required; {what} is one of: {listing(allowed)}")
    for name in allowed:
        if name.casefold() == value.casefold():
            return name
    if any(name.casefold() == value.casefold() for name in wrong):
        _fail(where, f"{value!r} is not a valid {what}; expected one of: {listing(allowed)}")
    if (what, value) not in _WARNED:
        _WARNED.add((what, value))
        close = difflib.get_close_matches(value, sorted(allowed), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        logger.warning(
            "%s: %r is not a known %s%s; mpasync sends it as given for the API to judge"
            " (warned once per value)",
            where,
            value,
            what,
            hint,
        )
    return value


def closed_enum(value: str | None, allowed: frozenset[str], where: str, what: str) -> str:
    """`value`, which must be one of `allowed` exactly (v2 enums are lower-case identifiers)."""
    if value is None:
        _fail(where, f"is required; {what} is one of: {listing(allowed)}")
    if value not in allowed:
        _fail(where, f"{value!r} is not a valid {what}; expected one of: {listing(allowed)}")
    return value


# ---------------------------------------------------------------- date-times

_FRACTION = re.compile(r"\.(\d+)")


def parse_datetime(text: str) -> datetime.datetime | None:
    """An ISO 8601 date-time read the same way on every supported Python, or None.

    Python 3.10's ``fromisoformat`` knows no ``Z`` and only 3- or 6-digit fractions, while
    mParticle itself sends 7 (``2021-11-29T18:16:24.5568051Z``): fractions are cut or
    padded to microseconds and ``Z`` means UTC.
    """
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    value = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], value, count=1)
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
