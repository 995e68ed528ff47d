"""What differs between the DSR API's versions, written down once: v1 (OpenGDPR,
``/opengdpr_requests``), v2 (OpenDSR, ``/requests`` with ``regulation``) and v3 (identities as
a dict). `build_request` checks `DSRClient.submit`'s arguments the same way for every version
and a `DSRVersion` shapes them into that version's body and describes its requests.

Sources: ``shared/reference/dsr-api-v1-v2.txt`` and ``dsr-api-v3.txt`` (prose only) and
``api-facts.md`` §2; the v1/v2 body and extension shapes come from the v2 page's examples
(mParticle's docs repository) and the OpenGDPR spec's mParticle extension (``mpids``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mpasync._checks import fail as _fail
from mpasync._validate import parse_datetime
from mpasync.decoding import bare
from mpasync.models.dsr import (
    DSRCancellation,
    DSRDiscovery,
    DSRReceipt,
    DSRStatus,
    IdentityInput,
)
from mpasync.request import Request, path

__all__ = [
    "API_VERSIONS",
    "EXTENSION_IDENTITY_TYPES",
    "IDENTITY_TYPES",
    "MAX_IDENTITIES",
    "V1",
    "V2",
    "V3",
    "DSRVersion",
    "build_request",
    "dsr_version",
]

MAX_IDENTITIES = 50
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
#: Identity types allowed only in mParticle's extension (v2 and v3; v1 takes ``mpid`` only).
EXTENSION_IDENTITY_TYPES = frozenset(
    {"mpid", "other", *(f"other{n}" for n in range(2, 11))}
    | {"mobile_number", "phone_number_2", "phone_number_3"}
)

#: Checked identities: type -> values (one per type in v3, several allowed in v1/v2).
Identities = dict[str, list[str]]


# ---------------------------------------------------------------- the versions


def _dict_identities(identities: Identities) -> dict[str, dict[str, str]]:
    """v3: ``{type: {"value", "encoding"}}``."""
    # The v3 field table types subject_identities "array"; its "Changes in v3" prose says
    # a dictionary keyed by identity type: the prose (and api-facts §2.3) wins.
    return {kind: {"value": values[0], "encoding": "raw"} for kind, values in identities.items()}


def _list_identities(identities: Identities, *, format_field: bool = True) -> list[dict[str, str]]:
    """v1/v2: ``[{"identity_type", "identity_value", "identity_format"}]``."""
    return [
        {"identity_type": kind, "identity_value": value}
        | ({"identity_format": "raw"} if format_field else {})
        for kind, values in identities.items()
        for value in values
    ]


def _v3_extension(extension: Identities, skip_waiting_period: bool) -> dict[str, Any]:
    ours: dict[str, Any] = {}
    # The docs' field table lists skip_waiting_period beside the top-level fields, but
    # their only example (and the OpenDSR extension model) puts it inside mParticle's
    # extension; we follow the example.
    if skip_waiting_period:
        ours["skip_waiting_period"] = True
    if extension:
        ours["subject_identities"] = _dict_identities(extension)
    return ours


def _v2_extension(extension: Identities, skip_waiting_period: bool) -> dict[str, Any]:
    # The v2 example: {"mpids": [1234567890, ...], "identities": [{identity_type, identity_value}]}
    # (no identity_format inside the extension).
    ours: dict[str, Any] = {}
    mpids = extension.get("mpid")
    if mpids:
        ours["mpids"] = [int(m) for m in mpids]
    # The v2 example's extension names "other1"; its type table (kept by v3) says "other":
    # the table wins, so "other1" is refused as an unknown type.
    others = {kind: values for kind, values in extension.items() if kind != "mpid"}
    if others:
        ours["identities"] = _list_identities(others, format_field=False)
    return ours


@dataclass(frozen=True)
class DSRVersion:
    """One version of the DSR API: where it lives, what its bodies and headers look like,
    and its five requests (`submit`, `status`, `group`, `cancel`, `discovery`)."""

    number: int
    api_version: str
    framework: str
    default_url: str
    #: The path segment of the request resource.
    requests: str
    #: mParticle's key in ``extensions`` and the domain its callbacks claim.
    processor_domain: str
    #: ``X-OpenGDPR`` (v1) or ``X-OpenDSR``: the callback headers' common prefix.
    header_prefix: str
    certificate_url: str
    sends_regulation: bool
    extension_types: frozenset[str]
    #: Whether an identity type may carry several values (v1/v2 send a list).
    many_per_type: bool
    #: Whether ``mpid`` must be the only identity of a request (a v3 rule).
    mpid_alone: bool
    skip_waiting_period: bool
    shape_identities: Callable[[Identities], Any]
    shape_extension: Callable[[Identities, bool], dict[str, Any]]

    @property
    def domain_header(self) -> str:
        """The processor-domain header of this version's responses and callbacks."""
        return f"{self.header_prefix}-Processor-Domain"

    @property
    def signature_header(self) -> str:
        """The signature header of this version's responses and callbacks."""
        return f"{self.header_prefix}-Signature"

    def body(
        self, fields: dict[str, Any], top: Identities, extension: Identities
    ) -> dict[str, Any]:
        """The submit body: the common ``fields`` plus this version's identity shapes."""
        body: dict[str, Any] = {}
        if self.sends_regulation:
            body["regulation"] = fields["regulation"]
        for name in ("subject_request_id", "subject_request_type", "submitted_time"):
            body[name] = fields[name]
        if top:
            body["subject_identities"] = self.shape_identities(top)
        body["api_version"] = self.api_version
        for name in ("status_callback_urls", "group_id"):
            if fields.get(name) is not None:
                body[name] = fields[name]
        ours = self.shape_extension(extension, fields["skip_waiting_period"])
        if ours:
            body["extensions"] = {self.processor_domain: ours}
        return body

    # -- the requests (paths relative to the version's base URL) ----------------------

    def submit(self, body: dict[str, Any]) -> Request[DSRReceipt]:
        """``POST /{requests}/``: the docs' examples post with the trailing slash. The id
        and time are fixed in the body, so a retry repeats the very same request."""
        return Request(
            "POST", path(self.requests) + "/", bare(DSRReceipt), api="", body=body, idempotent=True
        )

    def status(self, request_id: str) -> Request[DSRStatus]:
        """``GET /{requests}/{id}``."""
        return Request("GET", path(self.requests, request_id), bare(DSRStatus), api="")

    def group(self, group_id: str) -> Request[list[DSRStatus]]:
        """``GET /{requests}?group_id=``."""
        query = {"group_id": group_id}
        return Request("GET", path(self.requests), bare(list[DSRStatus]), api="", query=query)

    def cancel(self, request_id: str) -> Request[DSRCancellation]:
        """``DELETE /{requests}/{id}``."""
        return Request("DELETE", path(self.requests, request_id), bare(DSRCancellation), api="")

    def discovery(self) -> Request[DSRDiscovery]:
        """``GET /discovery/``."""
        return Request("GET", path("discovery") + "/", bare(DSRDiscovery), api="")


V1 = DSRVersion(
    number=1,
    api_version="1.0",
    framework="OpenGDPR",
    default_url="https://opengdpr.mparticle.com/v1",
    requests="opengdpr_requests",
    processor_domain="opengdpr.mparticle.com",
    header_prefix="X-OpenGDPR",
    certificate_url="https://static.mparticle.com/gdpr/opengdpr_cert.pem",
    # "Version 1 can be used for both GDPR and CCPA, though the requests are not
    # explicitly marked as such": v1 bodies have no regulation field.
    sends_regulation=False,
    extension_types=frozenset({"mpid"}),  # the OpenGDPR mParticle extension: mpids only
    many_per_type=True,
    mpid_alone=False,
    skip_waiting_period=False,
    shape_identities=_list_identities,
    shape_extension=_v2_extension,
)
V2 = DSRVersion(
    number=2,
    api_version="2.0",
    framework="OpenDSR",
    default_url="https://opendsr.mparticle.com/v2",
    requests="requests",
    processor_domain="opendsr.mparticle.com",
    header_prefix="X-OpenDSR",
    certificate_url="https://static.mparticle.com/dsr/opendsr_cert.pem",
    sends_regulation=True,
    extension_types=EXTENSION_IDENTITY_TYPES,
    many_per_type=True,
    mpid_alone=False,
    skip_waiting_period=False,
    shape_identities=_list_identities,
    shape_extension=_v2_extension,
)
V3 = DSRVersion(
    number=3,
    api_version="3.0",
    framework="OpenDSR",
    default_url="https://opendsr.mparticle.com/v3",
    requests="requests",
    processor_domain="opendsr.mparticle.com",
    header_prefix="X-OpenDSR",
    certificate_url="https://static.mparticle.com/dsr/opendsr_cert.pem",
    sends_regulation=True,
    extension_types=EXTENSION_IDENTITY_TYPES,
    many_per_type=False,
    mpid_alone=True,
    skip_waiting_period=True,
    shape_identities=_dict_identities,
    shape_extension=_v3_extension,
)
API_VERSIONS: dict[int, DSRVersion] = {1: V1, 2: V2, 3: V3}


def dsr_version(api_version: object, where: str = "api_version") -> DSRVersion:
    """The `DSRVersion` for 1, 2 or 3 (also "1.0", "2.0", "3.0")."""
    if isinstance(api_version, str):
        for version in API_VERSIONS.values():
            if api_version.strip() in (version.api_version, str(version.number)):
                return version
    elif isinstance(api_version, int) and not isinstance(api_version, bool):
        found = API_VERSIONS.get(api_version)
        if found is not None:
            return found
    _fail(where, f"{api_version!r} is not a DSR API version; expected 1, 2 or 3")


# ---------------------------------------------------------------- checking the arguments


def _choice(value: object, allowed: frozenset[str], where: str) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        _fail(where, f"{value!r} is not one of: {', '.join(sorted(allowed))}")
    return value.lower()


def _identity_value(kind: str, raw: object, at: str) -> str:
    value: object = raw
    if isinstance(raw, Mapping):
        unknown = sorted(str(k) for k in set(raw) - {"value", "encoding"})
        if unknown:
            _fail(f"{at}.{unknown[0]}", "is not allowed (an identity has value and encoding)")
        value, encoding = raw.get("value"), raw.get("encoding", "raw")
        if encoding != "raw":
            _fail(
                f"{at}.encoding", f"must be raw (mParticle takes no hashed ids), got {encoding!r}"
            )
    if kind == "mpid":
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip().lstrip("-").isdigit():
            _fail(at, f"must be an integer mParticle ID, got {value!r}")
        if not value.isascii():
            _fail(at, f"must be written in ASCII digits, got {value!r}")
        return value.strip()
    if not isinstance(value, str) or not value.strip():
        _fail(at, f"must be a non-empty string, got {value!r}")
    return value


def _identities(
    given: Mapping[str, IdentityInput] | None,
    allowed: frozenset[str],
    other: frozenset[str],
    where: str,
    hint: str,
    version: DSRVersion,
) -> Identities:
    if given is None:
        return {}
    result: Identities = {}
    for kind, raw in given.items():
        at = f"{where}.{kind}"
        if kind not in allowed:
            rule = hint if kind in other else "is not a supported identity type"
            close = difflib.get_close_matches(str(kind), sorted(allowed), n=1)
            if close and kind not in other:
                rule += f" (did you mean {close[0]!r}?)"
            listed = ", ".join(sorted(allowed))
            _fail(at, f"{rule} in DSR API v{version.number}; allowed here: {listed}")
        if isinstance(raw, (list, tuple)):
            if not version.many_per_type:
                _fail(at, f"takes one value in DSR API v{version.number} (one identity per type)")
            if not raw:
                _fail(at, "must not be an empty list")
            result[kind] = [_identity_value(kind, item, f"{at}[{i}]") for i, item in enumerate(raw)]
        else:
            result[kind] = [_identity_value(kind, raw, at)]
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
        parsed = parse_datetime(value.strip()) if value.strip() else None
        if parsed is None:
            _fail(where, f"{value!r} is not an ISO 8601 date-time")
        return _utc(parsed)
    _fail(where, f"must be a datetime or an ISO 8601 string, not {type(value).__name__}")


def _callback_urls(value: object, where: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        _fail(where, "must be a list of URLs")
    urls: list[str] = []
    for i, url in enumerate(value):
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            _fail(f"{where}[{i}]", f"{url!r} is not an http(s) URL")
        urls.append(url)
    return urls


def build_request(
    regulation: str | None,
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
    api_version: int | DSRVersion = 3,
) -> dict[str, Any]:
    """The submit body for `DSRClient.submit`'s arguments in ``api_version``'s shape,
    checked; nothing is sent.

    Fills in ``subject_request_id`` (a lowercase UUID v4) and ``submitted_time`` (now,
    ISO 8601 UTC) when absent. ``prefix`` is put before field names in errors.
    """
    version = api_version if isinstance(api_version, DSRVersion) else dsr_version(api_version)
    if regulation is None and not version.sends_regulation:
        pass  # v1 bodies carry no regulation; leaving it out is fine there
    else:
        regulation = _choice(regulation, REGULATIONS, f"{prefix}regulation")
    request_type = _choice(request_type, REQUEST_TYPES, f"{prefix}request_type")
    for name, given in (("identities", identities), ("extension_identities", extension_identities)):
        if given is not None and not isinstance(given, Mapping):
            _fail(
                f"{prefix}{name}",
                f"must be a dict of identity type to value, not {type(given).__name__}",
            )
    # Counted before each identity is checked: 51 unknown types fail on the count.
    count = sum(
        (len(value) or 1) if isinstance(value, (list, tuple)) else 1  # [] is named below
        for given in (identities, extension_identities)
        for value in (given or {}).values()
    )
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
        version,
    )
    extension = _identities(
        extension_identities,
        version.extension_types,
        IDENTITY_TYPES,
        f"{prefix}extension_identities",
        "goes in identities (top level)" if version.number > 1 else "is not an extension identity",
        version,
    )
    if version.mpid_alone and "mpid" in extension and count > 1:
        _fail(f"{prefix}extension_identities.mpid", "must be the only identity in the request")
    if not isinstance(skip_waiting_period, bool):
        _fail(f"{prefix}skip_waiting_period", "must be a boolean")
    if skip_waiting_period and not version.skip_waiting_period:
        _fail(f"{prefix}skip_waiting_period", f"is a DSR API v3 option, not v{version.number}")
    if group_id is not None and (not isinstance(group_id, str) or not group_id):
        _fail(f"{prefix}group_id", "must be a non-empty string")
    fields = {
        "regulation": regulation,
        "subject_request_id": _request_id(subject_request_id, f"{prefix}subject_request_id"),
        "subject_request_type": request_type,
        "submitted_time": _submitted_time(submitted_time, f"{prefix}submitted_time"),
        "status_callback_urls": (
            None
            if status_callback_urls is None
            else _callback_urls(status_callback_urls, f"{prefix}status_callback_urls")
        ),
        "group_id": group_id,
        "skip_waiting_period": skip_waiting_period,
    }
    return version.body(fields, top, extension)
