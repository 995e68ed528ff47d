"""What every resource shares: the transport it hands its requests to."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from mpasync.request import Request
from mpasync.transport import Transport

__all__ = ["Resource"]

T = TypeVar("T")


class Resource:
    """Base of the resource classes: each method describes a `Request` and sends it."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _send(self, request: Request[T]) -> Coroutine[Any, Any, T]:
        # Hands back the transport's coroutine: one coroutine frame less per request.
        return self._transport.send(request)
