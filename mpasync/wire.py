"""The seam at the wire: the one narrow step between the transport's policy and HTTP.

Everything above it (auth, limits, retries, the response cap's meaning, errors, hooks) is
written once in `mpasync.transport`; a `Wire` only sends one request and reads its body,
never following a redirect and never reading past ``max_bytes``. The production wire is
`mpasync.aiohttp_wire.AiohttpWire`; `MockWire` answers from a function, for tests that
are about the client rather than about aiohttp (as httpx's ``MockTransport``):

>>> def handler(request: WireRequest) -> WireResponse:
...     return WireResponse(200, {"Content-Type": "application/json"}, b'{"data": []}')
>>> mp = Client("id", "secret", account_id=1, wire=MockWire(handler))
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = ["BodyTooLarge", "MockWire", "Wire", "WireError", "WireRequest", "WireResponse"]

#: Response headers: a case-insensitive mapping.
Headers = CIMultiDictProxy[str] | CIMultiDict[str]


class WireRequest(msgspec.Struct, frozen=True):
    """One request as it goes on the wire (the ``Authorization`` header included, never
    shown by ``repr``)."""

    method: str
    url: URL
    headers: Mapping[str, str]
    data: bytes | None
    #: Seconds for the whole exchange, connecting to reading the last byte.
    timeout: float
    #: The largest body read (after decompression); larger is `BodyTooLarge`.
    max_bytes: int

    def __repr__(self) -> str:
        # Header names only: values carry credentials (Authorization, Basic).
        url = self.url.with_query(None)
        return f"WireRequest({self.method} {url}, headers={sorted(self.headers)})"


class WireResponse:
    """A response read whole: status, case-insensitive headers, body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str] | Headers, body: bytes) -> None:
        if not isinstance(headers, (CIMultiDictProxy, CIMultiDict)):
            headers = CIMultiDict(headers)
        self.status = status
        self.headers: Headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"WireResponse({self.status}, {len(self.body)} bytes)"


class WireError(Exception):
    """The exchange failed before a whole response was read.

    ``sent``: the request may have reached the server (False only when it provably did
    not: no connection was made). ``timed_out``: the exchange ran out of its time.
    ``reason`` names what failed in words fit for a message (never request details);
    ``kind``, the failure's short name (e.g. the library's exception class).
    """

    def __init__(self, reason: str, *, sent: bool, timed_out: bool = False, kind: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.timed_out = timed_out
        self.kind = kind or "WireError"


class BodyTooLarge(Exception):
    """The body passed ``max_bytes``; ``status`` is the response's (the connection is
    closed, not returned to the pool half-read)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"body over the limit (HTTP {status})")
        self.status = status


class Wire(Protocol):
    """What the transport needs from an HTTP library: one exchange, and closing."""

    async def send(self, request: WireRequest) -> WireResponse:
        """Send ``request``; return the response read whole (never a redirect followed).

        Raises `WireError` or `BodyTooLarge`, and nothing else of the library's."""
        ...

    async def aclose(self) -> None:
        """Release what the wire holds (connections). Idempotent."""
        ...


Handler = Callable[[WireRequest], WireResponse | Awaitable[WireResponse]]


class MockWire:
    """A `Wire` that answers every request with ``handler(request)`` (sync or async).

    The handler may raise `WireError` (a connection failure) or `BodyTooLarge`. Every
    request is kept in ``requests``, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[WireRequest] = []
        self.closed = False

    async def send(self, request: WireRequest) -> WireResponse:
        if self.closed:
            raise WireError("the wire is closed", sent=False)
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if len(answer.body) > request.max_bytes:
            raise BodyTooLarge(answer.status)
        return answer

    async def aclose(self) -> None:
        self.closed = True
