"""Progress for long runs, rendered four ways: a bar, plain lines, JSON lines, or nothing.

A run has phases ("checking service", "applying filters", "verifying"); each phase counts
items done (this run), failed and skipped (already done by an earlier run, from a
journal), so a resumed run still ends at N/N. Renderers:

* ``bar``: one line redrawn in place on a terminal, cut to the terminal's width so it
  never wraps; log lines (`log`, `ProgressLogHandler`) print above it.
* ``plain``: a line every few seconds and at the end of each phase (CI logs, pipes).
* ``json``: one JSON object per line, ``{"event": "progress", ...}`` at most once a
  second and once at each phase's end (``"phase_done": true``), then ``{"event":
  "summary", ...}`` (dashboards, CI). A phase that counts nothing ("checking service")
  has only ``phase``, ``elapsed`` and ``phase_done``.
* ``none``: nothing.

``auto`` picks ``bar`` when the stream is a terminal and ``plain`` otherwise. Hand-written
rather than built on `rich`: the command line works with the library's own dependencies,
and ``plain`` and ``json`` would need this code anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = [
    "MODES",
    "Progress",
    "ProgressBar",
    "ProgressLogHandler",
    "is_tty",
    "terminal_columns",
]

#: The accepted ``mode`` values (and ``--progress`` choices).
MODES = ("auto", "bar", "plain", "json", "none")

_ERASE_LINE = "\r\x1b[K"
_MIN_BAR = 8
_BAR_INTERVAL = 0.1  # seconds between redraws of the bar
_MAX_BAR = 40


def terminal_columns(stream: TextIO, default: int = 80) -> int:
    """The width of the terminal behind ``stream``: the terminal's own size if it is one,
    else ``$COLUMNS``, else ``default``."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    if columns <= 0:
        try:
            columns = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            columns = 0
    return columns if columns > 0 else default


def is_tty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for anything without a working isatty)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Progress of a run, phase by phase; callable as a bulk ``on_progress(done, failed)``.

    >>> progress = Progress("auto")               # bar on a terminal, plain lines otherwise
    >>> progress.start("applying filters", total=len(app_ids), unit="apps")
    >>> report = await mp.bulk.update_datapoint_filters(ids, ..., on_progress=progress)
    >>> progress.close()

    ``stream`` (default stderr) takes the bar and plain lines; ``json_stream`` (default
    stdout) takes the JSON lines. ``interval`` is the seconds between plain lines.
    """

    def __init__(
        self,
        mode: str = "auto",
        *,
        stream: TextIO | None = None,
        json_stream: TextIO | None = None,
        interval: float = 5.0,
        json_interval: float = 1.0,
        columns: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.stream = stream if stream is not None else sys.stderr
        self.json_stream = json_stream if json_stream is not None else sys.stdout
        if mode == "auto":
            mode = "bar" if is_tty(self.stream) else "plain"
        self.mode = mode
        self.interval = interval
        self.json_interval = json_interval
        self.columns = columns
        self.phase = ""
        self.unit = "items"
        self.total: int | None = None
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self._started = time.monotonic()
        self._last_emit = 0.0
        self._drawn = False  # a bar line is on screen (the cursor sits at its end)
        self._active = False
        self._redraw: asyncio.TimerHandle | None = None  # a throttled update, drawn soon

    # ---------------------------------------------------------------- counting

    def start(self, phase: str, total: int | None = None, *, unit: str = "items") -> None:
        """Begin a phase (ending the current one): ``total`` items of ``unit``, if known."""
        if self._active:
            self.end()
        self.phase, self.total, self.unit = phase, total, unit
        self.done = self.failed = self.skipped = 0
        self._started = time.monotonic()
        self._last_emit = self._started
        self._active = True
        if self.mode == "bar":
            self._draw()
        elif self.mode == "plain" and total is None:
            self._write_line(self.line())  # a phase without counts still says it started

    def update(self, done: int, failed: int = 0, *, skipped: int | None = None) -> None:
        """Set the counts: ``done`` items finished in this run (``failed`` of them failed),
        ``skipped`` items that an earlier run had done."""
        self.done, self.failed = done, failed
        if skipped is not None:
            self.skipped = skipped
        self._tick()

    def advance(self, n: int = 1, *, failed: int = 0) -> None:
        """Count ``n`` more items done (``failed`` of them failed)."""
        self.done += n
        self.failed += failed
        self._tick()

    def __call__(self, done: int, failed: int, *more: Any) -> None:
        """The bulk helpers' ``on_progress(done, failed)``."""
        skipped = more[0] if more and isinstance(more[0], int) else None
        self.update(done, failed, skipped=skipped)

    @property
    def completed(self) -> int:
        """Items accounted for in the current phase: done in this run plus skipped."""
        return self.done + self.skipped

    def end(self) -> None:
        """End the current phase: the final counts stay on screen (bar) or are printed."""
        if not self._active:
            return
        self._active = False
        self._cancel_redraw()
        if self.mode == "bar":
            self._draw(final=True)
        elif self.mode == "plain":
            quick = time.monotonic() - self._started < self.interval
            if not (quick and self._uncounted(True) is not None):  # said when it started
                self._write_line(self.line(final=True))
        elif self.mode == "json":
            self._json_progress(final=True)

    def close(self) -> None:
        """End the run's last phase."""
        self.end()

    # ---------------------------------------------------------------- other output

    def log(self, text: str) -> None:
        """Print ``text`` on its own line(s) above the bar (or plainly, in other modes)."""
        if self.mode == "bar" and self._drawn:
            self.stream.write(_ERASE_LINE)
            self._drawn = False
        self.stream.write(text.rstrip("\n") + "\n")
        if self.mode == "bar" and self._active:
            self._draw()
        else:
            self.stream.flush()

    def summary(self, data: Mapping[str, Any]) -> None:
        """The run's final figures: one ``{"event": "summary", ...}`` line in json mode."""
        self.event("summary", data)

    def event(self, name: str, data: Mapping[str, Any]) -> None:
        """One ``{"event": name, ...}`` line in json mode (errors, interruptions)."""
        if self.mode == "json":
            self._json({"event": name, **data})

    def interrupt(self) -> bool:
        """Leave the terminal clean after Ctrl-C or an error: end the bar's line without
        redrawing it. True if a line was ended."""
        self._active = False
        self._cancel_redraw()
        if not self._drawn:
            return False
        self.stream.write("\n")
        self.stream.flush()
        self._drawn = False
        return True

    # ---------------------------------------------------------------- rendering

    def _tick(self) -> None:
        if not self._active:
            return
        now = time.monotonic()
        if self.mode == "bar":
            if now - self._last_emit >= _BAR_INTERVAL or self._finished():
                self._last_emit = now
                self._draw()
            else:
                self._draw_soon()
        elif self.mode == "plain":
            if now - self._last_emit >= self.interval:
                self._last_emit = now
                self._write_line(self.line())
        elif self.mode == "json" and now - self._last_emit >= self.json_interval:
            if not self._finished():  # the phase's end says it once, as its final record
                self._last_emit = now
                self._json_progress()

    def _draw_soon(self) -> None:
        """Draw a throttled update a moment later, so a burst (a resumed run's skipped
        items) shows without waiting for the next item, which may take seconds."""
        if self._redraw is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next update draws it
            return
        self._redraw = loop.call_later(_BAR_INTERVAL, self._draw_pending)

    def _draw_pending(self) -> None:
        self._redraw = None
        if self._active:
            self._last_emit = time.monotonic()
            self._draw()

    def _cancel_redraw(self) -> None:
        if self._redraw is not None:
            self._redraw.cancel()
            self._redraw = None

    def _finished(self) -> bool:
        return self.total is not None and self.completed >= self.total

    def _rate(self) -> float:
        return self.done / max(time.monotonic() - self._started, 1e-9)

    def _extras(self, final: bool) -> list[tuple[int, str]]:
        """The optional parts of a line in display order, each with its rank: a narrow
        bar drops the highest rank first (the rate, then skipped; the ETA goes last)."""
        rate = self._rate()
        parts = [(0, f"{self.failed} failed")]
        if self.skipped:
            parts.append((2, f"{self.skipped} skipped"))
        parts.append((3, f"{rate:.1f}/s"))
        if final:
            parts.append((1, f"in {_duration(time.monotonic() - self._started)}"))
        elif self.total is not None:
            remaining = max(self.total - self.completed, 0)
            parts.append((1, f"ETA {_duration(remaining / rate)}" if rate > 0 else "ETA ?"))
        return parts

    def _unit(self, count: int) -> str:
        """``apps``, or ``app`` for one."""
        return self.unit[:-1] if count == 1 and self.unit.endswith("s") else self.unit

    def _counts(self) -> str:
        if self.total is None:
            return f"{self.completed} {self._unit(self.completed)}"
        return f"{self.completed}/{self.total} {self._unit(self.total)}"

    def _uncounted(self, final: bool) -> str | None:
        """The line of a phase that counts nothing ("checking service"), else None."""
        if self.total is not None or self.done or self.failed:
            return None
        took = _duration(time.monotonic() - self._started)
        return f"{self.phase or 'working'}: done in {took}" if final else f"{self.phase} ..."

    def line(self, *, final: bool = False) -> str:
        """The current state as one line without a bar (plain mode)."""
        uncounted = self._uncounted(final)
        if uncounted is not None:
            return uncounted
        head = f"{self.phase}: " if self.phase else ""
        percent = ""
        if self.total:
            percent = f" ({100 * min(self.completed, self.total) // self.total}%)"
        extras = ", ".join(text for _, text in self._extras(final))
        return f"{head}{self._counts()}{percent}, {extras}"

    def bar_line(self, width: int, *, final: bool = False) -> str:
        """The bar for a terminal ``width`` columns wide: at most ``width - 2`` characters,
        so the line never wraps, not even when the terminal echoes ``^C`` after it."""
        usable = max(width - 2, 1)
        uncounted = self._uncounted(final)
        if uncounted is not None:
            return uncounted[:usable]
        counts = self._counts()
        extras = self._extras(final)
        if self.total is not None:
            # With a bar: drop the rate, then the skipped count, while the bar is too
            # narrow; the failures and the ETA stay, rather than the bar.
            head = f"{self.phase} " if self.phase else ""
            kept = list(extras)
            while True:
                tail = f" {counts}" + "".join(f", {t}" for _, t in kept)
                room = usable - len(head) - len(tail) - 2  # the brackets
                if room >= _MIN_BAR:
                    size = min(room, _MAX_BAR)
                    done = min(self.completed, self.total)
                    filled = size * done // self.total if self.total else size
                    return f"{head}[{'#' * filled}{'-' * (size - filled)}]{tail}"[:usable]
                if max(kept)[0] <= 1:
                    break
                kept.remove(max(kept))
        # Without a bar (nothing to fill, or no room): "listing apps: 300 apps, ...", with
        # the percentage if it fits after everything else.
        percent = ""
        if self.total:
            percent = f" ({100 * min(self.completed, self.total) // self.total}%)"
        head = f"{self.phase}: " if self.phase else ""
        while True:
            rest = "".join(f", {t}" for _, t in extras)
            if len(head + counts + percent + rest) <= usable:
                return head + counts + percent + rest
            if len(head + counts + rest) <= usable or not extras:
                return (head + counts + rest)[:usable]
            extras.remove(max(extras))

    def _draw(self, *, final: bool = False) -> None:
        width = self.columns if self.columns is not None else terminal_columns(self.stream)
        self.stream.write(_ERASE_LINE + self.bar_line(width, final=final))
        if final:
            self.stream.write("\n")
            self._drawn = False
        else:
            self._drawn = True
        self.stream.flush()

    def _write_line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _json_progress(self, *, final: bool = False) -> None:
        record: dict[str, Any] = {"event": "progress", "phase": self.phase}
        if self._uncounted(final) is None:  # a phase that counts nothing has no counts
            total = self.total if self.total is not None or not final else self.completed
            record |= {
                "unit": self.unit,
                "done": self.completed,
                "total": total,  # a finished listing's total is what it found
                "failed": self.failed,
                "skipped": self.skipped,
                "rate": round(self._rate(), 2),
            }
        record["elapsed"] = round(time.monotonic() - self._started, 3)
        record["phase_done"] = final
        self._json(record)

    def _json(self, obj: Mapping[str, Any]) -> None:
        self.json_stream.write(json.dumps(obj, default=str) + "\n")
        self.json_stream.flush()


class ProgressBar(Progress):
    """A single-phase `Progress` (``bar`` on a terminal, ``plain`` otherwise).

    >>> bar = ProgressBar(total=200, label="apps")
    >>> report = await mp.bulk.update_datapoint_filters(ids, ..., on_progress=bar)
    >>> bar.finish()
    """

    def __init__(
        self,
        total: int | None,
        *,
        label: str = "items",
        stream: TextIO | None = None,
        interactive: bool | None = None,
    ) -> None:
        mode = "auto" if interactive is None else ("bar" if interactive else "plain")
        super().__init__(mode, stream=stream)
        self.start("", total, unit=label)

    def finish(self) -> None:
        """End the line so later output starts cleanly."""
        self.close()


class ProgressLogHandler(logging.Handler):
    """A logging handler that prints through a `Progress`, so records land above the bar."""

    def __init__(self, progress: Progress, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.progress.log(self.format(record))
        except Exception:  # a broken stream must not break the run
            self.handleError(record)
