"""``python -m mpasync.cli``: the ``mpasync`` command."""

from mpasync.cli.run import main

raise SystemExit(main())
