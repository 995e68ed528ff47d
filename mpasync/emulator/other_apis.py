"""In-memory stand-ins for the Calculated Attributes Seeding, DSR (v1, v2, v3) and Analytics
APIs, added to any `aiohttp.web.Application` (the Emulator's, or a test's) under their own
prefixes; each API's routes live in its own module (`seeding_api`, `dsr_api`,
`analytics_api`), and this one holds the state they share.

    app = web.Application()
    state = add_other_api_routes(app)   # seeding /s2s, DSR /dsr/v1../dsr/v3, analytics /analytics
    # SeedingClient(state.workspace_key, state.workspace_secret, base_url=server + "/s2s")

Each handler checks its API's credentials itself (HTTP Basic for seeding and DSR, the body's
``apiKey`` for analytics) and answers in its API's error dialect, so the routes work the
same with or without the Emulator's middleware in front.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mpasync.dsr_protocol import API_VERSIONS, V1
from mpasync.emulator.analytics_api import AnalyticsRequest, AnalyticsRoutes
from mpasync.emulator.api_common import encode
from mpasync.emulator.dsr_api import DSRRecord, DSRRoutes
from mpasync.emulator.dsr_signing import DSRSigner
from mpasync.emulator.seeding_api import MAX_SEED_BYTES, MAX_SEED_USERS, SeedingRoutes, SeedRequest

__all__ = [
    "ANALYTICS_PREFIX",
    "DSR_PREFIX",
    "DSR_PREFIXES",
    "MAX_SEED_BYTES",
    "MAX_SEED_USERS",
    "SEEDING_PREFIX",
    "AnalyticsRequest",
    "DSRRecord",
    "OtherApiState",
    "SeedRequest",
    "add_other_api_routes",
]

SEEDING_PREFIX = "/s2s"
#: Where each DSR API version is served; `DSR_PREFIX` is v3's.
DSR_PREFIXES: dict[int, str] = {1: "/dsr/v1", 2: "/dsr/v2", 3: "/dsr/v3"}
DSR_PREFIX = DSR_PREFIXES[3]
ANALYTICS_PREFIX = "/analytics"


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
    dsr_v2_prefix: str = DSR_PREFIXES[2],
    dsr_v1_prefix: str = DSR_PREFIXES[1],
    analytics_prefix: str = ANALYTICS_PREFIX,
) -> OtherApiState:
    """Add the seeding, DSR and Analytics routes to ``app`` (before it starts) and return
    the state they share. Point clients at ``server + prefix``:

    - seeding: ``POST {seeding_prefix}/v2/calculatedattributes`` and
      ``/v2/bulkcalculatedattributes`` (Basic auth: 401 missing, 403 wrong; 400 bad body;
      413 over 256 KiB; 202 accepted, all or nothing);
    - DSR v3 under ``dsr_prefix``, v2 under ``dsr_v2_prefix`` (``/requests``), v1 under
      ``dsr_v1_prefix`` (``/opengdpr_requests``): submit (POST, 201 signed), status,
      cancel while pending, ``?group_id=``, ``/discovery/``, and the signing certificate
      at ``/certificate.pem`` (discovery points there); one store behind all three;
    - analytics: ``POST {analytics_prefix}/service/event``, ``/event/batch``,
      ``/identify``, ``/alias``, ``/suppress``, ``/delete`` (400 bad key, 422 field
      rules, 200 accepted).
    """
    state = state if state is not None else OtherApiState()
    router = app.router
    SeedingRoutes(state).add_to(router, _prefix(seeding_prefix))
    for number, prefix in ((3, dsr_prefix), (2, dsr_v2_prefix), (1, dsr_v1_prefix)):
        DSRRoutes(state, API_VERSIONS[number], _prefix(prefix)).add_to(router)
    AnalyticsRoutes(state).add_to(router, _prefix(analytics_prefix))
    return state
