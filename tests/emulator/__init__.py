"""Tests of the local emulator (mpasync.emulator) and the pytest plugin (mpasync.testing)."""
