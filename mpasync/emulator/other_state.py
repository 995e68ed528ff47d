"""The state the emulator's seeding, DSR and analytics routes share: credentials,
everything the three APIs stored, and the failures tests script (`OtherApiState`), with
the records it holds. Its own module, so the routes (`seeding_api`, `dsr_api`,
`analytics_api`) and `other_apis`, which adds them to an app, import it without
importing each other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mpasync.dsr_protocol import API_VERSIONS, V1
from mpasync.emulator.api_common import encode
from mpasync.emulator.dsr_signing import DSRSigner

__all__ = ["AnalyticsRequest", "DSRRecord", "OtherApiState", "SeedRequest"]


@dataclass
class AnalyticsRequest:
    """One accepted analytics call: path, events carried, arrival (monotonic)."""

    path: str
    events: int
    time: float


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
    #: The API version it was submitted with (its status answers say so).
    version: int = 3

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
            "api_version": API_VERSIONS[self.version].api_version,
            "results_url": self.results_url,
            "extensions": None,
        }


@dataclass(repr=False)
class OtherApiState:
    """Credentials and everything the three APIs stored; tests read and script it.

    ``fail_next(api, *statuses)`` makes the next requests to ``"seeding"``, ``"dsr"`` or
    ``"analytics"`` fail with those statuses (before auth), to exercise retries.
    ``base_url`` is where the server is reachable (the Emulator sets it); DSR discovery
    builds its certificate URL from it, or from the listening socket when unset — never
    from the request's ``Host`` header.
    """

    workspace_key: str = "emu-workspace-key"
    workspace_secret: str = "emu-workspace-secret"
    analytics_key: str = "emu-analytics-key"
    controller_id: str = "3622"
    #: The processor domain of DSR v2 and v3 (v1 answers as ``opengdpr.mparticle.com``).
    processor_domain: str = "opendsr.mparticle.com"
    base_url: str | None = None
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
    #: The DSR signing chain (root CA, intermediate, one processor certificate per domain).
    signer: DSRSigner = field(default_factory=DSRSigner)
    _scripted: dict[str, deque[tuple[int, float | None]]] = field(default_factory=dict)

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

    def public_url(self, request: web.Request) -> str:
        """``base_url``, or ``http://host:port`` of the socket the server listens on."""
        if self.base_url:
            return self.base_url.rstrip("/")
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if not sockname:
            return ""
        host, port = sockname[0], sockname[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def processor_domain_for(self, version: int) -> str:
        """The processor domain DSR ``version`` answers and signs as."""
        return V1.processor_domain if version == 1 else self.processor_domain

    def set_dsr_status(
        self, request_id: str, status: str, *, results_url: str | None = None
    ) -> None:
        """Move a DSR along (pending → in_progress → completed), as time would."""
        record = self.dsr_requests[request_id]
        record.status = status
        if results_url is not None:
            record.results_url = results_url

    @property
    def ca_pem(self) -> bytes:
        """The root CA that issued the DSR processor certificates (PEM): pass it as
        ``verify_callback(..., trust_roots=state.ca_pem)``."""
        return self.signer.ca_pem

    @property
    def certificate_pem(self) -> bytes:
        """The v2/v3 processor certificate and its intermediate (PEM)."""
        return self.signer.certificate_pem(self.processor_domain)

    def sign(self, body: bytes, *, version: int = 3) -> str:
        """A base64 RSA PKCS#1 v1.5 SHA-256 signature of ``body``, as the processor sends."""
        return self.signer.sign(self.processor_domain_for(version), body)

    def callback(self, request_id: str) -> tuple[dict[str, str], bytes]:
        """The headers and body of the status callback the processor would send now
        (``X-OpenGDPR-*`` headers for a v1 request, ``X-OpenDSR-*`` otherwise)."""
        record = self.dsr_requests[request_id]
        version = API_VERSIONS[record.version]
        body = encode(record.status_body(self.controller_id))
        headers = {
            version.domain_header: self.processor_domain_for(record.version),
            version.signature_header: self.sign(body, version=record.version),
        }
        return headers, body
