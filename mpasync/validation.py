"""Client-side checks of request input, so that bad input fails before anything is sent.

Every check raises `RequestValidationError` — and nothing else, whatever it is given —
with ``field`` set to the dotted path of the offending value (``filters[3].event_type``,
``draft_definition.conditions[0].operator``) and a message naming the field and the rule.
Models and plain dicts are both accepted; dicts are converted with `msgspec.convert`
after every key, at every depth, is checked against the model: a typo is an error naming
the closest valid field, never a silently defaulted value (`enabeld` would leave a filter
enabled).

Strict on shape, open on the API's own vocabularies: a DataPoint or filter ``type``, an
event type, a commerce event type or a user identity type that mpasync does not know is
sent as given with one WARNING per value (mParticle adds such values; a filter it
exports must apply again), while a value of the wrong vocabulary (a commerce event type
on an ``Event`` filter) is still refused. The other enums (calculated attributes, field
transformations, platforms) stay closed: their rules depend on knowing the value.
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
from mpasync.models.calculated_attributes import (
    Condition,
    Definition,
    DefinitionDataPoint,
    TimePeriod,
)
from mpasync.models.datapoints import DataPoint, DataPointFilter
from mpasync.models.enums import (
    OPERATOR_SUPPORT,
    AttributeCategory,
    CalculationType,
    CommerceEventType,
    ConditionOperator,
    ConditionType,
    DataPointType,
    DefinitionDataPointType,
    EventType,
    FilterType,
    MappingType,
    PlatformOS,
    RecipeType,
    TimePeriodType,
    UserIdentityType,
    WithinUnit,
    canonical_os,
)
from mpasync.models.field_transformations import FieldMapping, FieldTransformation

__all__ = [
    "check_keys",
    "coerce_datapoint",
    "coerce_filter",
    "parse_datetime",
    "validate_datapoints",
    "validate_definition",
    "validate_filters",
    "validate_os",
    "validate_transformation",
    "validate_transformation_id",
]

logger = logging.getLogger("mpasync")

S = TypeVar("S", bound=msgspec.Struct)
P = TypeVar("P", DataPoint, DataPointFilter)


def _listing(values: Iterable[str]) -> str:
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


def _convert(obj: object, model: type[S], where: str) -> S:
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


def _sequence(items: object, where: str, what: str) -> list[Any]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        _fail(where, f"must be a list of {what}, not {type(items).__name__}")
    return list(items)


def _require(value: str | None, where: str, rule: str = "is required") -> str:
    if value is None or not value.strip():
        _fail(where, rule)
    return value


# Values of the API's own vocabularies already warned about (once per process each).
_WARNED: set[tuple[str, str]] = set()


def _open_enum(
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
        _fail(where, f"is required; {what} is one of: {_listing(allowed)}")
    for name in allowed:
        if name.casefold() == value.casefold():
            return name
    if any(name.casefold() == value.casefold() for name in wrong):
        _fail(where, f"{value!r} is not a valid {what}; expected one of: {_listing(allowed)}")
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


def _exact(value: str | None, allowed: frozenset[str], where: str, what: str) -> str:
    """`value`, which must be one of `allowed` exactly (v2 enums are lower-case identifiers)."""
    if value is None:
        _fail(where, f"is required; {what} is one of: {_listing(allowed)}")
    if value not in allowed:
        _fail(where, f"{value!r} is not a valid {what}; expected one of: {_listing(allowed)}")
    return value


# ---------------------------------------------------------------- platforms


def validate_os(os: str, *, allowed: frozenset[str] = PlatformOS.ALL, field: str = "os") -> str:
    """The documented spelling of an app platform os ("ios" -> "iOS").

    Pass ``allowed=FeedOS.ALL`` for feeds, which also accept ``Unknown``.
    """
    if not isinstance(os, str):
        _fail(field, f"must be a string, not {type(os).__name__}")
    found = canonical_os(os, allowed=allowed)
    if found is None:
        _fail(field, f"{os!r} is not a valid os; expected one of: {_listing(allowed)}")
    return found


# ---------------------------------------------------------------- datapoints and filters

_APP_EVENT_TYPES = frozenset({DataPointType.EVENT, DataPointType.EVENT_ATTRIBUTE})
_COMMERCE_TYPES = frozenset({DataPointType.COMMERCE, DataPointType.COMMERCE_ATTRIBUTE})
_ATTRIBUTE_TYPES = frozenset(
    {
        DataPointType.EVENT_ATTRIBUTE,
        DataPointType.SCREEN_VIEW_ATTRIBUTE,
        DataPointType.COMMERCE_ATTRIBUTE,
    }
)


def _check_point(point: P, allowed_types: frozenset[str], where: str, *, is_filter: bool) -> P:
    """Rules shared by DataPoints and DataPoint filters; returns `point` with its type,
    event_type and enumerated names in their documented spelling."""
    name = _require(point.name, f"{where}.name", "is required and must not be empty")
    # The API owns these vocabularies and extends them: values mpasync does not know are
    # sent with a warning (`_open_enum`), and rules tied to a type apply to known types.
    other_types = (DataPointType.ALL | FilterType.ALL) - allowed_types
    kind = _open_enum(point.type, allowed_types, f"{where}.type", "type", wrong=other_types)
    event_type = point.event_type
    et_field = f"{where}.event_type"
    if kind in _APP_EVENT_TYPES:
        what = f"event type for {kind}"
        wrong = CommerceEventType.ALL
        event_type = _open_enum(event_type, EventType.ALL, et_field, what, wrong=wrong)
    elif kind in _COMMERCE_TYPES:
        # Only Event/EventAttribute require it, for filters and DataPoints alike
        # (platform-api.md line 1990); when given it must be a commerce event type (line 1971).
        if event_type is not None:
            what = f"commerce event type for {kind}"
            wrong = EventType.ALL
            event_type = _open_enum(event_type, CommerceEventType.ALL, et_field, what, wrong=wrong)
    elif kind in allowed_types:
        # "ignored for other types" (platform-api.md line 1990): dropped rather than refused,
        # so what is sent is what the server keeps.
        event_type = None
    if kind in _ATTRIBUTE_TYPES:
        _require(point.attribute_name, f"{where}.attribute_name", f"is required for type {kind}")
    if is_filter and kind == FilterType.USER_IDENTITY:
        name = _open_enum(name, UserIdentityType.ALL, f"{where}.name", "user identity type")
    elif is_filter and kind == FilterType.EVENT_TYPE:
        what = "event type for an EventType filter"
        name = _open_enum(name, EventType.ALL, f"{where}.name", what, wrong=CommerceEventType.ALL)
    return msgspec.structs.replace(point, name=name, type=kind, event_type=event_type)


def coerce_filter(
    f: DataPointFilter | Mapping[str, Any], *, field: str = "filter"
) -> DataPointFilter:
    """A checked `DataPointFilter` from a model or dict, in documented spelling.

    >>> coerce_filter({"name": "my event", "type": "event", "event_type": "navigation"})
    ... # doctest: +NORMALIZE_WHITESPACE
    DataPointFilter(name='my event', type='Event', event_type='navigation',
                    attribute_name=None, enabled=True, created_on=None, data_type=None)
    """
    flt = _convert(f, DataPointFilter, field)
    return _check_point(flt, FilterType.ALL, field, is_filter=True)


def validate_filters(
    filters: Iterable[DataPointFilter | Mapping[str, Any]], *, field: str = "filters"
) -> list[DataPointFilter]:
    """Every filter checked with `coerce_filter`; two filters for one DataPoint are an error."""
    checked: list[DataPointFilter] = []
    seen: dict[tuple[str, str, str | None, str | None], int] = {}
    for i, item in enumerate(_sequence(filters, field, "filters")):
        flt = coerce_filter(item, field=f"{field}[{i}]")
        first = seen.setdefault(flt.key(), i)
        if first != i:
            _fail(f"{field}[{i}]", f"targets the same DataPoint as {field}[{first}]")
        checked.append(flt)
    return checked


def coerce_datapoint(p: DataPoint | Mapping[str, Any], *, field: str = "datapoint") -> DataPoint:
    """A checked `DataPoint` from a model or dict, in documented spelling."""
    point = _convert(p, DataPoint, field)
    return _check_point(point, DataPointType.ALL, field, is_filter=False)


def validate_datapoints(
    datapoints: Iterable[DataPoint | Mapping[str, Any]], *, field: str = "datapoints"
) -> list[DataPoint]:
    """Every DataPoint checked with `coerce_datapoint`."""
    items = _sequence(datapoints, field, "datapoints")
    return [coerce_datapoint(p, field=f"{field}[{i}]") for i, p in enumerate(items)]


# ---------------------------------------------------------------- calculated attributes

_CUSTOM_EVENT_TYPE_HOSTS = frozenset({"custom_event", "commerce_event"})
_EVENT_POINTS = frozenset({DefinitionDataPointType.EVENT, DefinitionDataPointType.EVENT_ATTRIBUTE})
_ATTRIBUTE_POINTS = frozenset(
    {DefinitionDataPointType.EVENT_ATTRIBUTE, DefinitionDataPointType.USER_ATTRIBUTE}
)


def _check_datapoint(point: DefinitionDataPoint, where: str) -> None:
    kind = _exact(point.type, DefinitionDataPointType.ALL, f"{where}.type", "datapoint type")
    if kind in _ATTRIBUTE_POINTS:
        _require(point.attribute_name, f"{where}.attribute_name", f"is required for type {kind}")
    if point.custom_event_type is not None and point.event_type not in _CUSTOM_EVENT_TYPE_HOSTS:
        _fail(
            f"{where}.custom_event_type",
            "is only allowed when event_type is custom_event or commerce_event",
        )
    if point.event_type == "custom_event":
        _require(point.event_name, f"{where}.event_name", "is required for custom_event")
    if kind in _EVENT_POINTS:
        # Both marked Required in "Data Point Object Properties" (platform-api.md line 1217).
        _require(point.event_name, f"{where}.event_name", f"is required for type {kind}")
        _require(point.event_type, f"{where}.event_type", f"is required for type {kind}")
    if point.attribute_category is not None:
        _exact(
            point.attribute_category,
            AttributeCategory.ALL,
            f"{where}.attribute_category",
            "attribute category",
        )


def _check_time_period(period: TimePeriod | None, where: str) -> None:
    if period is None:
        _fail(where, "is required")
    kind = _exact(period.type, TimePeriodType.ALL, f"{where}.type", "time period type")
    if kind == TimePeriodType.WITHIN:
        if period.within is None or period.within <= 0:
            _fail(f"{where}.within", "is required for type within and must be a positive integer")
        _exact(period.within_unit, WithinUnit.ALL, f"{where}.within_unit", "within unit")
    elif kind == TimePeriodType.SINCE:
        _require(period.date, f"{where}.date", "is required for type since (an ISO 8601 date)")


def _check_condition(cond: Condition, where: str) -> Condition:
    """`cond` checked against the operator table; returns it as it should be sent."""
    kind = _exact(cond.type, ConditionType.ALL, f"{where}.type", "condition type")
    op = _exact(cond.operator, ConditionOperator.ALL, f"{where}.operator", "condition operator")
    if kind not in OPERATOR_SUPPORT[op]:
        supported = [o for o, types in OPERATOR_SUPPORT.items() if kind in types]
        _fail(
            f"{where}.operator",
            f"{op!r} is not supported for {kind} conditions; use one of: {_listing(supported)}",
        )
    _require(cond.attribute_name, f"{where}.attribute_name")

    present = {
        "value": cond.value is not None,
        "values": bool(cond.values),
        "min_value": cond.min_value is not None,
        "max_value": cond.max_value is not None,
    }
    if op in ConditionOperator.NO_VALUE:
        # No documented error for a `value` here (platform-api.md lines 1282-1316 list only
        # values/min/max as "must be empty" for non-list, non-range conditions): it is
        # dropped, not refused.
        needed: tuple[str, ...] = ()
        forbidden: tuple[str, ...] = ("values", "min_value", "max_value")
    elif op in ConditionOperator.LIST:
        # The reference: "Field `value` is ignored when using the `in_list` operator."
        needed, forbidden = ("values",), ("min_value", "max_value")
    elif op in ConditionOperator.RANGE:
        needed, forbidden = ("min_value", "max_value"), ("value", "values")
    else:
        needed, forbidden = ("value",), ("values", "min_value", "max_value")
    for name in needed:
        if not present[name]:
            rule = "a non-empty list " if name == "values" else ""
            _fail(f"{where}.{name}", f"{rule}is required for operator {op}")
    for name in forbidden:
        if present[name]:
            _fail(f"{where}.{name}", f"must be empty for operator {op}")
    if op in ConditionOperator.NO_VALUE and cond.value is not None:
        return msgspec.structs.replace(cond, value=None)
    return cond


def validate_definition(
    defn: Definition | Mapping[str, Any], *, field: str = "draft_definition"
) -> dict[str, Any]:
    """Check a calculated attribute draft definition; returns it as a JSON-ready dict.

    Checks the canonical shape (``datapoint`` with conditions, calculation_type,
    time_period and seeding beside it) and also accepts the ``data_point`` spelling of the
    reference's Get example, reading conditions/"operator"/time_period from inside it.
    """
    d = _convert(defn, Definition, field)
    _exact(d.recipe_type, RecipeType.ALL, f"{field}.recipe_type", "recipe type")

    if d.datapoint is not None and d.data_point is not None:
        _fail(f"{field}.data_point", "set either datapoint or data_point, not both")
    point, point_field = d.datapoint, f"{field}.datapoint"
    if point is None and d.data_point is not None:
        point, point_field = d.data_point, f"{field}.data_point"
    if point is None:
        _fail(f"{field}.datapoint", "is required")
    _check_datapoint(point, point_field)

    # Values read from inside the older `data_point` shape are reported where they were.
    calc_field = f"{field}.calculation_type"
    if d.calculation_type is None and point.operator is not None:
        calc_field = f"{point_field}.operator"
    _exact(d.effective_calculation_type, CalculationType.ALL, calc_field, "calculation type")

    period_field = f"{field}.time_period"
    if d.time_period is None and point.time_period is not None:
        period_field = f"{point_field}.time_period"
    _check_time_period(d.effective_time_period, period_field)

    conditions_field = f"{field}.conditions"
    if d.conditions is None and point.conditions is not None:
        conditions_field = f"{point_field}.conditions"
    checked = [
        _check_condition(cond, f"{conditions_field}[{i}]")
        for i, cond in enumerate(d.effective_conditions or ())
    ]
    if d.conditions is not None:
        d = msgspec.structs.replace(d, conditions=checked)
    elif point.conditions is not None:
        point = msgspec.structs.replace(point, conditions=checked)
        if d.datapoint is not None:
            d = msgspec.structs.replace(d, datapoint=point)
        else:
            d = msgspec.structs.replace(d, data_point=point)

    if d.seeding is not None:
        _require(d.seeding.cutoff_date, f"{field}.seeding.cutoff_date")
    result: dict[str, Any] = msgspec.to_builtins(d)
    return result


# ---------------------------------------------------------------- field transformations

_TRANSFORMATION_ID = re.compile(r"[A-Za-z0-9_-]+")


def validate_transformation_id(id: str, *, field: str = "transformation_id") -> str:
    """A field transformation id: non-empty, only ASCII letters, digits, ``-`` and ``_``."""
    if not isinstance(id, str):
        _fail(field, f"must be a string, not {type(id).__name__}")
    if not _TRANSFORMATION_ID.fullmatch(id):
        _fail(field, f"{id!r} is not a valid id; use only letters, digits, '-' and '_'")
    return id


def _check_mapping(m: FieldMapping, where: str) -> None:
    kind = _exact(m.mapping_type, MappingType.ALL, f"{where}.mapping_type", "mapping type")
    if kind == MappingType.COLUMN:
        _require(m.source, f"{where}.source", "is required for a column mapping")
        _require(m.destination, f"{where}.destination", "is required for a column mapping")
    elif kind == MappingType.STATIC:
        _require(m.destination, f"{where}.destination", "is required for a static mapping")
        if m.value is None:
            _fail(f"{where}.value", "is required for a static mapping")
        if m.source is not None:
            _fail(f"{where}.source", "must be absent or null for a static mapping")
    else:
        _require(m.source, f"{where}.source", "is required for an ignore mapping")
    if m.ignore_when is not None and kind != MappingType.COLUMN:
        _fail(f"{where}.ignore_when", "is only allowed on a column mapping")


def validate_transformation(
    t: FieldTransformation | Mapping[str, Any], *, field: str = "transformation"
) -> FieldTransformation:
    """A checked `FieldTransformation` from a model or dict.

    ``destination_type`` may be any non-empty string: ``event_batch`` is the only
    documented value, but the server may add others.
    """
    ft = _convert(t, FieldTransformation, field)
    validate_transformation_id(ft.id, field=f"{field}.id")
    _require(ft.name, f"{field}.name", "is required and must not be empty")
    _require(ft.destination_type, f"{field}.destination_type", "is required (e.g. event_batch)")
    for i, mapping in enumerate(ft.mappings):
        _check_mapping(mapping, f"{field}.mappings[{i}]")
    return ft


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
