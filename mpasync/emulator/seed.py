"""Realistic, reproducible seed data for the emulator: accounts, apps, datapoints, services,
workspaces, audiences, feeds, users, calculated attributes and a field transformation.

The same `seed` always produces the same state. App ids of the primary account are
1..N, the other account's apps are 9001 and 9002, its workspace is 5101 (the primary's are
4302-4304), so cross-account tests can name them and expect a 404.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

from mpasync.emulator.seed_catalog import (
    APP_BRANDS,
    APP_DATAPOINTS,
    MOBILE_OSES,
    SERVICE_CATALOGUE,
    TV_OSES,
)
from mpasync.emulator.state import (
    AccessKey,
    Account,
    App,
    Audience,
    CalculatedAttribute,
    DataPoint,
    EmulatorState,
    Feed,
    FeedSubscription,
    FieldTransformation,
    Platform,
    PlatformService,
    ServiceConfiguration,
    User,
    Workspace,
    format_time,
    format_time_z,
    seed_time,
)

__all__ = [
    "SEED_CHUNK",
    "SERVICE_CATALOGUE",
    "make_platform",
    "new_access_key",
    "seed_state",
    "seed_steps",
]

_BASE = datetime(2015, 6, 4, 18, 11, 6)

#: Apps seeded between two looks at the event loop (`Emulator(seed_in_start=True)`):
#: about 50 ms of work on a busy machine, so Ctrl-C is heard at once.
SEED_CHUNK = 256


def new_access_key(state: EmulatorState) -> AccessKey:
    """A fresh access key and secret from the state's random source."""
    return AccessKey(key=state.random_token(32), secret=state.random_token(48))


def make_platform(
    state: EmulatorState,
    app_id: int,
    os: str,
    created_on: str,
    *,
    crash_handling: str | None = "AppDefined",
    network_performance: str | None = "AppDefined",
    social_mode: str | None = "AppDefined",
    profile_merging: bool = False,
    push_attribution_timer: int = 30,
) -> Platform:
    """A platform with one freshly generated access key."""
    return Platform(
        app_id=app_id,
        os=os,
        access_keys=[new_access_key(state)],
        crash_handling=crash_handling,
        network_performance=network_performance,
        social_mode=social_mode,
        profile_merging=profile_merging,
        push_attribution_timer=push_attribution_timer,
        created_on=created_on,
        last_modified_on=created_on,
    )


def _seed_app(state: EmulatorState, rng: random.Random, account_id: int, index: int) -> App:
    app_id = state.next_id("app")
    count = rng.choice((1, 2, 2, 3))
    oses = rng.sample(MOBILE_OSES, count)
    if count == 3 and rng.random() < 0.3:
        oses[2] = rng.choice(TV_OSES)
    brands = APP_BRANDS if account_id == state.primary_account_id else ("Globex Shop", "Globex Go")
    name = f"{brands[(index - 1) % len(brands)]} {oses[0]} {index:03d}"
    created = seed_time(_BASE, rng)
    app = App(
        id=app_id, account_id=account_id, name=name, created_on=created, last_modified_on=created
    )
    for os in oses:
        platform = make_platform(state, app_id, os, created, profile_merging=rng.random() < 0.5)
        app.platforms[os.lower()] = platform
    for dp_type, dp_name, attribute, event_type, always in APP_DATAPOINTS:
        if always or rng.random() < 0.6:
            dp = DataPoint(dp_type, dp_name, attribute, event_type, seed_time(_BASE, rng))
            app.datapoints[dp.key] = dp
    first = app.platforms[oses[0].lower()]
    if index % 2 == 1:
        ga = PlatformService(
            name="GoogleAnalyticsEventForwarder",
            account="Default Account",
            is_active=True,
            is_visible=True,
            settings={"apiKey": f"UA-{rng.randrange(10**7, 10**8)}-1", "useCustomerId": "True"},
        )
        first.services[(ga.name, ga.account)] = ga
    if index % 3 == 0:
        amp = PlatformService(
            name="Amplitude",
            account="Default Account",
            is_active=True,
            is_visible=True,
            settings={"apiKey": state.random_token(32), "userIdentification": "customerId"},
        )
        first.services[(amp.name, amp.account)] = amp
    state.apps[app_id] = app
    return app


def _seed_workspaces(
    state: EmulatorState, rng: random.Random, account_id: int, names: tuple[str, ...], first_id: int
) -> list[Workspace]:
    out = []
    for offset, name in enumerate(names):
        ws = Workspace(first_id + offset, account_id, name, seed_time(_BASE, rng))
        state.workspaces[ws.id] = ws
        out.append(ws)
    return out


def _audience(
    state: EmulatorState, rng: random.Random, account_id: int, name: str, workspaces: list[int]
) -> None:
    audience_id = state.next_id("audience")
    state.audiences[audience_id] = Audience(
        id=audience_id,
        account_id=account_id,
        name=name,
        external_name=name,
        size=rng.randrange(50, 250_000),
        created_by="jsmith",
        last_modified_by="mmann",
        last_modified_on=seed_time(_BASE, rng),
        is_calculated=rng.random() < 0.3,
        added_last_24_hours=rng.randrange(0, 50),
        dropped_last_24_hours=rng.randrange(0, 50),
        status="active",
        workspace_ids=workspaces,
        connected_outputs={"Mixpanel": ["Prod"], "ActionX": ["Dev"]}
        if rng.random() < 0.5
        else {"Amplitude": ["Amplitude Main Project"]},
    )


def _feed(
    state: EmulatorState, rng: random.Random, ws: Workspace, module: str, name: str, os: str
) -> Feed:
    settings: list[dict[str, object]] = []
    if module == "MailChimp":
        settings = [
            {"value": None, "name": "apiKey"},
            {"value": None, "name": "listId"},
            {"value": "html", "name": "emailType"},
            {"value": "True", "name": "doubleOptIn"},
            {"value": "False", "name": "deleteMemberOnUnsubscribe"},
            {"value": "True", "name": "deleteMemberAtSubscriptionEnd"},
        ]
    feed = Feed(
        id=state.next_id("feed"),
        workspace_id=ws.id,
        module_name=module,
        name=name,
        os=os,
        is_debug=False,
        settings=settings,
        created_on=seed_time(_BASE, rng),
    )
    state.feeds[feed.id] = feed
    return feed


def _service_configurations(
    state: EmulatorState, rng: random.Random, ws: Workspace
) -> list[ServiceConfiguration]:
    out = []
    for module, name in (
        ("Amplitude", "Amplitude Main Project"),
        ("Amplitude", "Amplitude Development"),
        ("Mixpanel", "Mixpanel Prod"),
    ):
        config = ServiceConfiguration(
            state.next_id("service_configuration"), ws.id, module, name, seed_time(_BASE, rng)
        )
        state.service_configurations[config.id] = config
        out.append(config)
    return out


def _definition(event_name: str, calculation_type: str) -> dict[str, object]:
    return {
        "recipe_type": "event",
        "datapoint": {
            "type": "event",
            "event_name": event_name,
            "attribute_name": None,
            "event_type": "custom_event",
            "custom_event_type": "transaction",
        },
        "conditions": [],
        "calculation_type": calculation_type,
        "time_period": {"type": "all", "date": None, "within": None, "within_unit": None},
    }


def seed_state(
    state: EmulatorState,
    *,
    apps: int,
    seed: int,
    other_account_id: int | None,
) -> None:
    """Fill `state` with the catalogue, `apps` apps of the primary account and the rest."""
    for _ in seed_steps(state, apps=apps, seed=seed, other_account_id=other_account_id):
        pass


def seed_steps(
    state: EmulatorState,
    *,
    apps: int,
    seed: int,
    other_account_id: int | None,
    chunk: int = SEED_CHUNK,
) -> Iterator[int]:
    """`seed_state` a step at a time: yields the number of primary apps seeded so far: 0
    before the first, then after every `chunk` apps and once they are all seeded; the rest
    of the state is filled when the iterator is exhausted. The same seed gives the same
    state, however it is driven."""
    rng = random.Random(seed)
    state.rng = random.Random(rng.getrandbits(64))
    primary = state.primary_account_id
    for spec in SERVICE_CATALOGUE:
        state.services[spec.name.lower()] = spec

    state.accounts[primary] = Account(primary, "Acme Corp", format_time(_BASE), format_time(_BASE))
    if other_account_id is not None:
        created = seed_time(_BASE, rng)
        state.accounts[other_account_id] = Account(
            other_account_id, "Globex Corp", created, created
        )
    state.start_ids("account", max(state.accounts) + 1)

    if other_account_id is not None:
        # The other account's apps live far from 1..N so new apps of the primary account
        # keep consecutive ids.
        state.start_ids("app", 9001)
        for index in (1, 2):
            _seed_app(state, rng, other_account_id, index)
    state.start_ids("app", 1)
    yield 0
    for index in range(1, apps + 1):
        _seed_app(state, rng, primary, index)
        if index % chunk == 0 and index < apps:
            yield index
    if apps:
        yield apps

    ws_primary = _seed_workspaces(
        state, rng, primary, ("mP Traveller", "Acme Retail", "Acme Media"), 4302
    )
    ws_other = (
        _seed_workspaces(state, rng, other_account_id, ("Globex Main",), 5101)
        if other_account_id is not None
        else []
    )

    state.start_ids("audience", 7622)
    names = ("Abandoned Cart", "High Value Shoppers", "Lapsed Users 30d", "Push Opt-In")
    for n, ws in enumerate(ws_primary):
        _audience(state, rng, primary, names[n % len(names)], [ws.id])
        _audience(state, rng, primary, f"{names[(n + 1) % len(names)]} ({ws.name})", [ws.id])
    _audience(state, rng, primary, "Cross-Workspace Loyalists", [ws.id for ws in ws_primary[:2]])
    for ws in ws_other:
        _audience(state, rng, ws.account_id, "Globex Abandoned Cart", [ws.id])

    state.start_ids("feed", 229)
    state.start_ids("service_configuration", 24020)
    state.start_ids("subscription", 24572)
    for ws in [*ws_primary, *ws_other]:
        configs = _service_configurations(state, rng, ws)
        feed = _feed(state, rng, ws, "MailChimp", f"Mailchimp {ws.name}", "Unknown")
        _feed(state, rng, ws, "radar", f"radar iOS Feed {ws.id}", "iOS")
        subscription = FeedSubscription(
            id=state.next_id("subscription"),
            feed_id=feed.id,
            workspace_id=ws.id,
            service_configuration_id=configs[0].id,
            config_name=configs[0].name,
            is_active=False,
            settings=[{"value": "True", "name": "useCustomerId"}],
            created_on=seed_time(_BASE, rng),
        )
        state.subscriptions[subscription.id] = subscription

    all_accounts = set(state.accounts)
    state.users.extend(
        [
            User("testuser@mparticle.com", "Test", "User", {primary}),
            User("test@mparticle.com", "Test", "User", all_accounts),
            User("jane.doe+ops@acme.example", "Jane", "Doe", {primary}),
            User("j.smith@acme.example", "John", "Smith", {primary}),
        ]
    )
    if other_account_id is not None:
        state.users.append(User("ops@globex.example", "Olga", "Petrova", {other_account_id}))

    state.start_ids("calculated_attribute", 5)
    ws = ws_primary[0]
    active_on = datetime(2020, 2, 18, 19, 24, 50, 426000)
    for name, definition, active in (
        ("Lifetime Purchases", _definition("Purchase", "count"), True),
        ("Last Search Term", _definition("Search", "last_occurrence"), False),
    ):
        created = seed_time(_BASE, rng) + "Z"  # v2 times carry the zone
        ca = CalculatedAttribute(
            id=state.next_id("calculated_attribute"),
            workspace_id=ws.id,
            name=name,
            description=f"{name} (seeded).",
            draft_definition=None if active else definition,
            active_definition=definition if active else None,
            created_by="user@mparticle.com",
            created_on=created,
            last_modified_by="user@mparticle.com",
            last_modified_on=created,
            activated_on=format_time_z(active_on) if active else None,
            activated_by="user@mparticle.com" if active else None,
            revision_id=1 if active else 0,
            activated_at=active_on if active else None,
        )
        state.calculated_attributes[ca.id] = ca
    state.field_transformations[(ws.id, "example-field-transformation-id")] = FieldTransformation(
        workspace_id=ws.id,
        id="example-field-transformation-id",
        document={
            "id": "example-field-transformation-id",
            "name": "Example Field Transformation",
            "destination_type": "event_batch",
            "mappings": [
                {"mapping_type": "column", "source": "eventId", "destination": "event_id"},
                {"mapping_type": "column", "source": "sessionId", "destination": "session_id"},
                {
                    "mapping_type": "column",
                    "source": "timeStamp",
                    "destination": "timestamp_unixtime_ms",
                },
                {"mapping_type": "column", "source": "eventType", "destination": "event_type"},
            ],
        },
    )
