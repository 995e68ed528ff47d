"""Constants and small helpers shared by the integration tests."""

from __future__ import annotations

from mpasync.emulator import Emulator, JournalEntry

#: Seeded ids: the primary account's workspaces and the other account's workspace and apps.
WORKSPACE = 4302
OTHER_WORKSPACE = 5101
OTHER_APP = 9001
SERVICE = "GoogleAnalyticsEventForwarder"


def api_requests(emu: Emulator) -> list[JournalEntry]:
    """The journal without the token endpoint's requests."""
    return [e for e in emu.journal if e.path.startswith(("/v1/", "/platform/v2/"))]
