"""The ``MPARTICLE_*`` variables that point the command line at an emulator (CLI tests)."""

from __future__ import annotations

import pytest

from mpasync.emulator import Emulator


def credentials(emu: Emulator) -> dict[str, str]:
    """The environment `mpasync` reads its credentials and URLs from, for ``emu``."""
    return {
        "MPARTICLE_CLIENT_ID": emu.client_id,
        "MPARTICLE_CLIENT_SECRET": emu.client_secret,
        "MPARTICLE_ACCOUNT_ID": str(emu.account_id),
        "MPARTICLE_BASE_URL": emu.base_url,
        "MPARTICLE_TOKEN_URL": emu.token_url,
    }


def use_emulator(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set those variables for the in-process CLI for the rest of the test."""
    for name, value in credentials(emu).items():
        monkeypatch.setenv(name, value)
