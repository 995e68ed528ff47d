"""The datapoint-filter migrations on the bulk scheduler: ``mp.bulk``'s update, sync,
copy, export, snapshot-apply and revert helpers.

`mpasync.bulk` is the scheduler (`run_bulk`, `Bulk.map`, the report) and knows nothing of
filters; this module adds what a filter migration needs on top of it: the checks of a
policy or snapshot before anything is sent, the per-app steps (`mpasync.filter_migrations`),
and a journal bound to the job and to the client's target, in which every write records
what the app held before and after it (carried there by each app's result, an
`mpasync.outcome.Outcome`), so `FilterMigrations.revert_datapoint_filters` can undo a
run. ``mp.bulk`` is a `FilterMigrations`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mpasync.bulk import Bulk, BulkHost, BulkReport, OnEvent, OnProgress, RunOptions
from mpasync.errors import JournalError, RequestValidationError
from mpasync.filter_migrations import (
    FilterChange,
    RevertConflict,
    checked_filters,
    checked_service,
    checked_snapshot,
    journal_filters,
    policy_of,
    revert_one,
    revert_paths,
    revert_plan,
    sync_one,
    write_filters,
)
from mpasync.journal import (
    Journal,
    JournalJob,
    mark_reverted,
    policy_hash,
    warn_unchecked_target,
)
from mpasync.models import DataPointFilter
from mpasync.outcome import Outcome
from mpasync.priority import BACKGROUND, Priority

if TYPE_CHECKING:
    from mpasync.resources.datapoints import DataPointFilters

__all__ = ["FilterChange", "FilterMigrations", "MigrationHost", "RevertConflict"]

logger = logging.getLogger("mpasync")


class MigrationHost(BulkHost, Protocol):
    """What the migrations need of a client besides `BulkHost`: its filter resource."""

    @property
    def datapoint_filters(self) -> DataPointFilters: ...


class FilterMigrations(Bulk):
    """``mp.bulk``: `Bulk.map` and the datapoint-filter migrations.

    The datapoint-filter helpers take ``journal=path``: a rerun with the same journal
    skips apps already done; a journal started by another job (operation, service or
    policy), on another target (this client's account id and base URL), or whose run was
    reverted is refused with `JournalError`. Every write they make records what the app
    held before and after it, which `revert_datapoint_filters` uses to undo the run. A dry
    run reads and checks the journal but never writes it, so it never makes a later run
    skip anything.
    """

    def __init__(self, client: MigrationHost) -> None:
        super().__init__(client)
        self._host = client

    def _book(
        self, journal: str | Path | None, job: JournalJob, *, dry_run: bool = False
    ) -> Journal | None:
        if journal is None:
            return None
        if not isinstance(journal, (str, Path)):
            raise RequestValidationError(
                f"journal must be a path, got {type(journal).__name__}", field="journal"
            )
        return Journal(journal, job, read_only=dry_run)

    async def update_datapoint_filters(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        filters: Iterable[DataPointFilter | dict[str, Any]],
        *,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, Any]:
        """PUT the same filter list to every app (filters are checked once, up front).

        ``results`` stays empty. With a journal, each app's filters are read before and
        after the PUT and recorded, so the run can be reverted.
        """
        options = RunOptions(concurrency, fail_fast, on_progress, on_event, priority)
        checked = checked_filters(filters, service)
        resource = self._host.datapoint_filters
        job = self._job("update_datapoint_filters", service, policy_hash(policy_of(checked)))
        book = self._book(journal, job)

        async def one(app_id: int) -> Outcome[None]:
            before = await resource.list(app_id, service) if book is not None else None
            return await write_filters(resource, app_id, service, checked, None, before=before)

        return await self._run(one, app_ids, options, book)

    async def _sync(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        desired: Callable[[int], list[DataPointFilter]],
        job: JournalJob,
        options: RunOptions,
        journal: str | Path | None,
        *,
        dry_run: bool,
        complete: bool = False,
    ) -> BulkReport[int, FilterChange]:
        resource = self._host.datapoint_filters
        book = self._book(journal, job, dry_run=dry_run)
        journaled = book is not None and not dry_run

        async def one(app_id: int) -> Outcome[FilterChange]:
            return await sync_one(
                resource, app_id, service, desired(app_id), dry_run, journaled, complete
            )

        return await self._run(one, app_ids, options, book)

    async def sync_datapoint_filters(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        filters: Iterable[DataPointFilter | dict[str, Any]],
        *,
        dry_run: bool = False,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Read each app's filters, PUT only what differs, and report per app what changed.

        ``report.results[app_id]`` is a `FilterChange`. With ``dry_run`` nothing is
        written (not even the journal): the report says what *would* change. With a
        journal, each app written is read once more after the PUT, to record what it
        holds (`revert_datapoint_filters` needs it).
        """
        options = RunOptions(concurrency, fail_fast, on_progress, on_event, priority)
        checked = checked_filters(filters, service)
        job = self._job("sync_datapoint_filters", service, policy_hash(policy_of(checked)))
        return await self._sync(
            app_ids, service, lambda _: checked, job, options, journal, dry_run=dry_run
        )

    async def copy_datapoint_filters(
        self,
        from_app: int,
        to_apps: Iterable[int] | AsyncIterable[int],
        service: str,
        *,
        dry_run: bool = False,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Make many apps' filters for ``service`` match one app's (a sync per target).

        The journal's policy is the source app's filters as read now: if they change
        between a crash and the resume, the journal is refused as another job's.
        """
        options = RunOptions(concurrency, fail_fast, on_progress, on_event, priority)
        checked_service(service)
        source = await self._host.datapoint_filters.list(from_app, service)
        template = [
            DataPointFilter(
                name=f.name,
                type=f.type,
                event_type=f.event_type,
                attribute_name=f.attribute_name,
                enabled=f.enabled,
            )
            for f in source
        ]
        policy = policy_hash({"from_app": from_app, "filters": policy_of(template)})
        job = self._job("copy_datapoint_filters", service, policy)
        return await self._sync(
            to_apps, service, lambda _: template, job, options, journal, dry_run=dry_run
        )

    async def export_datapoint_filters(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        *,
        concurrency: int | None = None,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, list[DataPointFilter]]:
        """Read every app's filters for ``service``: ``results[app_id]`` is its list.

        ``{app_id: filters}`` from the results is a snapshot that
        `apply_datapoint_filter_snapshot` restores.
        """
        options = RunOptions(
            concurrency, on_progress=on_progress, on_event=on_event, priority=priority
        )
        checked_service(service)
        resource = self._host.datapoint_filters

        async def one(app_id: int) -> list[DataPointFilter]:
            return await resource.list(app_id, service)

        return await self._run(one, app_ids, options)

    async def apply_datapoint_filter_snapshot(
        self,
        snapshot: Mapping[int, Iterable[DataPointFilter | dict[str, Any]]],
        service: str,
        *,
        dry_run: bool = False,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Restore a snapshot (app id → that app's filters): a sync per app to its own list.

        App ids may be ints or digit strings (JSON object keys); every list is checked
        before anything is sent (``snapshot[<app>][<i>]`` names a bad entry).
        """
        options = RunOptions(concurrency, fail_fast, on_progress, on_event, priority)
        checked_service(service)
        checked = checked_snapshot(snapshot)
        policy = policy_hash({str(a): policy_of(f) for a, f in checked.items()})
        job = self._job("apply_datapoint_filter_snapshot", service, policy)
        return await self._sync(
            list(checked),
            service,
            checked.__getitem__,
            job,
            options,
            journal,
            dry_run=dry_run,
            complete=True,
        )

    async def revert_datapoint_filters(
        self,
        journal: str | Path,
        *,
        force: bool = False,
        concurrency: int | None = None,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        revert_journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Undo a journaled filter run: restore what each app it changed held before.

        Only the filters the run changed are touched, and only on apps that still hold
        what the run left on every one of them. An app changed since (on one of those
        filters) is a conflict: it is left alone and listed in ``report.failed`` with a
        `RevertConflict`; ``force=True`` restores it anyway. An app that already holds
        its "before" is a success with nothing written. Apps whose write failed in the
        run (its outcome unknown) are restored only with ``force``, or are a no-op when
        they still hold their "before".

        The revert is journaled too (``revert_journal``, by default ``<name>.revert<ext>``
        beside ``journal``), so an interrupted revert resumes, and a rerun with
        ``force=True`` after conflicts reverts exactly the apps left. Values are restored
        as the API shows them (effective values under the filter hierarchy).

        Refused with `JournalError` before anything is sent: a journal written for another
        account or API base URL; a revert's own journal unless ``force=True`` (reverting a
        revert applies the run again). Once the revert starts, the run's journal is marked
        as reverted, so resuming that run with it is refused instead of skipping every app.

        >>> report = await mp.bulk.revert_datapoint_filters("run.jsonl")
        >>> conflicts = {a: e for a, e in report.failed.items() if isinstance(e, RevertConflict)}
        """
        if not isinstance(journal, (str, Path)):
            raise RequestValidationError(
                f"journal must be a path, got {type(journal).__name__}", field="journal"
            )
        if not isinstance(force, bool):
            raise RequestValidationError("force must be True or False", field="force")
        options = RunOptions(
            concurrency, on_progress=on_progress, on_event=on_event, priority=priority
        )
        source, target = revert_paths(journal, revert_journal)
        service, header, plans = revert_plan(source)
        policy = policy_hash(
            {
                "source": {k: header.get(k) for k in ("operation", "service", "policy")},
                "apps": {
                    str(app_id): [
                        journal_filters(plan.before.values()),
                        journal_filters(plan.after.values()) if plan.after is not None else None,
                    ]
                    for app_id, plan in plans.items()
                },
            }
        )
        if header.get("operation") == "revert_datapoint_filters" and not force:
            raise JournalError(
                f"journal {source} is a revert's own journal: reverting it would apply the"
                " reverted run again; force it (--force) to do that on purpose",
                path=str(source),
            )
        job = self._job("revert_datapoint_filters", service, policy)
        elsewhere = job.target_mismatch(header)
        if elsewhere is not None:
            raise JournalError(
                f"journal {source} was written for {elsewhere}; revert it against the"
                " account and API it was written for",
                path=str(source),
            )
        warn_unchecked_target(source, header, job)
        book = Journal(target, job)
        Journal(target, job, read_only=True).open()  # another revert's journal: refused now
        # Before anything is written: resuming the reverted run now refuses to skip
        # every app (a new journal applies it again). A journal that cannot be written
        # (a read-only copy) does not stop the revert.
        try:
            mark_reverted(source, target)
        except JournalError as exc:
            logger.warning(
                "%s; it is not marked as reverted, so resuming its run with it would skip"
                " every app (apply again with a new journal)",
                exc,
            )
        resource = self._host.datapoint_filters

        async def one(app_id: int) -> Outcome[FilterChange]:
            return await revert_one(resource, app_id, service, plans[app_id], force)

        return await self._run(one, list(plans), options, book)
