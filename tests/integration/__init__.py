"""Integration tests: every contract method through `mpasync.Client` against the emulator."""
