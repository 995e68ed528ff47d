"""Builds the emulator's `aiohttp.web.Application`: the token endpoint, the v1/v2 routes and
the front-door middleware that logs each request, injects faults, checks tokens, `accountId` and the
rate limit, and turns handler failures into the API's error bodies.

Order for an API request: faults (latency, then drop / 5xx / 429 / lost response) → bearer
token (401) → `accountId` for v1 (401 when missing or not an account of the credential) →
rate limit (429) → JSON parse (400) → handler.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from mpasync.emulator import routes_v1, routes_v2
from mpasync.emulator.faults import FaultDecision
from mpasync.emulator.request_log import LoggedRequest
from mpasync.emulator.responses import (
    ApiFailure,
    empty_response,
    json_response,
    v1_error_body,
    v2_error_body,
)
from mpasync.emulator.runtime import CURRENT, RUNTIME, RequestContext, Runtime

__all__ = ["TOKEN_PATH", "build_app"]

TOKEN_PATH = "/oauth/token"
_V1 = "/v1/"
_V2 = "/platform/v2/"
_PERCENT_HEADER = "X-mp-rate-limit-percentage-used"
_log = logging.getLogger("mpasync.emulator")
_decode = msgspec.json.decode


class _Outcome:
    """What the request log records about one request (filled in as it is served)."""

    __slots__ = ("applied", "dropped", "fault", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.fault: str | None = None
        self.applied = False
        self.dropped = False


def _error(
    path: str, status: int, message: str, code: str | None = None, **headers: str
) -> web.Response:
    body = (
        v2_error_body(status, message, code)
        if path.startswith(_V2)
        else v1_error_body(status, message, code)
    )
    return json_response(body, status, headers or None)


def _drop(request: web.Request, outcome: _Outcome) -> web.Response:
    """Close the connection without answering; aiohttp then fails to write and moves on."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    outcome.dropped = True
    outcome.status = None
    # This response is never sent: writing to an aborted transport raises ConnectionError,
    # which aiohttp's server swallows.
    return web.Response(status=499)


def _account_key(request: web.Request, rt: Runtime) -> int:
    """The account a request counts against for the rate limit."""
    account = CURRENT.get().account_id
    if account is not None:
        return account
    parts = request.path.split("/", 5)  # ["", "platform", "v2", "workspaces", "{wid}", ...]
    if len(parts) > 4 and parts[3] == "workspaces" and parts[4].isdigit():
        ws = rt.state.workspaces.get(int(parts[4]))
        if ws is not None:
            return ws.account_id
    return rt.state.primary_account_id


def _app_key(path: str) -> int | None:
    """The app a v1 request counts against for a per-app limit (`/v1/apps/{id}...`)."""
    if not path.startswith("/v1/apps/"):
        return None
    head = path[len("/v1/apps/") :].split("/", 1)[0]
    return int(head) if head.isdigit() else None


def _account_param(request: web.Request) -> str | None:
    value = request.query.get("accountId")
    if value is None:  # the overview writes "AccountId"; accept any casing
        for key, candidate in request.query.items():
            if key.lower() == "accountid":
                return candidate
    return value


def _check_account(request: web.Request, rt: Runtime) -> web.Response | None:
    """Validate `accountId` on v1 calls and remember it for the handlers."""
    if request.method == "POST" and request.path == "/v1/accounts":
        # The reference's "Create an account" curl has no accountId; do not insist.
        return None
    raw = _account_param(request)
    if raw is None:
        return _error(request.path, 401, "The accountId query parameter is required.")
    # ASCII digits only: int() would read "٣" as 3.
    account = int(raw) if raw.isascii() and raw.isdigit() else -1
    if account not in rt.state.accounts:
        return _error(request.path, 401, f"Not authorized for account {raw}.")
    CURRENT.get().account_id = account
    return None


async def _serve_api(
    request: web.Request,
    handler: Any,
    rt: Runtime,
    outcome: _Outcome,
    decision: FaultDecision | None,
) -> web.StreamResponse:
    path = request.path
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not rt.tokens.is_valid(token.strip()):
        return _error(path, 401, "User failed authentication.")
    if path.startswith(_V1):
        failure = _check_account(request, rt)
        if failure is not None:
            return failure
    percent = 0
    if rt.limiter is not None:
        verdict = rt.limiter.acquire(_account_key(request, rt), _app_key(path), time.monotonic())
        if not verdict.admitted:
            return _error(
                path,
                429,
                "Rate limit exceeded.",
                **{
                    "Retry-After": str(verdict.retry_after),
                    "X-mp-rate-limit-exceeded": verdict.exceeded or "account",
                },
            )
        percent = verdict.percentage_used
    if CURRENT.get().bad_json:
        return _error(path, 400, "JSON Syntax is invalid.")
    response = await _call(request, handler, outcome)
    if decision is not None and decision.kind == "lost_response":
        outcome.fault = "lost_response"
        return _drop(request, outcome)
    if 200 <= response.status < 300:
        response.headers[_PERCENT_HEADER] = str(percent)
    return response


async def _call(request: web.Request, handler: Any, outcome: _Outcome) -> web.StreamResponse:
    """Run the handler, mapping failures to the API's error bodies."""
    path = request.path
    try:
        response: web.StreamResponse = await handler(request)
        outcome.applied = True
        return response
    except ApiFailure as failure:  # business-rule and lookup failures change nothing
        if request.method == "HEAD":
            return empty_response(failure.status)
        return _error(path, failure.status, failure.message, failure.code)
    except web.HTTPException as exc:  # router 404/405
        if exc.status < 400:
            raise
        message = "Resource does not exist." if exc.status == 404 else exc.reason
        return _error(
            path, exc.status, message, **{k: v for k, v in exc.headers.items() if k == "Allow"}
        )
    except Exception:
        _log.exception("emulator handler failed: %s %s", request.method, path)
        return _error(path, 500, "Internal server error.")


async def _inject(
    request: web.Request, decision: FaultDecision, outcome: _Outcome
) -> web.StreamResponse | None:
    """Apply the injected latency and any fault that answers before the handler runs."""
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    if decision.kind == "drop":
        outcome.fault = "drop"
        return _drop(request, outcome)
    if decision.kind == "error":
        outcome.fault = "error"
        return _error(request.path, decision.status, "Injected server error.")
    if decision.kind == "rate_limited":
        outcome.fault = "rate_limited"
        return _error(
            request.path,
            429,
            "Rate limit exceeded.",
            **{"Retry-After": str(decision.retry_after), "X-mp-rate-limit-exceeded": "account"},
        )
    return None


class _Malformed(Exception):
    """A request body no route can read (invalid UTF-8, nested too deep, too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _read_body(request: web.Request, context: RequestContext) -> None:
    """Parse the body once for every route; JSON that merely fails to parse sets `bad_json`
    (the routes answer it in their own dialect), a body nothing can read raises `_Malformed`."""
    if not request.body_exists:
        return
    try:
        raw = await request.read()
    except web.HTTPException as exc:  # 413 over client_max_size
        raise _Malformed(exc.status, exc.reason) from None
    if not raw.strip():
        return
    if request.content_type == "application/x-www-form-urlencoded":
        context.body = dict(parse_qsl(raw.decode("utf-8", "replace")))
        return
    try:
        context.body = _decode(raw)
    except msgspec.DecodeError:
        # msgspec < 0.23 raised UnicodeDecodeError for invalid UTF-8; 0.23 raises its own
        # DecodeError, so the bytes are checked here (only on this error path).
        if not _is_utf8(raw):
            raise _Malformed(400, _NOT_UTF8) from None
        context.bad_json = True
    except UnicodeDecodeError:
        raise _Malformed(400, _NOT_UTF8) from None
    except RecursionError:
        raise _Malformed(400, "JSON nested too deeply.") from None


_NOT_UTF8 = "The request body is not valid UTF-8."


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _malformed(path: str, failure: _Malformed, rt: Runtime) -> web.Response:
    """The 400 (or 413) for an unreadable body, in the dialect of the API it was sent to.

    The Platform API routes answer with their v1/v2 bodies; the other APIs' bodies are both
    the Events-API dialect (``errors[].code``) and the DSR one (``code``, ``message``,
    ``errors[].domain/reason``), so every client reads it.
    """
    if path.startswith((_V1, _V2)) or path == TOKEN_PATH:
        return _error(path, failure.status, failure.message)
    body = {
        "code": failure.status,
        "message": failure.message,
        "errors": [
            {
                "code": "BAD_REQUEST",
                "domain": "Validation",
                "reason": "MalformedRequest",
                "message": failure.message,
            }
        ],
    }
    return json_response(body, failure.status)


@web.middleware
async def front_door(request: web.Request, handler: Any) -> web.StreamResponse:
    """Journal every request; faults, auth, accountId and rate limit for API routes."""
    rt = request.app[RUNTIME]
    arrived = time.time()
    path = request.path
    is_api = path.startswith(_V1) or path.startswith(_V2)
    is_other = bool(rt.other_prefixes) and path.startswith(rt.other_prefixes)
    is_token = path == TOKEN_PATH
    context = RequestContext()
    reset = CURRENT.set(context)
    outcome = _Outcome()
    try:
        try:
            await _read_body(request, context)
        except _Malformed as failure:
            outcome.status = failure.status
            return _malformed(path, failure, rt)
        response: web.StreamResponse | None = None
        decision = None
        if rt.faults and (is_api or is_other or (is_token and rt.faults_on_token)):
            decision = rt.faults.decide(request.method, path)
            if decision is not None:
                response = await _inject(request, decision, outcome)
        if response is None:
            if is_api:
                response = await _serve_api(request, handler, rt, outcome, decision)
            else:
                response = await _call(request, handler, outcome)
                if is_other and decision is not None and decision.kind == "lost_response":
                    outcome.fault = "lost_response"
                    response = _drop(request, outcome)
        if not outcome.dropped:
            outcome.status = response.status
        return response
    finally:
        CURRENT.reset(reset)
        _record(rt, request, arrived, context, outcome, is_token)


def _record(
    rt: Runtime,
    request: web.Request,
    arrived: float,
    context: RequestContext,
    outcome: _Outcome,
    is_token: bool,
) -> None:
    body = context.body
    if is_token and isinstance(body, dict) and "client_secret" in body:
        body = {**body, "client_secret": "***"}
    if isinstance(body, dict) and "apiKey" in body:  # the Analytics API's key rides in bodies
        body = {**body, "apiKey": "***"}
    rt.request_log.append(
        LoggedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=body,
            status=outcome.status,
            time=arrived,
            fault=outcome.fault,
            applied=outcome.applied,
            dropped=outcome.dropped,
            doc_variant=context.doc_variant,
        )
    )
    limit = rt.request_log_limit
    if limit is not None and len(rt.request_log) > 2 * limit:
        del rt.request_log[:-limit]


def _token_error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)


async def issue_token(request: web.Request) -> web.Response:
    """`POST /oauth/token` (client-credentials grant, JSON or form body)."""
    rt = request.app[RUNTIME]
    rt.token_requests += 1
    if rt.token_latency > 0:
        # The real first fetch takes 1-3 s; this makes the cost of not caching visible.
        await asyncio.sleep(rt.token_latency)
    body = CURRENT.get().body
    if not isinstance(body, dict):
        return _token_error(400, "invalid_request", "A JSON body is required.")
    if body.get("grant_type") != "client_credentials":
        return _token_error(
            400, "unsupported_grant_type", f"Unsupported grant type: {body.get('grant_type')}"
        )
    if body.get("client_id") != rt.client_id or body.get("client_secret") != rt.client_secret:
        return _token_error(401, "access_denied", "Unauthorized")
    if body.get("audience") != rt.audience:
        return _token_error(
            403, "access_denied", f"Service not enabled within domain: {body.get('audience')}"
        )
    token = rt.tokens.issue()
    # expires_in is an integer in the API; a fractional test TTL is rounded up, while the
    # token itself still expires after exactly token_ttl seconds.
    expires_in = max(1, math.ceil(rt.tokens.ttl))
    return json_response({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


def build_app(runtime: Runtime) -> web.Application:
    """The web application serving one emulator runtime."""
    app = web.Application(middlewares=[front_door], client_max_size=16 * 1024 * 1024)
    app[RUNTIME] = runtime
    app.router.add_post(TOKEN_PATH, issue_token)
    routes_v1.add_routes(app)
    routes_v2.add_routes(app)
    return app
