"""The ``mpasync`` command: ``demo``, ``emulator``, ``services list`` and ``filters
apply / export / revert``.

Bad input gets one line on stderr and exit status 2, never a traceback; a run in which any
app failed exits 1 and lists the failed apps (at most a screenful; ``--report FILE`` has
every app's outcome); Ctrl-C (SIGINT) or SIGTERM (``timeout``, ``kill``, a CI runner's
cancel) ends the run cleanly, writes the ``--report``, and prints one line saying how far
the run got: exit 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from mpasync._checks import digits
from mpasync._version import __version__
from mpasync.bulk import BulkReport, FilterChange, ProgressEvent, RevertConflict
from mpasync.cli_input import (
    CLIError,
    FiltersFile,
    check_input_file,
    check_output_path,
    client_from_env,
    filters_to_json,
    load_filters,
    parse_app_ids,
    snapshot_text,
    write_text,
)
from mpasync.cli_report import error_text, print_capped, print_table, write_report
from mpasync.client import Client
from mpasync.errors import (
    AuthenticationError,
    JournalError,
    MParticleError,
    NotFoundError,
    RequestValidationError,
    TokenError,
    TransportError,
)
from mpasync.filter_migrations import canonical_service, revert_plan
from mpasync.progress import MODES, Progress, ProgressLogHandler
from mpasync.progress import is_tty as _is_tty

__all__ = ["CLIError", "amain", "main", "parse_app_ids"]

CREDENTIALS_HELP = """\
credentials come from the environment: MPARTICLE_CLIENT_ID, MPARTICLE_CLIENT_SECRET and
MPARTICLE_ACCOUNT_ID (required); MPARTICLE_BASE_URL and MPARTICLE_TOKEN_URL (optional,
e.g. for `mpasync emulator`)."""

EXIT_HELP = """\
exit status: 0 all done; 1 some app failed (or a revert conflict); 2 bad input (one line on
stderr, nothing sent: a bad flag or file, missing or wrong credentials, an unreachable
MPARTICLE_BASE_URL); 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM (after writing
--report; rerun with --journal to resume)."""

FILTERS_FILE_HELP = """\
the filters file (--file) is UTF-8 JSON in one of two shapes:
  a policy, the same filters for every app (with --apps or --all-apps):
    [{"name": "Search", "type": "Event", "event_type": "search", "enabled": false},
     {"name": "Email", "type": "UserIdentity", "enabled": false}]
  a snapshot, each app's own filters, as `mpasync filters export` writes it (restored to
  the apps it names, or to some of them with --apps; examples/filters.json is one):
    {"12": [{"name": "Email", "type": "UserIdentity", "enabled": false}], "13": []}
--file - reads the file from stdin.
each filter has name, type (Event, EventAttribute, EventType, ScreenView,
ScreenViewAttribute, UserAttribute, UserIdentity, Commerce, CommerceAttribute, ...),
event_type (for Event and EventAttribute, e.g. navigation, transaction, search),
attribute_name (for the *Attribute types) and enabled (default true)."""


# ---------------------------------------------------------------- argument parsing


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised as `CLIError`) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{self.prog}: error: {message} (see {self.prog} --help)")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps description layout and shows each option's default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or action.required
            or default is None
            or default is False
            or default == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


def _int_at_least(low: int, name: str = "a number") -> Any:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return convert


def _int_between(low: int, high: int, why: str, name: str = "a number") -> Any:
    convert_low = _int_at_least(low, name)

    def convert(text: str) -> int:
        value: int = convert_low(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,} ({why}), got {value:,}")
        return value

    return convert


#: The most apps ``demo`` and ``emulator`` seed. Measured: an app (1-3 platforms, ~25
#: datapoints, services) takes about 11 KB of memory and 0.2 ms to seed, so 100,000 apps
#: are about 1.1 GB and 20-30 s; 100,000,000 would need over 1 TB.
APPS_LIMIT = 100_000

#: ``mpasync demo --concurrency``: more workers than this only wait (one emulator process
#: answers them), yet each costs memory and start-up time (100,000 took 6.7 s and 400 MB).
DEMO_CONCURRENCY_LIMIT = 1000
_CONCURRENCY_WHY = "more only adds idle workers"
_APPS_HELP = f"apps to seed, at most {APPS_LIMIT:,} (each takes about 11 KB of memory)"


def _seeded_apps(low: int) -> Any:
    """``--apps`` of ``demo`` and ``emulator``: bounded, as every app lives in memory."""
    return _int_between(low, APPS_LIMIT, "each seeded app takes about 11 KB of memory")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0: any free port), got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _rate(text: str) -> float | str:
    """``--rate``: requests per second, or ``auto`` (follow the API's rate-limit headers)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of requests per second or 'auto', got {text!r}"
        ) from None


def _verbosity(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        dest=dest,
        action="count",
        default=0,
        help="log each retry too (-v) or every attempt (-vv) to stderr, above the progress "
        "bar; allowed before or after the command (default: warnings only, e.g. Redis "
        "unreachable, journal lines skipped)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        dest=dest.replace("verbose", "quiet"),
        action="store_true",
        help="no warnings on stderr either (errors and the summary still print)",
    )


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="how to show progress on stderr: auto (a bar on a terminal, plain lines every "
        "few seconds otherwise), bar, plain, json (one JSON object per line on stdout: "
        "progress, then a summary), none",
    )


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=_int_between(1, DEMO_CONCURRENCY_LIMIT, _CONCURRENCY_WHY),
        default=None,
        help=f"requests in flight at once (default: the client's, 32; at most "
        f"{DEMO_CONCURRENCY_LIMIT})",
    )
    parser.add_argument(
        "--rate",
        type=_rate,
        default=None,
        metavar="R|auto",
        help="requests per second cap, or 'auto' to follow the API's rate-limit headers "
        "(default: no cap)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="share the token (and, with --rate, the rate budget) with every process using "
        "this Redis, e.g. redis://localhost:6379/0; needs mpasync[redis] "
        "(default: $MPASYNC_REDIS_URL, else none)",
    )
    parser.add_argument(
        "--expected-processes",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="with --redis and --rate: how many processes share the budget, so that while "
        "Redis is unreachable each paces itself at rate / N rather than the whole rate "
        "(default: $MPASYNC_EXPECTED_PROCESSES, else 1)",
    )


def _targets(parser: argparse.ArgumentParser, *, required: bool) -> None:
    target = parser.add_mutually_exclusive_group(required=required)
    apps_help = "comma-separated app ids, e.g. 1,2,3"
    if not required:
        apps_help += " (default: a policy needs --apps or --all-apps; a snapshot, its own apps)"
    target.add_argument("--apps", help=apps_help)
    target.add_argument("--all-apps", action="store_true", help="every app in the account")


def _report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        metavar="FILE",
        default=None,
        help="write every app's outcome (changed, unchanged, failed with its error, not "
        "done) to FILE as JSON (default: none; the terminal lists at most 20 failures)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mpasync",
        description="mpasync: the asyncio client for mParticle's Platform API.",
        epilog=EXIT_HELP,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mpasync {__version__}")
    _verbosity(parser, "verbose")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help, description=help, formatter_class=_HelpFormatter, **kwargs
        )
        _verbosity(p, "verbose_sub")
        return p

    demo = command(
        "demo", "apply a filter policy to many apps on the embedded emulator, with faults"
    )
    demo.add_argument("--apps", type=_seeded_apps(1), default=200, help=_APPS_HELP)
    demo.add_argument("--seed", type=int, default=7, help="seed for data and faults")
    demo.add_argument(
        "--concurrency",
        type=_int_between(1, DEMO_CONCURRENCY_LIMIT, _CONCURRENCY_WHY),
        default=32,
        help=f"requests in flight at once, at most {DEMO_CONCURRENCY_LIMIT} (larger values "
        "are refused: they only add idle workers)",
    )
    _progress_option(demo)

    emu = command("emulator", "run the local mParticle API emulator until Ctrl-C")
    emu.add_argument("--port", type=_port, default=8787, help="TCP port on 127.0.0.1; 0: any")
    emu.add_argument("--apps", type=_seeded_apps(0), default=50, help=_APPS_HELP)
    emu.add_argument(
        "--progress",
        choices=[mode for mode in MODES if mode != "json"],
        default="auto",
        help="how to show the seeding's progress on stderr: auto (a bar on a terminal, "
        "plain lines otherwise), bar, plain, none",
    )
    emu.add_argument(
        "--token-ttl", type=_positive_float, default=28800.0, metavar="S", help="token lifetime"
    )
    rate = emu.add_mutually_exclusive_group()  # one name for one limit: both is refused
    rate.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        metavar="R",
        help="requests per second per account before 429s (default: unlimited)",
    )
    rate.add_argument(
        "--rate-limit",
        dest="rate",
        type=_positive_float,
        default=None,
        metavar="R",
        help="the same as --rate; give one of the two (default: unlimited)",
    )
    emu.add_argument(
        "--app-rate-limit",
        type=_positive_float,
        default=None,
        metavar="R",
        help="requests per second per app before 429s (default: unlimited)",
    )
    emu.add_argument(
        "--acceleration-limit",
        type=_positive_float,
        default=None,
        metavar="F",
        help="a second may hold F x the previous second's requests, or 50 "
        "(default: no acceleration limit)",
    )
    emu.add_argument(
        "--neighbour",
        type=_fraction,
        default=0.0,
        metavar="S",
        help="share of --rate-limit an unseen consumer uses, e.g. 0.4 (default: 0)",
    )
    emu.add_argument(
        "--fault-rate",
        type=_fraction,
        default=0.0,
        metavar="F",
        help="share of API requests that fail: half 5xx, half 429",
    )
    emu.add_argument("--seed", type=int, default=None, help="seed for data and faults (default: 0)")

    services = command("services", "the output services of the account")
    ssub = services.add_subparsers(dest="action", required=True, metavar="ACTION")
    slist = ssub.add_parser(
        "list",
        help="list the service names --service accepts",
        description="List the service names `--service` accepts.\n\n" + CREDENTIALS_HELP,
        formatter_class=_HelpFormatter,
    )
    _verbosity(slist, "verbose_sub")

    filters = command("filters", "datapoint filters across apps: apply, export, revert")
    fsub = filters.add_subparsers(dest="action", required=True, metavar="ACTION")

    apply = fsub.add_parser(
        "apply",
        help="apply a policy (the same filters everywhere) or restore a snapshot",
        description="Apply a filters file to many apps: a policy to --apps or --all-apps, "
        "or a snapshot to the apps it names.\n\n" + FILTERS_FILE_HELP + "\n\n" + CREDENTIALS_HELP,
        epilog=EXIT_HELP,
        formatter_class=_HelpFormatter,
    )
    _verbosity(apply, "verbose_sub")
    apply.add_argument(
        "--service",
        required=True,
        help="service name (see mpasync services list; case and separators are ignored)",
    )
    _targets(apply, required=False)
    apply.add_argument(
        "--file", required=True, help="filters file: a policy or a snapshot; - reads stdin"
    )
    apply.add_argument(
        "--sync", action="store_true", help="read each app's filters and send only what differs"
    )
    apply.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would change; write nothing (implies --sync)",
    )
    _client_options(apply)
    apply.add_argument(
        "--journal",
        metavar="FILE",
        default=None,
        help="JSON-lines journal: a rerun with it skips apps already done; it is bound to "
        "this account, API and service, and refused once its run was reverted (apply "
        "again with a new journal) (default: none)",
    )
    _report_option(apply)
    _progress_option(apply)

    export = fsub.add_parser(
        "export",
        help="write each app's current filters to a snapshot file",
        description="Write each app's current filters for a service to a snapshot file, "
        "which `filters apply --file` restores.\n\n" + CREDENTIALS_HELP,
        epilog=EXIT_HELP,
        formatter_class=_HelpFormatter,
    )
    _verbosity(export, "verbose_sub")
    export.add_argument(
        "--service",
        required=True,
        help="service name (see mpasync services list; case and separators are ignored)",
    )
    _targets(export, required=True)
    export.add_argument("--out", required=True, metavar="FILE", help="snapshot file to write")
    export.add_argument(
        "--force",
        action="store_true",
        help="replace --out if it exists (it may be the snapshot you would restore from)",
    )
    _client_options(export)
    _report_option(export)
    _progress_option(export)

    revert = fsub.add_parser(
        "revert",
        help="undo a `filters apply` run from its journal",
        description="Restore what each app held before a `filters apply --journal FILE` run, "
        "where the app still holds what the run wrote; apps changed since are reported as "
        "conflicts and left alone unless --force. The journal must be the run's, for this "
        "account and API; a revert's own journal (NAME.revert.jsonl) is refused unless "
        "--force, as reverting a revert applies the run again.\n\n" + CREDENTIALS_HELP,
        epilog=EXIT_HELP,
        formatter_class=_HelpFormatter,
    )
    _verbosity(revert, "verbose_sub")
    revert.add_argument("--journal", required=True, metavar="FILE", help="the run's journal")
    revert.add_argument(
        "--force",
        action="store_true",
        help="restore apps changed since the run too; also allows reverting a revert",
    )
    revert.add_argument(
        "--revert-journal",
        metavar="FILE",
        default=None,
        help="the revert's own journal, so an interrupted revert resumes "
        "(default: NAME.revert.jsonl beside --journal NAME.jsonl)",
    )
    _client_options(revert)
    _report_option(revert)
    _progress_option(revert)
    return parser


# ---------------------------------------------------------------- shared run plumbing


@dataclass
class _Run:
    """What Ctrl-C needs to say how far the run got."""

    progress: Progress | None = None
    journal: str | None = None
    resume_hint: str | None = None
    #: False for runs a journal cannot resume (the demo): no advice about one.
    resumable: bool = True
    #: The signal that ended the run (SIGINT or SIGTERM), once one arrived.
    signum: int | None = None

    def interrupted(self, err: TextIO) -> int:
        progress = self.progress
        ended_line = progress.interrupt() if progress is not None else False
        if not ended_line and _is_tty(err):
            err.write("\n")  # past the terminal's "^C"
        line = "interrupted"
        counted = progress is not None and (progress.total is not None or progress.completed)
        if progress is not None and counted:
            of = f"/{progress.total}" if progress.total is not None else ""
            line += f": {progress.completed}{of} {progress.unit} done"
            if self.resume_hint:
                line += f"; {self.resume_hint}"
            elif self.journal:
                line += f"; rerun with --journal {self.journal} to resume"
            elif progress.completed and self.resumable:
                line += "; without --journal a rerun starts over"
        err.write(f"{line}\n")
        err.flush()
        if progress is not None:
            progress.event(
                "interrupted",
                {"done": progress.completed, "total": progress.total, "journal": self.journal},
            )
        return 128 + (self.signum or signal.SIGINT)  # the shell's convention: 130, 143


def _revert_total(journal: Path) -> int | None:
    """How many apps a revert of ``journal`` goes through, for the bar's total: the journal
    read once more, quietly (the revert reads it again and warns about what it skips; a
    journal it refuses is its error to report)."""
    logger = logging.getLogger("mpasync")
    was_disabled, logger.disabled = logger.disabled, True
    try:
        return len(revert_plan(journal)[2])
    except (MParticleError, OSError):
        return None
    finally:
        logger.disabled = was_disabled


def _client_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if getattr(args, "rate", None) is not None:
        overrides["rate_limit"] = args.rate
    if getattr(args, "concurrency", None) is not None:
        overrides["max_concurrency"] = args.concurrency
    redis = getattr(args, "redis", None) or os.environ.get("MPASYNC_REDIS_URL", "").strip()
    if redis and hasattr(args, "redis"):
        overrides["redis"] = redis
    processes = _expected_processes(args)
    if processes is not None:
        if not overrides.get("redis"):
            raise CLIError(
                "--expected-processes needs --redis (or MPASYNC_REDIS_URL): it divides a "
                "budget shared through Redis"
            )
        overrides["expected_processes"] = processes
    return overrides


def _expected_processes(args: argparse.Namespace) -> int | None:
    """``--expected-processes``, else ``$MPASYNC_EXPECTED_PROCESSES`` (only with a Redis)."""
    if getattr(args, "expected_processes", None) is not None:
        return int(args.expected_processes)
    text = os.environ.get("MPASYNC_EXPECTED_PROCESSES", "").strip()
    if not text or not hasattr(args, "expected_processes"):
        return None
    if not digits(text):
        raise CLIError(f"MPASYNC_EXPECTED_PROCESSES must be a positive integer, got {text!r}")
    if not (getattr(args, "redis", None) or os.environ.get("MPASYNC_REDIS_URL", "").strip()):
        return None  # set for the fleet's runs; harmless for a run without Redis
    return int(text)


@contextlib.asynccontextmanager
async def _first_contact() -> AsyncIterator[None]:
    """Around a run's first request: an API that cannot be reached at all is a wrong
    MPARTICLE_BASE_URL (bad input, exit 2), not a failed run."""
    try:
        yield
    except TransportError as exc:
        raise CLIError(f"cannot reach the API: {exc}; is MPARTICLE_BASE_URL right?") from None


async def _check_service(mp: Client, service: str) -> str:
    """The service's canonical name, before anything is sent or written with it: as the
    API names it, or as ``services list`` spells it when only case and separators differ
    (``google-analytics-event-forwarder``); an unknown name is refused with a hint."""
    async with _first_contact():
        return await _find_service(mp, service)


async def _find_service(mp: Client, service: str) -> str:
    try:
        found = await mp.services.get(service)
    except NotFoundError:
        names = [s.name for s in await mp.services.list() if s.name]
        match = canonical_service(service, names)
        if match is not None:
            return match
        close = difflib.get_close_matches(service, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CLIError(f"unknown service {service!r} ({hint}see mpasync services list)") from None
    return found.name or service


async def _app_ids(mp: Client, listed: list[int] | None, progress: Progress) -> list[int]:
    """The ``--apps`` given, or every app of the account (``--all-apps``)."""
    if listed is not None:
        return listed
    progress.start("listing apps", unit="apps")
    ids = [app.id for app in await mp.apps.list()]
    progress.update(len(ids))
    return ids


def _tracker(progress: Progress, mp: Client) -> Any:
    """The bulk helpers' ``on_event``: every count of the run (`mpasync.bulk.ProgressEvent`),
    shown with the skipped ones counted apart."""

    def on_event(event: ProgressEvent) -> None:
        progress.update(event.done + event.failed, event.failed, skipped=event.skipped)

    return on_event


def _finish(progress: Progress, report: BulkReport[Any]) -> None:
    progress.update(report.done, len(report.failed), skipped=len(report.skipped))
    progress.end()


def _summary_rows(report: BulkReport[Any], label: str = "apps") -> list[tuple[str, str]]:
    rows = [
        (label, str(report.total)),
        ("succeeded", str(len(report.succeeded))),
        ("failed", str(len(report.failed))),
        ("skipped (journal)", str(len(report.skipped))),
    ]
    if report.not_done:
        rows.append(("not done", str(len(report.not_done))))
    rows += [
        ("requests", str(report.requests)),
        ("retries", str(report.retries)),
        ("elapsed", f"{report.elapsed:.2f}s"),
    ]
    return rows


def _order(item: object) -> tuple[int, Any]:
    """Sort key: app ids numerically, anything else after them as text."""
    return (0, item) if isinstance(item, int) else (1, str(item))


def _print_failures(report: BulkReport[Any], out: TextIO, report_file: str | None) -> None:
    lines = [
        f"{app_id}: {error_text(exc)}"
        for app_id, exc in sorted(report.failed.items(), key=lambda kv: _order(kv[0]))
    ]
    print_capped("failed apps", lines, out, report=report_file)


def _json_summary(report: BulkReport[Any], **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "total": report.total,
        "succeeded": len(report.succeeded),
        "failed": len(report.failed),
        "skipped": len(report.skipped),
        "not_done": len(report.not_done),
        "requests": report.requests,
        "retries": report.retries,
        "elapsed": round(report.elapsed, 3),
        "failures": {str(k): error_text(v) for k, v in list(report.failed.items())[:20]},
    }


# ---------------------------------------------------------------- commands


async def _filters_apply(
    args: argparse.Namespace, out: TextIO, progress: Progress, run: _Run
) -> int:
    policy: FiltersFile = load_filters(args.file)
    listed = parse_app_ids(args.apps) if args.apps else None
    snapshot = policy if isinstance(policy, dict) else None
    if snapshot is None and not (args.apps or args.all_apps):
        raise CLIError(
            "filters apply: a policy file needs --apps or --all-apps (a snapshot names its apps)"
        )
    if snapshot is not None and args.all_apps:
        raise CLIError("filters apply: --all-apps with a snapshot: the snapshot names its apps")
    journal = str(check_output_path(args.journal, "--journal")) if args.journal else None
    report_file = args.report
    if report_file:
        check_output_path(report_file, "--report")
    run.journal = args.journal
    sync = args.sync or args.dry_run or snapshot is not None  # a snapshot is always synced
    async with client_from_env(**_client_overrides(args)) as mp:
        progress.start("checking service")
        args.service = await _check_service(mp, args.service)
        if snapshot is not None:
            app_ids = list(snapshot)
            if listed is not None:
                wanted = listed
                unknown = [a for a in wanted if a not in snapshot]
                if unknown:
                    raise CLIError(f"--apps: app {unknown[0]} is not in the snapshot {args.file}")
                app_ids = wanted
        else:
            app_ids = await _app_ids(mp, listed, progress)
        phase = "dry run" if args.dry_run else "applying filters"
        phase = "restoring snapshot" if snapshot is not None and not args.dry_run else phase
        progress.start(phase, len(app_ids), unit="apps")
        report: BulkReport[int] | None = None
        try:
            report = await _apply(mp, args, policy, app_ids, sync, journal, progress)
        except (asyncio.CancelledError, KeyboardInterrupt):  # Ctrl-C or SIGTERM
            if report_file:  # what the run did so far, the rest "not done"
                write_report(
                    Path(report_file),
                    command="filters apply",
                    report=mp.bulk.last_report,
                    items=app_ids,
                    dry_run=args.dry_run,
                    interrupted=True,
                    extra={"service": args.service, "file": args.file, "journal": journal},
                )
            raise
        _finish(progress, report)
    if report_file:
        write_report(
            Path(report_file),
            command="filters apply",
            report=report,
            items=app_ids,
            dry_run=args.dry_run,
            extra={"service": args.service, "file": args.file, "journal": journal},
        )
    _apply_summary(report, out, progress, sync=sync, dry_run=args.dry_run, report_file=report_file)
    return 0 if report.ok else 1


async def _apply(
    mp: Client,
    args: argparse.Namespace,
    policy: FiltersFile,
    app_ids: list[int],
    sync: bool,
    journal: str | None,
    progress: Progress,
) -> BulkReport[int]:
    on_event = _tracker(progress, mp)
    if isinstance(policy, dict):
        return await mp.bulk.apply_datapoint_filter_snapshot(
            {a: policy[a] for a in app_ids},
            args.service,
            dry_run=args.dry_run,
            on_event=on_event,
            journal=journal,
        )
    if sync:
        return await mp.bulk.sync_datapoint_filters(
            app_ids,
            args.service,
            policy,
            dry_run=args.dry_run,
            on_event=on_event,
            journal=journal,
        )
    return await mp.bulk.update_datapoint_filters(
        app_ids, args.service, policy, on_event=on_event, journal=journal
    )


def _apply_summary(
    report: BulkReport[int],
    out: TextIO,
    progress: Progress,
    *,
    sync: bool,
    dry_run: bool,
    report_file: str | None,
) -> None:
    changes = [
        (app_id, c)
        for app_id, c in sorted(report.results.items())
        if isinstance(c, FilterChange) and c.changes
    ]
    matching = sum(
        1 for c in report.results.values() if isinstance(c, FilterChange) and not c.changes
    )
    verb = "would change" if dry_run else "changed"
    if progress.mode == "json":
        progress.summary(
            _json_summary(report, command="filters apply", dry_run=dry_run)
            | ({"changed": len(changes), "unchanged": matching} if sync else {})
        )
        return
    rows = _summary_rows(report)
    if sync:
        rows[2:2] = [(verb, str(len(changes))), ("already matching", str(matching))]
    print_table(rows, out)
    print_capped(
        f"apps that {verb}" if dry_run else "changed apps",
        [f"app {app_id}: {change.describe()}" for app_id, change in changes],
        out,
        report=report_file,
    )
    _print_failures(report, out, report_file)


async def _filters_export(
    args: argparse.Namespace, out: TextIO, progress: Progress, run: _Run
) -> int:
    out_path = check_output_path(args.out, "--out")
    if out_path.exists() and not args.force:
        raise CLIError(
            f"--out {args.out} exists (it may be the snapshot to restore from): "
            "choose another file, or pass --force to replace it"
        )
    listed = parse_app_ids(args.apps) if args.apps else None
    run.resumable = False  # an export only reads: rerunning it is the way to resume
    if args.report:
        check_output_path(args.report, "--report")
    async with client_from_env(**_client_overrides(args)) as mp:
        progress.start("checking service")
        args.service = await _check_service(mp, args.service)
        app_ids = await _app_ids(mp, listed, progress)
        progress.start("exporting filters", len(app_ids), unit="apps")
        on_event = _tracker(progress, mp)
        report = await mp.bulk.export_datapoint_filters(app_ids, args.service, on_event=on_event)
        _finish(progress, report)
    snapshot = {
        str(app_id): filters_to_json(report.results.get(app_id) or [])
        for app_id in app_ids
        if app_id in report.succeeded
    }
    write_text(out_path, snapshot_text(snapshot))
    if args.report:
        write_report(
            Path(args.report),
            command="filters export",
            report=report,
            items=app_ids,
            extra={"service": args.service, "out": args.out},
        )
    if progress.mode == "json":
        progress.summary(_json_summary(report, command="filters export", out=args.out))
    else:
        written = f"{args.out} ({len(snapshot)} app{'' if len(snapshot) == 1 else 's'}"
        written += (
            f"; the {len(report.failed)} failed apps are not in it)" if report.failed else ")"
        )
        print_table([*_summary_rows(report), ("written to", written)], out)
        _print_failures(report, out, args.report)
    return 0 if report.ok else 1


async def _filters_revert(
    args: argparse.Namespace, out: TextIO, progress: Progress, run: _Run
) -> int:
    journal = check_input_file(args.journal, "--journal")
    revert_journal = args.revert_journal or str(
        journal.with_name(f"{journal.stem}.revert{journal.suffix}")
    )
    check_output_path(revert_journal, "--revert-journal")
    if args.report:
        check_output_path(args.report, "--report")
    run.journal = args.journal
    run.resume_hint = f"rerun with --journal {args.journal} to resume the revert"
    async with client_from_env(**_client_overrides(args)) as mp:
        progress.start("reverting", _revert_total(journal), unit="apps")
        report = await mp.bulk.revert_datapoint_filters(
            journal,
            force=args.force,
            on_event=_tracker(progress, mp),
            revert_journal=revert_journal,
        )
        progress.total = report.total
        _finish(progress, report)
    conflicts = {a: e for a, e in report.failed.items() if isinstance(e, RevertConflict)}
    restored = [a for a, c in report.results.items() if c.changes]
    if args.report:
        write_report(
            Path(args.report),
            command="filters revert",
            report=report,
            items=[*report.succeeded, *report.failed, *report.skipped, *report.not_done],
            changed="restored",
            extra={"journal": args.journal, "force": args.force},
        )
    if progress.mode == "json":
        progress.summary(
            _json_summary(report, command="filters revert")
            | {"restored": len(restored), "conflicts": len(conflicts)}
        )
    else:
        rows = _summary_rows(report)
        rows[2:2] = [
            ("restored", str(len(restored))),
            ("already as before", str(len(report.succeeded) - len(restored))),
            ("conflicts", str(len(conflicts))),
        ]
        print_table(rows, out)
        print_capped(
            "conflicts (changed since the run; left alone, --force reverts them)",
            [str(e) for _, e in sorted(conflicts.items())],
            out,
            report=args.report,
        )
        others = {a: e for a, e in report.failed.items() if a not in conflicts}
        print_capped(
            "failed apps",
            [f"{a}: {error_text(e)}" for a, e in sorted(others.items())],
            out,
            report=args.report,
        )
    return 0 if report.ok else 1


async def _services_list(out: TextIO) -> int:
    async with client_from_env() as mp, _first_contact():
        services = await mp.services.list()
    for name in sorted((s.name for s in services if s.name), key=str.lower):
        out.write(name + "\n")
    return 0


async def _emulator(args: argparse.Namespace, out: TextIO, progress: Progress, run: _Run) -> int:
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


async def _demo(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    from mpasync.demo import run_demo

    return await run_demo(
        apps=args.apps,
        seed=args.seed,
        concurrency=args.concurrency,
        out=out,
        progress=progress,
    )


# ---------------------------------------------------------------- entry points


async def amain(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    run: _Run | None = None,
) -> int:
    """The command line, as a coroutine (for running in-process, e.g. in tests)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    run = run if run is not None else _Run()
    try:
        args = _parser().parse_args(argv)
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
                "apply": _filters_apply,
                "export": _filters_export,
                "revert": _filters_revert,
            }[args.action]
            return await action(args, out, progress, run)
        if args.command == "services":
            return await _services_list(out)
        if args.command == "emulator":
            return await _emulator(args, out, progress, run)
        run.resumable = False
        return await _demo(args, out, progress)
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


async def _until_signalled(argv: Sequence[str] | None, run: _Run) -> int:
    """`amain`, ended the same way by SIGINT (Ctrl-C) and SIGTERM: the first one cancels
    the run's task, so every cleanup runs and ``--report`` is written before the
    "interrupted" line. Our own handlers rather than asyncio.run's: 3.10's lets SIGINT
    raise KeyboardInterrupt wherever the loop happens to be, and none handles SIGTERM."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def stop(signum: int) -> None:
        if run.signum is None:
            run.signum = signum
        task.cancel()  # again on a second signal: it cuts a slow cleanup short

    installed: list[int] = []
    for signum in (int(signal.SIGINT), int(signal.SIGTERM)):
        if signal.getsignal(signum) is signal.SIG_IGN:  # nohup, a background job: stay so
            continue
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
            continue
        installed.append(signum)
    try:
        return await amain(argv, run=run)
    except asyncio.CancelledError:
        if run.signum is None:
            raise
        return run.interrupted(sys.stderr)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


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
    run = _Run()
    try:
        return asyncio.run(_until_signalled(argv, run))
    except KeyboardInterrupt:  # a Ctrl-C before the handlers are in place
        return run.interrupted(sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
