"""The emulator's Data Subject Request API in its three versions, one store behind them: v1
(OpenGDPR, ``/opengdpr_requests``), v2 and v3 (OpenDSR, ``/requests``), each with submit
(201, signed), status, group status, cancel (while pending) and discovery, and the signing
certificate discovery points at.

Responses and callbacks are signed by a processor certificate issued by the emulator's own
root CA (`DSRSigner.ca_pem`, in `dsr_signing`), so `verify_callback(...,
trust_roots=state.ca_pem)` checks the whole chain as it would for mParticle.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mpasync.dsr_protocol import (
    EXTENSION_IDENTITY_TYPES,
    IDENTITY_TYPES,
    MAX_IDENTITIES,
    DSRVersion,
)
from mpasync.emulator.api_common import (
    basic_auth_problem,
    encode,
    iso_time,
    json_response,
    now,
    read_json,
    scripted,
    stamp,
    text_ok,
)
from mpasync.emulator.other_state import DSRRecord

if TYPE_CHECKING:
    from mpasync.emulator.other_state import OtherApiState

__all__ = ["DSRRecord", "DSRRoutes", "dsr_errors"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ACTIVE = frozenset({"pending", "in_progress"})
#: (type, value) pairs: identities as the store compares them, whatever the version's shape.
Pairs = list[tuple[str, str]]


# ---------------------------------------------------------------- validation (server side)


def _dict_pairs(given: object, allowed: frozenset[str], where: str, errors: list[str]) -> Pairs:
    """v3 identities: ``{type: {"value", "encoding"}}``."""
    if given is None:
        return []
    if not isinstance(given, dict):
        errors.append(f"{where} must be an object keyed by identity type.")
        return []
    pairs: Pairs = []
    for kind, entry in given.items():
        if kind not in allowed:
            errors.append(f"{where}: unsupported identity type {kind!r}.")
        elif not isinstance(entry, dict) or not text_ok(entry.get("value")):
            errors.append(f"{where}.{kind}: value must be a non-empty string.")
        elif entry.get("encoding", "raw") != "raw":
            errors.append(f"{where}.{kind}: only raw encoding is supported.")
        else:
            pairs.append((kind, entry["value"]))
    return pairs


def _list_pairs(
    given: object, allowed: frozenset[str], where: str, errors: list[str], *, format_required: bool
) -> Pairs:
    """v1/v2 identities: ``[{"identity_type", "identity_value", "identity_format"}]``."""
    if given is None:
        return []
    if not isinstance(given, list):
        errors.append(f"{where} must be an array of identities.")
        return []
    pairs: Pairs = []
    for i, entry in enumerate(given):
        at = f"{where}[{i}]"
        kind = entry.get("identity_type") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or kind not in allowed:
            errors.append(f"{at}: unsupported identity type {kind!r}.")
        elif not text_ok(entry.get("identity_value")):
            errors.append(f"{at}: identity_value must be a non-empty string.")
        elif entry.get("identity_format", None if format_required else "raw") != "raw":
            errors.append(f"{at}: identity_format must be raw.")
        else:
            pairs.append((kind, entry["identity_value"]))
    return pairs


def _mpid_pairs(given: object, where: str, errors: list[str]) -> Pairs:
    if given is None:
        return []
    if not isinstance(given, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) for m in given
    ):
        errors.append(f"{where} must be an array of integers.")
        return []
    return [("mpid", str(m)) for m in given]


def _ours(body: dict[str, Any], domain: str) -> dict[str, Any]:
    """mParticle's entry in a submit body's ``extensions`` ({} when absent or malformed)."""
    extensions = body.get("extensions")
    ours = extensions.get(domain) if isinstance(extensions, dict) else None
    return ours if isinstance(ours, dict) else {}


def dsr_errors(body: object, version: DSRVersion, domain: str) -> tuple[list[str], Pairs, Pairs]:
    """What the API would reject in a submit body of ``version``; and its identities
    (top level, extension) as (type, value) pairs."""
    if not isinstance(body, dict):
        return ["The request body must be a JSON object."], [], []
    errors: list[str] = []
    given_version = body.get("api_version", version.api_version)
    if given_version != version.api_version:
        # Each endpoint speaks one version (v3 upgrade guide: "Update the api_version to
        # 3.0"; v2: "1.0 (legacy, for the OpenGDPR endpoint)"): another one is refused.
        errors.append(
            f"api_version {given_version!r} is not supported by this endpoint; "
            f"use {version.api_version!r}."
        )
    if version.sends_regulation and body.get("regulation") not in ("gdpr", "ccpa"):
        errors.append("regulation must be gdpr or ccpa.")
    if body.get("subject_request_type") not in ("access", "portability", "erasure"):
        errors.append("subject_request_type must be access, portability or erasure.")
    rid = body.get("subject_request_id")
    try:
        valid_id = isinstance(rid, str) and rid == rid.lower() and bool(uuid.UUID(rid).hex)
    except ValueError:
        valid_id = False
    if not valid_id:
        errors.append("subject_request_id must be a lowercase UUID.")
    submitted = body.get("submitted_time")
    if not isinstance(submitted, str) or iso_time(submitted) is None:
        errors.append("submitted_time must be an ISO 8601 date-time.")
    ours = _ours(body, domain)
    where = f"extensions.{domain}"
    if version.number == 3:
        top = _dict_pairs(
            body.get("subject_identities"), IDENTITY_TYPES, "subject_identities", errors
        )
        extra = _dict_pairs(ours.get("subject_identities"), EXTENSION_IDENTITY_TYPES, where, errors)
    else:
        top = _list_pairs(
            body.get("subject_identities"),
            IDENTITY_TYPES,
            "subject_identities",
            errors,
            format_required=True,
        )
        extra = _mpid_pairs(ours.get("mpids"), f"{where}.mpids", errors)
        if version.number == 2:
            others = version.extension_types - {"mpid"}
            extra += _list_pairs(
                ours.get("identities"), others, f"{where}.identities", errors, format_required=False
            )
    count = len(top) + len(extra)
    if count == 0:
        errors.append("At least one subject identity is required.")
    if count > MAX_IDENTITIES:
        errors.append(f"At most {MAX_IDENTITIES} identities are allowed.")
    if version.mpid_alone and any(kind == "mpid" for kind, _ in extra) and count > 1:
        errors.append("mpid cannot be combined with other identities.")
    urls = body.get("status_callback_urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        errors.append("status_callback_urls must be an array of strings.")
    return errors, top, extra


def _error(
    status: int, message: str, reason: str, domain: str = "Validation", **headers: str
) -> web.Response:
    """The DSR dialect: ``{code, message, errors: [{domain, reason, message}]}``."""
    body = {
        "code": status,
        "message": message,
        "errors": [{"domain": domain, "reason": reason, "message": message}],
    }
    return json_response(body, status, headers or None)


# ---------------------------------------------------------------- handlers


class DSRRoutes:
    """The DSR handlers of one version over the shared state."""

    def __init__(self, state: OtherApiState, version: DSRVersion, prefix: str) -> None:
        self.state = state
        self.version = version
        self.prefix = prefix

    @property
    def domain(self) -> str:
        """The processor domain this version's answers and callbacks claim."""
        return self.state.processor_domain_for(self.version.number)

    def _gate(self) -> web.Response | None:
        failure = scripted(self.state, "dsr")
        if failure is not None:
            status, after = failure
            headers = {"Retry-After": f"{after:g}"} if after is not None else {}
            return _error(status, "Injected failure.", "Injected", "Server", **headers)
        return None

    async def _authorized(self, request: web.Request) -> web.Response | None:
        failed = self._gate()
        if failed is None and basic_auth_problem(self.state, request) is not None:
            failed = _error(401, "Unauthorized.", "Unauthorized", "Authentication")
        return failed

    async def submit(self, request: web.Request) -> web.StreamResponse:
        failed = await self._authorized(request)
        if failed is not None:
            return failed
        state, version = self.state, self.version
        raw, body, ok = await read_json(request)
        if not ok:
            return _error(400, "The request JSON was malformed.", "JsonException")
        errors, top, extra = dsr_errors(body, version, self.domain)
        if errors:
            return _error(400, " ".join(errors), "ValidationException")
        rid = body["subject_request_id"]
        if rid in state.dsr_requests:
            return _error(400, "Subject request already exists.", "InvalidOperationException")
        conflict_key = encode([body["subject_request_type"], sorted(top), sorted(extra)]).decode()
        for other in state.dsr_requests.values():
            if other.conflict_key == conflict_key and other.status in _ACTIVE:
                return _error(
                    409,
                    "A request with the same identities and type is already in progress.",
                    "ConflictException",
                )
        received = now()
        # The table lists skip_waiting_period at the top level, the example inside the
        # extension: honour either (v3 only).
        ours = _ours(body, self.domain)
        skip = version.skip_waiting_period and bool(
            ours.get("skip_waiting_period", body.get("skip_waiting_period", False))
        )
        expected = (received + dt.timedelta(days=14 if skip else 21)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        record = DSRRecord(
            body=body,
            raw=raw,
            status="pending",
            received_time=stamp(received),
            expected_completion_time=stamp(expected).replace(".000000", ""),
            conflict_key=conflict_key,
            version=version.number,
        )
        state.dsr_requests[rid] = record
        answer = encode(
            {
                "expected_completion_time": record.expected_completion_time,
                "received_time": record.received_time,
                "encoded_request": base64.b64encode(raw).decode(),
                "subject_request_id": rid,
                "controller_id": state.controller_id,
            }
        )
        headers = {
            version.domain_header: self.domain,
            version.signature_header: state.signer.sign(self.domain, answer),
        }
        return web.Response(
            body=answer, status=201, content_type="application/json", headers=headers
        )

    async def status(self, request: web.Request) -> web.StreamResponse:
        failed = await self._authorized(request)
        if failed is not None:
            return failed
        record = self.state.dsr_requests.get(request.match_info["request_id"])
        if record is None:
            return _error(404, "Subject request not found.", "NotFound")
        return json_response(record.status_body(self.state.controller_id))

    async def group(self, request: web.Request) -> web.StreamResponse:
        failed = await self._authorized(request)
        if failed is not None:
            return failed
        group = request.query.get("group_id")
        if not group:
            return _error(400, "The group_id query parameter is required.", "MissingParameter")
        state = self.state
        return json_response(
            [
                r.status_body(state.controller_id)
                for r in state.dsr_requests.values()
                if r.body.get("group_id") == group
            ]
        )

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        failed = await self._authorized(request)
        if failed is not None:
            return failed
        record = self.state.dsr_requests.get(request.match_info["request_id"])
        if record is None:
            return _error(404, "Subject request not found.", "NotFound")
        if record.status != "pending":
            return _error(
                400,
                f"Only pending requests can be cancelled; this one is {record.status}.",
                "InvalidOperationException",
            )
        record.status = "cancelled"
        record.expected_completion_time = None
        return json_response(
            {
                "expected_completion_time": None,
                "received_time": stamp(now()),
                "subject_request_id": record.subject_request_id,
                "controller_id": self.state.controller_id,
            }
        )

    async def discovery(self, request: web.Request) -> web.StreamResponse:
        failed = await self._authorized(request)
        if failed is not None:
            return failed
        # The emulator's own address, never the request's Host header: a forged Host
        # must not point callers at another server's certificate.
        base = self.state.public_url(request)
        listed = sorted(IDENTITY_TYPES - {"roku_publishing_id"})  # discovery's spelling
        return json_response(
            {
                "api_version": self.version.api_version,
                "supported_identities": [
                    {"identity_type": t, "identity_format": "raw"} for t in listed
                ],
                "supported_subject_request_types": ["access", "erasure", "portability"],
                "processor_certificate": f"{base}{self.prefix}/certificate.pem",
            }
        )

    async def certificate(self, request: web.Request) -> web.StreamResponse:
        try:
            pem = self.state.signer.certificate_pem(self.domain)
        except ImportError:
            return web.Response(status=404, text="cryptography is not installed")
        return web.Response(body=pem, content_type="application/x-pem-file")

    def add_to(self, router: web.UrlDispatcher) -> None:
        """Register this version's routes under its prefix."""
        requests = f"{self.prefix}/{self.version.requests}"
        for suffix in ("", "/"):
            router.add_post(f"{requests}{suffix}", self.submit)
            router.add_get(f"{self.prefix}/discovery{suffix}", self.discovery)
        router.add_get(requests, self.group)
        router.add_get(f"{requests}/{{request_id}}", self.status)
        router.add_delete(f"{requests}/{{request_id}}", self.cancel)
        router.add_get(f"{self.prefix}/certificate.pem", self.certificate)
