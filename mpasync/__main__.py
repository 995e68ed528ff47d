"""``python -m mpasync``: the ``mpasync`` command (`mpasync.cli`)."""

from mpasync.cli.run import main

raise SystemExit(main())
