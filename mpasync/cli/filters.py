"""``mpasync filters apply / export / revert``: datapoint filters across many apps, on the
bulk helpers (`mpasync.bulk`), with their progress, ``--report`` and summary.

``apply`` sends a policy (the same filters to every app: a plain update, or ``--sync`` to
send only what differs) or restores a snapshot; ``export`` writes a snapshot; ``revert``
undoes an ``apply`` run from its journal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any, TextIO

from mpasync.bulk import BulkReport, FilterChange, ProgressEvent, RevertConflict
from mpasync.cli.input import (
    CLIError,
    FiltersFile,
    check_input_file,
    check_output_path,
    client_from_env,
    client_overrides,
    filters_to_json,
    load_filters,
    parse_app_ids,
    snapshot_text,
    write_text,
)
from mpasync.cli.interrupt import RunState
from mpasync.cli.report import (
    error_text,
    json_summary,
    print_capped,
    print_failures,
    print_table,
    summary_rows,
    write_report,
)
from mpasync.cli.services import check_service
from mpasync.client import Client
from mpasync.errors import MParticleError
from mpasync.filter_migrations import revert_plan
from mpasync.progress import Progress

__all__ = ["filters_apply", "filters_export", "filters_revert"]


async def filters_apply(
    args: argparse.Namespace, out: TextIO, progress: Progress, run: RunState
) -> int:
    """``mpasync filters apply``: a policy to ``--apps``/``--all-apps``, or a snapshot
    to the apps it names; exit 1 if any app failed."""
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
    async with client_from_env(**client_overrides(args)) as mp:
        progress.start("checking service")
        args.service = await check_service(mp, args.service)
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
            json_summary(report, command="filters apply", dry_run=dry_run)
            | ({"changed": len(changes), "unchanged": matching} if sync else {})
        )
        return
    rows = summary_rows(report)
    if sync:
        rows[2:2] = [(verb, str(len(changes))), ("already matching", str(matching))]
    print_table(rows, out)
    print_capped(
        f"apps that {verb}" if dry_run else "changed apps",
        [f"app {app_id}: {change.describe()}" for app_id, change in changes],
        out,
        report=report_file,
    )
    print_failures(report, out, report_file)


async def filters_export(
    args: argparse.Namespace, out: TextIO, progress: Progress, run: RunState
) -> int:
    """``mpasync filters export``: each app's filters for the service into ``--out``
    (written whole, once the reads are done); exit 1 if any app failed."""
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
    async with client_from_env(**client_overrides(args)) as mp:
        progress.start("checking service")
        args.service = await check_service(mp, args.service)
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
        progress.summary(json_summary(report, command="filters export", out=args.out))
    else:
        written = f"{args.out} ({len(snapshot)} app{'' if len(snapshot) == 1 else 's'}"
        written += (
            f"; the {len(report.failed)} failed apps are not in it)" if report.failed else ")"
        )
        print_table([*summary_rows(report), ("written to", written)], out)
        print_failures(report, out, args.report)
    return 0 if report.ok else 1


async def filters_revert(
    args: argparse.Namespace, out: TextIO, progress: Progress, run: RunState
) -> int:
    """``mpasync filters revert``: restore what an ``apply`` run's journal says each app
    held; exit 1 on a conflict or a failure."""
    journal = check_input_file(args.journal, "--journal")
    revert_journal = args.revert_journal or str(
        journal.with_name(f"{journal.stem}.revert{journal.suffix}")
    )
    check_output_path(revert_journal, "--revert-journal")
    if args.report:
        check_output_path(args.report, "--report")
    run.journal = args.journal
    run.resume_hint = f"rerun with --journal {args.journal} to resume the revert"
    async with client_from_env(**client_overrides(args)) as mp:
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
            json_summary(report, command="filters revert")
            | {"restored": len(restored), "conflicts": len(conflicts)}
        )
    else:
        rows = summary_rows(report)
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
