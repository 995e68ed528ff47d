"""The command line's entry points: `main` (the ``mpasync`` console script and
``python -m mpasync.cli``) and `amain` (the same as a coroutine, for tests). They parse
the flags, route the library's log records above the progress display, run the command and
turn what went wrong into one line and an exit status: 2 for bad input, 1 for a failed run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from mpasync.cli.filters import filters_apply, filters_export, filters_revert
from mpasync.cli.input import CLIError
from mpasync.cli.interrupt import RunState, until_signalled
from mpasync.cli.local import demo, emulator
from mpasync.cli.parser import build_parser
from mpasync.cli.report import error_text
from mpasync.cli.services import services_list
from mpasync.errors import (
    AuthenticationError,
    JournalError,
    MParticleError,
    RequestValidationError,
    TokenError,
)
from mpasync.progress import Progress, ProgressLogHandler

__all__ = ["amain", "main"]


async def amain(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    run: RunState | None = None,
) -> int:
    """The command line, as a coroutine (for running in-process, e.g. in tests)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    run = run if run is not None else RunState()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    except CLIError as exc:
        err.write(f"{exc}\n")
        return 2
    progress = Progress(getattr(args, "progress", "none"), stream=err, json_stream=out)
    run.progress = progress
    logger = logging.getLogger("mpasync")
    saved_level = logger.level
    handler = _log_handler(args, progress)
    if handler is not None:
        logger.addHandler(handler)
        logger.setLevel(handler.level)
    try:
        if args.command == "filters":
            action = {
                "apply": filters_apply,
                "export": filters_export,
                "revert": filters_revert,
            }[args.action]
            return await action(args, out, progress, run)
        if args.command == "services":
            return await services_list(out)
        if args.command == "emulator":
            return await emulator(args, out, progress, run)
        run.resumable = False
        return await demo(args, out, progress)
    except (CLIError, RequestValidationError) as exc:
        return _fail(progress, err, f"mpasync: error: {exc}", 2)
    except MParticleError as exc:
        if _is_input_error(exc):
            return _fail(progress, err, f"mpasync: error: {exc}", 2)
        hint = _credentials_hint(exc)
        if hint is not None:
            return _fail(progress, err, f"mpasync: error: {error_text(exc)}; {hint}", 2)
        return _fail(progress, err, f"mpasync: {error_text(exc)}", 1)
    except OSError as exc:  # writing the snapshot or the report: disk full, read-only, ...
        where = f" {exc.filename}" if exc.filename else ""
        return _fail(progress, err, f"mpasync: error:{where}: {exc.strerror or exc}", 1)
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        logger.setLevel(saved_level)


class _OneLineWarning(logging.Formatter):
    """``mpasync: warning: ...`` on one line, whatever the message holds."""

    def format(self, record: logging.LogRecord) -> str:
        return f"mpasync: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def _not_a_retry(record: logging.LogRecord) -> bool:
    """Each retry is a WARNING from the transport; without -v the summary counts them."""
    return record.module != "transport"


def _log_handler(args: argparse.Namespace, progress: Progress) -> logging.Handler | None:
    """Where the library's log records go: warnings that matter (Redis unreachable,
    journal lines skipped) by default, retries too with -v, every attempt with -vv,
    nothing with -q. Printed through the progress display, so they land above the bar."""
    verbose = args.verbose + getattr(args, "verbose_sub", 0)
    if not verbose and (args.quiet or getattr(args, "quiet_sub", False)):
        return None
    handler = ProgressLogHandler(progress)
    if verbose:
        handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_OneLineWarning())
        handler.addFilter(_not_a_retry)
    return handler


def _fail(progress: Progress, err: TextIO, line: str, status: int) -> int:
    """End the bar's line, print the error as one line (and as a JSON event in json mode)."""
    progress.interrupt()
    line = " ".join(line.split())  # one line, whatever the message holds
    err.write(line + "\n")
    progress.event("error", {"message": line, "exit": status})
    return status


def _is_input_error(exc: MParticleError) -> bool:
    """A journal refused before anything was sent (another job's, locked, unreadable) is
    the operator's input, not a run failure."""
    return isinstance(exc, JournalError) and exc.report is None


def _credentials_hint(exc: MParticleError) -> str | None:
    """What to check when the API or its token endpoint refuses the credentials (or cannot
    be reached for a token): the operator's configuration, not a failed run."""
    if isinstance(exc, TokenError):
        if exc.status in (400, 401, 403):
            return "check MPARTICLE_CLIENT_ID / MPARTICLE_CLIENT_SECRET"
        if exc.status is None and "unreachable" in str(exc):
            return "is MPARTICLE_TOKEN_URL right?"
    if isinstance(exc, AuthenticationError):
        return "check MPARTICLE_CLIENT_ID / MPARTICLE_CLIENT_SECRET / MPARTICLE_ACCOUNT_ID"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    run = RunState()
    try:
        return asyncio.run(until_signalled(run, lambda: amain(argv, run=run)))
    except KeyboardInterrupt:  # a Ctrl-C before the handlers are in place
        return run.interrupted(sys.stderr)
