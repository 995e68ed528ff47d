"""The emulator's request log: one frozen `LoggedRequest` per request it received, faulted
or not (`Emulator.request_log`). Not to be confused with the bulk journal
(`mpasync.journal`), the file that makes a migration resumable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["JournalEntry", "LoggedRequest"]


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the emulator saw it.

    Attributes:
        method, path, query: the request line (`query` as a plain dict).
        body: the parsed JSON body, or None (a token request's `client_secret` is masked).
        status: the status sent, or None when the connection was closed without a response.
        time: when the request arrived (`time.time()`).
        fault: the injected fault ("error", "rate_limited", "drop", "lost_response") or None.
        applied: the handler ran and succeeded, so its change (if any) is in the state;
            False for 4xx rejections, injected faults before the handler, and drops.
        dropped: the connection was closed without a response (drops and lost responses).
        doc_variant: where the reference documents one call two ways and both are served,
            which one this request used, e.g. ``"platform_create:newer"`` (see
            `mpasync.emulator.routes_v1`); None for every other request.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int | None
    time: float
    fault: str | None = None
    applied: bool = False
    dropped: bool = False
    doc_variant: str | None = None


#: The old name of `LoggedRequest` (from when the request log was called a journal).
JournalEntry = LoggedRequest
