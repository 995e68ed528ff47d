"""A local, stateful mParticle Platform API (v1, v2 and the token endpoint) for tests, demos
and development, with seeded data, rate limits and reproducible fault injection.

    from mpasync.emulator import Emulator, Faults

    async with Emulator(apps=10, faults=Faults(error_rate=0.05, seed=1)) as emu:
        async with emu.client() as mp:
            ...
"""

from mpasync.emulator.faults import FaultRule, Faults
from mpasync.emulator.request_log import JournalEntry, LoggedRequest
from mpasync.emulator.server import Emulator, describe, serve
from mpasync.emulator.state import EmulatorState

__all__ = [
    "Emulator",
    "EmulatorState",
    "FaultRule",
    "Faults",
    "JournalEntry",
    "LoggedRequest",
    "describe",
    "serve",
]
