"""The old home of the emulator's request log (`mpasync.emulator.request_log`), kept so
that ``from mpasync.emulator.journal import JournalEntry`` still works."""

from mpasync.emulator.request_log import JournalEntry, LoggedRequest

__all__ = ["JournalEntry", "LoggedRequest"]
