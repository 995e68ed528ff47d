"""What the v1 route modules share: os names, reading a JSON object body, and finding the
app or workspace a request names within its account (other accounts' entities are 404)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mpasync.emulator.responses import ApiFailure, not_found
from mpasync.emulator.runtime import account_id, json_body, path_int, state_of
from mpasync.emulator.state import App, Workspace

__all__ = [
    "FEED_OS_NAMES",
    "OS_NAMES",
    "object_body",
    "request_app",
    "request_workspace",
    "text_field",
]

#: Valid platform os values, by lower-case name (the API matches them case-insensitively).
OS_NAMES = {
    name.lower(): name
    for name in (
        "iOS",
        "tvOS",
        "Android",
        "MobileWeb",
        "Roku",
        "Alexa",
        "SmartTV",
        "FireTV",
        "Xbox",
    )
}
FEED_OS_NAMES = {**OS_NAMES, "unknown": "Unknown"}


def object_body(request: web.Request) -> dict[str, Any]:
    """The JSON body, which must be an object (else 400)."""
    body = json_body(request)
    if not isinstance(body, dict):
        raise ApiFailure(400, "A JSON object is required as the request body.")
    return body


def text_field(body: dict[str, Any], key: str = "name") -> str | None:
    """A non-blank string field, stripped; None when absent, blank or not a string."""
    value = body.get(key)
    return value.strip() or None if isinstance(value, str) else None


def request_app(request: web.Request) -> App:
    """The app `{app_id}` of the request's account (404 otherwise)."""
    app = state_of(request).app_of(account_id(request), path_int(request, "app_id"))
    if app is None:
        raise not_found()
    return app


def request_workspace(request: web.Request) -> Workspace:
    """The workspace `{workspace_id}` of the request's account (404 otherwise)."""
    ws = state_of(request).workspace_of(account_id(request), path_int(request, "workspace_id"))
    if ws is None:
        raise not_found()
    return ws
