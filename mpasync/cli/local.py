"""The commands that need no account: ``mpasync emulator`` runs the local mParticle API
until Ctrl-C; ``mpasync demo`` applies a filter policy to many apps on an embedded one,
with faults. The emulator is imported only when one of them runs."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from mpasync.cli.input import CLIError
from mpasync.cli.interrupt import RunState
from mpasync.progress import Progress

__all__ = ["demo", "emulator"]


async def emulator(args: argparse.Namespace, out: TextIO, progress: Progress, run: RunState) -> int:
    """``mpasync emulator``: serve until Ctrl-C, printing where once it listens."""
    from mpasync.demo import start_seeding
    from mpasync.emulator import serve
    from mpasync.emulator.ratelimit import RateLimits
    from mpasync.emulator.server import describe

    if args.neighbour and args.rate is None:  # said with the flags' names, not Python's
        raise CLIError("--neighbour is a share of --rate-limit: give --rate-limit R too")
    try:  # the limits' own checks, before anything listens
        RateLimits(
            args.rate,
            app_rate=args.app_rate_limit,
            acceleration=args.acceleration_limit,
            neighbour=args.neighbour,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None

    run.resumable = False

    def seeded(done: int) -> None:
        if done == 0:  # the port is ours: now the seeding, with its progress
            start_seeding(progress, args.apps)
        else:
            progress.update(done)

    def ready(emu: Any) -> None:
        progress.end()
        run.progress = None  # Ctrl-C from now on stops a server, not a count
        out.write(describe(emu) + "\n")
        out.flush()

    try:
        await serve(
            port=args.port,
            apps=args.apps,
            token_ttl=args.token_ttl,
            rate=args.rate,
            fault_rate=args.fault_rate,
            seed=args.seed,
            ready=ready,
            app_rate_limit=args.app_rate_limit,
            acceleration_limit=args.acceleration_limit,
            neighbour=args.neighbour,
            seed_in_start=True,  # so Ctrl-C is heard while seeding
            on_seed=seeded if args.apps else None,
        )
    except OSError as exc:
        raise CLIError(
            f"emulator: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}"
        ) from None
    return 0


async def demo(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    """``mpasync demo``: see `mpasync.demo.run_demo`."""
    from mpasync.demo import run_demo

    return await run_demo(
        apps=args.apps,
        seed=args.seed,
        concurrency=args.concurrency,
        out=out,
        progress=progress,
    )
