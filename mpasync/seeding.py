"""`SeedingClient`: the Calculated Attributes Seeding API (HTTP Basic with a workspace key),
one user per request or many, packed into requests that stay under the Events API limits.

>>> async with SeedingClient(api_key, api_secret) as s:
...     await s.seed(user)
...     report = await s.seed_bulk(users)   # any iterable or async iterable, read lazily
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from mpasync._checks import fail as _fail
from mpasync._lifecycle import TransportOwner, basic_auth_transport, each
from mpasync._validate import to_model
from mpasync.bulk import BulkReport, OnProgress, RunOptions
from mpasync.decoding import empty
from mpasync.errors import RequestValidationError
from mpasync.models.seeding import (
    CalculatedAttributeSeed,
    CalculatedAttributeSeeds,
    Seed,
    SeedCalculationType,
    SeedEnvironment,
    SeedUser,
    UserKey,
)
from mpasync.options import TransportOptions
from mpasync.priority import BACKGROUND, Priority
from mpasync.request import Request, path

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_SEEDING_URL",
    "MAX_REQUEST_BYTES",
    "MAX_USERS_PER_REQUEST",
    "SeedBulkReport",
    "SeedChunk",
    "SeedingClient",
    "validate_seed_user",
]

DEFAULT_SEEDING_URL = "https://s2s.mparticle.com"
#: The Events API allows at most 100 items per bulk request.
MAX_USERS_PER_REQUEST = 100
#: The Events API's 256 KB per request, read as 256,000 bytes so that it holds whichever
#: kilobyte the limits page means.
MAX_REQUEST_BYTES = 256_000

_SINGLE = path("v2", "calculatedattributes")
_BULK = path("v2", "bulkcalculatedattributes")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d+")
# Timestamps before this many milliseconds (March 1973) are almost surely seconds.
_MIN_EPOCH_MS = 100_000_000_000
_encode = msgspec.json.Encoder().encode

C = SeedCalculationType


# ---------------------------------------------------------------- validation


def _integer(value: object) -> int | None:
    """An int, or a string of one (the reference types seed values as strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return None


def _number(value: object) -> float | None:
    """A finite int or float, or a string of one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _check_cutoff(value: str, where: str) -> None:
    if not _DATE.fullmatch(value):
        _fail(where, f"{value!r} is not a date in yyyy-MM-dd form")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        _fail(where, f"{value!r} is not a valid calendar date")


def _check_seed(seed: Seed, ctype: str, where: str) -> None:
    """The seed's shape must be the one its calculation type takes (see the reference table)."""
    wanted = C.SEED_FIELD[ctype]
    for name in ("value", "key_value_pairs", "list"):
        if name != wanted and getattr(seed, name) is not None:
            _fail(
                f"{where}.{name}",
                f"must not be set for calculation type {ctype}, which takes seed.{wanted}",
            )
    if getattr(seed, wanted) is None:
        _fail(f"{where}.{wanted}", f"is required for calculation type {ctype}")

    value = seed.value
    pairs = seed.key_value_pairs or {}
    if ctype == C.COUNT:
        count = _integer(value)
        if count is None or count < 0:
            _fail(f"{where}.value", f"must be a non-negative integer for count, got {value!r}")
    elif ctype in (C.SUM, C.MIN, C.MAX):
        if _number(value) is None:
            _fail(f"{where}.value", f"must be a number for {ctype}, got {value!r}")
    elif ctype in (C.FIRST_OCCURRENCE_TIMESTAMP, C.LAST_OCCURRENCE_TIMESTAMP):
        stamp = _integer(value)
        if stamp is None or stamp < 0:
            _fail(f"{where}.value", f"must be a UNIX epoch in milliseconds, got {value!r}")
        if stamp < _MIN_EPOCH_MS:
            _fail(
                f"{where}.value",
                f"{value!r} looks like seconds; {ctype} takes milliseconds since the epoch",
            )
    elif ctype in (C.FIRST_OCCURRENCE, C.LAST_OCCURRENCE):
        if isinstance(value, str) and not value:
            _fail(f"{where}.value", "must not be empty")
    elif ctype == C.AVERAGE:
        for key in ("sum", "count"):
            if key not in pairs:
                _fail(f"{where}.key_value_pairs.{key}", "is required for average")
        extra = sorted(set(pairs) - {"sum", "count"})
        if extra:
            _fail(
                f"{where}.key_value_pairs.{extra[0]}",
                "is not allowed: average takes only sum and count",
            )
        if _number(pairs["sum"]) is None:
            _fail(f"{where}.key_value_pairs.sum", f"must be a number, got {pairs['sum']!r}")
        count = _integer(pairs["count"])
        if count is None or count <= 0:
            _fail(
                f"{where}.key_value_pairs.count",
                f"must be a positive integer, got {pairs['count']!r}",
            )
    elif ctype == C.MOST_FREQUENT:
        if not pairs:
            _fail(f"{where}.key_value_pairs", "must map at least one value to its count")
        for key, times in pairs.items():
            if not key:
                _fail(f"{where}.key_value_pairs", "keys (the values counted) must not be empty")
            count = _integer(times)
            if count is None or count < 0:
                _fail(
                    f"{where}.key_value_pairs.{key}",
                    f"must be a non-negative integer count, got {times!r}",
                )
    # unique_list / unique_values_count: the model already requires a list of strings.


def _check_attribute(item: CalculatedAttributeSeed, where: str) -> CalculatedAttributeSeed:
    if not item.attribute_name.strip():
        _fail(f"{where}.attribute_name", "must not be empty")
    raw = item.calculation_type
    ctype = C.ALIASES.get(raw.lower(), raw.lower())
    if ctype not in C.ALL:
        _fail(
            f"{where}.calculation_type",
            f"{raw!r} is not a calculation type; expected one of: {', '.join(sorted(C.ALL))}",
        )
    _check_cutoff(item.cutoff_date, f"{where}.cutoff_date")
    _check_seed(item.seed, ctype, f"{where}.seed")
    if ctype == raw:
        return item
    return msgspec.structs.replace(item, calculation_type=ctype)


def validate_seed_user(user: SeedUser | Mapping[str, Any], *, field: str = "user") -> SeedUser:
    """A checked `SeedUser` from a model or a dict in the API's JSON shape.

    Raises `RequestValidationError` naming the field (``user.calculated_attributes.
    workspace[0].seed.key_value_pairs.count``) when: environment is not production or
    development; neither mpid nor identities is given; a calculation type is unknown; a
    cutoff date is not ``yyyy-MM-dd``; a seed's shape does not fit its calculation type
    (count: a non-negative integer; sum/min/max: a number; average: ``sum`` and a positive
    integer ``count``; first/last_occurrence_timestamp: epoch milliseconds; unique_list
    and unique_values_count: a list of strings; most_frequent: value → count pairs); a
    user attribute has no name or no value.
    """
    u = to_model(user, SeedUser, field)
    env = u.environment.lower()
    if env not in SeedEnvironment.ALL:
        _fail(f"{field}.environment", f"must be production or development, got {u.environment!r}")
    if u.mpid is None and not u.identities:
        _fail(f"{field}.mpid", "either mpid or identities is required to find the user")
    for kind, value in (u.identities or {}).items():
        if not kind.strip():
            _fail(f"{field}.identities", "identity types must not be empty")
        if not value.strip():
            _fail(f"{field}.identities.{kind}", "must not be empty")
    where = f"{field}.calculated_attributes.workspace"
    seeds = [
        _check_attribute(item, f"{where}[{i}]")
        for i, item in enumerate(u.calculated_attributes.workspace)
    ]
    if u.user_attributes is not None:
        for i, attr in enumerate(u.user_attributes.workspace):
            at = f"{field}.user_attributes.workspace[{i}]"
            if not attr.attribute_name.strip():
                _fail(f"{at}.attribute_name", "must not be empty")
    return msgspec.structs.replace(
        u, environment=env, calculated_attributes=CalculatedAttributeSeeds(workspace=seeds)
    )


# ---------------------------------------------------------------- bulk report


@dataclass
class SeedChunk:
    """One bulk request: the users it carried (positions in the input, and mpid or
    identities) and its encoded size. The API takes or rejects a request as a whole."""

    positions: list[int] = field(default_factory=list)
    users: list[UserKey] = field(default_factory=list)
    size: int = 0


@dataclass
class SeedBulkReport(BulkReport[int]):
    """A `BulkReport` keyed by chunk index: ``failed[i]`` is why request ``i`` failed and
    ``chunks[i]`` says which users it carried, so a failure names every user it cost.

    A user that fails validation (or is alone over the size limit) is never sent: it gets
    a chunk of its own that fails with `RequestValidationError`.
    """

    chunks: dict[int, SeedChunk] = field(default_factory=dict)

    @property
    def users_sent(self) -> int:
        """Users in chunks the API accepted."""
        return sum(len(self.chunks[i].positions) for i in self.succeeded)

    def failed_users(self) -> list[UserKey]:
        """Every user in a failed chunk (mpid, else identities), in input order."""
        pairs = [
            (p, u)
            for i in self.failed
            for p, u in zip(self.chunks[i].positions, self.chunks[i].users, strict=True)
        ]
        return [u for _, u in sorted(pairs, key=lambda pair: pair[0])]


def _loose_key(user: object) -> UserKey:
    """Best-effort name of a user that failed validation."""
    if isinstance(user, SeedUser):
        return user.key
    if isinstance(user, Mapping):
        mpid, identities = user.get("mpid"), user.get("identities")
        if isinstance(mpid, int) and not isinstance(mpid, bool):
            return mpid
        if isinstance(identities, dict):
            return {str(k): str(v) for k, v in identities.items()}
    return None


def _check_items(items: object, name: str) -> None:
    if isinstance(items, (str, bytes, Mapping, msgspec.Struct)) or not isinstance(
        items, (Iterable, AsyncIterable)
    ):
        raise RequestValidationError(
            f"{name} must be an iterable or async iterable, not {type(items).__name__}",
            field=name,
        )


# ---------------------------------------------------------------- client


class SeedingClient(TransportOwner):
    """The Calculated Attributes Seeding API client.

    Shares the core transport: one pooled session, ``max_concurrency`` requests in flight,
    an optional ``rate_limit`` (requests per second; seeding counts toward the Events
    API's rate), ``retry`` and ``timeout`` per attempt, a borrowed ``session`` never
    closed. The repr shows the key, never the secret.

    Retries: the default policy retries 429, 500, 502, 503, 504 and connection failures
    with backoff, as the reference asks for 429 and 503. Seeding *sets* seed values and
    creates-or-updates user attributes, and a bulk request is applied all or nothing, so
    sending the same body twice leaves the same state: requests are marked idempotent,
    which lets a 503 or a lost response be retried too. (As with any set, a retry could
    land after a newer write for the same user from elsewhere; seed each user once.)
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        base_url: str = DEFAULT_SEEDING_URL,
        **options: Unpack[TransportOptions],
    ) -> None:
        self._transport = basic_auth_transport(
            api_key, api_secret, base_url=base_url, options=options
        )

    def __repr__(self) -> str:
        t = self._transport
        return (
            f"SeedingClient(base_url={t.base_url!r}, auth={t.auth!r}, "
            f"max_concurrency={t.concurrency.capacity})"
        )

    async def seed(self, user: SeedUser | Mapping[str, Any]) -> None:
        """Seed one user: ``POST /v2/calculatedattributes``; the API answers 202.

        Checked first with `validate_seed_user` (nothing is sent when it fails).
        """
        checked = validate_seed_user(user)
        # idempotent: seeding sets values, so a retry after a 503 or a lost response is
        # safe (see the class docstring).
        await self._transport.send(
            Request("POST", _SINGLE, empty, api="", body=checked, idempotent=True)
        )

    async def seed_bulk(
        self,
        users: Iterable[SeedUser | Mapping[str, Any]] | AsyncIterable[SeedUser | Mapping[str, Any]],
        *,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        max_users: int = MAX_USERS_PER_REQUEST,
        max_bytes: int = MAX_REQUEST_BYTES,
        priority: Priority = BACKGROUND,
    ) -> SeedBulkReport:
        """Seed many users: ``POST /v2/bulkcalculatedattributes`` per chunk.

        ``users`` is read lazily and packed, in order, into chunks of at most
        ``max_users`` users whose JSON array is at most ``max_bytes`` bytes; chunks go out
        ``concurrency`` at a time (default: the client's ``max_concurrency``) under the
        client's limits. Each request succeeds or fails as a whole, so the report is keyed
        by chunk index (see `SeedBulkReport`).

        >>> report = await s.seed_bulk(users)
        >>> report.ok, report.failed_users()
        """
        options = RunOptions(concurrency, fail_fast, on_progress, priority=priority)
        _check_items(users, "users")
        for name, value, ceiling in (
            ("max_users", max_users, MAX_USERS_PER_REQUEST),
            ("max_bytes", max_bytes, MAX_REQUEST_BYTES),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
                raise RequestValidationError(
                    f"{name} must be an integer from 1 to {ceiling}", field=name
                )
        report = SeedBulkReport()

        async def chunks() -> AsyncIterator[tuple[int, bytes | RequestValidationError]]:
            index = 0
            chunk, size = SeedChunk(), 2  # the size of "[]"
            parts: list[bytes] = []
            position = -1
            async for user in each(users):
                position += 1
                where = f"users[{position}]"
                try:
                    checked = validate_seed_user(user, field=where)
                    encoded = _encode(checked)
                    if len(encoded) + 2 > max_bytes:
                        _fail(where, f"encodes to {len(encoded) + 2} bytes, over {max_bytes}")
                except RequestValidationError as exc:
                    report.chunks[index] = SeedChunk([position], [_loose_key(user)])
                    yield index, exc
                    index += 1
                    continue
                if parts and (len(parts) >= max_users or size + 1 + len(encoded) > max_bytes):
                    chunk.size = size
                    report.chunks[index] = chunk
                    yield index, b"[" + b",".join(parts) + b"]"
                    index += 1
                    chunk, parts, size = SeedChunk(), [], 2
                size += len(encoded) + (1 if parts else 0)
                parts.append(encoded)
                chunk.positions.append(position)
                chunk.users.append(checked.key)
            if parts:
                chunk.size = size
                report.chunks[index] = chunk
                yield index, b"[" + b",".join(parts) + b"]"

        async def send(body: bytes) -> None:
            await self._transport.send(
                Request("POST", _BULK, empty, api="", body=msgspec.Raw(body), idempotent=True)
            )

        await self._run_prepared(chunks(), send, report, options)
        return report
