"""What every resource shares: the transport it hands its requests to."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from mpasync.request import Request
from mpasync.transport import Transport

__all__ = ["Resource"]

T = TypeVar("T")


class _Send(Protocol):
    def __call__(self, request: Request[T], /) -> Coroutine[Any, Any, T]: ...


class Resource:
    """Base of the resource classes: each method describes a `Request` and sends it."""

    __slots__ = ("_send", "_transport")

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        #: Sends a request: the transport's own method, so that a resource method awaits
        #: the transport's coroutine directly (no frame of ours in between).
        self._send: _Send = transport.send
