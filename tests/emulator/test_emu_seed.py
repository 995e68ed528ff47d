"""Seed data: shape, realism and determinism."""

from __future__ import annotations

from mpasync.emulator import Emulator
from mpasync.emulator.state import encode_email


def test_seed_shape() -> None:
    emu = Emulator(apps=12)  # the state is built before the server starts
    state = emu.state
    apps = state.apps_of(1)
    assert [app.id for app in apps] == list(range(1, 13))
    assert apps[0].name.startswith("Acme Shop ") and apps[0].name.endswith(" 001")
    assert all(1 <= len(app.platforms) <= 3 for app in apps)
    assert len({app.name for app in apps}) == 12
    keys = [k.key for app in apps for p in app.platforms.values() for k in p.access_keys]
    assert len(set(keys)) == len(keys)
    for app in apps:
        names = {(dp.type, dp.name) for dp in app.datapoints.values()}
        assert {("Event", "Add To Cart"), ("Event", "Checkout"), ("Event", "Search")} <= names
        assert any(dp.type == "ScreenView" for dp in app.datapoints.values())
        assert any(dp.type == "UserAttribute" for dp in app.datapoints.values())
    assert {"googleanalyticseventforwarder", "amplitude", "appboy", "mixpanel", "actionx"} <= set(
        state.services
    )
    assert any(s.is_required for s in state.services["actionx"].settings)
    assert len(state.workspaces_of(1)) == 3
    assert all(
        any(a.workspace_ids == [ws.id] for a in state.audiences.values())
        for ws in state.workspaces_of(1)
    )
    assert len([f for f in state.feeds.values() if f.workspace_id == 4302]) == 2
    assert state.users and state.calculated_attributes and state.field_transformations
    # the second account exists with its own entities
    assert [app.id for app in state.apps_of(2)] == [9001, 9002]
    assert [ws.id for ws in state.workspaces_of(2)] == [5101]


def test_seed_is_deterministic() -> None:
    def snapshot(seed: int) -> list[tuple[str, list[str], int]]:
        state = Emulator(apps=5, seed=seed).state
        return [
            (
                app.name,
                [k.key for p in app.platforms.values() for k in p.access_keys],
                len(app.datapoints),
            )
            for app in state.apps.values()
        ]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


def test_options() -> None:
    emu = Emulator(apps=0, account_id=77, other_account_id=None, client_id="me", client_secret="s")
    assert list(emu.state.accounts) == [77]
    assert emu.state.apps == {}
    assert (emu.client_id, emu.client_secret, emu.account_id) == ("me", "s", 77)


def test_encode_email() -> None:
    assert encode_email("test@mparticle.com") == "test40mparticle2Ecom"
    assert encode_email("a.b+c@x.io") == "a2Eb2Bc40x2Eio"
