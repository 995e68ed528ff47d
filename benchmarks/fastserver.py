"""A minimal HTTP/1.1 keep-alive server with canned Platform API answers, for benchmarks.

Run it as its own process so it never competes with the client for the GIL::

    python benchmarks/fastserver.py [--host 127.0.0.1] [--port 0] [--token-delay 0]

Once listening it prints ``PORT <n>`` on stdout; it exits on SIGTERM/SIGINT and, with
``--watch-stdin``, when its stdin closes (so it never outlives the benchmark that started
it). Plain asyncio, a
bare `asyncio.Protocol`, responses pre-rendered to bytes, pipelined requests answered
with one write. Stdlib only, so the client side may import the payload builders.

Routes:

- ``POST /oauth/token``: a bearer token (counted; optionally answered after a delay).
- ``GET /v1/apps/{id}``: the reference's "Get a single app" envelope.
- ``GET /v1/apps/{id}/datapoints``: an envelope of 10,000 datapoints.
- ``GET /__stats[?arrivals=1]``: counters, the server's CPU seconds and, on request,
  the arrival time (``time.monotonic()``) of every API request since the last reset.
- ``GET /__reset``: zero the counters and forget the arrivals.
- ``GET /__config?token_delay=S``: delay token answers by ``S`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from array import array
from typing import Any

__all__ = ["DATAPOINT_COUNT", "app_envelope", "datapoints_envelope", "main", "token_body"]

DATAPOINT_COUNT = 10_000

_TIMESTAMP = "2015-05-06T20:33:03.643"


def app_envelope(app_id: int = 1) -> bytes:
    """The reference's "Get a single app" answer: one app with one iOS platform."""
    platform = {
        "application_id": app_id,
        "os": "iOS",
        "access_keys": [{"key": "AccessKey", "secret": None, "data_type": "token"}],
        "crash_handling": "AppDefined",
        "network_performance": "AppDefined",
        "social_mode": "AppDefined",
        "profile_merging": True,
        "push_attribution_timer": None,
        "created_on": _TIMESTAMP,
        "last_modified_on": _TIMESTAMP,
        "data_type": "application_platform",
    }
    app = {
        "name": "Test App",
        "platforms": [platform],
        "id": app_id,
        "created_on": _TIMESTAMP,
        "last_modified_on": _TIMESTAMP,
        "data_type": "application",
    }
    return json.dumps({"data": [app], "dataType": "application", "errors": None}).encode()


def datapoints_envelope(count: int = DATAPOINT_COUNT) -> bytes:
    """An envelope of ``count`` datapoints mixing events, attributes and screen views."""
    kinds = (
        ("Event", "navigation"),
        ("EventAttribute", "navigation"),
        ("ScreenView", None),
        ("UserAttribute", None),
        ("Commerce", "purchase"),
    )
    items: list[dict[str, Any]] = []
    for i in range(count):
        kind, event_type = kinds[i % len(kinds)]
        item: dict[str, Any] = {"name": f"datapoint {i // len(kinds)}", "type": kind}
        if event_type is not None:
            item["event_type"] = event_type
        if kind.endswith("Attribute") and kind != "UserAttribute":
            item["attribute_name"] = f"attribute {i % 97}"
        item["created_on"] = _TIMESTAMP
        item["data_type"] = "data_point"
        items.append(item)
    return json.dumps({"data": items, "dataType": "data_point", "errors": None}).encode()


def token_body() -> bytes:
    """The token endpoint's answer (valid for 8 hours)."""
    return json.dumps(
        {"access_token": "bench-token", "expires_in": 28800, "token_type": "Bearer"}
    ).encode()


def _response(body: bytes, status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class _State:
    """Counters shared by every connection."""

    def __init__(self, token_delay: float) -> None:
        self.token_delay = token_delay
        self.requests = 0
        self.token_requests = 0
        self.arrivals = array("d")
        self.app = _response(app_envelope())
        self.datapoints = _response(datapoints_envelope())
        self.token = _response(token_body())
        self.not_found = _response(b'{"errors":[{"message":"not found"}]}', "404 Not Found")
        self.bad_request = _response(b'{"errors":[{"message":"bad request"}]}', "400 Bad Request")

    def reset(self) -> None:
        self.requests = 0
        self.token_requests = 0
        self.arrivals = array("d")

    def stats(self, arrivals: bool) -> bytes:
        data: dict[str, Any] = {
            "requests": self.requests,
            "token_requests": self.token_requests,
            "cpu": time.process_time(),
            "now": time.monotonic(),
        }
        if arrivals:
            data["arrivals"] = self.arrivals.tolist()
        return _response(json.dumps(data).encode())


class _HTTP(asyncio.Protocol):
    """One keep-alive connection: parse whole requests, answer them in order."""

    __slots__ = ("_buf", "_held", "_state", "_transport")

    def __init__(self, state: _State) -> None:
        self._state = state
        self._buf = b""
        self._transport: asyncio.Transport | None = None
        # Responses queued behind a delayed token answer (keeps responses in order).
        self._held: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        now = time.monotonic()
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        while pos < size:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            line_end = buf.find(b"\r\n", pos, end + 2)
            body_len = 0
            lower = buf[line_end:end].lower()
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                try:
                    body_len = int(lower[i + 17 : j if j >= 0 else len(lower)])
                except ValueError:
                    body_len = -1
            if body_len < 0:
                out.append(self._state.bad_request)
                pos = size
                break
            stop = end + 4 + body_len
            if stop > size:
                break
            answer = self._route(buf[pos:line_end], now)
            pos = stop
            if isinstance(answer, tuple):
                self._flush(out)
                out = []
                self._delay(*answer)
            elif self._held is not None:
                self._held.append(answer)
            else:
                out.append(answer)
        self._buf = buf[pos:]
        self._flush(out)

    def _flush(self, out: list[bytes]) -> None:
        if out and self._transport is not None:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _delay(self, answer: bytes, delay: float) -> None:
        if self._held is None:
            self._held = []
        held = self._held

        def release() -> None:
            if self._transport is not None:
                self._transport.write(answer + b"".join(held))
            self._held = None

        asyncio.get_running_loop().call_later(delay, release)

    def _route(self, line: bytes, now: float) -> bytes | tuple[bytes, float]:
        state = self._state
        parts = line.split(b" ")
        if len(parts) != 3:
            return state.bad_request
        method, target = parts[0], parts[1]
        path, _, query = target.partition(b"?")
        if path.startswith(b"/v1/apps/"):
            state.requests += 1
            state.arrivals.append(now)
            rest = path[9:]
            if method == b"GET":
                if rest.isdigit():
                    return state.app
                if rest.endswith(b"/datapoints") and rest[:-11].isdigit():
                    return state.datapoints
            return state.not_found
        if path == b"/oauth/token" and method == b"POST":
            state.token_requests += 1
            if state.token_delay > 0:
                return state.token, state.token_delay
            return state.token
        if path == b"/__stats":
            return state.stats(b"arrivals=1" in query)
        if path == b"/__reset":
            state.reset()
            return _response(b"{}")
        if path == b"/__config":
            for pair in query.split(b"&"):
                key, _, value = pair.partition(b"=")
                if key == b"token_delay":
                    state.token_delay = float(value)
            return _response(json.dumps({"token_delay": state.token_delay}).encode())
        return state.not_found


async def serve(host: str, port: int, token_delay: float, watch_stdin: bool = False) -> None:
    """Serve until a termination signal arrives (or stdin closes, with ``watch_stdin``)."""
    loop = asyncio.get_running_loop()
    state = _State(token_delay)
    server = await loop.create_server(lambda: _HTTP(state), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    stop = loop.create_future()

    def done() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done)
    if watch_stdin:
        fd = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(fd, 4096):
                loop.remove_reader(fd)
                done()

        loop.add_reader(fd, on_stdin)
    async with server:
        await stop


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.token_delay, args.watch_stdin))


if __name__ == "__main__":
    main()
