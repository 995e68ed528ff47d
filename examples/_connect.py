"""Shared by the examples: a Client from MPARTICLE_* variables, or an embedded emulator.

Set MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET and MPARTICLE_ACCOUNT_ID (and
MPARTICLE_BASE_URL / MPARTICLE_TOKEN_URL for `mpasync emulator`) to run an example
against a real account or a running emulator; without them it starts its own emulator,
as strict as a real account can be: 40 requests/s per account, and 5% of requests
failing (half 5xx, half 429), like `mpasync emulator --rate-limit 40 --fault-rate 0.05`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mpasync import Client
from mpasync.emulator import Emulator, Faults

#: The embedded emulator's limits: what the examples must cope with.
RATE_LIMIT = 40.0
FAULT_RATE = 0.05


@asynccontextmanager
async def connect(apps: int = 20, **client_options: Any) -> AsyncIterator[Client]:
    """Yield an open Client: from the environment if configured, else on a fresh emulator."""
    if os.environ.get("MPARTICLE_CLIENT_ID"):
        async with Client.from_env(**client_options) as mp:
            yield mp
        return
    # Unseeded: with a fixed seed the run's order of requests decided which one drew the
    # seed's few 429s, and a lone retry could draw three in a row (seen in 2 runs of 10).
    faults = Faults.from_fault_rate(FAULT_RATE)
    emulator = Emulator(apps=apps, rate_limit=RATE_LIMIT, faults=faults)
    async with emulator as emu, emu.client(**client_options) as mp:
        print(f"(no MPARTICLE_* credentials: using an embedded emulator at {emu.base_url})")
        yield mp
