"""`DSRClient`: mParticle's Data Subject Request API v3 (OpenDSR, HTTP Basic with a workspace
key), and `verify_callback`, which checks the signature on the status callbacks it sends.

>>> async with DSRClient(api_key, api_secret) as d:
...     receipt = await d.submit("gdpr", "erasure", {"email": "a@b.com"})
...     status = await d.status(receipt.subject_request_id)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from mpasync._lifecycle import TransportOwner, basic_auth_transport, each
from mpasync.bulk import BulkReport, Progress, run_bulk
from mpasync.decoding import bare
from mpasync.errors import RequestValidationError
from mpasync.models.dsr import (
    DSRCancellation,
    DSRDiscovery,
    DSRReceipt,
    DSRStatus,
    DSRSubject,
    IdentityInput,
)
from mpasync.options import TransportOptions
from mpasync.request import Request, path
from mpasync.validation import parse_datetime

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_DSR_URL",
    "DSR_RATE_LIMIT",
    "EXTENSION_IDENTITY_TYPES",
    "IDENTITY_TYPES",
    "MAX_IDENTITIES",
    "PROCESSOR_DOMAIN",
    "DSRBulkReport",
    "DSRClient",
    "build_request",
    "parse_callback",
    "verify_callback",
]

DEFAULT_DSR_URL = "https://opendsr.mparticle.com/v3"
#: 1,000 requests per minute per workspace (GET, POST and DELETE together), as a
#: per-second rate: the default ``rate_limit`` spaces requests 60 ms apart.
DSR_RATE_LIMIT = 1000 / 60
#: The key of mParticle's entry in ``extensions``, and the domain its callbacks come from.
PROCESSOR_DOMAIN = "opendsr.mparticle.com"
MAX_IDENTITIES = 50
API_VERSION = "3.0"

REGULATIONS = frozenset({"gdpr", "ccpa"})
REQUEST_TYPES = frozenset({"access", "portability", "erasure"})
#: Identity types allowed in the top-level ``subject_identities``. The docs' table spells
#: the last Roku type ``roku_publishing_id`` while discovery and the OpenDSR spec say
#: ``roku_publisher_id``; the docs do not say which the server takes, so both pass.
IDENTITY_TYPES = frozenset(
    {
        "controller_customer_id",
        "email",
        "android_advertising_id",
        "android_id",
        "fire_advertising_id",
        "ios_advertising_id",
        "ios_vendor_id",
        "microsoft_advertising_id",
        "microsoft_publisher_id",
        "roku_advertising_id",
        "roku_publishing_id",
        "roku_publisher_id",
    }
)
#: Identity types allowed only in ``extensions["opendsr.mparticle.com"].subject_identities``.
EXTENSION_IDENTITY_TYPES = frozenset(
    {"mpid", "other", *(f"other{n}" for n in range(2, 11))}
    | {"mobile_number", "phone_number_2", "phone_number_3"}
)

_REQUESTS = path("requests")
_DISCOVERY = path("discovery") + "/"


# ---------------------------------------------------------------- request building


def _fail(where: str, rule: str) -> NoReturn:
    raise RequestValidationError(f"{where}: {rule}", field=where)


def _choice(value: object, allowed: frozenset[str], where: str) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        _fail(where, f"{value!r} is not one of: {', '.join(sorted(allowed))}")
    return value.lower()


def _identities(
    given: Mapping[str, IdentityInput] | None,
    allowed: frozenset[str],
    other: frozenset[str],
    where: str,
    hint: str,
) -> dict[str, dict[str, str]]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        _fail(where, f"must be a dict of identity type to value, not {type(given).__name__}")
    result: dict[str, dict[str, str]] = {}
    for kind, raw in given.items():
        at = f"{where}.{kind}"
        if kind not in allowed:
            rule = f"{hint}" if kind in other else "is not a supported identity type"
            _fail(at, f"{rule}; allowed here: {', '.join(sorted(allowed))}")
        encoding = "raw"
        value: object = raw
        if isinstance(raw, Mapping):
            unknown = sorted(set(raw) - {"value", "encoding"})
            if unknown:
                _fail(f"{at}.{unknown[0]}", "is not allowed (an identity has value and encoding)")
            value, encoding = raw.get("value"), raw.get("encoding", "raw")
            if encoding != "raw":
                _fail(
                    f"{at}.encoding",
                    f"must be raw (mParticle takes no hashed ids), got {encoding!r}",
                )
        if kind == "mpid" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            _fail(at, f"must be a non-empty string, got {value!r}")
        result[kind] = {"value": value, "encoding": encoding}
    return result


def _request_id(value: object, where: str) -> str:
    if value is None:
        return str(uuid.uuid4())  # str(UUID) is lowercase, as the OpenDSR spec requires
    if not isinstance(value, str):
        _fail(where, f"must be a UUID v4 string, not {type(value).__name__}")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        _fail(where, f"{value!r} is not a UUID")
    if parsed.version != 4:
        _fail(where, f"{value!r} is not a version 4 UUID")
    return str(parsed)


def _utc(moment: dt.datetime) -> str:
    # A naive datetime is taken to be UTC already.
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _submitted_time(value: object, where: str) -> str:
    if value is None:
        return _utc(dt.datetime.now(dt.timezone.utc))
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, str):
        text = value.strip()
        parsed_time = parse_datetime(text)
        if parsed_time is None:
            _fail(where, f"{value!r} is not an ISO 8601 date-time")
        parsed = parsed_time
        return _utc(parsed)
    _fail(where, f"must be a datetime or an ISO 8601 string, not {type(value).__name__}")


def _callback_urls(value: object, where: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(where, "must be a list of URLs")
    urls: list[str] = []
    for i, url in enumerate(value):
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            _fail(f"{where}[{i}]", f"{url!r} is not an http(s) URL")
        urls.append(url)
    return urls


def build_request(
    regulation: str,
    request_type: str,
    identities: Mapping[str, IdentityInput] | None = None,
    group_id: str | None = None,
    subject_request_id: str | None = None,
    submitted_time: str | dt.datetime | None = None,
    status_callback_urls: Sequence[str] | None = None,
    skip_waiting_period: bool = False,
    extension_identities: Mapping[str, IdentityInput] | None = None,
    *,
    prefix: str = "",
) -> dict[str, Any]:
    """The v3 submit body for `DSRClient.submit`'s arguments, checked; nothing is sent.

    Fills in ``subject_request_id`` (a lowercase UUID v4) and ``submitted_time`` (now,
    ISO 8601 UTC) when absent. ``prefix`` is put before field names in errors.
    """
    regulation = _choice(regulation, REGULATIONS, f"{prefix}regulation")
    request_type = _choice(request_type, REQUEST_TYPES, f"{prefix}request_type")
    for name, given in (("identities", identities), ("extension_identities", extension_identities)):
        if given is not None and not isinstance(given, Mapping):
            _fail(
                f"{prefix}{name}",
                f"must be a dict of identity type to value, not {type(given).__name__}",
            )
    count = len(identities or {}) + len(extension_identities or {})
    if count == 0:
        _fail(f"{prefix}identities", "at least one identity is required")
    if count > MAX_IDENTITIES:
        _fail(f"{prefix}identities", f"{count} identities; at most {MAX_IDENTITIES} per request")
    top = _identities(
        identities,
        IDENTITY_TYPES,
        EXTENSION_IDENTITY_TYPES,
        f"{prefix}identities",
        "goes in extension_identities",
    )
    extension = _identities(
        extension_identities,
        EXTENSION_IDENTITY_TYPES,
        IDENTITY_TYPES,
        f"{prefix}extension_identities",
        "goes in identities (top level)",
    )
    if "mpid" in extension and count > 1:
        _fail(f"{prefix}extension_identities.mpid", "must be the only identity in the request")
    if not isinstance(skip_waiting_period, bool):
        _fail(f"{prefix}skip_waiting_period", "must be a boolean")

    body: dict[str, Any] = {
        "regulation": regulation,
        "subject_request_id": _request_id(subject_request_id, f"{prefix}subject_request_id"),
        "subject_request_type": request_type,
        "submitted_time": _submitted_time(submitted_time, f"{prefix}submitted_time"),
    }
    if top:
        body["subject_identities"] = top
    body["api_version"] = API_VERSION
    if status_callback_urls is not None:
        body["status_callback_urls"] = _callback_urls(
            status_callback_urls, f"{prefix}status_callback_urls"
        )
    if group_id is not None:
        if not isinstance(group_id, str) or not group_id:
            _fail(f"{prefix}group_id", "must be a non-empty string")
        body["group_id"] = group_id
    # The docs' field table lists skip_waiting_period beside the top-level fields, but
    # their only example (and the OpenDSR extension model) puts it inside mParticle's
    # extension; we follow the example.
    ours: dict[str, Any] = {}
    if skip_waiting_period:
        ours["skip_waiting_period"] = True
    if extension:
        ours["subject_identities"] = extension
    if ours:
        body["extensions"] = {PROCESSOR_DOMAIN: ours}
    return body


_SUBJECT_FIELDS = frozenset(f.name for f in dataclasses.fields(DSRSubject))


def _subject_arguments(subject: object, where: str) -> dict[str, Any]:
    if isinstance(subject, DSRSubject):
        return {name: getattr(subject, name) for name in _SUBJECT_FIELDS}
    if not isinstance(subject, Mapping):
        _fail(where, f"must be a DSRSubject or a dict, not {type(subject).__name__}")
    unknown = sorted(str(k) for k in set(subject) - _SUBJECT_FIELDS)
    if unknown:
        _fail(f"{where}.{unknown[0]}", "is not an argument of submit")
    for name in ("regulation", "request_type"):
        if name not in subject:
            _fail(f"{where}.{name}", "is required")
    return dict(subject)


# ---------------------------------------------------------------- callbacks


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        for key, candidate in headers.items():
            if key.lower() == wanted:
                return candidate
    return value


def verify_callback(
    headers: Mapping[str, str],
    body: bytes | str,
    certificate_pem: bytes | str,
    allowed_domains: Iterable[str],
    *,
    now: dt.datetime | None = None,
) -> bool:
    """Whether a DSR status callback really comes from an allowed processor.

    True only when all hold: the ``X-OpenDSR-Processor-Domain`` header is in
    ``allowed_domains``; ``certificate_pem`` is issued to exactly that domain (a DNS name
    in its subject alternative names, or its common name) and valid at ``now`` (default:
    the current time); and ``X-OpenDSR-Signature`` (base64) is an RSA PKCS#1 v1.5
    SHA-256 signature of the *raw* ``body`` under the certificate's key. Any mismatch or
    unreadable input gives False; answer such callbacks with 401, good ones with 202.

    The certificate's chain is not checked here: fetch it over HTTPS from the
    ``processor_certificate`` URL of `DSRClient.discovery` (and cache it until it
    expires), so TLS vouches for where it came from.

    Needs the optional ``cryptography`` package (``pip install 'mpasync[dsr]'``).

    >>> ok = verify_callback(request.headers, await request.read(), pem,
    ...                      allowed_domains={"opendsr.mparticle.com"})
    """
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "verify_callback needs the optional 'cryptography' package: pip install 'mpasync[dsr]'"
        ) from exc

    domain = _header(headers, "X-OpenDSR-Processor-Domain")
    signature_text = _header(headers, "X-OpenDSR-Signature")
    if not domain or not signature_text:
        return False
    domain = domain.strip().lower().rstrip(".")
    if domain not in {d.strip().lower().rstrip(".") for d in allowed_domains}:
        return False

    pem = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return False
    names: set[str] = set()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.update(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        if isinstance(attribute.value, str):
            names.add(attribute.value)
    if domain not in {n.strip().lower().rstrip(".") for n in names}:
        return False

    moment = now if now is not None else dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    # cryptography >= 42 has the *_utc properties; older versions give naive UTC datetimes.
    before = getattr(cert, "not_valid_before_utc", None)
    after = getattr(cert, "not_valid_after_utc", None)
    if before is None or after is None:  # pragma: no cover - cryptography < 42
        before = cert.not_valid_before.replace(tzinfo=dt.timezone.utc)
        after = cert.not_valid_after.replace(tzinfo=dt.timezone.utc)
    if not before <= moment <= after:
        return False

    try:
        signature = base64.b64decode("".join(signature_text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    raw = body.encode() if isinstance(body, str) else bytes(body)
    try:
        key.verify(signature, raw, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


_decode_status = bare(DSRStatus)


def parse_callback(body: bytes | str) -> DSRStatus:
    """A callback's body as a `DSRStatus`; call it only after `verify_callback` said True."""
    return _decode_status(body.encode() if isinstance(body, str) else body)


# ---------------------------------------------------------------- client


@dataclass
class DSRBulkReport(BulkReport[int]):
    """A `BulkReport` keyed by each subject's position in the input. ``results[i]`` is the
    `DSRReceipt` of a created request; ``request_ids[i]`` is the subject_request_id sent
    (or that would have been) for every subject that passed validation."""

    request_ids: dict[int, str] = field(default_factory=dict)


class DSRClient(TransportOwner):
    """The Data Subject Request API v3 client.

    Shares the core transport: one pooled session, ``max_concurrency`` requests in flight,
    ``rate_limit`` requests per second (default `DSR_RATE_LIMIT`, the API's 1,000 per
    minute per workspace, evenly spaced; None turns it off), ``retry`` and ``timeout``
    per attempt, a borrowed ``session`` never closed. The API's own limit of 80,000 new
    requests per day is not enforced here. The repr shows the key, never the secret.

    Errors are the core's classes; the DSR error body (``code``, ``message``,
    ``errors[{domain, reason, message}]``) fills their ``errors`` list. Notably 400
    (invalid data, a reused subject_request_id, mpid beside other identities), 404
    (unknown request) and `ConflictError` (409: the same identities and type are already
    in progress). 429s are retried after the server's ``Retry-After``.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        base_url: str = DEFAULT_DSR_URL,
        **options: Unpack[TransportOptions],
    ) -> None:
        options.setdefault("rate_limit", DSR_RATE_LIMIT)
        self._transport = basic_auth_transport(
            api_key, api_secret, base_url=base_url, options=options
        )

    def __repr__(self) -> str:
        t = self._transport
        return (
            f"DSRClient(base_url={t.base_url!r}, auth={t.auth!r}, "
            f"rate_limit={t.rate.rate if t.rate else None})"
        )

    async def submit(
        self,
        regulation: str,
        request_type: str,
        identities: Mapping[str, IdentityInput] | None = None,
        group_id: str | None = None,
        subject_request_id: str | None = None,
        submitted_time: str | dt.datetime | None = None,
        status_callback_urls: Sequence[str] | None = None,
        skip_waiting_period: bool = False,
        extension_identities: Mapping[str, IdentityInput] | None = None,
    ) -> DSRReceipt:
        """Submit a data subject request: ``POST /requests/`` (201).

        ``regulation`` is ``gdpr`` or ``ccpa``; ``request_type`` is ``access``,
        ``portability`` or ``erasure``. ``identities`` maps the top-level identity types
        (`IDENTITY_TYPES`) to a value or ``{"value": ..., "encoding": "raw"}``;
        ``extension_identities`` takes the types only mParticle's extension accepts
        (`EXTENSION_IDENTITY_TYPES`: ``mpid`` — which must then be the only identity —
        ``other`` … ``other10``, phone numbers). At most 50 identities in all.
        ``skip_waiting_period=True`` skips the 7-day wait (cancellable for under 24 h).

        The id and time are fixed before sending, so a retry repeats the very same
        request: submits are marked idempotent and retried after 5xx and lost responses.
        The nuance: if a lost attempt *was* created, its retry is refused with 400
        "Subject request already exists" — on such an error, `status` of the id tells
        whether the request exists.

        >>> receipt = await d.submit("gdpr", "erasure", {"email": "a@b.com"})
        """
        body = build_request(
            regulation,
            request_type,
            identities,
            group_id,
            subject_request_id,
            submitted_time,
            status_callback_urls,
            skip_waiting_period,
            extension_identities,
        )
        return await self._send_body(body)

    async def _send_body(self, body: dict[str, Any]) -> DSRReceipt:
        return await self._transport.send(
            # The docs' example posts to "/requests/", with the slash.
            Request("POST", _REQUESTS + "/", bare(DSRReceipt), api="", body=body, idempotent=True)
        )

    async def status(self, request_id: str) -> DSRStatus:
        """A request's status: ``GET /requests/{id}`` (404 when unknown)."""
        return await self._transport.send(
            Request("GET", path("requests", request_id), bare(DSRStatus), api="")
        )

    async def group_status(self, group_id: str) -> list[DSRStatus]:
        """The status of every request in a group: ``GET /requests?group_id=``."""
        if not isinstance(group_id, str) or not group_id:
            raise RequestValidationError("group_id must be a non-empty string", field="group_id")
        return await self._transport.send(
            Request("GET", _REQUESTS, bare(list[DSRStatus]), api="", query={"group_id": group_id})
        )

    async def cancel(self, request_id: str) -> DSRCancellation:
        """Cancel a request: ``DELETE /requests/{id}``, allowed only while it is pending.

        It does not recall erasures already forwarded to partners. A DELETE is retried
        like any idempotent call; if a lost attempt did cancel, its retry gets a 400
        (no longer pending), and `status` shows ``cancelled``.
        """
        return await self._transport.send(
            Request("DELETE", path("requests", request_id), bare(DSRCancellation), api="")
        )

    async def discovery(self) -> DSRDiscovery:
        """Supported identity and request types, and the callback certificate's URL."""
        return await self._transport.send(Request("GET", _DISCOVERY, bare(DSRDiscovery), api=""))

    async def submit_bulk(
        self,
        subjects: Iterable[DSRSubject | Mapping[str, Any]]
        | AsyncIterable[DSRSubject | Mapping[str, Any]],
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: Progress | None = None,
    ) -> DSRBulkReport:
        """Submit many requests, one POST each, through the bulk engine.

        ``subjects`` (read lazily) are `DSRSubject`s or dicts of `submit`'s keyword
        arguments. Requests go out ``concurrency`` at a time under the client's limits,
        so the default ``rate_limit`` keeps a run within 1,000 requests a minute. A
        subject that fails validation fails in the report without being sent.

        >>> report = await d.submit_bulk({"regulation": "gdpr", "request_type": "erasure",
        ...                               "identities": {"email": e}} for e in emails)
        >>> report.failed  # position -> exception
        """
        if isinstance(subjects, (str, bytes, Mapping, DSRSubject)) or not isinstance(
            subjects, (Iterable, AsyncIterable)
        ):
            raise RequestValidationError(
                "subjects must be an iterable or async iterable of subjects", field="subjects"
            )
        report = DSRBulkReport()
        bodies: dict[int, dict[str, Any] | RequestValidationError] = {}

        async def positions() -> AsyncIterator[int]:
            index = -1
            async for subject in each(subjects):
                index += 1
                where = f"subjects[{index}]"
                try:
                    body = build_request(**_subject_arguments(subject, where), prefix=f"{where}.")
                except RequestValidationError as exc:
                    bodies[index] = exc
                else:
                    bodies[index] = body
                    report.request_ids[index] = body["subject_request_id"]
                yield index

        async def send(index: int) -> DSRReceipt:
            body = bodies.pop(index)
            if isinstance(body, RequestValidationError):
                raise body
            return await self._send_body(body)

        await run_bulk(
            send,
            positions(),
            concurrency=(
                concurrency if concurrency is not None else self._transport.concurrency.capacity
            ),
            fail_fast=fail_fast,
            on_progress=on_progress,
            stats=self._transport.stats,
            report=report,
        )
        return report
