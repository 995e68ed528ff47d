"""In-memory stand-ins for the Calculated Attributes Seeding, DSR v3 and Analytics APIs,
added to any `aiohttp.web.Application` (the Emulator's, or a test's) under their own prefixes.

    app = web.Application()
    state = add_other_api_routes(app)   # seeding /s2s, DSR /dsr/v3, analytics /analytics
    # SeedingClient(state.workspace_key, state.workspace_secret, base_url=server + "/s2s")

Each handler checks its API's credentials itself (HTTP Basic for seeding and DSR, the body's
``apiKey`` for analytics) and answers in its API's error dialect, so the routes work the
same with or without the Emulator's middleware in front.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from mpasync.dsr import EXTENSION_IDENTITY_TYPES, IDENTITY_TYPES
from mpasync.models.seeding import SeedCalculationType

__all__ = [
    "ANALYTICS_PREFIX",
    "DSR_PREFIX",
    "SEEDING_PREFIX",
    "AnalyticsRequest",
    "DSRRecord",
    "OtherApiState",
    "SeedRequest",
    "add_other_api_routes",
]

SEEDING_PREFIX = "/s2s"
DSR_PREFIX = "/dsr/v3"
ANALYTICS_PREFIX = "/analytics"

#: What the emulator enforces of the Events API limits on bulk seeding (256 KB read as
#: KiB, the generous reading; the client packs to 256,000 bytes).
MAX_SEED_USERS = 100
MAX_SEED_BYTES = 256 * 1024
MAX_DSR_IDENTITIES = 50
_MAX_LENGTH = 255

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMERIC_SEEDS = frozenset({"count", "sum", "min", "max", "minimum", "maximum"})
_TIMESTAMP_SEEDS = frozenset({"first_occurrence_timestamp", "last_occurrence_timestamp"})
_ACTIVE = frozenset({"pending", "in_progress"})

_encode = msgspec.json.Encoder().encode
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class SeedRequest:
    """One accepted seeding request: which endpoint, its users, its size, when (monotonic)."""

    bulk: bool
    users: list[dict[str, Any]]
    size: int
    time: float


@dataclass
class DSRRecord:
    """One data subject request as the emulator holds it."""

    body: dict[str, Any]
    raw: bytes
    status: str
    received_time: str
    expected_completion_time: str | None
    conflict_key: str
    results_url: str | None = None

    @property
    def subject_request_id(self) -> str:
        """The request's id."""
        return str(self.body["subject_request_id"])

    def status_body(self, controller_id: str) -> dict[str, Any]:
        """The body of ``GET /requests/{id}`` (and of a status callback)."""
        return {
            "controller_id": controller_id,
            "expected_completion_time": self.expected_completion_time,
            "subject_request_id": self.subject_request_id,
            "group_id": self.body.get("group_id"),
            "request_status": self.status,
            "api_version": "3.0",
            "results_url": self.results_url,
            "extensions": None,
        }


@dataclass
class AnalyticsRequest:
    """One accepted analytics call: path, events carried, arrival (monotonic)."""

    path: str
    events: int
    time: float


@dataclass(repr=False)
class OtherApiState:
    """Credentials and everything the three APIs stored; tests read and script it.

    ``fail_next(api, *statuses)`` makes the next requests to ``"seeding"``, ``"dsr"`` or
    ``"analytics"`` fail with those statuses (before auth), to exercise retries.
    """

    workspace_key: str = "emu-workspace-key"
    workspace_secret: str = "emu-workspace-secret"
    analytics_key: str = "emu-analytics-key"
    controller_id: str = "3622"
    processor_domain: str = "opendsr.mparticle.com"
    seed_requests: list[SeedRequest] = field(default_factory=list)
    #: The latest body seeded per user ("mpid:<n>" or "identities:<json>").
    seeded: dict[str, dict[str, Any]] = field(default_factory=dict)
    dsr_requests: dict[str, DSRRecord] = field(default_factory=dict)
    analytics_requests: list[AnalyticsRequest] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    suppressed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    #: Requests answered per API, scripted failures included.
    hits: dict[str, int] = field(default_factory=lambda: {"seeding": 0, "dsr": 0, "analytics": 0})
    _scripted: dict[str, deque[tuple[int, float | None]]] = field(default_factory=dict)
    _signer: Any = None
    _certificate: bytes | None = None

    def __repr__(self) -> str:
        # Counts only: no credentials, and no event log thousands of lines long.
        return (
            f"OtherApiState(seed_requests={len(self.seed_requests)}, "
            f"dsr_requests={len(self.dsr_requests)}, events={len(self.events)}, "
            f"hits={self.hits})"
        )

    def fail_next(self, api: str, *statuses: int, retry_after: float | None = None) -> None:
        """Answer the next ``len(statuses)`` requests to ``api`` with these statuses."""
        if api not in self.hits:
            raise ValueError(f"unknown api {api!r}; expected one of {sorted(self.hits)}")
        queue = self._scripted.setdefault(api, deque())
        queue.extend((status, retry_after) for status in statuses)

    def set_dsr_status(
        self, request_id: str, status: str, *, results_url: str | None = None
    ) -> None:
        """Move a DSR along (pending → in_progress → completed), as time would."""
        record = self.dsr_requests[request_id]
        record.status = status
        if results_url is not None:
            record.results_url = results_url

    # -- signing (needs the optional `cryptography` package) ------------------------------

    def _signing(self) -> Any:
        if self._signer is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.x509.oid import NameOID

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.processor_domain)])
            now = dt.datetime.now(dt.timezone.utc)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(
                    x509.SubjectAlternativeName([x509.DNSName(self.processor_domain)]),
                    critical=False,
                )
                .sign(key, hashes.SHA256())
            )
            self._certificate = cert.public_bytes(serialization.Encoding.PEM)
            self._signer = key
        return self._signer

    @property
    def certificate_pem(self) -> bytes:
        """The self-signed certificate the emulator signs DSR responses with (PEM)."""
        self._signing()
        assert self._certificate is not None
        return self._certificate

    def sign(self, body: bytes) -> str:
        """A base64 RSA PKCS#1 v1.5 SHA-256 signature of ``body``, as the processor sends."""
        try:
            key = self._signing()
        except ImportError:
            return ""  # no cryptography: responses go out unsigned
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()

    def callback(self, request_id: str) -> tuple[dict[str, str], bytes]:
        """The headers and body of the status callback the processor would send now."""
        body = _encode(self.dsr_requests[request_id].status_body(self.controller_id))
        headers = {
            "X-OpenDSR-Processor-Domain": self.processor_domain,
            "X-OpenDSR-Signature": self.sign(body),
        }
        return headers, body


# ---------------------------------------------------------------- responses


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(body), status=status, content_type="application/json", headers=headers
    )


def _errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> web.Response:
    """The Events-API dialect (seeding, analytics): ``{"errors": [{code, message}]}``."""
    code = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 413: "BAD_REQUEST"}.get(
        status, "VALIDATION_ERROR" if status == 422 else "ERROR"
    )
    items = [{"code": code, "message": m} for m in messages]
    return _json({"errors": items}, status, headers)


def _dsr_error(
    status: int, message: str, reason: str, domain: str = "Validation", **headers: str
) -> web.Response:
    """The DSR dialect: ``{code, message, errors: [{domain, reason, message}]}``."""
    body = {
        "code": status,
        "message": message,
        "errors": [{"domain": domain, "reason": reason, "message": message}],
    }
    return _json(body, status, headers or None)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stamp(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings (any characters)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _text_ok(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= _MAX_LENGTH


def _iso_time(value: str) -> dt.datetime | None:
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


async def _read_json(request: web.Request) -> tuple[bytes, Any, bool]:
    raw = await request.read()
    try:
        return raw, msgspec.json.decode(raw), True
    except msgspec.DecodeError:
        return raw, None, False


# ---------------------------------------------------------------- validation (server side)


def _seed_user_errors(user: object) -> list[str]:
    """What the seeding API would reject in one user; CA errors read "CA name: message"."""
    if not isinstance(user, dict):
        return ["Each user must be a JSON object."]
    errors: list[str] = []
    if user.get("environment") not in ("production", "development"):
        errors.append("environment must be production or development.")
    mpid, identities = user.get("mpid"), user.get("identities")
    if mpid is None and not identities:
        errors.append("Either mpid or identities is required.")
    if mpid is not None and (isinstance(mpid, bool) or not isinstance(mpid, int)):
        errors.append("mpid must be numeric.")
    if identities is not None and not (
        isinstance(identities, dict) and all(isinstance(v, str) for v in identities.values())
    ):
        errors.append("identities must map identity types to strings.")
    attributes = user.get("calculated_attributes")
    workspace = attributes.get("workspace") if isinstance(attributes, dict) else None
    if not isinstance(workspace, list):
        errors.append("calculated_attributes.workspace is required.")
        workspace = []
    for item in workspace:
        name = item.get("attribute_name") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(name, str) or not name:
            errors.append("attribute_name is required.")
            continue
        ctype = item.get("calculation_type")
        ctype = SeedCalculationType.ALIASES.get(ctype, ctype) if isinstance(ctype, str) else ctype
        if ctype not in SeedCalculationType.ALL:
            errors.append(f"{name}: Unknown calculation type {item.get('calculation_type')!r}.")
            continue
        cutoff = item.get("cutoff_date")
        if not isinstance(cutoff, str) or not _DATE.fullmatch(cutoff):
            errors.append(f"{name}: cutoff_date must be a date in yyyy-MM-dd form.")
        seed = item.get("seed")
        wanted = SeedCalculationType.SEED_FIELD[ctype]
        if not isinstance(seed, dict) or seed.get(wanted) is None:
            errors.append(f"{name}: Seed must have {wanted} for {ctype}.")
            continue
        value = seed[wanted]
        if ctype in _NUMERIC_SEEDS | _TIMESTAMP_SEEDS:
            try:
                float(value)
            except (TypeError, ValueError):
                errors.append(f"{name}: Seed value must be numeric")
        elif ctype == "average":
            count = value.get("count") if isinstance(value, dict) else None
            if (
                not isinstance(value, dict)
                or "sum" not in value
                or not (isinstance(count, int) and not isinstance(count, bool) and count > 0)
            ):
                errors.append(f"{name}: average needs sum and a positive integer count.")
        elif wanted == "list" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            errors.append(f"{name}: Seed list must be an array of strings.")
    updates = user.get("user_attributes")
    if updates is not None:
        items = updates.get("workspace") if isinstance(updates, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(a, dict) and a.get("attribute_name") and "attribute_value" in a
            for a in items
        ):
            errors.append("user_attributes.workspace needs attribute_name and attribute_value.")
    return errors


def _user_key(user: dict[str, Any]) -> str:
    if user.get("mpid") is not None:
        return f"mpid:{user['mpid']}"
    return "identities:" + _encode(dict(sorted(user["identities"].items()))).decode()


def _identity_errors(given: object, allowed: frozenset[str], where: str) -> list[str]:
    if given is None:
        return []
    if not isinstance(given, dict):
        return [f"{where} must be an object keyed by identity type."]
    errors = []
    for kind, entry in given.items():
        if kind not in allowed:
            errors.append(f"{where}: unsupported identity type {kind!r}.")
        elif not isinstance(entry, dict) or not _text_ok(entry.get("value")):
            errors.append(f"{where}.{kind}: value must be a non-empty string.")
        elif entry.get("encoding", "raw") != "raw":
            errors.append(f"{where}.{kind}: only raw encoding is supported.")
    return errors


def _ours(body: dict[str, Any], domain: str) -> dict[str, Any]:
    """mParticle's entry in a submit body's ``extensions`` ({} when absent or malformed)."""
    extensions = body.get("extensions")
    ours = extensions.get(domain) if isinstance(extensions, dict) else None
    return ours if isinstance(ours, dict) else {}


def _dsr_errors(body: object, domain: str) -> list[str]:
    if not isinstance(body, dict):
        return ["The request body must be a JSON object."]
    errors = []
    if body.get("regulation") not in ("gdpr", "ccpa"):
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
    if not isinstance(submitted, str) or _iso_time(submitted) is None:
        errors.append("submitted_time must be an ISO 8601 date-time.")
    ours = _ours(body, domain)
    top, extra = body.get("subject_identities"), ours.get("subject_identities")
    errors += _identity_errors(top, IDENTITY_TYPES, "subject_identities")
    errors += _identity_errors(extra, EXTENSION_IDENTITY_TYPES, f"extensions.{domain}")
    count = len(top or {}) + len(extra or {})
    if count == 0:
        errors.append("At least one subject identity is required.")
    if count > MAX_DSR_IDENTITIES:
        errors.append(f"At most {MAX_DSR_IDENTITIES} identities are allowed.")
    if isinstance(extra, dict) and "mpid" in extra and count > 1:
        errors.append("mpid cannot be combined with other identities.")
    urls = body.get("status_callback_urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        errors.append("status_callback_urls must be an array of strings.")
    return errors


def _event_errors(event: object, where: str) -> list[str]:
    if not isinstance(event, dict):
        return [f"{where} must be a JSON object."]
    errors = []
    for key in ("eventName", "eventUniqueId"):
        if not _text_ok(event.get(key)):
            errors.append(f"{where}{key} must be between 1 and 255 characters.")
    properties = event.get("properties")
    if properties is not None:
        errors += _property_errors(properties, f"{where}properties")
    moment = event.get("eventTime")
    if moment is not None:
        if isinstance(moment, bool) or not isinstance(moment, (int, float, str)):
            errors.append(f"{where}eventTime must be a unix timestamp or ISO 8601.")
        elif isinstance(moment, str):
            parsed = _iso_time(moment)
            if parsed is None or parsed.timestamp() < 0:
                errors.append(f"{where}eventTime must be ISO 8601, not before 1970.")
        elif moment < 0:
            errors.append(f"{where}eventTime must not be negative.")
    return errors


def _property_errors(properties: object, where: str) -> list[str]:
    if not isinstance(properties, dict):
        return [f"{where} must be a JSON object."]
    return [
        f"{where}: property names must be between 1 and 255 characters."
        for name in properties
        if not _text_ok(name)
    ]


# ---------------------------------------------------------------- handlers


class _Routes:
    def __init__(self, state: OtherApiState, dsr_prefix: str) -> None:
        self.state = state
        self.dsr_prefix = dsr_prefix

    # -- shared checks -----------------------------------------------------------------

    def _scripted(self, api: str) -> tuple[int, float | None] | None:
        self.state.hits[api] += 1
        queue = self.state._scripted.get(api)
        return queue.popleft() if queue else None

    def _basic(self, request: web.Request) -> str | None:
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
        good_key = _same(key, self.state.workspace_key)
        good_secret = _same(secret, self.state.workspace_secret)
        return None if good_key and good_secret else "invalid"

    # -- seeding -----------------------------------------------------------------------

    async def seed_one(self, request: web.Request) -> web.StreamResponse:
        return await self._seed(request, bulk=False)

    async def seed_bulk(self, request: web.Request) -> web.StreamResponse:
        return await self._seed(request, bulk=True)

    async def _seed(self, request: web.Request, *, bulk: bool) -> web.StreamResponse:
        scripted = self._scripted("seeding")
        if scripted is not None:
            status, after = scripted
            headers = {"Retry-After": f"{after:g}"} if after is not None else None
            return _errors(status, "Injected failure.", headers=headers)
        auth = self._basic(request)
        if auth == "missing":
            return _errors(401, "The authentication header is missing.")
        if auth is not None:
            return _errors(403, "The authentication header is invalid.")
        raw, body, ok = await _read_json(request)
        if not ok:
            return _errors(400, "The request JSON was malformed.")
        if bulk:
            if len(raw) > MAX_SEED_BYTES:
                return _errors(413, f"The request exceeds {MAX_SEED_BYTES} bytes.")
            if not isinstance(body, list) or not body:
                return _errors(400, "The bulk body must be a non-empty array of users.")
            if len(body) > MAX_SEED_USERS:
                return _errors(400, f"At most {MAX_SEED_USERS} users per request.")
            users = body
        else:
            users = [body]
        errors = [message for user in users for message in _seed_user_errors(user)]
        if errors:  # all or nothing: no user of a rejected request is stored
            return _errors(400, *errors)
        self.state.seed_requests.append(SeedRequest(bulk, users, len(raw), time.monotonic()))
        for user in users:
            self.state.seeded[_user_key(user)] = user
        return web.Response(status=202)

    # -- DSR ---------------------------------------------------------------------------

    def _dsr_gate(self, request: web.Request) -> web.Response | None:
        scripted = self._scripted("dsr")
        if scripted is not None:
            status, after = scripted
            headers = {"Retry-After": f"{after:g}"} if after is not None else {}
            return _dsr_error(status, "Injected failure.", "Injected", "Server", **headers)
        if self._basic(request) is not None:
            return _dsr_error(401, "Unauthorized.", "Unauthorized", "Authentication")
        return None

    async def dsr_submit(self, request: web.Request) -> web.StreamResponse:
        failed = self._dsr_gate(request)
        if failed is not None:
            return failed
        state = self.state
        raw, body, ok = await _read_json(request)
        if not ok:
            return _dsr_error(400, "The request JSON was malformed.", "JsonException")
        errors = _dsr_errors(body, state.processor_domain)
        if errors:
            return _dsr_error(400, " ".join(errors), "ValidationException")
        rid = body["subject_request_id"]
        if rid in state.dsr_requests:
            return _dsr_error(400, "Subject request already exists.", "InvalidOperationException")
        ours = _ours(body, state.processor_domain)
        conflict_key = _encode(
            [
                body["subject_request_type"],
                dict(sorted((body.get("subject_identities") or {}).items())),
                dict(sorted((ours.get("subject_identities") or {}).items())),
            ]
        ).decode()
        for other in state.dsr_requests.values():
            if other.conflict_key == conflict_key and other.status in _ACTIVE:
                return _dsr_error(
                    409,
                    "A request with the same identities and type is already in progress.",
                    "ConflictException",
                )
        received = _now()
        # The table lists skip_waiting_period at the top level, the example inside the
        # extension: honour either.
        skip = bool(ours.get("skip_waiting_period", body.get("skip_waiting_period", False)))
        days = 14 if skip else 21
        expected = (received + dt.timedelta(days=days)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        record = DSRRecord(
            body=body,
            raw=raw,
            status="pending",
            received_time=_stamp(received),
            expected_completion_time=_stamp(expected).replace(".000000", ""),
            conflict_key=conflict_key,
        )
        state.dsr_requests[rid] = record
        answer = _encode(
            {
                "expected_completion_time": record.expected_completion_time,
                "received_time": record.received_time,
                "encoded_request": base64.b64encode(raw).decode(),
                "subject_request_id": rid,
                "controller_id": state.controller_id,
            }
        )
        headers = {
            "X-OpenDSR-Processor-Domain": state.processor_domain,
            "X-OpenDSR-Signature": state.sign(answer),
        }
        return web.Response(
            body=answer, status=201, content_type="application/json", headers=headers
        )

    async def dsr_status(self, request: web.Request) -> web.StreamResponse:
        failed = self._dsr_gate(request)
        if failed is not None:
            return failed
        record = self.state.dsr_requests.get(request.match_info["request_id"])
        if record is None:
            return _dsr_error(404, "Subject request not found.", "NotFound")
        return _json(record.status_body(self.state.controller_id))

    async def dsr_group(self, request: web.Request) -> web.StreamResponse:
        failed = self._dsr_gate(request)
        if failed is not None:
            return failed
        group = request.query.get("group_id")
        if not group:
            return _dsr_error(400, "The group_id query parameter is required.", "MissingParameter")
        state = self.state
        return _json(
            [
                r.status_body(state.controller_id)
                for r in state.dsr_requests.values()
                if r.body.get("group_id") == group
            ]
        )

    async def dsr_cancel(self, request: web.Request) -> web.StreamResponse:
        failed = self._dsr_gate(request)
        if failed is not None:
            return failed
        record = self.state.dsr_requests.get(request.match_info["request_id"])
        if record is None:
            return _dsr_error(404, "Subject request not found.", "NotFound")
        if record.status != "pending":
            return _dsr_error(
                400,
                f"Only pending requests can be cancelled; this one is {record.status}.",
                "InvalidOperationException",
            )
        record.status = "cancelled"
        record.expected_completion_time = None
        return _json(
            {
                "expected_completion_time": None,
                "received_time": _stamp(_now()),
                "subject_request_id": record.subject_request_id,
                "controller_id": self.state.controller_id,
            }
        )

    async def dsr_discovery(self, request: web.Request) -> web.StreamResponse:
        failed = self._dsr_gate(request)
        if failed is not None:
            return failed
        certificate = request.url.with_path(self.dsr_prefix + "/certificate.pem").with_query(None)
        listed = sorted(IDENTITY_TYPES - {"roku_publishing_id"})  # discovery's spelling
        return _json(
            {
                "api_version": "3.0",
                "supported_identities": [
                    {"identity_type": t, "identity_format": "raw"} for t in listed
                ],
                "supported_subject_request_types": ["access", "erasure", "portability"],
                "processor_certificate": str(certificate),
            }
        )

    async def dsr_certificate(self, request: web.Request) -> web.StreamResponse:
        try:
            pem = self.state.certificate_pem
        except ImportError:
            return web.Response(status=404, text="cryptography is not installed")
        return web.Response(body=pem, content_type="application/x-pem-file")

    # -- analytics ---------------------------------------------------------------------

    async def _analytics(
        self,
        request: web.Request,
        check: Callable[[dict[str, Any]], list[str]],
        events: Callable[[dict[str, Any]], int] = lambda body: 0,
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        arrived = time.monotonic()
        scripted = self._scripted("analytics")
        if scripted is not None:
            status, after = scripted
            headers = {"Retry-After": f"{after:g}"} if after is not None else None
            return None, _errors(status, "Injected failure.", headers=headers)
        _, body, ok = await _read_json(request)
        if not ok or not isinstance(body, dict):
            return None, _errors(400, "Malformed request body.")
        key = body.get("apiKey")
        if not isinstance(key, str) or not _same(key, self.state.analytics_key):
            return None, _errors(400, "The API key is invalid.")
        errors = check(body)
        if errors:
            return None, _errors(422, *errors)
        record = AnalyticsRequest(request.path, events(body), arrived)
        self.state.analytics_requests.append(record)
        return body, None

    async def track(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._analytics(request, lambda b: _event_errors(b, ""), lambda b: 1)
        if failed is not None:
            return failed
        assert body is not None
        self.state.events.append({k: v for k, v in body.items() if k != "apiKey"})
        return _json({"status": "ok"})

    async def track_batch(self, request: web.Request) -> web.StreamResponse:
        def check(body: dict[str, Any]) -> list[str]:
            events = body.get("events")
            if not isinstance(events, list) or not events:
                return ["events must be a non-empty array."]
            return [m for i, e in enumerate(events) for m in _event_errors(e, f"events[{i}].")]

        body, failed = await self._analytics(request, check, lambda b: len(b["events"]))
        if failed is not None:
            return failed
        assert body is not None
        self.state.events.extend(
            {k: v for k, v in event.items() if k != "apiKey"} for event in body["events"]
        )
        return _json({"status": "ok"})

    async def identify(self, request: web.Request) -> web.StreamResponse:
        def check(body: dict[str, Any]) -> list[str]:
            errors = [] if _text_ok(body.get("uniqueId")) else ["uniqueId must be 1-255 chars."]
            return errors + _property_errors(body.get("properties", {}), "properties")

        body, failed = await self._analytics(request, check)
        if failed is not None:
            return failed
        assert body is not None
        profile = self.state.profiles.setdefault(body["uniqueId"], {})
        profile.update(body.get("properties") or {})
        return _json({"status": "ok"})

    async def alias(self, request: web.Request) -> web.StreamResponse:
        def check(body: dict[str, Any]) -> list[str]:
            return [
                f"{key} must be between 1 and 255 characters."
                for key in ("previousId", "newId")
                if not _text_ok(body.get(key))
            ]

        body, failed = await self._analytics(request, check)
        if failed is not None:
            return failed
        assert body is not None
        self.state.aliases.append((body["previousId"], body["newId"]))
        return _json({"status": "ok"})

    def _user_call(self, target: set[str]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            def check(body: dict[str, Any]) -> list[str]:
                ok = _text_ok(body.get("uniqueId"))
                return [] if ok else ["uniqueId must be between 1 and 255 characters."]

            body, failed = await self._analytics(request, check)
            if failed is not None:
                return failed
            assert body is not None
            target.add(body["uniqueId"])
            return _json({"status": "ok"})

        return handler


def _prefix(value: str) -> str:
    value = value.rstrip("/")
    if value and not value.startswith("/"):
        raise ValueError(f"a route prefix must start with '/', got {value!r}")
    return value


def add_other_api_routes(
    app: web.Application,
    *,
    state: OtherApiState | None = None,
    seeding_prefix: str = SEEDING_PREFIX,
    dsr_prefix: str = DSR_PREFIX,
    analytics_prefix: str = ANALYTICS_PREFIX,
) -> OtherApiState:
    """Add the seeding, DSR v3 and Analytics routes to ``app`` (before it starts) and
    return the state they share. Point clients at ``server + prefix``:

    - seeding: ``POST {seeding_prefix}/v2/calculatedattributes`` and
      ``/v2/bulkcalculatedattributes`` (Basic auth: 401 missing, 403 wrong; 400 bad body;
      413 over 256 KiB; 202 accepted, all or nothing);
    - DSR: ``{dsr_prefix}/requests/`` (POST, 201 signed), ``/requests/{id}`` (GET, DELETE
      while pending), ``/requests?group_id=``, ``/discovery/``, and the signing
      certificate at ``/certificate.pem`` (discovery points there);
    - analytics: ``POST {analytics_prefix}/service/event``, ``/event/batch``,
      ``/identify``, ``/alias``, ``/suppress``, ``/delete`` (400 bad key, 422 field
      rules, 200 accepted).
    """
    state = state if state is not None else OtherApiState()
    seeding, dsr, analytics = (
        _prefix(seeding_prefix),
        _prefix(dsr_prefix),
        _prefix(analytics_prefix),
    )
    routes = _Routes(state, dsr)
    router = app.router
    for suffix in ("", "/"):
        router.add_post(f"{seeding}/v2/calculatedattributes{suffix}", routes.seed_one)
        router.add_post(f"{seeding}/v2/bulkcalculatedattributes{suffix}", routes.seed_bulk)
        router.add_post(f"{dsr}/requests{suffix}", routes.dsr_submit)
        router.add_get(f"{dsr}/discovery{suffix}", routes.dsr_discovery)
    router.add_get(f"{dsr}/requests", routes.dsr_group)
    router.add_get(f"{dsr}/requests/{{request_id}}", routes.dsr_status)
    router.add_delete(f"{dsr}/requests/{{request_id}}", routes.dsr_cancel)
    router.add_get(f"{dsr}/certificate.pem", routes.dsr_certificate)
    service = f"{analytics}/service"
    router.add_post(f"{service}/event", routes.track)
    router.add_post(f"{service}/event/batch", routes.track_batch)
    router.add_post(f"{service}/identify", routes.identify)
    router.add_post(f"{service}/alias", routes.alias)
    router.add_post(f"{service}/suppress", routes._user_call(state.suppressed))
    router.add_post(f"{service}/delete", routes._user_call(state.deleted))
    return state
