"""Shared by the examples: a Client from MPARTICLE_* variables, or an embedded emulator.

Set MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET and MPARTICLE_ACCOUNT_ID (and
MPARTICLE_BASE_URL / MPARTICLE_TOKEN_URL for `mpasync emulator`) to run an example
against a real account or a running emulator; without them it starts its own emulator.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mpasync import Client
from mpasync.emulator import Emulator


@asynccontextmanager
async def connect(apps: int = 20, **client_options: Any) -> AsyncIterator[Client]:
    """Yield an open Client: from the environment if configured, else on a fresh emulator."""
    if os.environ.get("MPARTICLE_CLIENT_ID"):
        async with Client.from_env(**client_options) as mp:
            yield mp
        return
    async with Emulator(apps=apps) as emu, emu.client(**client_options) as mp:
        print(f"(no MPARTICLE_* credentials: using an embedded emulator at {emu.base_url})")
        yield mp
