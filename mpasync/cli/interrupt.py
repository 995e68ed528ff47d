"""How a run ends on Ctrl-C (SIGINT) or SIGTERM: the run's task is cancelled, so every
cleanup runs and ``--report`` is written, then one line says how far the run got (and how
to resume it), and the exit status is the shell's 130 or 143."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from mpasync.progress import Progress, is_tty

__all__ = ["RunState", "until_signalled"]


@dataclass
class RunState:
    """What Ctrl-C needs to say how far the run got."""

    progress: Progress | None = None
    journal: str | None = None
    resume_hint: str | None = None
    #: False for runs a journal cannot resume (the demo): no advice about one.
    resumable: bool = True
    #: The signal that ended the run (SIGINT or SIGTERM), once one arrived.
    signum: int | None = None

    def interrupted(self, err: TextIO) -> int:
        """Print the "interrupted" line (and a JSON event), return the exit status."""
        progress = self.progress
        ended_line = progress.interrupt() if progress is not None else False
        if not ended_line and is_tty(err):
            err.write("\n")  # past the terminal's "^C"
        line = "interrupted"
        counted = progress is not None and (progress.total is not None or progress.completed)
        if progress is not None and counted:
            of = f"/{progress.total}" if progress.total is not None else ""
            line += f": {progress.completed}{of} {progress.unit} done"
            if self.resume_hint:
                line += f"; {self.resume_hint}"
            elif self.journal:
                line += f"; rerun with --journal {self.journal} to resume"
            elif progress.completed and self.resumable:
                line += "; without --journal a rerun starts over"
        err.write(f"{line}\n")
        err.flush()
        if progress is not None:
            progress.event(
                "interrupted",
                {"done": progress.completed, "total": progress.total, "journal": self.journal},
            )
        return 128 + (self.signum or signal.SIGINT)  # the shell's convention: 130, 143


async def until_signalled(run: RunState, command: Callable[[], Awaitable[int]]) -> int:
    """``command()`` (`mpasync.cli.amain`), ended the same way by SIGINT (Ctrl-C) and
    SIGTERM: the first one cancels the run's task, so every cleanup runs and ``--report``
    is written before the "interrupted" line. Our own handlers rather than asyncio.run's:
    3.10's lets SIGINT raise KeyboardInterrupt wherever the loop happens to be, and none
    handles SIGTERM."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def stop(signum: int) -> None:
        if run.signum is None:
            run.signum = signum
        task.cancel()  # again on a second signal: it cuts a slow cleanup short

    installed: list[int] = []
    for signum in (int(signal.SIGINT), int(signal.SIGTERM)):
        if signal.getsignal(signum) is signal.SIG_IGN:  # nohup, a background job: stay so
            continue
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
            continue
        installed.append(signum)
    try:
        return await command()
    except asyncio.CancelledError:
        if run.signum is None:
            raise
        return run.interrupted(sys.stderr)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
