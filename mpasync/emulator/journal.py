"""The emulator's request journal: one frozen entry per request it received, faulted or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["JournalEntry"]


@dataclass(frozen=True, slots=True)
class JournalEntry:
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
