"""The emulator's Calculated Attributes Seeding API: ``POST /v2/calculatedattributes`` and
``/v2/bulkcalculatedattributes`` with HTTP Basic, the Events API's limits (100 users and
256 KiB per bulk request) and all-or-nothing acceptance."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mpasync.emulator.api_common import (
    basic_auth_problem,
    encode,
    errors_response,
    read_json,
    scripted,
)
from mpasync.emulator.other_state import SeedRequest
from mpasync.models.seeding import SeedCalculationType

if TYPE_CHECKING:
    from mpasync.emulator.other_state import OtherApiState

__all__ = ["MAX_SEED_BYTES", "MAX_SEED_USERS", "SeedRequest", "SeedingRoutes"]

#: What the emulator enforces of the Events API limits on bulk seeding (256 KB read as
#: KiB, the generous reading; the client packs to 256,000 bytes).
MAX_SEED_USERS = 100
MAX_SEED_BYTES = 256 * 1024

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMERIC_SEEDS = frozenset({"count", "sum", "min", "max", "minimum", "maximum"})
_TIMESTAMP_SEEDS = frozenset({"first_occurrence_timestamp", "last_occurrence_timestamp"})


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
    return "identities:" + encode(dict(sorted(user["identities"].items()))).decode()


class SeedingRoutes:
    """The seeding handlers over the shared state."""

    def __init__(self, state: OtherApiState) -> None:
        self.state = state

    async def seed_one(self, request: web.Request) -> web.StreamResponse:
        return await self._seed(request, bulk=False)

    async def seed_bulk(self, request: web.Request) -> web.StreamResponse:
        return await self._seed(request, bulk=True)

    async def _seed(self, request: web.Request, *, bulk: bool) -> web.StreamResponse:
        failure = scripted(self.state, "seeding")
        if failure is not None:
            status, after = failure
            headers = {"Retry-After": f"{after:g}"} if after is not None else None
            return errors_response(status, "Injected failure.", headers=headers)
        auth = basic_auth_problem(self.state, request)
        if auth == "missing":
            return errors_response(401, "The authentication header is missing.")
        if auth is not None:
            return errors_response(403, "The authentication header is invalid.")
        raw, body, ok = await read_json(request)
        if not ok:
            return errors_response(400, "The request JSON was malformed.")
        if bulk:
            if len(raw) > MAX_SEED_BYTES:
                return errors_response(413, f"The request exceeds {MAX_SEED_BYTES} bytes.")
            if not isinstance(body, list) or not body:
                return errors_response(400, "The bulk body must be a non-empty array of users.")
            if len(body) > MAX_SEED_USERS:
                return errors_response(400, f"At most {MAX_SEED_USERS} users per request.")
            users = body
        else:
            users = [body]
        errors = [message for user in users for message in _seed_user_errors(user)]
        if errors:  # all or nothing: no user of a rejected request is stored
            return errors_response(400, *errors)
        self.state.seed_requests.append(SeedRequest(bulk, users, len(raw), time.monotonic()))
        for user in users:
            self.state.seeded[_user_key(user)] = user
        return web.Response(status=202)

    def add_to(self, router: web.UrlDispatcher, prefix: str) -> None:
        """Register both endpoints under ``prefix`` (with and without a trailing slash)."""
        for suffix in ("", "/"):
            router.add_post(f"{prefix}/v2/calculatedattributes{suffix}", self.seed_one)
            router.add_post(f"{prefix}/v2/bulkcalculatedattributes{suffix}", self.seed_bulk)
