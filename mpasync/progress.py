"""A dependency-free terminal progress bar for bulk runs: done, failed, rate and ETA.

On a terminal it redraws one line in place; elsewhere (CI logs, pipes) it prints a
plain line at every 10% so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Callable as ``on_progress(done, failed)``; call `finish()` at the end.

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
        width: int = 30,
        interactive: bool | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interactive = (
            interactive if interactive is not None else bool(getattr(self.stream, "isatty", bool)())
        )
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self._last_draw = 0.0
        self._last_decile = -1

    def __call__(self, done: int, failed: int) -> None:
        self.done, self.failed = done, failed
        now = time.monotonic()
        if self.interactive:
            if now - self._last_draw >= 0.05 or (self.total is not None and done >= self.total):
                self._last_draw = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
        elif self.total:
            decile = min(10, done * 10 // self.total)
            if decile > self._last_decile:
                self._last_decile = decile
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def line(self) -> str:
        """The current progress line."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            filled = int(self.width * min(self.done, self.total) / self.total)
            bar = "#" * filled + "-" * (self.width - filled)
            remaining = max(self.total - self.done, 0)
            eta = f"{remaining / rate:5.1f}s" if rate > 0 else "   ?s"
            return (
                f"[{bar}] {self.done}/{self.total} {self.label}, {self.failed} failed, "
                f"{rate:6.1f}/s, ETA {eta}"
            )
        return f"{self.done} {self.label}, {self.failed} failed, {rate:6.1f}/s"

    def finish(self) -> None:
        """End the line (terminal) so later output starts cleanly."""
        if self.interactive:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
