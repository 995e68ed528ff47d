"""Bulk fan-out: run one coroutine per item under bounded concurrency, and report on every item.

The scheduler (like aiometer's) is separate from the limits: ``concurrency`` workers pull
items lazily from any iterable or async iterable, so at most ``concurrency`` items are in
progress and at most that many tasks exist, whether the input holds ten items or ten
million. The HTTP limits are the client's own (its semaphore and rate limiter), so bulk
work and every other caller of the same client share one budget. Every failure is kept;
a JSON-lines journal makes interrupted runs resumable.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TextIO, TypeVar

import anyio
import msgspec

from mpasync.errors import RequestValidationError
from mpasync.models import DataPointFilter
from mpasync.validation import validate_filters

if TYPE_CHECKING:
    from mpasync.client import Client

__all__ = ["Bulk", "BulkReport", "FilterChange", "Journal", "run_bulk"]

K = TypeVar("K")
R = TypeVar("R")

logger = logging.getLogger("mpasync")

Progress = Callable[[int, int], object]


@dataclass
class BulkReport(Generic[K]):
    """What a bulk run did, item by item.

    ``succeeded`` lists the items done in this run, ``failed`` maps each failed item to
    its exception (every one is kept), ``skipped`` lists items a journal showed were
    already done, and ``results`` holds each item's non-None result. Items are their own
    keys; an unhashable item (a dict, say) is keyed by its position in the input.
    """

    total: int = 0
    succeeded: list[K] = field(default_factory=list)
    failed: dict[K, BaseException] = field(default_factory=dict)
    skipped: list[K] = field(default_factory=list)
    results: dict[K, Any] = field(default_factory=dict)
    elapsed: float = 0.0
    retries: int = 0
    requests: int = 0
    #: True when the run stopped early (fail_fast, or the caller cancelled it).
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when every item succeeded (or was already done) and the run finished."""
        return not self.failed and not self.stopped

    @property
    def done(self) -> int:
        """Items finished in this run, successfully or not."""
        return len(self.succeeded) + len(self.failed)

    def summary(self) -> str:
        """One line for logs and terminals."""
        line = (
            f"{self.total} items: {len(self.succeeded)} succeeded, {len(self.failed)} failed"
            f", {len(self.skipped)} skipped in {self.elapsed:.2f}s"
            f" ({self.requests} requests, {self.retries} retries)"
        )
        return line + (" [stopped early]" if self.stopped else "")


def _journal_key(item: object) -> str:
    try:
        return msgspec.json.encode(item).decode()
    except (TypeError, msgspec.MsgspecError):
        raise RequestValidationError(
            f"a journal needs JSON-encodable items, got {type(item).__name__}", field="items"
        ) from None


def _report_key(item: Any, position: int) -> Any:
    """The report's key for an item: the item itself, or its position if unhashable."""
    try:
        hash(item)
    except TypeError:
        return position
    return item


class Journal:
    """An append-only JSON-lines record of each item's outcome, for resuming runs.

    Each line: ``{"item": ..., "ok": true|false, "error": "...", "time": ...}``. Items
    must be JSON-encodable (app ids are). Reading tolerates a torn last line.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: TextIO | None = None

    def succeeded(self) -> set[str]:
        """Keys of the items recorded as succeeded by earlier runs."""
        done: set[str] = set()
        if not self.path.exists():
            return done
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash mid-write
                if isinstance(entry, dict) and entry.get("ok") is True and "item" in entry:
                    done.add(_journal_key(entry["item"]))
        return done

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def record(self, item: object, error: BaseException | None) -> None:
        if self._file is None:
            return
        entry: dict[str, Any] = {"item": item, "ok": error is None, "time": time.time()}
        if error is not None:
            entry["error"] = f"{type(error).__name__}: {error}"
        self._file.write(msgspec.json.encode(entry).decode() + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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


async def run_bulk(
    fn: Callable[[K], Awaitable[Any]],
    items: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int,
    fail_fast: bool = False,
    on_progress: Progress | None = None,
    journal: str | Path | None = None,
    stats: Any = None,
    report: BulkReport[K] | None = None,
) -> BulkReport[K]:
    """The scheduler behind `Bulk.map`; usable without a client.

    ``report`` may be passed in so a caller keeps a handle on the partial report even
    if the run is cancelled. ``stats`` is a `TransportStats` whose retries are reported.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise RequestValidationError("concurrency must be an integer >= 1", field="concurrency")
    if not callable(fn):
        raise RequestValidationError("fn must be an async callable", field="fn")
    report = report if report is not None else BulkReport()
    stream = _Items(items)
    book = Journal(journal) if journal is not None else None
    already = book.succeeded() if book is not None else set()
    retries0 = stats.retries if stats is not None else 0
    requests0 = stats.requests if stats is not None else 0
    started = time.monotonic()
    iteration_error: list[BaseException] = []

    async def worker(scope: anyio.CancelScope) -> None:
        while True:
            try:
                more, item = await stream.next()
            except Exception as exc:  # the caller's iterable failed: stop everything
                iteration_error.append(exc)
                scope.cancel()
                return
            if not more:
                return
            position = report.total
            report.total += 1
            try:
                key = _report_key(item, position)
                journal_key = _journal_key(item) if book is not None else ""
            except RequestValidationError as exc:
                iteration_error.append(exc)
                scope.cancel()
                return
            if journal_key and journal_key in already:
                report.skipped.append(key)
                continue
            error: BaseException | None = None
            try:
                result = await fn(item)  # type: ignore[arg-type]
            except Exception as exc:
                error = exc
                report.failed[key] = exc
            else:
                report.succeeded.append(key)
                if result is not None:
                    report.results[key] = result
            if book is not None:
                book.record(item, error)
            if on_progress is not None:
                try:
                    on_progress(report.done, len(report.failed))
                except Exception:
                    logger.exception("on_progress callback failed")
            if error is not None and fail_fast:
                report.stopped = True
                scope.cancel()
                return

    if book is not None:
        book.open()
    try:
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker, tg.cancel_scope)
    except BaseException:
        report.stopped = True
        raise
    finally:
        if book is not None:
            book.close()
        report.elapsed = time.monotonic() - started
        if stats is not None:
            report.retries = stats.retries - retries0
            report.requests = stats.requests - requests0
    if iteration_error:
        raise iteration_error[0]
    return report


@dataclass
class FilterChange:
    """What `Bulk.sync_datapoint_filters` found (and changed) for one app."""

    app_id: int
    added: list[DataPointFilter] = field(default_factory=list)
    enabled: list[DataPointFilter] = field(default_factory=list)
    disabled: list[DataPointFilter] = field(default_factory=list)
    unchanged: int = 0
    #: Filters the policy enables that a disabled parent (EventType, Event, Commerce,
    #: ScreenView) keeps showing as disabled; counted as unchanged.
    masked: list[DataPointFilter] = field(default_factory=list)
    applied: bool = False

    @property
    def changes(self) -> list[DataPointFilter]:
        """Every filter that differs from the app's current state."""
        return [*self.added, *self.enabled, *self.disabled]

    def describe(self) -> str:
        """``"nothing"`` or e.g. ``"2 added, 1 disabled"``."""
        parts = [
            f"{len(group)} {label}"
            for group, label in (
                (self.added, "added"),
                (self.enabled, "enabled"),
                (self.disabled, "disabled"),
            )
            if group
        ]
        return ", ".join(parts) if parts else "nothing"


def _parents(f: DataPointFilter) -> list[tuple[str, str, str | None, str | None]]:
    """The filters whose being disabled disables ``f`` (the reference's hierarchy)."""
    kind, name, event_type = f.type.lower(), f.name, f.event_type
    by_type: list[tuple[str, str, str | None, str | None]] = (
        [("eventtype", event_type, None, None)] if event_type else []
    )
    if kind == "event":
        return by_type
    if kind == "eventattribute":
        return [("event", name, None, event_type), *by_type]
    if kind == "commerceattribute":
        return [("commerce", name, None, event_type)]
    if kind == "screenviewattribute":
        return [("screenview", name, None, None)]
    return []


def diff_filters(
    app_id: int, current: Iterable[DataPointFilter], desired: Iterable[DataPointFilter]
) -> FilterChange:
    """Compare an app's current filters with the desired ones, by filter identity.

    The API lists *effective* values: disabling an EventType disables its Events and
    their attributes, disabling an Event its attributes (likewise Commerce and
    ScreenView). So each desired filter is compared with the value it will show once the
    policy is applied — its own ``enabled`` and every parent's — and a filter the policy
    enables under a parent that stays disabled is reported as ``masked``, not as a change
    to make on every run.
    """
    have = {f.key(): f.enabled for f in current}
    wanted = {f.key(): f for f in desired}
    expected: dict[tuple[str, str, str | None, str | None], bool] = {}

    def shows(key: tuple[str, str, str | None, str | None]) -> bool:
        if key not in expected:
            f = wanted.get(key)
            if f is None:  # outside the policy: stays as it is (absent means enabled)
                expected[key] = have.get(key, True)
            else:
                expected[key] = f.enabled and all(shows(p) for p in _parents(f))
        return expected[key]

    change = FilterChange(app_id)
    for key, want in wanted.items():
        state = have.get(key)
        target = shows(key)
        if state is None:
            change.added.append(want)
        elif state != target:
            (change.enabled if target else change.disabled).append(want)
        else:
            change.unchanged += 1
            if want.enabled and not target:
                change.masked.append(want)
    return change


class Bulk:
    """Fan-out helpers bound to a client (``mp.bulk``); they share its limits and pool.

    ``last_report`` is the report of the run in progress or the last one, so a caller
    that cancels a run can still see what completed.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.last_report: BulkReport[Any] | None = None

    def _concurrency(self, concurrency: int | None) -> int:
        return (
            concurrency if concurrency is not None else self._client.transport.concurrency.capacity
        )

    async def map(
        self,
        fn: Callable[[K], Awaitable[Any]],
        items: Iterable[K] | AsyncIterable[K],
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | None = None,
    ) -> BulkReport[K]:
        """Run ``fn(item)`` for every item; at most ``concurrency`` at a time.

        >>> report = await mp.bulk.map(mp.apps.get, range(1, 101), concurrency=16)
        >>> report.ok, len(report.results)

        ``fail_fast`` stops scheduling and cancels in-flight items on the first failure.
        ``on_progress(done, failed)`` runs after every item. ``journal`` is a JSON-lines
        file; items it records as succeeded are skipped (made for interrupted migrations).
        """
        report: BulkReport[K] = BulkReport()
        self.last_report = report
        return await run_bulk(
            fn,
            items,
            concurrency=self._concurrency(concurrency),
            fail_fast=fail_fast,
            on_progress=on_progress,
            journal=journal,
            stats=self._client.transport.stats,
            report=report,
        )

    async def update_datapoint_filters(
        self,
        app_ids: Iterable[int] | AsyncIterable[int],
        service: str,
        filters: Iterable[DataPointFilter | dict[str, Any]],
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
        journal: str | Path | None = None,
    ) -> BulkReport[int]:
        """PUT the same filter list to every app (filters are checked once, up front)."""
        checked = _checked_filters(filters, service)
        updates = self._client.datapoint_filters

        async def one(app_id: int) -> None:
            await updates.update(app_id, service, checked)

        return await self.map(one, app_ids, concurrency, fail_fast, on_progress, journal)

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
    ) -> BulkReport[int]:
        """Read each app's filters, PUT only what differs, and report per app what changed.

        ``report.results[app_id]`` is a `FilterChange`. With ``dry_run`` nothing is
        written: the report says what *would* change.
        """
        checked = _checked_filters(filters, service)
        resource = self._client.datapoint_filters

        async def one(app_id: int) -> FilterChange:
            current = await resource.list(app_id, service)
            change = diff_filters(app_id, current, checked)
            if change.changes and not dry_run:
                await resource.update(app_id, service, change.changes)
                change.applied = True
            return change

        return await self.map(one, app_ids, concurrency, fail_fast, on_progress, journal)

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
    ) -> BulkReport[int]:
        """Make many apps' filters for ``service`` match one app's (a sync per target)."""
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
        return await self.sync_datapoint_filters(
            to_apps, service, template, dry_run, concurrency, fail_fast, on_progress, journal
        )


def _checked_filters(
    filters: Iterable[DataPointFilter | dict[str, Any]], service: str
) -> list[DataPointFilter]:
    if not isinstance(service, str) or not service.strip():
        raise RequestValidationError("service must be a non-empty string", field="service")
    return validate_filters(filters)
