"""A request description: what a resource method hands to the transport.

A resource method says *what* to call (method, API root, path segments, query, body,
how to read the answer); the transport decides *how* (URL, auth, limits, retries).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import msgspec

from mpasync.errors import RequestValidationError

__all__ = ["Request", "path"]

T = TypeVar("T")


def _segment(value: object) -> str:
    if type(value) is int:
        return str(value)  # digits and "-" never need percent-encoding
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RequestValidationError(
            f"path parameter must be a string or an integer, got {type(value).__name__}"
        )
    text = str(value)
    if not text:
        raise RequestValidationError("path parameter must not be empty")
    if text.isascii() and text.isalnum():
        return text  # nothing to encode (and never "." or "..")
    encoded = quote(text, safe="")
    # "." and ".." survive percent-encoding and would be collapsed by URL normalisation.
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


def path(*segments: object) -> str:
    """Join path segments, percent-encoding each so none can change the path.

    >>> path("apps", 1, "a/b")
    '/apps/1/a%2Fb'
    """
    try:
        return _memo(*segments)  # a request's path is mostly one seen before
    except TypeError:  # an unhashable segment: refused by `_segment`
        return _join(segments)


def _join(segments: tuple[object, ...]) -> str:
    return "/" + "/".join([_segment(s) for s in segments])


#: Paths already joined, by their segments and the segments' types (``True`` is not 1).
_memo = functools.lru_cache(maxsize=4096, typed=True)(lambda *segments: _join(segments))


class Request(msgspec.Struct, Generic[T], frozen=True):
    """One API call, described.

    - ``api``: which root the path hangs from: ``"v1"`` (``/v1``, adds ``accountId``),
      ``"v2"`` (``/platform/v2``) or ``""`` (the base URL itself).
    - ``path``: built with `path()`, so already percent-encoded.
    - ``body``: anything msgspec can encode (dicts, lists, Structs), or None.
    - ``decode``: reads a 2xx body into the result (see `mpasync.decoding`).
    - ``idempotent``: whether a retry after the request may have reached the server is
      safe. None means "by method" (GET, HEAD, PUT, DELETE yes; POST no).
    - ``scope``: what the request is about, for rate control that paces per scope
      (mParticle limits some calls per app: the app id of an ``/apps/{id}/...`` call).
    """

    method: str
    path: str
    decode: Callable[[bytes], T]
    api: str = "v1"
    query: Mapping[str, str] | None = None
    body: Any = None
    idempotent: bool | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        # Never the body: it may carry a credential (e.g. Analytics' apiKey).
        return f"Request({self.method} {self.path}, api={self.api!r})"
