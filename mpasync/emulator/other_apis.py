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

from aiohttp import web

from mpasync.dsr_protocol import API_VERSIONS
from mpasync.emulator.analytics_api import AnalyticsRoutes
from mpasync.emulator.dsr_api import DSRRoutes
from mpasync.emulator.other_state import AnalyticsRequest, DSRRecord, OtherApiState, SeedRequest
from mpasync.emulator.seeding_api import MAX_SEED_BYTES, MAX_SEED_USERS, SeedingRoutes

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
