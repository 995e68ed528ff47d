"""The bulk journal: an append-only JSON-lines file that makes interrupted runs resumable.

A journal belongs to one job on one target. Its first line is a header naming the job
(operation, service, a sha256 of the policy), the target (account id and API base URL)
and the mpasync version that started it; reopening it for another job or another target
is a `JournalError`, never a silent skip of work that was not done. Every later line is
one item's outcome, or the mark a revert of the run leaves::

    {"mpasync_journal": 2, "operation": "sync_datapoint_filters", "service": "Amplitude",
     "policy": "9f2c...", "account": 1234, "base_url": "https://api.mparticle.com",
     "mpasync": "0.4.0", "created": 1767225600.0}
    {"item": 17, "ok": true, "time": 1767225601.2, "before": [...], "after": [...]}
    {"item": 18, "ok": false, "time": 1767225601.3, "error": "NotFoundError: ..."}
    {"reverted_by": "run.revert.jsonl", "time": 1767229200.0}

A run whose journal holds a ``reverted_by`` mark is not resumed (every app would be
skipped as done although the revert undid it): a new journal applies it again. Format 1
journals (before the target was recorded) are still read; their target cannot be checked,
which is warned about.

Records are decoded strictly (`msgspec`, ``strict=True``): a record that is JSON but not
of the format's types (``"ok": "true"``, a non-string ``error``) is a `JournalError`
naming its line, never a value read loosely.

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
from dataclasses import dataclass, field
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
    "RECORD_FIELDS",
    "Journal",
    "JournalJob",
    "item_key",
    "mark_reverted",
    "policy_hash",
    "read_journal",
    "service_key",
    "warn_unchecked_target",
]

#: The format version written in every header; a reader refuses a newer one. Format 2
#: added the target (``account``, ``base_url``) and the ``reverted_by`` mark.
FORMAT = 2
#: At most this many seconds between two fsyncs while records are written.
FSYNC_INTERVAL = 2.0

logger = logging.getLogger("mpasync")

# The clock that paces fsyncs (a module attribute so tests can drive it).
_clock = time.monotonic

#: The fields of an item record that the format itself writes; an item's own fields
#: (`mpasync.bulk.Outcome`'s ``record``) may not use these names.
RECORD_FIELDS = frozenset({"item", "ok", "time", "error", "dry"})


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


def service_key(name: str) -> str:
    """A service name as compared: case and separators ignored
    (``googleanalytics-eventforwarder`` is ``GoogleAnalyticsEventForwarder``)."""
    return "".join(c for c in name.casefold() if c.isalnum())


def _same_service(theirs: object, ours: str | None) -> bool:
    if isinstance(theirs, str) and ours is not None:
        return service_key(theirs) == service_key(ours)
    return theirs == ours


def _target(account: object, base_url: object) -> str:
    return f"account {account} at {base_url}"


@dataclass(frozen=True)
class JournalJob:
    """What a journal is for, and where. Two runs are the same job when operation,
    service and policy match (``update_datapoint_filters`` and
    ``sync_datapoint_filters`` count as one operation: both apply the policy; service
    names are compared ignoring case and separators) and they run against the same
    target: ``account`` id and API ``base_url``.

    ``policy`` is a `policy_hash` (or None for jobs without one, like a plain
    ``mp.bulk.map``). A job whose ``account`` and ``base_url`` are both None (one run by
    `mpasync.bulk.run_bulk` without a client) does not check the target. The mpasync
    version is recorded in the header but not compared: a run interrupted before an
    upgrade may be resumed after it.
    """

    operation: str
    service: str | None = None
    policy: str | None = None
    account: int | None = None
    base_url: str | None = None

    def header(self) -> dict[str, Any]:
        return {
            "mpasync_journal": FORMAT,
            "operation": self.operation,
            "service": self.service,
            "policy": self.policy,
            "account": self.account,
            "base_url": self.base_url,
            "mpasync": __version__,
            "created": time.time(),
        }

    def target_mismatch(self, header: Mapping[str, Any]) -> str | None:
        """Why a journal with ``header`` is for another account or API (``"account 1 at
        https://a, not account 2 at https://b"``), or None.

        A header without a target (format 1) is not a mismatch; see `unchecked_target`.
        """
        if (self.account is None and self.base_url is None) or self.unchecked_target(header):
            return None
        theirs = (header.get("account"), header.get("base_url"))
        if theirs == (self.account, self.base_url):
            return None
        return f"{_target(*theirs)}, not {_target(self.account, self.base_url)}"

    def unchecked_target(self, header: Mapping[str, Any]) -> bool:
        """True when this job has a target but ``header`` names none (an older journal)."""
        has_target = self.account is not None or self.base_url is not None
        return has_target and header.get("account") is None and header.get("base_url") is None

    def mismatch(self, header: Mapping[str, Any]) -> str | None:
        """Why a journal with ``header`` belongs to another job or target, or None."""
        target = self.target_mismatch(header)
        if target is not None:
            return f"it was written for {target}"
        theirs, ours = str(header.get("operation")), self.operation
        if _SAME_JOB.get(theirs, theirs) != _SAME_JOB.get(ours, ours):
            return f"its operation is {theirs!r}, this run's is {ours!r}"
        if not _same_service(header.get("service"), self.service):
            return f"its service is {header.get('service')!r}, this run's is {self.service!r}"
        if header.get("policy") != self.policy:
            return (
                "it was started with a different policy (the filters changed since);"
                " use a new journal for the new policy"
            )
        return None


@dataclass
class JournalContents:
    """What `read_journal` found: the header, every item record (with its line number),
    the lines skipped, and the revert mark if any."""

    header: dict[str, Any] | None
    records: list[dict[str, Any]]
    skipped_lines: int
    #: The file does not end with a newline (a torn last line, or an empty file).
    torn_tail: bool
    #: ``records[i]`` is on line ``lines[i]`` of the file (1-based), for error messages.
    lines: list[int] = field(default_factory=list)
    #: The journal of the revert that undid this run, if one was started.
    reverted_by: str | None = None


class _Header(msgspec.Struct):
    """The header's types (unknown fields are allowed: later versions may add some)."""

    mpasync_journal: int
    operation: str
    service: str | None = None
    policy: str | None = None
    account: int | None = None
    base_url: str | None = None
    mpasync: str | None = None
    created: float | None = None


class _ItemRecord(msgspec.Struct):
    """An item record's types; other fields are the ones its item's result added
    (`mpasync.bulk.Outcome`)."""

    item: Any
    ok: bool
    time: float | None = None
    error: str | None = None
    dry: bool = False


class _RevertMark(msgspec.Struct, forbid_unknown_fields=True):
    reverted_by: str
    time: float | None = None


def _strict(entry: dict[str, Any], kind: type[msgspec.Struct], path: Path, number: int) -> None:
    try:
        msgspec.convert(entry, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise JournalError(
            f"journal {path}, line {number}: not a valid journal record ({exc});"
            " was it edited by hand? use a new journal file",
            path=str(path),
        ) from None


def _lines(data: bytes) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON or `_TORN`) for every non-blank line."""
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        # Decoded line by line: a line torn mid-character spoils only itself.
        text = raw.decode("utf-8", errors="replace")
        try:
            yield number, json.loads(text)
        except ValueError:
            yield number, _TORN


# A line that is not JSON: torn by a crash (or not UTF-8). JSON that is not a record of
# the format is a different thing (an edit, a bug): refused, not skipped.
_TORN = object()


def _parse(data: bytes, path: Path) -> JournalContents:
    contents = JournalContents(None, [], 0, bool(data) and not data.endswith(b"\n"))
    first = True
    for number, entry in _lines(data):
        if first:
            first = False
            if isinstance(entry, dict) and "mpasync_journal" in entry:
                version = entry.get("mpasync_journal")
                if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT:
                    raise JournalError(
                        f"journal {path} has format {version!r}; this mpasync reads formats"
                        f" up to {FORMAT} (upgrade mpasync)",
                        path=str(path),
                    )
                _strict(entry, _Header, path, number)
                contents.header = entry
                continue
            if isinstance(entry, dict) and "item" in entry:
                raise JournalError(
                    f"journal {path} has no mpasync header (written by an older mpasync?);"
                    " use a new journal file",
                    path=str(path),
                )
            if entry is not _TORN or b"\n" in data:
                raise JournalError(
                    f"{path} is not an mpasync journal (its first line is not a journal"
                    " header); use a new journal file",
                    path=str(path),
                )
            # A lone torn line with no newline: the header itself was torn, no record
            # can follow it. Treated as an empty journal (see Journal.open).
            contents.skipped_lines += 1
            continue
        if entry is _TORN:
            contents.skipped_lines += 1
        elif isinstance(entry, dict) and "item" in entry:
            _strict(entry, _ItemRecord, path, number)
            contents.records.append(entry)
            contents.lines.append(number)
        elif isinstance(entry, dict) and "reverted_by" in entry:
            _strict(entry, _RevertMark, path, number)
            contents.reverted_by = entry["reverted_by"]
        else:
            raise JournalError(
                f"journal {path}, line {number}: not a journal record (neither an item's"
                " outcome nor a revert mark); was it edited by hand? use a new journal file",
                path=str(path),
            )
    if contents.skipped_lines and contents.header is not None:
        logger.warning(
            "journal %s: %d unreadable line(s) skipped (torn by a crash, or not UTF-8/JSON)",
            path,
            contents.skipped_lines,
        )
    return contents


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
                f"journal {self.path} belongs to another job: {reason}; use another journal",
                path=str(self.path),
            )
        if contents.reverted_by is not None:
            raise JournalError(
                f"journal {self.path}: its run was reverted (revert journal"
                f" {contents.reverted_by}), so resuming it would skip every item; to apply"
                " it again use a new journal",
                path=str(self.path),
            )
        warn_unchecked_target(self.path, contents.header, self.job)
        self.done = _done(contents)
        if writable and contents.torn_tail:
            # The last line was torn by a crash: end it, so the next record stands alone.
            self._write(b"\n")

    def record(self, item: object, error: BaseException | None, /, **fields: Any) -> None:
        """Append one item's outcome (``fields`` are extra JSON-encodable data).

        ``fields`` that JSON cannot encode, or that name one of `RECORD_FIELDS`, are a
        `RequestValidationError` and nothing is written; they are checked on a read-only
        journal too, so a dry run refuses what the real run would. A write error marks
        the journal broken and raises `JournalError` (once); the caller stops scheduling
        items.
        """
        if self.broken is not None:
            return
        clash = sorted(RECORD_FIELDS.intersection(fields))
        if clash:
            raise RequestValidationError(
                f"journal record fields {clash} are the format's own; name them otherwise",
                field="record",
            )
        entry: dict[str, Any] = {"item": item, "ok": error is None, "time": time.time()}
        if error is not None:
            entry["error"] = f"{type(error).__name__}: {error}"
        entry.update(fields)
        line = _encode(entry)
        if self._fd is not None:
            self._write(line)
            if _clock() - self._last_sync >= FSYNC_INTERVAL:
                self._sync()

    def _append(self, entry: Mapping[str, Any], *, sync: bool) -> None:
        self._write(_encode(entry))
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


def _encode(entry: Mapping[str, Any]) -> bytes:
    """One record's line, or a `RequestValidationError` when JSON cannot encode it."""
    try:
        return msgspec.json.encode(entry) + b"\n"
    except (TypeError, ValueError, OverflowError, msgspec.MsgspecError) as exc:
        raise RequestValidationError(
            f"a journal record must be JSON-encodable: {exc}", field="record"
        ) from None


def warn_unchecked_target(path: Path, header: Mapping[str, Any], job: JournalJob) -> None:
    """Warn that an older journal (format 1) names no target, so it is trusted unchecked."""
    if job.unchecked_target(header):
        logger.warning(
            "journal %s was written by mpasync %s, which did not record the account and"
            " API; it is used for %s without that check",
            path,
            header.get("mpasync"),
            _target(job.account, job.base_url),
        )


def mark_reverted(path: str | Path, revert_journal: str | Path) -> None:
    """Append a ``reverted_by`` mark to the journal at ``path`` (once per revert journal),
    so that resuming the reverted run is refused instead of skipping every item."""
    p = Path(path)
    by = str(revert_journal)
    try:
        fd = os.open(p, os.O_RDWR | os.O_APPEND)
    except OSError as exc:
        raise JournalError(f"cannot open journal {p}: {exc.strerror or exc}", path=str(p)) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise JournalError(
                    f"journal {p} is in use by a running job; wait for it to finish",
                    path=str(p),
                ) from None
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        data = b"".join(chunks)
        if _parse(data, p).reverted_by == by:
            return
        line = msgspec.json.encode({"reverted_by": by, "time": time.time()}) + b"\n"
        if data and not data.endswith(b"\n"):
            line = b"\n" + line  # a torn last line: the mark stands on its own line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        raise JournalError(
            f"cannot write to journal {p}: {exc.strerror or exc}", path=str(p)
        ) from None
    finally:
        os.close(fd)


def _done(contents: JournalContents) -> set[str]:
    done: set[str] = set()
    for entry in contents.records:
        key = item_key(entry["item"])
        if entry["ok"] is True and not entry.get("dry"):
            done.add(key)
    return done
