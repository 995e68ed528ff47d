"""What the emulator's seeding, DSR and analytics routes share: JSON answers in the Events
API's error dialect, constant-time credential checks, HTTP Basic, body reading and the
scripted failures tests queue with `OtherApiState.fail_next`."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from collections import deque
from typing import Any, Protocol

import msgspec
from aiohttp import web


class _Counted(Protocol):
    """What `scripted` needs of the state (`other_state.OtherApiState`)."""

    hits: dict[str, int]
    _scripted: dict[str, deque[tuple[int, float | None]]]


class _Workspace(Protocol):
    """What `basic_auth_problem` needs of the state (`other_state.OtherApiState`)."""

    workspace_key: str
    workspace_secret: str


__all__ = [
    "MAX_LENGTH",
    "basic_auth_problem",
    "encode",
    "errors_response",
    "iso_time",
    "json_response",
    "now",
    "read_json",
    "same",
    "scripted",
    "stamp",
    "text_ok",
]

MAX_LENGTH = 255
encode = msgspec.json.Encoder().encode


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=encode(body), status=status, content_type="application/json", headers=headers
    )


def errors_response(
    status: int, *messages: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The Events-API dialect (seeding, analytics): ``{"errors": [{code, message}]}``."""
    code = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 413: "BAD_REQUEST"}.get(
        status, "VALIDATION_ERROR" if status == 422 else "ERROR"
    )
    items = [{"code": code, "message": m} for m in messages]
    return json_response({"errors": items}, status, headers)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def stamp(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings (any characters, lone surrogates included)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def text_ok(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_LENGTH


def iso_time(value: str) -> dt.datetime | None:
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


async def read_json(request: web.Request) -> tuple[bytes, Any, bool]:
    raw = await request.read()
    try:
        return raw, msgspec.json.decode(raw), True
    except msgspec.DecodeError:
        return raw, None, False


def scripted(state: _Counted, api: str) -> tuple[int, float | None] | None:
    """Count a request to ``api``; the next scripted failure for it, if any."""
    state.hits[api] += 1
    queue = state._scripted.get(api)
    return queue.popleft() if queue else None


def basic_auth_problem(state: _Workspace, request: web.Request) -> str | None:
    """None when the workspace credentials are right; else "missing" or "invalid"."""
    header = request.headers.get("Authorization")
    if not header:
        return "missing"
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "basic":
        return "invalid"
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "invalid"
    key, _, secret = decoded.partition(":")
    good_key = same(key, state.workspace_key)
    good_secret = same(secret, state.workspace_secret)
    return None if good_key and good_secret else "invalid"
