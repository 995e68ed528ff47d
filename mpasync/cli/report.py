"""What the command line prints and writes after a bulk run: the summary table, a capped list
of failures on the terminal, and the full per-app outcome for ``--report FILE``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from mpasync._version import __version__
from mpasync.bulk import BulkReport, FilterChange

__all__ = [
    "LIST_LIMIT",
    "error_text",
    "json_summary",
    "outcomes",
    "print_capped",
    "print_failures",
    "print_table",
    "summary_rows",
    "write_report",
]

#: Apps listed on the terminal per list (failures, changes); the rest are in --report.
LIST_LIMIT = 20


def print_table(rows: Sequence[tuple[str, str]], out: TextIO) -> None:
    """Two aligned columns, indented."""
    width = max(len(k) for k, _ in rows)
    out.write("".join(f"  {k.ljust(width)}  {v}\n" for k, v in rows))


def print_capped(
    title: str, lines: Sequence[str], out: TextIO, *, report: str | None, limit: int = LIST_LIMIT
) -> None:
    """``title`` then at most ``limit`` lines, then how many more and where to find them."""
    if not lines:
        return
    out.write(f"{title}:\n")
    for line in lines[:limit]:
        out.write(f"  {line}\n")
    if len(lines) > limit:
        where = f"see {report}" if report else "use --report FILE for the full list"
        out.write(f"  … and {len(lines) - limit} more ({where})\n")


def error_text(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def summary_rows(report: BulkReport[Any], label: str = "apps") -> list[tuple[str, str]]:
    """The summary table's rows: counts, requests, retries, elapsed time."""
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


def print_failures(report: BulkReport[Any], out: TextIO, report_file: str | None) -> None:
    """The failed apps in id order, one line each, capped (`print_capped`)."""
    lines = [
        f"{app_id}: {error_text(exc)}"
        for app_id, exc in sorted(report.failed.items(), key=lambda kv: _order(kv[0]))
    ]
    print_capped("failed apps", lines, out, report=report_file)


def json_summary(report: BulkReport[Any], **extra: Any) -> dict[str, Any]:
    """``--progress json``'s summary object: the counts and the first 20 failures."""
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


def _not_done(report: BulkReport[Any], items: Iterable[Any]) -> list[Any]:
    """Items neither succeeded, failed nor skipped: the report's ``not_done`` (taken but
    cut short) and the items a stopped run never took from the input."""
    accounted = {*report.succeeded, *report.failed, *report.skipped}
    return list(dict.fromkeys([*report.not_done, *(i for i in items if i not in accounted)]))


def outcomes(
    report: BulkReport[Any],
    items: Iterable[Any],
    *,
    dry_run: bool = False,
    changed: str = "changed",
) -> dict[str, dict[str, Any]]:
    """Each item's outcome, keyed by the item as text: ``changed`` / ``unchanged`` (a
    sync: `FilterChange` results; ``would change`` in a dry run), ``written`` (a write
    whose effect was not compared), ``skipped`` (an earlier run did it, per the journal),
    ``failed`` (with the error) or ``not done``."""
    result: dict[str, dict[str, Any]] = {}
    for item in report.succeeded:
        value = report.results.get(item)
        entry: dict[str, Any]
        if isinstance(value, FilterChange):
            if value.changes:
                entry = {
                    "outcome": "would change" if dry_run else changed,
                    "changes": value.describe(),
                }
            else:
                entry = {"outcome": "unchanged"}
        elif isinstance(value, Mapping) and "outcome" in value:
            entry = dict(value)
        elif isinstance(value, str):
            entry = {"outcome": value}
        else:
            entry = {"outcome": "written"}
        result[str(item)] = entry
    for item, exc in report.failed.items():
        outcome = "conflict" if type(exc).__name__ == "RevertConflict" else "failed"
        result[str(item)] = {"outcome": outcome, "error": error_text(exc)}
    for item in report.skipped:
        result[str(item)] = {"outcome": "skipped", "reason": "done by an earlier run (journal)"}
    for item in _not_done(report, items):
        result[str(item)] = {"outcome": "not done"}
    return result


def write_report(
    path: Path,
    *,
    command: str,
    report: BulkReport[Any] | None,
    items: Sequence[Any],
    dry_run: bool = False,
    changed: str = "changed",
    interrupted: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``--report FILE``: the run's figures and every item's outcome, as JSON."""
    report = report if report is not None else BulkReport()
    apps = outcomes(report, items, dry_run=dry_run, changed=changed)
    counts: dict[str, int] = {}
    for entry in apps.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    body = {
        "command": command,
        "mpasync": __version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "interrupted": interrupted,
        "dry_run": dry_run,
        **(extra or {}),
        "total": len(items),
        "counts": counts,
        "requests": report.requests,
        "retries": report.retries,
        "elapsed": round(report.elapsed, 3),
        "apps": apps,
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
