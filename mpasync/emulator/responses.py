"""Response helpers shared by the emulator's handlers: JSON bodies, the v1 envelope, errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

__all__ = [
    "ApiFailure",
    "bad_request",
    "empty_response",
    "envelope",
    "error_code_for",
    "json_response",
    "not_found",
    "unprocessable",
    "v1_error_body",
    "v2_error_body",
]

_encode = msgspec.json.Encoder().encode

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def error_code_for(status: int) -> str:
    """The `code` the emulator puts in error items for an HTTP status."""
    return _CODES.get(status, "ERROR")


class ApiFailure(Exception):
    """Raised by handlers; the front-door middleware turns it into a v1 or v2 error response."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or error_code_for(status)


def unprocessable(message: str) -> ApiFailure:
    """A 422 business-rule failure with the reference's message."""
    return ApiFailure(422, message)


def not_found(message: str = "Resource does not exist or you do not have access.") -> ApiFailure:
    """A 404 (also used for entities of another account)."""
    return ApiFailure(404, message)


def bad_request(message: str = "JSON Syntax is invalid.") -> ApiFailure:
    """A 400 for a body that is not valid JSON or has the wrong shape."""
    return ApiFailure(400, message)


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response (encoded with msgspec: the emulator serves thousands of requests)."""
    return web.Response(
        body=_encode(payload), status=status, content_type="application/json", headers=headers
    )


def empty_response(status: int = 204, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response with no body (v2 204s, HEAD)."""
    return web.Response(status=status, headers=headers)


def envelope(
    items: list[Any], data_type: str, status: int = 200, *, key: str = "dataType"
) -> web.Response:
    """The v1 envelope `{"data": [...], "dataType": ..., "errors": null}`.

    `key="data_type"` gives the variant the feed endpoints use.
    """
    return json_response({"data": items, key: data_type, "errors": None}, status)


def v1_error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The v1 error envelope: empty data plus one error item."""
    return {
        "data": [],
        "dataType": None,
        "errors": [{"code": code or error_code_for(status), "message": message}],
    }


def v2_error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The v2 error body `{"errors": [{"code": ..., "message": ...}]}`."""
    return {"errors": [{"code": code or error_code_for(status), "message": message}]}
