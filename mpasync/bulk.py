"""Bulk fan-out: run one coroutine per item under bounded concurrency, and report on every item.

The scheduler (like aiometer's) is separate from the limits: ``concurrency`` workers pull
items lazily from any iterable or async iterable, so at most ``concurrency`` items are in
progress and at most that many tasks exist, whether the input holds ten items or ten
million. The HTTP limits are the client's own (its semaphore and rate limiter), so bulk
work and every other caller of the same client share one budget.

Every item taken from the input is accounted for, however the run ends: it succeeded,
failed (every error kept), was skipped (a journal says it was done), or is *not done*
(cancelled in flight, interrupted, or stopped by an input or journal error). A journal
(`mpasync.journal`) makes interrupted runs resumable; the datapoint-filter helpers record
in it what each app held before and after, so `Bulk.revert_datapoint_filters` can undo a
run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic

import anyio
import anyio.lowlevel
from typing_extensions import TypeVar

from mpasync import clock
from mpasync.auth import safe_url
from mpasync.errors import JournalError, RequestValidationError
from mpasync.filter_migrations import (
    FilterChange,
    RevertConflict,
    checked_filters,
    checked_service,
    checked_snapshot,
    diff_filters,
    journal_filters,
    policy_of,
    revert_one,
    revert_paths,
    revert_plan,
    sync_one,
)
from mpasync.journal import (
    Journal,
    JournalJob,
    collecting_notes,
    item_key,
    mark_reverted,
    note,
    policy_hash,
    warn_unchecked_target,
)
from mpasync.models import DataPointFilter
from mpasync.priority import BACKGROUND, Priority, check_priority, in_lane

if TYPE_CHECKING:
    from mpasync.client import Client

__all__ = [
    "Bulk",
    "BulkReport",
    "FilterChange",
    "Journal",
    "RevertConflict",
    "diff_filters",
    "run_bulk",
]

K = TypeVar("K")
#: The result type; defaults to Any so ``BulkReport[int]`` keeps meaning what it did.
R = TypeVar("R", default=Any)

logger = logging.getLogger("mpasync")

#: ``on_progress(finished, failed)``: items accounted for so far (succeeded, failed or
#: skipped by the journal) and how many of them failed.
Progress = Callable[[int, int], object]


@dataclass
class BulkReport(Generic[K, R]):
    """What a bulk run did, item by item; typed by item and result (``BulkReport[int,
    FilterChange]``).

    Every item taken from the input is in exactly one of ``succeeded`` (done in this
    run), ``failed`` (item → its exception; every one is kept), ``skipped`` (a journal
    showed it was already done) or ``not_done`` (taken but neither succeeded nor failed:
    cancelled in flight by fail_fast or a cancel, interrupted, or stopped by an input or
    journal error), so ``total == len(succeeded) + len(failed) + len(skipped) +
    len(not_done)`` whenever a run has ended, however it ended. ``results`` holds each
    succeeded item's non-None result. Items are their own keys; an unhashable item (a
    dict, say) is keyed by its position in the input.
    """

    total: int = 0
    succeeded: list[K] = field(default_factory=list)
    failed: dict[K, BaseException] = field(default_factory=dict)
    skipped: list[K] = field(default_factory=list)
    not_done: list[K] = field(default_factory=list)
    results: dict[K, R] = field(default_factory=dict)
    elapsed: float = 0.0
    retries: int = 0
    requests: int = 0
    #: True when the run stopped before the end of its input (fail_fast, a cancel, an
    #: interrupt, an input error or a journal write error).
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed, nothing was left not done, and the run finished."""
        return not self.failed and not self.not_done and not self.stopped

    @property
    def done(self) -> int:
        """Items finished in this run, successfully or not."""
        return len(self.succeeded) + len(self.failed)

    @property
    def finished(self) -> int:
        """Items accounted for: finished in this run or skipped (what progress counts)."""
        return len(self.succeeded) + len(self.failed) + len(self.skipped)

    def summary(self) -> str:
        """One line for logs and terminals."""
        line = (
            f"{self.total} items: {len(self.succeeded)} succeeded, {len(self.failed)} failed"
            f", {len(self.skipped)} skipped"
        )
        if self.not_done:
            line += f", {len(self.not_done)} not done"
        line += f" in {self.elapsed:.2f}s ({self.requests} requests, {self.retries} retries)"
        return line + (" [stopped early]" if self.stopped else "")


def _report_key(item: Any, position: int) -> Any:
    """The report's key for an item: the item itself, or its position if unhashable."""
    try:
        hash(item)
    except TypeError:
        return position
    return item


class _Items(Generic[K]):
    """One lazy stream of items shared by the workers (async generators need a lock)."""

    def __init__(self, items: Iterable[K] | AsyncIterable[K]) -> None:
        self._sync: Iterator[K] | None = None
        self._async: AsyncIterator[K] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        elif isinstance(items, Iterable):
            self._sync = iter(items)
        else:
            raise RequestValidationError(
                f"items must be an iterable or async iterable, got {type(items).__name__}",
                field="items",
            )
        self._lock = anyio.Lock()
        self._exhausted = False

    async def next(self) -> tuple[bool, K | None]:
        if self._exhausted:
            return False, None
        if self._sync is not None:
            try:
                return True, next(self._sync)
            except StopIteration:
                self._exhausted = True
                return False, None
        assert self._async is not None
        async with self._lock:
            if self._exhausted:
                return False, None
            try:
                return True, await self._async.__anext__()
            except StopAsyncIteration:
                self._exhausted = True
                return False, None


async def _run_cancelled(scope: anyio.CancelScope) -> bool:
    """Whether the run itself is being cancelled (as opposed to an item function raising
    `CancelledError` of its own accord, which is that item's failure)."""
    if scope.cancel_called:
        return True
    try:
        task = asyncio.current_task()
    except RuntimeError:  # not on asyncio
        task = None
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None and cancelling():
        return True
    if cancelling is None and task is not None:
        # Python 3.10 cannot say whether this task is being cancelled once the
        # CancelledError is delivered. A run cancelled from outside (asyncio.run's
        # cancel-all on Ctrl-C cancels every task at once) cancels the task that hosts
        # the run too, and its task group then cancels `scope`: give it a turn to.
        try:
            for _ in range(2):
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            return True
        if scope.cancel_called:
            return True
    try:  # an enclosing cancel scope (a timeout around the run, say) that is cancelled
        await anyio.lowlevel.checkpoint_if_cancelled()
    except anyio.get_cancelled_exc_class():
        return True
    return False


# What stops a run and escapes from it as itself (not in an exception group).
_INTERRUPTS = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _journal_of(journal: str | Path | Journal | None) -> Journal | None:
    if journal is None or isinstance(journal, Journal):
        return journal
    if not isinstance(journal, (str, Path)):
        raise RequestValidationError(
            f"journal must be a path, got {type(journal).__name__}", field="journal"
        )
    return Journal(journal)


async def run_bulk(
    fn: Callable[[K], Awaitable[R]],
    items: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int,
    fail_fast: bool = False,
    on_progress: Progress | None = None,
    journal: str | Path | Journal | None = None,
    stats: Any = None,
    report: BulkReport[K, R] | None = None,
    priority: Priority = BACKGROUND,
) -> BulkReport[K, R]:
    """The scheduler behind `Bulk.map`; usable without a client.

    Requests the items send go in the ``priority`` lane (`mpasync.priority`; background
    by default, so a plain call on the same client goes first) unless the client view
    they are sent through has its own ``priority``.

    ``report`` may be passed in so a caller keeps a handle on the partial report even
    if the run is cancelled. ``stats`` is a `TransportStats` whose retries are reported.

    How a run ends, and what the report says (every item is accounted for in all cases):

    * normally: ``stopped`` False; items failed are in ``failed``.
    * ``fail_fast`` and an item fails: in-flight items are cancelled (``not_done``), the
      report is returned with ``stopped`` True.
    * the caller cancels: in-flight items are ``not_done``; `CancelledError` propagates.
    * an item raises `KeyboardInterrupt`, `SystemExit`, `GeneratorExit` (or another
      `BaseException` that is not a cancellation): that item and the in-flight ones are
      ``not_done``, and the exception itself (never an exception group) propagates once
      the report is complete.
    * the input raises, or the journal cannot be written: no new item is started,
      in-flight items finish, then the error propagates (a journal write error as one
      `JournalError` whose ``report`` is this report).
    * an item function raises `CancelledError` while the run is not being cancelled:
      that item failed, and the run goes on.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise RequestValidationError("concurrency must be an integer >= 1", field="concurrency")
    if not callable(fn):
        raise RequestValidationError("fn must be an async callable", field="fn")
    lane = check_priority(priority)
    run: BulkReport[K, R] = report if report is not None else BulkReport()
    stream = _Items(items)
    book = _journal_of(journal)
    if book is not None:
        book.open()  # a foreign, locked or unopenable journal: refused before any item
    retries0 = stats.retries if stats is not None else 0
    requests0 = stats.requests if stats is not None else 0
    started = clock.now()
    # Why the run stopped early, first cause first; raised once the workers are done.
    causes: list[BaseException] = []
    halted = False

    def halt(cause: BaseException, scope: anyio.CancelScope | None = None) -> None:
        nonlocal halted
        halted = True
        run.stopped = True
        causes.append(cause)
        if scope is not None:
            scope.cancel()

    def progress() -> None:
        if on_progress is not None:
            try:
                on_progress(run.finished, len(run.failed))
            except Exception:
                logger.exception("on_progress callback failed")

    async def worker(scope: anyio.CancelScope) -> None:
        with in_lane(lane):
            await work(scope)

    async def work(scope: anyio.CancelScope) -> None:
        while not halted:
            try:
                more, item = await stream.next()
            except _INTERRUPTS as exc:
                halt(exc, scope)
                return
            except Exception as exc:  # the caller's iterable failed: start nothing more
                halt(exc)
                return
            if not more:
                return
            position = run.total
            run.total += 1
            key = _report_key(item, position)
            if book is not None:
                try:
                    journal_key = item_key(item)
                except RequestValidationError as exc:
                    run.not_done.append(key)
                    halt(exc)
                    return
                if journal_key in book.done:
                    run.skipped.append(key)
                    progress()
                    continue
            outcome: BaseException | None = None
            with collecting_notes() as notes:
                try:
                    result = await fn(item)  # type: ignore[arg-type]
                except BaseException as exc:
                    outcome = exc
            if isinstance(outcome, anyio.get_cancelled_exc_class()):
                if await _run_cancelled(scope):
                    run.not_done.append(key)
                    raise outcome
            elif outcome is not None and not isinstance(outcome, Exception):
                # KeyboardInterrupt, SystemExit, GeneratorExit and the like: not the item's
                # fault. Raised by itself once the report is complete, never inside the task
                # group's BaseExceptionGroup.
                run.not_done.append(key)
                halt(outcome, scope)
                return
            if outcome is None:
                run.succeeded.append(key)
                if result is not None:
                    run.results[key] = result
            else:
                run.failed[key] = outcome
            if book is not None and book.broken is None:
                try:
                    book.record(item, outcome, **notes)
                except JournalError as exc:
                    halt(exc)
            progress()
            if outcome is not None and fail_fast:
                run.stopped = True
                scope.cancel()
                return

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker, tg.cancel_scope)
    except BaseException:
        run.stopped = True
        raise
    finally:
        if book is not None:
            try:
                book.close()
            except JournalError as exc:
                causes.append(exc)
        run.elapsed = clock.now() - started
        if stats is not None:
            run.retries = stats.retries - retries0
            run.requests = stats.requests - requests0
    if causes:
        cause = next((c for c in causes if not isinstance(c, Exception)), causes[0])
        if isinstance(cause, JournalError):
            cause.report = run
            cause.args = (f"{cause}; the run stopped: {run.summary()}",)
        raise cause
    return run


class Bulk:
    """Fan-out helpers bound to a client (``mp.bulk``); they share its limits and pool.

    ``last_report`` is the report of the run in progress or the last one, so a caller
    that cancels (or interrupts) a run can still see what completed.

    The datapoint-filter helpers take ``journal=path``: a rerun with the same journal
    skips apps already done; a journal started by another job (operation, service or
    policy), on another target (this client's account id and base URL), or whose run was
    reverted is refused with `JournalError`. Every write they make records what the app
    held before and after it, which `revert_datapoint_filters` uses to undo the run. A dry
    run reads and checks the journal but never writes it, so it never makes a later run
    skip anything.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.last_report: BulkReport[Any, Any] | None = None

    def _job(
        self, operation: str, service: str | None = None, policy: str | None = None
    ) -> JournalJob:
        """A journal job bound to this client's target (account id and API base URL)."""
        return JournalJob(
            operation,
            service,
            policy,
            account=self._client.account_id,
            base_url=safe_url(self._client.transport.base_url),
        )

    def _concurrency(self, concurrency: int | None) -> int:
        return (
            concurrency if concurrency is not None else self._client.transport.concurrency.capacity
        )

    async def map(
        self,
        fn: Callable[[K], Awaitable[R]],
        items: Iterable[K] | AsyncIterable[K],
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | Journal | None = None,
        *,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[K, R]:
        """Run ``fn(item)`` for every item; at most ``concurrency`` at a time.

        >>> report = await mp.bulk.map(mp.apps.get, range(1, 101), concurrency=16)
        >>> report.ok, len(report.results)

        ``fail_fast`` stops scheduling and cancels in-flight items on the first failure.
        ``on_progress(finished, failed)`` runs after every item (skipped ones included).
        ``journal`` is a JSON-lines file (see `mpasync.journal`); items it records as
        succeeded are skipped (made for interrupted migrations). See `run_bulk` for how
        each way a run can end is reported. The requests ``fn`` sends go in the
        ``priority`` lane (background: a plain call on the client goes first).
        """
        report: BulkReport[K, R] = BulkReport()
        self.last_report = report
        if isinstance(journal, (str, Path)):
            journal = Journal(journal, self._job("map"))
        return await run_bulk(
            fn,
            items,
            concurrency=self._concurrency(concurrency),
            fail_fast=fail_fast,
            on_progress=on_progress,
            journal=journal,
            stats=self._client.transport.stats,
            report=report,
            priority=priority,
        )

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
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, Any]:
        """PUT the same filter list to every app (filters are checked once, up front).

        ``results`` stays empty. With a journal, each app's filters are read before and
        after the PUT and recorded, so the run can be reverted.
        """
        checked = checked_filters(filters, service)
        resource = self._client.datapoint_filters
        job = self._job("update_datapoint_filters", service, policy_hash(policy_of(checked)))
        book = self._book(journal, job)

        async def one(app_id: int) -> None:
            if book is not None:
                note(before=journal_filters(await resource.list(app_id, service)))
            await resource.update(app_id, service, checked)
            if book is not None:
                note(after=journal_filters(await resource.list(app_id, service)))

        return await self.map(
            one, app_ids, concurrency, fail_fast, on_progress, book, priority=priority
        )

    async def _sync(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        desired: Callable[[int], list[DataPointFilter]],
        job: JournalJob,
        dry_run: bool,
        concurrency: int | None,
        fail_fast: bool,
        on_progress: Progress | None,
        journal: str | Path | None,
        *,
        complete: bool = False,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        resource = self._client.datapoint_filters
        book = self._book(journal, job, dry_run=dry_run)
        journaled = book is not None and not dry_run

        async def one(app_id: int) -> FilterChange:
            return await sync_one(
                resource, app_id, service, desired(app_id), dry_run, journaled, complete
            )

        return await self.map(
            one, app_ids, concurrency, fail_fast, on_progress, book, priority=priority
        )

    async def sync_datapoint_filters(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        filters: Iterable[DataPointFilter | dict[str, Any]],
        dry_run: bool = False,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Read each app's filters, PUT only what differs, and report per app what changed.

        ``report.results[app_id]`` is a `FilterChange`. With ``dry_run`` nothing is
        written (not even the journal): the report says what *would* change. With a
        journal, each app written is read once more after the PUT, to record what it
        holds (`revert_datapoint_filters` needs it).
        """
        checked = checked_filters(filters, service)
        job = self._job("sync_datapoint_filters", service, policy_hash(policy_of(checked)))
        return await self._sync(
            app_ids,
            service,
            lambda _: checked,
            job,
            dry_run,
            concurrency,
            fail_fast,
            on_progress,
            journal,
            priority=priority,
        )

    async def copy_datapoint_filters(
        self,
        from_app: int,
        to_apps: Iterable[int] | AsyncIterable[int],
        service: str,
        dry_run: bool = False,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Make many apps' filters for ``service`` match one app's (a sync per target).

        The journal's policy is the source app's filters as read now: if they change
        between a crash and the resume, the journal is refused as another job's.
        """
        checked_service(service)
        source = await self._client.datapoint_filters.list(from_app, service)
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
            to_apps,
            service,
            lambda _: template,
            job,
            dry_run,
            concurrency,
            fail_fast,
            on_progress,
            journal,
            priority=priority,
        )

    async def export_datapoint_filters(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        *,
        concurrency: int | None = None,
        on_progress: Progress | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, list[DataPointFilter]]:
        """Read every app's filters for ``service``: ``results[app_id]`` is its list.

        ``{app_id: filters}`` from the results is a snapshot that
        `apply_datapoint_filter_snapshot` restores.
        """
        checked_service(service)
        resource = self._client.datapoint_filters

        async def one(app_id: int) -> list[DataPointFilter]:
            return await resource.list(app_id, service)

        return await self.map(one, app_ids, concurrency, False, on_progress, priority=priority)

    async def apply_datapoint_filter_snapshot(
        self,
        snapshot: Mapping[int, Iterable[DataPointFilter | dict[str, Any]]],
        service: str,
        *,
        dry_run: bool = False,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[int, FilterChange]:
        """Restore a snapshot (app id → that app's filters): a sync per app to its own list.

        App ids may be ints or digit strings (JSON object keys); every list is checked
        before anything is sent (``snapshot[<app>][<i>]`` names a bad entry).
        """
        checked_service(service)
        checked = checked_snapshot(snapshot)
        policy = policy_hash({str(a): policy_of(f) for a, f in checked.items()})
        job = self._job("apply_datapoint_filter_snapshot", service, policy)
        return await self._sync(
            list(checked),
            service,
            checked.__getitem__,
            job,
            dry_run,
            concurrency,
            fail_fast,
            on_progress,
            journal,
            complete=True,
            priority=priority,
        )

    async def revert_datapoint_filters(
        self,
        journal: str | Path,
        *,
        force: bool = False,
        concurrency: int | None = None,
        on_progress: Progress | None = None,
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
        resource = self._client.datapoint_filters

        async def one(app_id: int) -> FilterChange:
            return await revert_one(resource, app_id, service, plans[app_id], force)

        return await self.map(
            one, list(plans), concurrency, False, on_progress, book, priority=priority
        )
