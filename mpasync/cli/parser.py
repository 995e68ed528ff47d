"""The ``mpasync`` command's flags: the argparse tree, its help texts and epilogs, and the
checks of single values (ports, rates, app counts) that argparse makes.

A bad flag raises `CLIError` (one line, exit status 2) instead of argparse's usage and exit.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from mpasync._version import __version__
from mpasync.cli.input import CLIError
from mpasync.progress import MODES

__all__ = ["APPS_LIMIT", "DEMO_CONCURRENCY_LIMIT", "build_parser"]

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


def _service_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--service",
        required=True,
        help="service name (see mpasync services list; case and separators are ignored)",
    )


def _report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report",
        metavar="FILE",
        default=None,
        help="write every app's outcome (changed, unchanged, failed with its error, not "
        "done) to FILE as JSON (default: none; the terminal lists at most 20 failures)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command, its flags and help."""
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
    _service_option(apply)
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
    _service_option(export)
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
