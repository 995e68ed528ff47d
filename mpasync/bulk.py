"""Bulk fan-out: run one coroutine per item under bounded concurrency, and report on every item.

The scheduler (like aiometer's) is separate from the limits: ``concurrency`` workers pull
items lazily from any iterable or async iterable, so at most ``concurrency`` items are in
progress and at most that many tasks exist, whether the input holds ten items or ten
million. The HTTP limits are the client's own (its semaphore and rate limiter), so bulk
work and every other caller of the same client share one budget.

Every item taken from the input is accounted for, however the run ends: it succeeded,
failed (every error kept), was skipped (a journal says it was done), or is *not done*
(cancelled in flight, interrupted, or stopped by an input or journal error). A journal
(`mpasync.journal`) makes interrupted runs resumable; what an item adds to its journal
record travels in its result (an `Outcome`), never beside it.

This module is the scheduler and its report only; the datapoint-filter migrations built
on it (``mp.bulk.sync_datapoint_filters`` and the rest) are `mpasync.migrations`, and
importing this one loads none of them.
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
    Sized,
)
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, overload

import anyio
import anyio.lowlevel
from typing_extensions import TypeVar

from mpasync import clock
from mpasync.auth import safe_url
from mpasync.errors import JournalError, RequestValidationError
from mpasync.journal import Journal, JournalJob, item_key
from mpasync.outcome import Outcome
from mpasync.priority import BACKGROUND, Priority, check_priority, in_lane

if TYPE_CHECKING:
    from mpasync.filter_migrations import FilterChange, RevertConflict, diff_filters
    from mpasync.transport import Transport


class BulkHost(Protocol):
    """What `Bulk` needs of its client: the transport (limits, stats, base URL) and the
    account id its journals are bound to."""

    @property
    def transport(self) -> Transport: ...

    @property
    def account_id(self) -> int | None: ...


__all__ = [
    "Bulk",
    "BulkReport",
    "FilterChange",
    "Journal",
    "OnEvent",
    "OnProgress",
    "Outcome",
    "ProgressEvent",
    "RevertConflict",
    "RunOptions",
    "diff_filters",
    "run",
    "run_bulk",
]

# Names of the filter migrations that lived here before `mpasync.migrations`: loaded on
# first use, so importing the scheduler loads no filter module.
_MOVED = {
    "FilterChange": "mpasync.filter_migrations",
    "RevertConflict": "mpasync.filter_migrations",
    "diff_filters": "mpasync.filter_migrations",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'mpasync.bulk' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)


K = TypeVar("K")
#: The result type; defaults to Any so ``BulkReport[int]`` keeps meaning what it did.
R = TypeVar("R", default=Any)

logger = logging.getLogger("mpasync")

#: ``on_progress(finished, failed)``: items accounted for so far (succeeded, failed or
#: skipped by the journal) and how many of them failed.
OnProgress = Callable[[int, int], object]
#: The old name of `OnProgress` (`mpasync.progress.Progress` is the display).
Progress = OnProgress


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Where a bulk run stands, passed to ``on_event`` after every item: every count, so
    a progress display never reads a shared report mid-run."""

    done: int  #: succeeded
    failed: int
    skipped: int  #: skipped: a journal says they were done
    not_done: int  #: taken but neither succeeded nor failed (cancelled in flight)
    total: int  #: taken from the input so far

    @property
    def finished(self) -> int:
        """Items accounted for: done, failed or skipped."""
        return self.done + self.failed + self.skipped


#: ``on_event(ProgressEvent)``.
OnEvent = Callable[[ProgressEvent], object]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How one bulk run goes, as one value: checked once, when built, then handed on.

    The bulk helpers take these as keyword arguments (``concurrency=``, ``fail_fast=``,
    ...) and build one; a bad value is a `RequestValidationError` before any item is
    taken. ``concurrency`` None means the client's ``max_concurrency``.
    """

    concurrency: int | None = None
    fail_fast: bool = False
    on_progress: OnProgress | None = None
    on_event: OnEvent | None = None
    priority: Priority = BACKGROUND

    def __post_init__(self) -> None:
        n = self.concurrency
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise RequestValidationError("concurrency must be an integer >= 1", field="concurrency")
        if not isinstance(self.fail_fast, bool):
            raise RequestValidationError("fail_fast must be True or False", field="fail_fast")
        for name, callback in (("on_progress", self.on_progress), ("on_event", self.on_event)):
            if callback is not None and not callable(callback):
                raise RequestValidationError(f"{name} must be callable or None", field=name)
        object.__setattr__(self, "priority", check_priority(self.priority))

    def with_default_concurrency(self, concurrency: int) -> RunOptions:
        """These options, with ``concurrency`` (a client's capacity) if they name none."""
        return self if self.concurrency is not None else replace(self, concurrency=concurrency)


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


@overload
async def run_bulk(
    fn: Callable[[K], Awaitable[Outcome[R]]],
    items: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int,
    fail_fast: bool = ...,
    on_progress: OnProgress | None = ...,
    on_event: OnEvent | None = ...,
    journal: str | Path | Journal | None = ...,
    stats: Any = ...,
    report: BulkReport[K, R] | None = ...,
    priority: Priority = ...,
) -> BulkReport[K, R]: ...
@overload
async def run_bulk(
    fn: Callable[[K], Awaitable[R]],
    items: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int,
    fail_fast: bool = ...,
    on_progress: OnProgress | None = ...,
    on_event: OnEvent | None = ...,
    journal: str | Path | Journal | None = ...,
    stats: Any = ...,
    report: BulkReport[K, R] | None = ...,
    priority: Priority = ...,
) -> BulkReport[K, R]: ...
async def run_bulk(
    fn: Callable[[K], Awaitable[Any]],
    items: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int,
    fail_fast: bool = False,
    on_progress: OnProgress | None = None,
    on_event: OnEvent | None = None,
    journal: str | Path | Journal | None = None,
    stats: Any = None,
    report: BulkReport[K, Any] | None = None,
    priority: Priority = BACKGROUND,
) -> BulkReport[K, Any]:
    """The scheduler behind `Bulk.map`, usable without a client: `run` with its options
    as keyword arguments (``journal`` may be a path)."""
    options = RunOptions(concurrency, fail_fast, on_progress, on_event, priority)
    return await run(fn, items, options, journal=_journal_of(journal), stats=stats, report=report)


async def run(
    fn: Callable[[K], Awaitable[R | Outcome[R]]],
    items: Iterable[K] | AsyncIterable[K],
    options: RunOptions,
    *,
    journal: Journal | None = None,
    stats: Any = None,
    report: BulkReport[K, R] | None = None,
) -> BulkReport[K, R]:
    """The scheduler: ``fn(item)`` for every item, as ``options`` say.

    Requests the items send go in the ``options.priority`` lane (`mpasync.priority`;
    background by default, so a plain call on the same client goes first) unless the
    client view they are sent through has its own ``priority``.

    ``fn`` returns the item's result, or an `Outcome`: the result with the fields its
    journal record adds (and, if it failed, its error). ``report`` may be passed in so a
    caller keeps a handle on the partial report even if the run is cancelled. ``stats``
    is a `TransportStats` whose retries are reported.

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
    concurrency = options.concurrency
    if concurrency is None:
        raise RequestValidationError("concurrency must be an integer >= 1", field="concurrency")
    if not callable(fn):
        raise RequestValidationError("fn must be an async callable", field="fn")
    on_progress, on_event = options.on_progress, options.on_event
    run: BulkReport[K, R] = report if report is not None else BulkReport()
    stream = _Items(items)
    book = journal
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
        if on_event is not None:
            event = ProgressEvent(
                len(run.succeeded), len(run.failed), len(run.skipped), len(run.not_done), run.total
            )
            try:
                on_event(event)
            except Exception:
                logger.exception("on_event callback failed")

    def journaled(
        book: Journal, item: object, failure: BaseException | None, record: Mapping[str, Any]
    ) -> BaseException | None:
        """Record an item's outcome; returns its failure, which is a record the journal
        cannot hold (then the failure alone is recorded)."""
        try:
            try:
                book.record(item, failure, **record)
            except RequestValidationError as exc:  # nothing was written
                failure = exc
                book.record(item, failure)
        except JournalError as exc:
            halt(exc)
        return failure

    async def worker(scope: anyio.CancelScope) -> None:
        with in_lane(options.priority):
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
            failure: BaseException | None = None
            record: Mapping[str, Any] = {}
            try:
                result = await fn(item)  # type: ignore[arg-type]
            except BaseException as exc:
                failure, result = exc, None
            if isinstance(result, Outcome):  # the result, and what its record adds
                outcome: Outcome[R] = result
                result, record, failure = outcome.value, outcome.record, outcome.error
            if isinstance(failure, anyio.get_cancelled_exc_class()):
                if await _run_cancelled(scope):
                    run.not_done.append(key)
                    raise failure
            elif failure is not None and not isinstance(failure, Exception):
                # KeyboardInterrupt, SystemExit, GeneratorExit and the like: not the item's
                # fault. Raised by itself once the report is complete, never inside the task
                # group's BaseExceptionGroup.
                run.not_done.append(key)
                halt(failure, scope)
                return
            if book is not None and book.broken is None:
                failure = journaled(book, item, failure, record)
            if failure is None:
                run.succeeded.append(key)
                if result is not None:
                    run.results[key] = result
            else:
                run.failed[key] = failure
            progress()
            if failure is not None and options.fail_fast:
                run.stopped = True
                scope.cancel()
                return

    try:
        async with anyio.create_task_group() as tg:
            # No more workers than items, when the input says how many (a list of 50
            # at concurrency 100000 starts 50 tasks, not 100000 idle ones).
            workers = (
                min(concurrency, max(1, len(items))) if isinstance(items, Sized) else concurrency
            )
            for _ in range(workers):
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

    ``last_report`` is the report of the last run on this helper to finish, however it
    ended: a caller whose run was cancelled or interrupted finds there what completed.
    It is set when a run ends, never during one (follow a run with ``on_event``).
    """

    def __init__(self, client: BulkHost) -> None:
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

    @overload
    async def map(
        self,
        fn: Callable[[K], Awaitable[Outcome[R]]],
        items: Iterable[K] | AsyncIterable[K],
        *,
        concurrency: int | None = ...,
        fail_fast: bool = ...,
        on_progress: OnProgress | None = ...,
        on_event: OnEvent | None = ...,
        journal: str | Path | Journal | None = ...,
        priority: Priority = ...,
    ) -> BulkReport[K, R]: ...
    @overload
    async def map(
        self,
        fn: Callable[[K], Awaitable[R]],
        items: Iterable[K] | AsyncIterable[K],
        *,
        concurrency: int | None = ...,
        fail_fast: bool = ...,
        on_progress: OnProgress | None = ...,
        on_event: OnEvent | None = ...,
        journal: str | Path | Journal | None = ...,
        priority: Priority = ...,
    ) -> BulkReport[K, R]: ...
    async def map(
        self,
        fn: Callable[[K], Awaitable[Any]],
        items: Iterable[K] | AsyncIterable[K],
        *,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
        journal: str | Path | Journal | None = None,
        priority: Priority = BACKGROUND,
    ) -> BulkReport[K, Any]:
        """Run ``fn(item)`` for every item; at most ``concurrency`` at a time.

        >>> report = await mp.bulk.map(mp.apps.get, range(1, 101), concurrency=16)
        >>> report.ok, len(report.results)

        ``fail_fast`` stops scheduling and cancels in-flight items on the first failure.
        ``on_progress(finished, failed)`` runs after every item (skipped ones included),
        and ``on_event`` with a `ProgressEvent` holding every count.
        ``journal`` is a JSON-lines file (see `mpasync.journal`); items it records as
        succeeded are skipped (made for interrupted migrations), and ``fn`` may return an
        `Outcome` to add fields to its item's record. See `run` for how each way a run
        can end is reported. The requests ``fn`` sends go in the ``priority`` lane
        (background: a plain call on the client goes first).
        """
        options = RunOptions(concurrency, fail_fast, on_progress, on_event, priority)
        if isinstance(journal, (str, Path)):
            journal = Journal(journal, self._job("map"))
        return await self._run(fn, items, options, journal)

    async def _run(
        self,
        fn: Callable[[K], Awaitable[R | Outcome[R]]],
        items: Iterable[K] | AsyncIterable[K],
        options: RunOptions,
        journal: Journal | None = None,
    ) -> BulkReport[K, R]:
        """`run` on this client (its ``max_concurrency`` unless the options name one, its
        request counts); ``last_report`` is this run's once it ends."""
        report: BulkReport[K, R] = BulkReport()
        transport = self._client.transport
        try:
            return await run(
                fn,
                items,
                options.with_default_concurrency(transport.concurrency.capacity),
                journal=_journal_of(journal),
                stats=transport.stats,
                report=report,
            )
        finally:
            self.last_report = report
