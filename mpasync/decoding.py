"""Reading response bodies: reusable msgspec decoders for each response shape, and error lists.

The Platform API answers in four shapes: the v1 envelope (``{"data": [...], "dataType"
| "data_type", "errors"}``), bare JSON (audiences, filter updates, every v2 call), an
empty body (202/204) and, for errors, a handful of error-body dialects. Each decoder
here is built once per model type and reused (msgspec's fast path). ``strict=False``
lets ids that some endpoints send as strings ("4302") decode into ``int`` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import msgspec

from mpasync.errors import DecodeError, ErrorItem
from mpasync.models.base import Envelope

__all__ = [
    "bare",
    "empty",
    "envelope_list",
    "envelope_one",
    "excerpt",
    "maybe_one",
    "parse_errors",
]

T = TypeVar("T")

_EXCERPT = 200

# What a hostile body can make a decoder raise: msgspec's errors, invalid UTF-8 inside a
# string, and nesting deeper than the decoder's recursion limit.
_BAD_BODY = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError, ValueError)


def excerpt(body: bytes, limit: int = _EXCERPT) -> str:
    """A short printable prefix of a body, for error messages."""
    text = body[:limit].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text + ("…" if len(body) > limit else "")


def _why(exc: BaseException) -> str:
    if isinstance(exc, msgspec.MsgspecError):
        return str(exc)
    return type(exc).__name__  # e.g. RecursionError: its text says nothing more useful


def _fail(body: bytes, why: str) -> DecodeError:
    return DecodeError(f"response does not fit its model: {why}", excerpt=excerpt(body))


@cache
def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp, strict=False)


def envelope_list(model: type[T]) -> Callable[[bytes], list[T]]:
    """Decode a v1 envelope and return its ``data`` list (empty when ``data`` is null)."""
    return _envelope_list(model)  # type: ignore[arg-type]  # (no `cast`: a call per request)


@cache
def _envelope_list(model: Any) -> Callable[[bytes], list[Any]]:
    dec = _decoder(Envelope[model])

    def decode(body: bytes) -> list[Any]:
        try:
            env = dec.decode(body)
        except _BAD_BODY as exc:
            raise _fail(body, _why(exc)) from None
        return env.data if env.data is not None else []

    return decode


def envelope_one(model: type[T]) -> Callable[[bytes], T]:
    """Decode a v1 envelope and return the single entity in ``data``."""
    return _envelope_one(model)  # type: ignore[arg-type]  # (no `cast`: a call per request)


@cache
def _envelope_one(model: Any) -> Callable[[bytes], Any]:
    dec = _decoder(Envelope[model])

    def decode(body: bytes) -> Any:
        try:
            env = dec.decode(body)
        except _BAD_BODY as exc:
            raise _fail(body, _why(exc)) from None
        if not env.data:
            raise _fail(body, "the envelope's data list is empty")
        return env.data[0]

    return decode


def maybe_one(model: type[T]) -> Callable[[bytes], T | None]:
    """For writes whose answer the reference leaves undocumented (202s): the entity when
    an envelope with data comes back, None for an empty body or an empty envelope."""
    return _maybe_one(model)  # type: ignore[arg-type]  # (no `cast`: a call per request)


@cache
def _maybe_one(model: Any) -> Callable[[bytes], Any]:
    dec = _decoder(Envelope[model])

    def decode(body: bytes) -> Any:
        if not body.strip():
            return None
        try:
            env = dec.decode(body)
        except _BAD_BODY as exc:
            raise _fail(body, _why(exc)) from None
        return env.data[0] if env.data else None

    return decode


def bare(tp: type[T]) -> Callable[[bytes], T]:
    """Decode a bare JSON value (object, array, number) of type ``tp``."""
    return _bare(tp)  # type: ignore[arg-type]  # (no `cast`: a call per request)


@cache
def _bare(tp: Any) -> Callable[[bytes], Any]:
    dec = _decoder(tp)

    def decode(body: bytes) -> Any:
        try:
            return dec.decode(body)
        except _BAD_BODY as exc:
            raise _fail(body, _why(exc)) from None

    return decode


def empty(body: bytes) -> None:
    """For calls whose success carries no meaningful body (202/204); any body is ignored."""
    return None


def _item(entry: Any) -> ErrorItem | None:
    if isinstance(entry, str):
        return ErrorItem(None, entry)
    if isinstance(entry, dict):
        message = entry.get("message") or entry.get("error_description") or entry.get("reason")
        code = entry.get("code") or entry.get("reason") or entry.get("domain")
        if message is None and code is None:
            return None
        return ErrorItem(
            str(code) if code is not None else None,
            str(message) if message is not None else "",
        )
    return None


def parse_errors(body: bytes) -> list[ErrorItem]:
    """The server's error list from an error body, whichever dialect it speaks.

    Understands the v1 envelope (``errors: [{code, message}]``), the DSR body
    (``{code, message, errors: [{domain, reason, message}]}``, possibly wrapped in
    ``{"error": ...}``), ``{"message": ...}`` and plain strings. Unreadable bodies
    give an empty list (the caller keeps an excerpt instead).
    """
    if not body:
        return []
    try:
        data = msgspec.json.decode(body)
    except _BAD_BODY:
        return []
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]
    items: list[ErrorItem] = []
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list):
            for entry in errors:
                item = _item(entry)
                if item is not None:
                    items.append(item)
        if not items:
            item = _item(data)
            if item is not None:
                items.append(item)
    elif isinstance(data, list):
        for entry in data:
            item = _item(entry)
            if item is not None:
                items.append(item)
    elif isinstance(data, str):
        items.append(ErrorItem(None, data))
    return items
