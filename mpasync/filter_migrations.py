"""Datapoint-filter migrations: the diff, one app's sync, and reverting a journaled run.

The logic behind ``mp.bulk``'s filter helpers (`mpasync.migrations`), one app at a time:
`diff_filters` compares an app's filters with a policy under the API's filter hierarchy;
`sync_one` writes only what differs, and its result (an `mpasync.outcome.Outcome`) carries
to the journal what the app held before and after; `revert_plan` reads those records
back and `revert_one` restores one app's "before" unless it changed since (a
`RevertConflict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import msgspec.structs

from mpasync._checks import digits
from mpasync.errors import JournalError, MParticleError, RequestValidationError
from mpasync.journal import read_journal, service_key
from mpasync.models import DataPointFilter
from mpasync.models.datapoints import DataPointKey
from mpasync.outcome import Outcome
from mpasync.resources.datapoints_checks import validate_filters

if TYPE_CHECKING:
    from mpasync.resources.datapoints import DataPointFilters

__all__ = [
    "FilterChange",
    "RevertConflict",
    "RevertPlan",
    "canonical_service",
    "checked_filters",
    "checked_service",
    "checked_snapshot",
    "diff_filters",
    "journal_filters",
    "policy_of",
    "revert_one",
    "revert_paths",
    "revert_plan",
    "sync_one",
    "write_filters",
]

V = TypeVar("V")


@dataclass
class FilterChange:
    """What `Bulk.sync_datapoint_filters` found (and changed) for one app."""

    app_id: int
    added: list[DataPointFilter] = field(default_factory=list)
    enabled: list[DataPointFilter] = field(default_factory=list)
    disabled: list[DataPointFilter] = field(default_factory=list)
    unchanged: int = 0
    #: Filters the policy enables that a disabled parent (EventType, Event, Commerce,
    #: ScreenView) keeps showing as disabled; counted as unchanged.
    masked: list[DataPointFilter] = field(default_factory=list)
    applied: bool = False

    @property
    def changes(self) -> list[DataPointFilter]:
        """Every filter that differs from the app's current state."""
        return [*self.added, *self.enabled, *self.disabled]

    def describe(self) -> str:
        """``"nothing"`` or e.g. ``"2 added, 1 disabled"``."""
        parts = [
            f"{len(group)} {label}"
            for group, label in (
                (self.added, "added"),
                (self.enabled, "enabled"),
                (self.disabled, "disabled"),
            )
            if group
        ]
        return ", ".join(parts) if parts else "nothing"


def _parents(f: DataPointFilter) -> list[tuple[str, str, str | None, str | None]]:
    """The filters whose being disabled disables ``f`` (the reference's hierarchy)."""
    kind, name, event_type = f.type.lower(), f.name, f.event_type
    by_type: list[tuple[str, str, str | None, str | None]] = (
        [("eventtype", event_type, None, None)] if event_type else []
    )
    if kind == "event":
        return by_type
    if kind == "eventattribute":
        return [("event", name, None, event_type), *by_type]
    if kind == "commerceattribute":
        return [("commerce", name, None, event_type)]
    if kind == "screenviewattribute":
        return [("screenview", name, None, None)]
    return []


def diff_filters(
    app_id: int, current: Iterable[DataPointFilter], desired: Iterable[DataPointFilter]
) -> FilterChange:
    """Compare an app's current filters with the desired ones, by filter identity.

    The API lists *effective* values: disabling an EventType disables its Events and
    their attributes, disabling an Event its attributes (likewise Commerce and
    ScreenView). So each desired filter is compared with the value it will show once the
    policy is applied — its own ``enabled`` and every parent's — and a filter the policy
    enables under a parent that stays disabled is reported as ``masked``, not as a change
    to make on every run.
    """
    have = {f.key(): f.enabled for f in current}
    wanted = {f.key(): f for f in desired}
    expected: dict[tuple[str, str, str | None, str | None], bool] = {}

    def shows(key: tuple[str, str, str | None, str | None]) -> bool:
        if key not in expected:
            f = wanted.get(key)
            if f is None:  # outside the policy: stays as it is (absent means enabled)
                expected[key] = have.get(key, True)
            else:
                expected[key] = f.enabled and all(shows(p) for p in _parents(f))
        return expected[key]

    change = FilterChange(app_id)
    for key, want in wanted.items():
        state = have.get(key)
        target = shows(key)
        if state is None:
            change.added.append(want)
        elif state != target:
            (change.enabled if target else change.disabled).append(want)
        else:
            change.unchanged += 1
            if want.enabled and not target:
                change.masked.append(want)
    return change


class RevertConflict(MParticleError):
    """An app changed since the run being reverted: it no longer holds what the run left.

    Conflicts are listed in the revert's ``report.failed`` (the app is left alone);
    ``force=True`` reverts such apps anyway. ``differences`` lists ``(filter key, what the
    run left, what the app holds now)``.
    """

    def __init__(
        self,
        app_id: int,
        differences: Sequence[tuple[DataPointKey, bool | None, bool | None]],
        *,
        unknown: bool = False,
    ) -> None:
        self.app_id = app_id
        self.differences = list(differences)
        (kind, name, attribute, event_type), left, now = differences[0]
        where = f"{kind} {name!r}" + (f".{attribute}" if attribute else "")
        where += f" ({event_type})" if event_type else ""
        if unknown:
            text = (
                f"app {app_id}: the run's write to it failed (outcome unknown) and it now"
                f" differs from before on {len(differences)} filter(s), e.g. {where};"
                " use force to restore it anyway"
            )
        else:
            text = (
                f"app {app_id} changed since the run: {len(differences)} filter(s) differ,"
                f" e.g. {where} is {_state(now)}, the run left it {_state(left)};"
                " use force to revert it anyway"
            )
        super().__init__(text)


def _state(enabled: bool | None) -> str:
    return "absent" if enabled is None else "enabled" if enabled else "disabled"


def journal_filters(filters: Iterable[DataPointFilter]) -> list[dict[str, Any]]:
    """Filters as compact journal data: identity and ``enabled``, no server metadata."""
    out: list[dict[str, Any]] = []
    for f in filters:
        entry: dict[str, Any] = {"name": f.name, "type": f.type, "enabled": f.enabled}
        if f.event_type is not None:
            entry["event_type"] = f.event_type
        if f.attribute_name is not None:
            entry["attribute_name"] = f.attribute_name
        out.append(entry)
    return out


def policy_of(filters: Iterable[DataPointFilter]) -> list[dict[str, Any]]:
    """The policy as the journal hashes it (identity and ``enabled`` of each filter)."""
    return journal_filters(filters)


@dataclass
class RevertPlan:
    """One app to revert: what it held before the run, and after (None: outcome unknown)."""

    before: dict[DataPointKey, DataPointFilter]
    after: dict[DataPointKey, DataPointFilter] | None


class _JournalFilter(msgspec.Struct, forbid_unknown_fields=True):
    """A filter as `journal_filters` writes it; read back strictly."""

    name: str
    type: str
    enabled: bool
    event_type: str | None = None
    attribute_name: str | None = None


_JOURNAL_FILTERS = list[_JournalFilter]


def _filters_from(data: Any, where: str, path: Path) -> list[DataPointFilter]:
    try:
        filters = msgspec.convert(data, _JOURNAL_FILTERS, strict=True)
    except msgspec.ValidationError as exc:
        raise JournalError(
            f"{where}: not a valid list of filters ({exc}); was the journal edited by hand?",
            path=str(path),
        ) from None
    return [
        DataPointFilter(
            name=f.name,
            type=f.type,
            event_type=f.event_type,
            attribute_name=f.attribute_name,
            enabled=f.enabled,
        )
        for f in filters
    ]


def revert_plan(path: Path) -> tuple[str, dict[str, Any], dict[int, RevertPlan]]:
    """The service, header and per-app plan that reverting the journal at ``path`` needs.

    Every record's ``before`` and ``after`` are read strictly: a malformed one (a filter
    ``type`` of 5, ``"enabled": "false"``) is a `JournalError` naming its line.
    """
    contents = read_journal(path)
    header = contents.header or {}
    service = header.get("service")
    if not isinstance(service, str) or not service:
        raise JournalError(
            f"journal {path} records no datapoint filter changes (operation"
            f" {header.get('operation')!r}); nothing to revert",
            path=str(path),
        )
    plans: dict[int, RevertPlan] = {}
    uncertain: dict[int, RevertPlan] = {}
    for entry, line in zip(contents.records, contents.lines, strict=True):
        if "before" not in entry:
            continue
        app_id = entry["item"]
        where = f"journal {path}, line {line}"
        if not isinstance(app_id, int) or isinstance(app_id, bool):
            raise JournalError(f"{where}: item {app_id!r} is not an app id", path=str(path))
        before = {f.key(): f for f in _filters_from(entry["before"], f"{where}, before", path)}
        if entry["ok"] and "after" in entry:
            after = {f.key(): f for f in _filters_from(entry["after"], f"{where}, after", path)}
            plan = plans.get(app_id)
            if plan is None:  # the first "before" is the app's state before the job
                plans[app_id] = RevertPlan(before, after)
            else:
                plan.after = after
        elif not entry["ok"]:
            uncertain.setdefault(app_id, RevertPlan(before, None))
    for app_id, plan in uncertain.items():
        plans.setdefault(app_id, plan)
    return service, header, plans


def revert_paths(journal: str | Path, revert_journal: str | Path | None) -> tuple[Path, Path]:
    """The journal to revert, and the revert's own (default: ``<name>.revert<ext>``)."""
    source = Path(journal)
    if revert_journal is None:
        target = source.with_name(f"{source.stem}.revert{source.suffix}")
    elif isinstance(revert_journal, (str, Path)):
        target = Path(revert_journal)
    else:
        raise RequestValidationError(
            f"revert_journal must be a path, got {type(revert_journal).__name__}",
            field="revert_journal",
        )
    if target.resolve() == source.resolve():
        raise RequestValidationError(
            "revert_journal must differ from the journal being reverted", field="revert_journal"
        )
    return source, target


async def write_filters(
    resource: DataPointFilters,
    app_id: int,
    service: str,
    filters: list[DataPointFilter],
    value: V,
    *,
    before: Iterable[DataPointFilter] | None,
) -> Outcome[V]:
    """PUT ``filters`` to one app; the outcome's value is ``value``.

    With ``before`` (what the app held, given by a journaled run), the outcome's record
    holds it and what the app holds after the write (read once more), for a revert. A
    write that fails is the outcome's error, its record holding "before" alone: the
    app's state is then unknown, and a revert compares it with "before".
    """
    if before is None:
        await resource.update(app_id, service, filters)
        return Outcome(value)
    record: dict[str, Any] = {"before": journal_filters(before)}
    try:
        await resource.update(app_id, service, filters)
        record["after"] = journal_filters(await resource.list(app_id, service))
    except BaseException as exc:  # the run treats it as raised (a cancel stays a cancel)
        return Outcome(error=exc, record=record)
    return Outcome(value, record=record)


async def sync_one(
    resource: DataPointFilters,
    app_id: int,
    service: str,
    desired: list[DataPointFilter],
    dry_run: bool,
    journaled: bool,
    complete: bool = False,
) -> Outcome[FilterChange]:
    """Sync one app; with a journal, the outcome records what it held before and after
    the write (see `write_filters`).

    ``complete``: ``desired`` is everything the app should show (a snapshot), so a
    datapoint it shows now but the list leaves out goes back to forwarded (enabled), as
    an absent filter means; a policy, by contrast, leaves datapoints it omits alone.
    """
    current = await resource.list(app_id, service)
    if complete:
        named = {f.key() for f in desired}
        desired = [
            *desired,
            *(
                msgspec.structs.replace(f, enabled=True)
                for f in current
                if not f.enabled and f.key() not in named
            ),
        ]
    change = diff_filters(app_id, current, desired)
    if not change.changes or dry_run:
        return Outcome(change)
    before = current if journaled else None
    written = await write_filters(resource, app_id, service, change.changes, change, before=before)
    change.applied = written.error is None
    return written


async def revert_one(
    resource: DataPointFilters, app_id: int, service: str, plan: RevertPlan, force: bool
) -> Outcome[FilterChange]:
    """Revert one app: restore "before" on the filters the run changed, unless it drifted."""
    current = await resource.list(app_id, service)
    now = {f.key(): f.enabled for f in current}

    # Absent means enabled, as in diff_filters (a datapoint can be added, never removed).
    def before(key: DataPointKey) -> bool:
        f = plan.before.get(key)
        return True if f is None else f.enabled

    def left(key: DataPointKey) -> bool:
        f = plan.after.get(key) if plan.after is not None else None
        return True if f is None else f.enabled

    if plan.after is None:  # the run's write failed: compare with "before" everywhere
        touched = list(plan.before)
    else:
        keys = dict.fromkeys([*plan.before, *plan.after])
        touched = [k for k in keys if before(k) != left(k)]
    if all(now.get(k, True) == before(k) for k in touched):
        return Outcome(FilterChange(app_id, unchanged=len(touched)))  # it holds "before"
    if not force:
        if plan.after is None:
            drift = [(k, before(k), now.get(k)) for k in touched if now.get(k, True) != before(k)]
            raise RevertConflict(app_id, drift, unknown=True)
        drift = [(k, left(k), now.get(k)) for k in touched if now.get(k, True) != left(k)]
        if drift:
            raise RevertConflict(app_id, drift)
    desired: list[DataPointFilter] = []
    for k in touched:
        f = plan.before.get(k)
        if f is None:  # added by the run: it cannot be removed, so it goes back to enabled
            assert plan.after is not None
            f = msgspec.structs.replace(plan.after[k], enabled=True)
        desired.append(f)
    change = diff_filters(app_id, current, desired)
    if not change.changes:
        return Outcome(change)
    written = await write_filters(resource, app_id, service, change.changes, change, before=current)
    change.applied = written.error is None
    return written


def canonical_service(service: str, names: Iterable[str]) -> str | None:
    """``service`` as the catalogue ``names`` (``mp.services.list()``) spells it: the name
    itself, else the one name equal to it ignoring case, else ignoring case and
    separators (``google-analytics-event-forwarder``); None when none or several match.

    >>> canonical_service("googleanalyticseventforwarder", ["GoogleAnalyticsEventForwarder"])
    'GoogleAnalyticsEventForwarder'
    """
    known = list(names)
    if service in known:
        return service
    for key in (str.casefold, service_key):
        hits = {n for n in known if key(n) == key(service)}
        if len(hits) == 1:
            return hits.pop()
        if hits:
            return None  # ambiguous: the caller says which names are close
    return None


def checked_service(service: str) -> None:
    """A service name is a non-empty string (`RequestValidationError` otherwise)."""
    if not isinstance(service, str) or not service.strip():
        raise RequestValidationError("service must be a non-empty string", field="service")


def checked_filters(
    filters: Iterable[DataPointFilter | dict[str, Any]], service: str
) -> list[DataPointFilter]:
    """The service checked, and every filter checked (`validate_filters`)."""
    checked_service(service)
    return validate_filters(filters)


def checked_snapshot(
    snapshot: Mapping[int, Iterable[DataPointFilter | dict[str, Any]]],
) -> dict[int, list[DataPointFilter]]:
    """A snapshot checked: app ids (ints or digit strings) → their checked filter lists."""
    if not isinstance(snapshot, Mapping):
        raise RequestValidationError(
            f"snapshot must map app ids to filter lists, got {type(snapshot).__name__}",
            field="snapshot",
        )
    checked: dict[int, list[DataPointFilter]] = {}
    for raw, filters in snapshot.items():
        app_id: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            app_id = raw
        elif isinstance(raw, str):
            app_id = digits(raw)
        if app_id is None or app_id <= 0:
            raise RequestValidationError(f"{raw!r} is not an app id", field="snapshot")
        if app_id in checked:
            raise RequestValidationError(f"app {app_id} appears twice", field="snapshot")
        checked[app_id] = validate_filters(filters, field=f"snapshot[{app_id}]")
    if not checked:
        raise RequestValidationError("snapshot holds no apps", field="snapshot")
    return checked
