"""The emulator's in-memory account state: plain dataclasses that handlers mutate and tests read.

Everything the HTTP handlers know lives in one `EmulatorState`; tests reach it as
`emu.state` to check what really happened, e.g. `emu.state.filters(app_id, service)`.
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "AccessKey",
    "Account",
    "App",
    "Audience",
    "CalculatedAttribute",
    "DataPoint",
    "DataPointFilter",
    "EmulatorState",
    "Feed",
    "FeedSubscription",
    "FieldTransformation",
    "FilterKey",
    "Platform",
    "PlatformService",
    "ServiceConfiguration",
    "ServiceFilters",
    "ServiceSpec",
    "SettingSpec",
    "User",
    "Workspace",
    "encode_email",
    "format_time",
    "format_time_z",
    "seed_time",
    "utcnow",
]

#: Identity of a datapoint or filter: (canonical type, name, attribute_name, event_type).
FilterKey = tuple[str, str, "str | None", "str | None"]


def utcnow() -> datetime:
    """The current UTC time as a naive datetime (the API prints times without a zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def format_time(moment: datetime) -> str:
    """Format like the v1 examples: `2014-11-14T22:46:38.673` (UTC, milliseconds, no zone)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_time_z(moment: datetime) -> str:
    """Format like the v2 examples: `2020-02-18T19:24:50.426Z`."""
    return format_time(moment) + "Z"


def encode_email(email: str) -> str:
    """Encode an address for `/v1/users/{encoded}`: `test@mparticle.com` -> `test40mparticle2Ecom`.

    Every character that is not an ASCII letter or digit becomes its 2-digit uppercase hex code.
    """
    keep = string.ascii_letters + string.digits
    return "".join(ch if ch in keep else f"{ord(ch):02X}" for ch in email)


@dataclass
class Account:
    """An mParticle account (the `accountId` scope of every v1 call)."""

    id: int
    name: str
    created_on: str
    last_modified_on: str


@dataclass
class AccessKey:
    """A platform's access key; `secret` is kept here but only sent in create responses."""

    key: str
    secret: str


@dataclass
class PlatformService:
    """A service configured on one app platform (keyed by service name and `account`)."""

    name: str
    account: str
    is_active: bool
    is_visible: bool
    settings: dict[str, Any]


@dataclass
class Platform:
    """One platform (os) of an app, with its access keys and configured services."""

    app_id: int
    os: str
    access_keys: list[AccessKey]
    crash_handling: str | None
    network_performance: str | None
    social_mode: str | None
    profile_merging: bool
    push_attribution_timer: int
    created_on: str
    last_modified_on: str
    #: (service name, account name) -> configuration.
    services: dict[tuple[str, str], PlatformService] = field(default_factory=dict)


@dataclass
class DataPoint:
    """A datapoint of an app; `type` is canonical (`Event`, `EventAttribute`, ...)."""

    type: str
    name: str
    attribute_name: str | None
    event_type: str | None
    created_on: str

    @property
    def key(self) -> FilterKey:
        """The datapoint's identity."""
        return (self.type, self.name, self.attribute_name, self.event_type)


@dataclass
class DataPointFilter:
    """A filter of one (app, service): whether a datapoint is forwarded to the service.

    In `ServiceFilters.filters` `enabled` is the value that was set; the list returned by
    `EmulatorState.filters()` (and the API) reports the effective value after the hierarchy.
    """

    type: str
    name: str
    attribute_name: str | None
    event_type: str | None
    enabled: bool
    created_on: str

    @property
    def key(self) -> FilterKey:
        """The filter's identity."""
        return (self.type, self.name, self.attribute_name, self.event_type)


@dataclass
class ServiceFilters:
    """The filtering configuration of one (app, service) pair."""

    service: str
    send_new_datapoints_by_default: bool = True
    #: Explicitly set filters, by identity, in the order they were first set.
    filters: dict[FilterKey, DataPointFilter] = field(default_factory=dict)


@dataclass
class App:
    """An app (the API's "application family") of one account."""

    id: int
    account_id: int
    name: str
    created_on: str
    last_modified_on: str
    #: lower-case os -> platform.
    platforms: dict[str, Platform] = field(default_factory=dict)
    datapoints: dict[FilterKey, DataPoint] = field(default_factory=dict)
    #: canonical service name -> filtering for that service.
    service_filters: dict[str, ServiceFilters] = field(default_factory=dict)


@dataclass
class SettingSpec:
    """One setting a service accepts (as listed by `GET /v1/services`)."""

    name: str
    type: str
    description: str
    is_required: bool = False
    is_confidential: bool = False


@dataclass
class ServiceSpec:
    """A service (integration) available to the account, with its settings."""

    name: str
    settings: list[SettingSpec]


@dataclass
class Workspace:
    """A workspace of an account (the scope of audiences, feeds and all v2 calls)."""

    id: int
    account_id: int
    name: str
    created_on: str


@dataclass
class Audience:
    """An audience; single-workspace when `workspace_ids` has one element."""

    id: int
    account_id: int
    name: str
    external_name: str
    size: int
    created_by: str
    last_modified_by: str
    last_modified_on: str
    is_calculated: bool
    added_last_24_hours: int
    dropped_last_24_hours: int
    status: str
    workspace_ids: list[int]
    #: provider name -> configuration names.
    connected_outputs: dict[str, list[str]]


@dataclass
class Feed:
    """A partner feed (input) of a workspace."""

    id: int
    workspace_id: int
    module_name: str
    name: str
    os: str
    is_debug: bool
    settings: list[dict[str, Any]]
    created_on: str


@dataclass
class ServiceConfiguration:
    """An output configuration of a module (e.g. "Amplitude Main Project") in a workspace."""

    id: int
    workspace_id: int
    module_name: str
    name: str
    created_on: str


@dataclass
class FeedSubscription:
    """A connection from a feed to an output configuration."""

    id: int
    feed_id: int
    workspace_id: int
    service_configuration_id: int
    config_name: str
    is_active: bool
    settings: list[dict[str, Any]]
    created_on: str


@dataclass
class User:
    """A dashboard user with access to some accounts."""

    email: str
    first_name: str
    last_name: str
    account_ids: set[int]


@dataclass
class CalculatedAttribute:
    """A v2 calculated attribute with its draft and active definitions."""

    id: int
    workspace_id: int
    name: str
    description: str | None
    draft_definition: dict[str, Any] | None
    active_definition: dict[str, Any] | None
    created_by: str
    created_on: str
    last_modified_by: str
    last_modified_on: str
    activated_on: str | None = None
    activated_by: str | None = None
    audience_count: int = 0
    revision_id: int = 0
    #: monotonic-free wall time of the last activation, drives the calculation progress.
    activated_at: datetime | None = None


@dataclass
class FieldTransformation:
    """A v2 field transformation; `document` is the object as the caller sent it."""

    workspace_id: int
    id: str
    document: dict[str, Any]


@dataclass
class EmulatorState:
    """All accounts and their entities, plus id counters and the seeded random source.

    Read it in tests, e.g.::

        app = emu.state.apps[3]
        emu.state.filters(3, "GoogleAnalyticsEventForwarder")   # effective, as GET shows
        emu.state.service_filters(3, "GoogleAnalyticsEventForwarder").filters  # as set
    """

    primary_account_id: int
    user_email: str = "api-user@example.com"
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    #: Seconds a calculation takes after activation (drives `calculation_percent_complete`).
    calculation_seconds: float = 2.0
    #: Cap on active calculated attributes per workspace; None = unlimited.
    max_active_calculated_attributes: int | None = None
    accounts: dict[int, Account] = field(default_factory=dict)
    apps: dict[int, App] = field(default_factory=dict)
    services: dict[str, ServiceSpec] = field(default_factory=dict)
    workspaces: dict[int, Workspace] = field(default_factory=dict)
    audiences: dict[int, Audience] = field(default_factory=dict)
    feeds: dict[int, Feed] = field(default_factory=dict)
    service_configurations: dict[int, ServiceConfiguration] = field(default_factory=dict)
    subscriptions: dict[int, FeedSubscription] = field(default_factory=dict)
    users: list[User] = field(default_factory=list)
    calculated_attributes: dict[int, CalculatedAttribute] = field(default_factory=dict)
    #: (workspace id, transformation id) -> transformation.
    field_transformations: dict[tuple[int, str], FieldTransformation] = field(default_factory=dict)
    _counters: dict[str, Iterator[int]] = field(default_factory=dict, repr=False)

    # ---- ids and lookups -------------------------------------------------------------

    def start_ids(self, kind: str, first: int) -> None:
        """Make `next_id(kind)` continue from `first` (used by the seeder)."""
        self._counters[kind] = itertools.count(first)

    def next_id(self, kind: str) -> int:
        """A fresh id for an entity kind ("app", "account", "feed", ...)."""
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = itertools.count(1)
        return next(counter)

    def random_token(self, length: int) -> str:
        """A random lower-case hex string from the state's (seeded) random source."""
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    def apps_of(self, account_id: int) -> list[App]:
        """The apps of an account, by id."""
        return [app for app in self.apps.values() if app.account_id == account_id]

    def app_of(self, account_id: int, app_id: int) -> App | None:
        """The app, or None if it does not exist in that account."""
        app = self.apps.get(app_id)
        return app if app is not None and app.account_id == account_id else None

    def workspaces_of(self, account_id: int) -> list[Workspace]:
        """The workspaces of an account, by id."""
        return [ws for ws in self.workspaces.values() if ws.account_id == account_id]

    def workspace_of(self, account_id: int, workspace_id: int) -> Workspace | None:
        """The workspace, or None if it does not exist in that account."""
        ws = self.workspaces.get(workspace_id)
        return ws if ws is not None and ws.account_id == account_id else None

    def service(self, name: str) -> ServiceSpec | None:
        """A service of the catalogue by name (case-insensitive)."""
        return self.services.get(name.lower())

    # ---- filters ----------------------------------------------------------------------

    def service_filters(self, app_id: int, service: str) -> ServiceFilters:
        """The filtering configuration of (app, service), created on first use."""
        return service_filters_for(self.apps[app_id], self._canonical_service(service))

    def filters(self, app_id: int, service: str) -> list[DataPointFilter]:
        """The effective filters of (app, service), exactly as `GET .../datapoints` lists them."""
        return effective_filters(self.apps[app_id], self._canonical_service(service))

    def _canonical_service(self, service: str) -> str:
        spec = self.service(service)
        return spec.name if spec is not None else service


# ---- the filter hierarchy (what GET .../datapoints shows; `filtering` parses and stores) --

FILTER_PARENT = {
    "EventAttribute": "Event",
    "CommerceAttribute": "Commerce",
    "ScreenViewAttribute": "ScreenView",
}
CUSTOM_TYPED = frozenset({"Event", "EventAttribute"})
FILTER_OF_DATAPOINT = {"Identity": "UserIdentity"}


def service_filters_for(app: App, service: str) -> ServiceFilters:
    """The (app, service) filtering configuration, created with defaults on first use."""
    sf = app.service_filters.get(service)
    if sf is None:
        sf = app.service_filters[service] = ServiceFilters(service=service)
    return sf


def filter_key_of(dp: DataPoint) -> FilterKey:
    return (FILTER_OF_DATAPOINT.get(dp.type, dp.type), dp.name, dp.attribute_name, dp.event_type)


def stored_filters(app: App, service: str) -> dict[FilterKey, DataPointFilter]:
    sf = app.service_filters.get(service)
    default = sf.send_new_datapoints_by_default if sf is not None else True
    explicit = sf.filters if sf is not None else {}
    stored: dict[FilterKey, DataPointFilter] = {}
    for dp in app.datapoints.values():
        key = filter_key_of(dp)
        found = explicit.get(key)
        stored[key] = found or DataPointFilter(
            key[0], key[1], key[2], key[3], default, dp.created_on
        )
    for key, found in explicit.items():
        if key not in stored:
            stored[key] = found
    return stored


def effective_map(stored: dict[FilterKey, DataPointFilter]) -> dict[FilterKey, DataPointFilter]:
    disabled_types = {k[1] for k, f in stored.items() if k[0] == "EventType" and not f.enabled}
    out: dict[FilterKey, DataPointFilter] = {}
    for key, f in stored.items():
        enabled = f.enabled
        if enabled and key[0] in CUSTOM_TYPED and key[3] in disabled_types:
            enabled = False
        parent_type = FILTER_PARENT.get(key[0])
        if enabled and parent_type is not None:
            parent = stored.get((parent_type, key[1], None, key[3]))
            if parent is not None and not parent.enabled:
                enabled = False
        out[key] = f if enabled == f.enabled else replace(f, enabled=enabled)
    return out


def effective_filters(app: App, service: str) -> list[DataPointFilter]:
    """The filters of (app, service) with the hierarchy applied (see the module docstring)."""
    return list(effective_map(stored_filters(app, service)).values())


def seed_time(base: datetime, rng: random.Random, max_days: int = 900) -> str:
    """A reproducible past timestamp, at most `max_days` after `base`."""
    return format_time(
        base + timedelta(seconds=rng.randrange(max_days * 86400), milliseconds=rng.randrange(1000))
    )
