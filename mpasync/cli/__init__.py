"""The ``mpasync`` command: ``demo``, ``emulator``, ``services list`` and ``filters
apply / export / revert``.

Bad input gets one line on stderr and exit status 2, never a traceback; a run in which any
app failed exits 1 and lists the failed apps (at most a screenful; ``--report FILE`` has
every app's outcome); Ctrl-C (SIGINT) or SIGTERM (``timeout``, ``kill``, a CI runner's
cancel) ends the run cleanly, writes the ``--report``, and prints one line saying how far
the run got: exit 130 for SIGINT, 143 for SIGTERM.

The modules: `run` (the entry points and exit statuses), `parser` (the flags and their
help), `interrupt` (Ctrl-C and SIGTERM), the commands in `filters`, `services` and `local`
(emulator, demo), `input` (checks made before anything is sent) and `report` (what is
printed and written after a run).
"""

from __future__ import annotations

from mpasync.cli.input import CLIError, parse_app_ids
from mpasync.cli.parser import APPS_LIMIT, DEMO_CONCURRENCY_LIMIT
from mpasync.cli.run import amain, main

__all__ = ["APPS_LIMIT", "DEMO_CONCURRENCY_LIMIT", "CLIError", "amain", "main", "parse_app_ids"]
