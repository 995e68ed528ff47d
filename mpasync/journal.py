"""The bulk journal: an append-only JSON-lines file that makes interrupted runs resumable.

A journal belongs to one job. Its first line is a header naming the job (operation,
service, a sha256 of the policy) and the mpasync version that started it; reopening it for
another job is a `JournalError`, never a silent skip of work that was not done. Every
later line is one item's outcome::

    {"mpasync_journal": 1, "operation": "sync_datapoint_filters", "service": "Amplitude",
     "policy": "9f2c...", "mpasync": "0.4.0", "created": 1767225600.0}
    {"item": 17, "ok": true, "time": 1767225601.2, "before": [...], "after": [...]}
    {"item": 18, "ok": false, "time": 1767225601.3, "error": "NotFoundError: ..."}

Like SQLite's or git's on-disk formats it is append-only and recoverable: each record
starts on a new line, so a line torn by a crash costs that one record and never the next;
lines that do not parse (torn, or not UTF-8) are skipped, counted and warned about. Each
record is flushed to the OS as it is written and fsynced at most every
`FSYNC_INTERVAL` seconds and on close. An advisory lock (``flock``) makes a second
concurrent run on the same journal refuse instead of doing every item twice.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from mpasync._version import __version__
from mpasync.errors import JournalError, RequestValidationError

try:  # advisory locks are POSIX; elsewhere a journal is simply not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT",
    "FSYNC_INTERVAL",
    "Journal",
    "JournalJob",
    "collecting_notes",
    "item_key",
    "note",
    "policy_hash",
    "read_journal",
]

#: The format version written in every header; a reader refuses a newer one.
FORMAT = 1
#: At most this many seconds between two fsyncs while records are written.
FSYNC_INTERVAL = 2.0

logger = logging.getLogger("mpasync")

# The clock that paces fsyncs (a module attribute so tests can drive it).
_clock = time.monotonic


# Extra fields an item function adds to its own record. A context variable, because the
# item function runs in its bulk worker's task and context.
_NOTES: ContextVar[dict[str, Any] | None] = ContextVar("mpasync_journal_notes", default=None)


def note(**fields: Any) -> None:
    """Add JSON-encodable fields to the journal record of the bulk item being processed.

    Called from inside an item function run by `mpasync.bulk.run_bulk`; a no-op
    elsewhere. The filter helpers note ``before`` and ``after`` this way.
    """
    notes = _NOTES.get()
    if notes is not None:
        notes.update(fields)


@contextmanager
def collecting_notes() -> Iterator[dict[str, Any]]:
    """Collect the `note` calls made inside the block (by one item function) in a dict."""
    notes: dict[str, Any] = {}
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def policy_hash(policy: Any) -> str:
    """sha256 (hex) of a policy's canonical JSON: msgspec models become dicts, keys sorted.

    A filter list's order does not matter (a filter is identified by its DataPoint), so
    lists of mappings are sorted by their canonical text before hashing.
    """
    return hashlib.sha256(_canonical(policy).encode()).hexdigest()


def _canonical(value: Any) -> str:
    def normal(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): normal(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            items = [normal(x) for x in v]
            if items and all(isinstance(x, dict) for x in items):
                items.sort(key=lambda x: json.dumps(x, sort_keys=True))
            return items
        return v

    return json.dumps(normal(msgspec.to_builtins(value)), sort_keys=True, separators=(",", ":"))


def item_key(item: object) -> str:
    """An item's identity in a journal: its compact JSON (app ids, strings, tuples...)."""
    try:
        return msgspec.json.encode(item).decode()
    except (TypeError, msgspec.MsgspecError):
        raise RequestValidationError(
            f"a journal needs JSON-encodable items, got {type(item).__name__}", field="items"
        ) from None


# Operations that are one job: applying a policy by PUT or by sync converges on the same
# state, so a sync run may be resumed with an update run and vice versa.
_SAME_JOB = {
    "update_datapoint_filters": "apply_datapoint_filters",
    "sync_datapoint_filters": "apply_datapoint_filters",
}


@dataclass(frozen=True)
class JournalJob:
    """What a journal is for. Two runs are the same job when all three fields match
    (``update_datapoint_filters`` and ``sync_datapoint_filters`` count as one operation:
    both apply the policy).

    ``policy`` is a `policy_hash` (or None for jobs without one, like a plain
    ``mp.bulk.map``). The mpasync version is recorded in the header but not compared: a
    run interrupted before an upgrade may be resumed after it.
    """

    operation: str
    service: str | None = None
    policy: str | None = None

    def header(self) -> dict[str, Any]:
        return {
            "mpasync_journal": FORMAT,
            "operation": self.operation,
            "service": self.service,
            "policy": self.policy,
            "mpasync": __version__,
            "created": time.time(),
        }

    def mismatch(self, header: Mapping[str, Any]) -> str | None:
        """Why a journal with ``header`` belongs to another job, or None."""
        theirs, ours = str(header.get("operation")), self.operation
        if _SAME_JOB.get(theirs, theirs) != _SAME_JOB.get(ours, ours):
            return f"its operation is {theirs!r}, this run's is {ours!r}"
        if header.get("service") != self.service:
            return f"its service is {header.get('service')!r}, this run's is {self.service!r}"
        if header.get("policy") != self.policy:
            return (
                "it was started with a different policy (the filters changed since);"
                " use a new journal for the new policy"
            )
        return None


@dataclass
class JournalContents:
    """What `read_journal` found: the header, every parsed record, and the lines skipped."""

    header: dict[str, Any] | None
    records: list[dict[str, Any]]
    skipped_lines: int
    #: The file does not end with a newline (a torn last line, or an empty file).
    torn_tail: bool


def _lines(data: bytes) -> Iterator[tuple[int, dict[str, Any] | None]]:
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        # Decoded line by line: a line torn mid-character spoils only itself.
        text = raw.decode("utf-8", errors="replace")
        try:
            value = json.loads(text)
        except ValueError:
            yield number, None
            continue
        yield number, value if isinstance(value, dict) else None


def _parse(data: bytes, path: Path) -> JournalContents:
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    skipped = 0
    first = True
    for _, entry in _lines(data):
        if first:
            first = False
            if entry is not None and "mpasync_journal" in entry:
                header = entry
                continue
            if entry is not None and "item" in entry:
                raise JournalError(
                    f"journal {path} has no mpasync header (written by an older mpasync?);"
                    " use a new journal file",
                    path=str(path),
                )
            if entry is not None or b"\n" in data:
                raise JournalError(
                    f"{path} is not an mpasync journal (its first line is not a journal"
                    " header); use a new journal file",
                    path=str(path),
                )
            # A lone torn line with no newline: the header itself was torn, no record
            # can follow it. Treated as an empty journal (see Journal.open).
            skipped += 1
            continue
        if entry is None or "item" not in entry or not isinstance(entry.get("ok"), bool):
            skipped += 1
            continue
        records.append(entry)
    if header is not None:
        version = header.get("mpasync_journal")
        if not isinstance(version, int) or version > FORMAT:
            raise JournalError(
                f"journal {path} has format {version!r}; this mpasync reads format {FORMAT}"
                " (upgrade mpasync)",
                path=str(path),
            )
    if skipped and header is not None:
        logger.warning(
            "journal %s: %d unreadable line(s) skipped (torn by a crash, or not UTF-8/JSON)",
            path,
            skipped,
        )
    return JournalContents(header, records, skipped, bool(data) and not data.endswith(b"\n"))


def read_journal(path: str | Path) -> JournalContents:
    """Read a journal without changing it (e.g. to plan a revert).

    Raises `JournalError` when the file cannot be read, is not a journal, or is still
    being written by a running job (its lock is held).
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as exc:
        raise JournalError(f"cannot read journal {p}: {exc.strerror or exc}", path=str(p)) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise JournalError(
                        f"cannot lock journal {p}: {exc.strerror or exc}", path=str(p)
                    ) from None
                raise JournalError(
                    f"journal {p} is in use by a running job; wait for it to finish",
                    path=str(p),
                ) from None
        chunks: list[bytes] = []
        try:
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        except OSError as exc:
            raise JournalError(
                f"cannot read journal {p}: {exc.strerror or exc}", path=str(p)
            ) from None
    finally:
        os.close(fd)
    contents = _parse(b"".join(chunks), p)
    if contents.header is None:
        raise JournalError(f"journal {p} is empty (no header)", path=str(p))
    return contents


class Journal:
    """One job's journal file, opened for a run.

    >>> book = Journal("run.jsonl", JournalJob("sync_datapoint_filters", "Amplitude", h))
    >>> book.open()            # locks, checks the header (or writes it), reads the records
    >>> book.done              # keys (see `item_key`) of items recorded as succeeded
    >>> book.record(17, None, before=[...], after=[...])
    >>> book.close()

    ``read_only`` (used by dry runs) reads and checks the journal if it exists but never
    creates, locks or writes it: a dry run records nothing, so it can never make a later
    real run skip an item.
    """

    def __init__(
        self, path: str | Path, job: JournalJob | None = None, *, read_only: bool = False
    ) -> None:
        self.path = Path(path)
        self.job = job if job is not None else JournalJob("map")
        self.read_only = read_only
        #: Keys of the items recorded as succeeded when the journal was opened.
        self.done: set[str] = set()
        #: Lines skipped as unreadable when the journal was opened.
        self.skipped_lines = 0
        #: Set once a write failed; later records are not attempted.
        self.broken: JournalError | None = None
        self._fd: int | None = None
        self._last_sync = 0.0

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, {self.job.operation!r})"

    def succeeded(self) -> set[str]:
        """Keys of the items this journal records as succeeded (reads the file)."""
        if not self.path.exists():
            return set()
        return _done(_parse(self._read_path(), self.path))

    def _read_path(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise self._error("cannot read", exc) from None

    def _error(self, what: str, exc: OSError) -> JournalError:
        return JournalError(
            f"{what} journal {self.path}: {exc.strerror or exc}", path=str(self.path)
        )

    def open(self) -> None:
        """Lock the file, check that it belongs to this job, and read what is done.

        Raises `JournalError` when the file is another job's, is locked by another run,
        or cannot be opened; nothing is written in that case.
        """
        if self.read_only:
            if self.path.exists():
                self._load(self._read_path(), writable=False)
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise self._error("cannot open", exc) from None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise JournalError(
                            f"journal {self.path} is in use by another run (locked);"
                            " wait for it to finish or use another journal",
                            path=str(self.path),
                        ) from None
                    raise self._error("cannot lock", exc) from None
            data = self._read_fd(fd)
            self._fd = fd
            self._load(data, writable=True)
        except BaseException:
            self._fd = None
            os.close(fd)  # also releases the lock
            raise
        self._last_sync = _clock()

    def _read_fd(self, fd: int) -> bytes:
        chunks: list[bytes] = []
        try:
            os.lseek(fd, 0, os.SEEK_SET)  # writes still append: the file is O_APPEND
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        except OSError as exc:
            raise self._error("cannot read", exc) from None
        return b"".join(chunks)

    def _load(self, data: bytes, *, writable: bool) -> None:
        contents = _parse(data, self.path)
        self.skipped_lines = contents.skipped_lines
        if contents.header is None:
            if not writable:
                return
            if data:
                # Only a torn header, with no newline: nothing was ever recorded after it.
                logger.warning("journal %s: torn header rewritten", self.path)
                assert self._fd is not None
                os.ftruncate(self._fd, 0)
            self._append(self.job.header(), sync=True)
            return
        reason = self.job.mismatch(contents.header)
        if reason is not None:
            raise JournalError(
                f"journal {self.path} belongs to another job: {reason}", path=str(self.path)
            )
        self.done = _done(contents)
        if writable and contents.torn_tail:
            # The last line was torn by a crash: end it, so the next record stands alone.
            self._write(b"\n")

    def record(self, item: object, error: BaseException | None, **fields: Any) -> None:
        """Append one item's outcome (``fields`` are extra JSON-encodable data).

        A write error marks the journal broken and raises `JournalError` (once); the
        caller stops scheduling items.
        """
        if self._fd is None or self.broken is not None:
            return
        entry: dict[str, Any] = {"item": item, "ok": error is None, "time": time.time()}
        if error is not None:
            entry["error"] = f"{type(error).__name__}: {error}"
        entry.update(fields)
        self._append(entry, sync=_clock() - self._last_sync >= FSYNC_INTERVAL)

    def _append(self, entry: Mapping[str, Any], *, sync: bool) -> None:
        try:
            line = msgspec.json.encode(entry) + b"\n"
        except (TypeError, msgspec.MsgspecError) as exc:
            raise RequestValidationError(
                f"journal record is not JSON-encodable: {exc}", field="journal"
            ) from None
        self._write(line)
        if sync:
            self._sync()

    def _write(self, data: bytes) -> None:
        try:
            self._write_bytes(data)
        except OSError as exc:
            self.broken = self._error("cannot write to", exc)
            raise self.broken from None

    def _write_bytes(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _sync(self) -> None:
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # some special files cannot be synced
                self.broken = self._error("cannot sync", exc)
                raise self.broken from None
        self._last_sync = _clock()

    def close(self) -> None:
        """fsync, unlock and close. Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.broken is None:
                self._fd = fd
                try:
                    self._sync()
                finally:
                    self._fd = None
        finally:
            os.close(fd)


def _done(contents: JournalContents) -> set[str]:
    done: set[str] = set()
    for entry in contents.records:
        key = item_key(entry["item"])
        if entry["ok"] is True and not entry.get("dry"):
            done.add(key)
    return done
