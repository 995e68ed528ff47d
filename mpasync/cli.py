"""The ``mpasync`` command: ``demo``, ``emulator`` and ``filters apply``.

Bad input gets one clear line on stderr and exit status 2, never a traceback; a run in
which any app failed exits 1 and lists the failed apps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mpasync.bulk import BulkReport, FilterChange
from mpasync.client import Client
from mpasync.errors import MParticleError, NotFoundError, RequestValidationError
from mpasync.models import DataPointFilter
from mpasync.progress import ProgressBar
from mpasync.validation import validate_filters

__all__ = ["CLIError", "amain", "main"]


class CLIError(Exception):
    """Bad input: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpasync", description="mpasync: the asyncio client for mParticle's Platform API."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log retries (-v) or every attempt (-vv) to stderr",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="apply a filter policy to 200 apps on the embedded emulator, with faults"
    )
    demo.add_argument("--apps", type=int, default=200, help="apps to seed (default 200)")
    demo.add_argument("--seed", type=int, default=7, help="seed for data and faults")
    demo.add_argument("--concurrency", type=int, default=32)

    emu = sub.add_parser("emulator", help="run the local mParticle API emulator")
    emu.add_argument("--port", type=int, default=8787)
    emu.add_argument("--apps", type=int, default=50)
    emu.add_argument("--token-ttl", type=float, default=28800.0, metavar="S")
    emu.add_argument(
        "--rate",
        "--rate-limit",
        dest="rate",
        type=float,
        default=None,
        metavar="R",
        help="requests per second per account before 429s",
    )
    emu.add_argument(
        "--app-rate-limit",
        type=float,
        default=None,
        metavar="R",
        help="requests per second per app before 429s",
    )
    emu.add_argument(
        "--acceleration-limit",
        type=float,
        default=None,
        metavar="F",
        help="a second may hold F x the previous second's requests (above 50)",
    )
    emu.add_argument(
        "--neighbour",
        type=float,
        default=0.0,
        metavar="S",
        help="share of --rate-limit an unseen consumer uses, e.g. 0.4",
    )
    emu.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="share of API requests that fail: half 5xx, half 429",
    )
    emu.add_argument("--seed", type=int, default=None)

    filters = sub.add_parser("filters", help="datapoint filters across apps")
    fsub = filters.add_subparsers(dest="action", required=True)
    apply = fsub.add_parser(
        "apply",
        help="apply a filters file to many apps (credentials from MPARTICLE_* variables)",
    )
    apply.add_argument("--service", required=True, help="service name, e.g. Amplitude")
    target = apply.add_mutually_exclusive_group(required=True)
    target.add_argument("--apps", help="comma-separated app ids, e.g. 1,2,3")
    target.add_argument("--all-apps", action="store_true", help="every app in the account")
    apply.add_argument("--file", required=True, help="JSON file: a list of filters")
    apply.add_argument(
        "--sync", action="store_true", help="read each app's filters and send only what differs"
    )
    apply.add_argument(
        "--dry-run",
        action="store_true",
        help="report what would change; write nothing (implies --sync)",
    )
    apply.add_argument("--concurrency", type=int, default=None)
    apply.add_argument("--rate", type=float, default=None, help="requests per second cap")
    apply.add_argument(
        "--journal", default=None, help="JSON-lines journal; a rerun skips apps already done"
    )
    return parser


def parse_app_ids(text: str) -> list[int]:
    """``"1,2, 3"`` → ``[1, 2, 3]``; anything else is a `CLIError` naming the bad entry."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise CLIError(f"--apps: {part!r} is not an app id (expected e.g. --apps 1,2,3)")
        ids.append(int(part))
    if not ids:
        raise CLIError("--apps: no app ids given (expected e.g. --apps 1,2,3)")
    return list(dict.fromkeys(ids))


def load_filters(file: str) -> list[DataPointFilter]:
    """Read and check a filters file: a JSON list of filters, or ``{"filters": [...]}``."""
    path = Path(file)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read filters file {file}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CLIError(f"filters file {file} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "filters" in data:
        data = data["filters"]
    if not isinstance(data, list) or not data:
        raise CLIError(f"filters file {file} must hold a non-empty JSON list of filters")
    try:
        return validate_filters(data)
    except RequestValidationError as exc:
        raise CLIError(f"filters file {file}: {_entry(exc)}") from None


def _entry(exc: RequestValidationError) -> str:
    """``filters[3].event_type: ...`` → ``entry 3: event_type: ...`` for humans."""
    text = str(exc)
    if text.startswith("filters["):
        index, _, rest = text[len("filters[") :].partition("]")
        return f"entry {index}{rest.replace('.', ': ', 1) if rest.startswith('.') else rest}"
    return text


async def _filters_apply(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    filters = load_filters(args.file)
    app_ids = parse_app_ids(args.apps) if args.apps else None
    overrides: dict[str, Any] = {}
    if args.rate is not None:
        if args.rate <= 0:
            raise CLIError("--rate must be a positive number of requests per second")
        overrides["rate_limit"] = args.rate
    if args.concurrency is not None:
        if args.concurrency < 1:
            raise CLIError("--concurrency must be at least 1")
        overrides["max_concurrency"] = args.concurrency
    try:
        client = Client.from_env(**overrides)
    except RequestValidationError as exc:
        raise CLIError(f"missing credentials: {exc}") from None
    async with client as mp:
        try:
            await mp.services.get(args.service)
        except NotFoundError:
            raise CLIError(f"unknown service {args.service!r} (see the services list)") from None
        if app_ids is None:
            app_ids = [app.id for app in await mp.apps.list()]
        sync = args.sync or args.dry_run
        bar = ProgressBar(len(app_ids), label="apps", stream=err)
        if sync:
            report = await mp.bulk.sync_datapoint_filters(
                app_ids,
                args.service,
                filters,
                dry_run=args.dry_run,
                on_progress=bar,
                journal=args.journal,
            )
        else:
            report = await mp.bulk.update_datapoint_filters(
                app_ids,
                args.service,
                filters,
                on_progress=bar,
                journal=args.journal,
            )
        bar.finish()
    _print_summary(report, out, sync=sync, dry_run=args.dry_run)
    return 1 if report.failed else 0


def _print_summary(report: BulkReport[int], out: TextIO, *, sync: bool, dry_run: bool) -> None:
    rows = [
        ("apps", str(report.total)),
        ("succeeded", str(len(report.succeeded))),
        ("failed", str(len(report.failed))),
        ("skipped (journal)", str(len(report.skipped))),
        ("requests", str(report.requests)),
        ("retries", str(report.retries)),
        ("elapsed", f"{report.elapsed:.2f}s"),
    ]
    if sync:
        changes = [c for c in report.results.values() if isinstance(c, FilterChange)]
        verb = "would change" if dry_run else "changed"
        rows.insert(2, (verb, str(sum(1 for c in changes if c.changes))))
        rows.insert(3, ("already matching", str(sum(1 for c in changes if not c.changes))))
    width = max(len(k) for k, _ in rows)
    out.write("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows) + "\n")
    if sync:
        for app_id, change in sorted(report.results.items())[:50]:
            if isinstance(change, FilterChange) and change.changes:
                out.write(f"  app {app_id}: {change.describe()}\n")
    if report.failed:
        out.write("failed apps:\n")
        for app_id, exc in sorted(report.failed.items(), key=lambda kv: str(kv[0])):
            out.write(f"  {app_id}: {type(exc).__name__}: {exc}\n")


async def _emulator(args: argparse.Namespace, out: TextIO) -> int:
    from mpasync.emulator import serve
    from mpasync.emulator.server import describe

    def ready(emu: Any) -> None:
        out.write(describe(emu) + "\n")
        out.flush()

    if args.fault_rate < 0 or args.fault_rate > 1:
        raise CLIError("--fault-rate must be between 0 and 1")
    from mpasync.emulator.ratelimit import RateLimits

    try:  # the limits' own checks, before anything listens
        RateLimits(
            args.rate,
            app_rate=args.app_rate_limit,
            acceleration=args.acceleration_limit,
            neighbour=args.neighbour,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
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
    )
    return 0


async def amain(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """The command line, as a coroutine (for running in-process, e.g. in tests)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.verbose:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        log = logging.getLogger("mpasync")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG if args.verbose > 1 else logging.WARNING)
    try:
        if args.command == "filters":
            return await _filters_apply(args, out, err)
        if args.command == "emulator":
            return await _emulator(args, out)
        from mpasync.demo import run_demo

        return await run_demo(
            apps=args.apps, seed=args.seed, concurrency=args.concurrency, out=out, err=err
        )
    except CLIError as exc:
        err.write(f"mpasync: error: {exc}\n")
        return 2
    except MParticleError as exc:
        err.write(f"mpasync: {type(exc).__name__}: {exc}\n")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        return asyncio.run(amain(argv))
    except KeyboardInterrupt:
        sys.stderr.write("mpasync: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
