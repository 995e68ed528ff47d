"""Constants and small helpers shared by the integration tests."""

from __future__ import annotations

from mpasync.emulator import Emulator, LoggedRequest

#: Seeded ids: the primary account's workspaces and the other account's workspace and apps.
WORKSPACE = 4302
OTHER_WORKSPACE = 5101
OTHER_APP = 9001
SERVICE = "GoogleAnalyticsEventForwarder"


def api_requests(emu: Emulator) -> list[LoggedRequest]:
    """The request log without the token endpoint's requests."""
    return [e for e in emu.request_log if e.path.startswith(("/v1/", "/platform/v2/"))]
