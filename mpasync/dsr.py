"""`DSRClient`: mParticle's Data Subject Request API (HTTP Basic with a workspace key) in
any of its versions — v3 (OpenDSR, the default), v2 (OpenDSR with ``regulation``) and v1
(OpenGDPR) — and `verify_callback`, which checks the status callbacks it sends.

>>> async with DSRClient(api_key, api_secret) as d:
...     receipt = await d.submit("gdpr", "erasure", {"email": "a@b.com"})
...     status = await d.status(receipt.subject_request_id)

What differs between versions lives in `mpasync.dsr_protocol`; callback checking in
`mpasync.dsr_callbacks`. Both are re-exported here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from mpasync._lifecycle import TransportOwner, basic_auth_transport, each
from mpasync._validate import to_model
from mpasync.bulk import BulkReport, OnProgress, RunOptions
from mpasync.dsr_callbacks import parse_callback, verify_callback
from mpasync.dsr_protocol import (
    API_VERSIONS,
    EXTENSION_IDENTITY_TYPES,
    IDENTITY_TYPES,
    MAX_IDENTITIES,
    V3,
    DSRVersion,
    build_request,
    dsr_version,
)
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
from mpasync.priority import BACKGROUND, Priority

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "API_VERSIONS",
    "DEFAULT_DSR_URL",
    "DSR_RATE_LIMIT",
    "EXTENSION_IDENTITY_TYPES",
    "IDENTITY_TYPES",
    "MAX_IDENTITIES",
    "PROCESSOR_DOMAIN",
    "DSRBulkReport",
    "DSRClient",
    "DSRVersion",
    "build_request",
    "parse_callback",
    "verify_callback",
]

DEFAULT_DSR_URL = V3.default_url
#: 1,000 requests per minute per workspace (GET, POST and DELETE together), as a
#: per-second rate: the default ``rate_limit`` spaces requests 60 ms apart.
DSR_RATE_LIMIT = 1000 / 60
#: The key of mParticle's entry in ``extensions`` (v2, v3), and the domain its callbacks
#: come from; v1 uses ``opengdpr.mparticle.com``.
PROCESSOR_DOMAIN = V3.processor_domain


def _subject_arguments(subject: object, where: str) -> dict[str, Any]:
    """`submit`'s keyword arguments from a `DSRSubject` or a dict; a dict goes through the
    shared conversion, so a misspelt key is an error naming the closest field."""
    checked = to_model(subject, DSRSubject, where)
    return {f.name: getattr(checked, f.name) for f in msgspec.structs.fields(checked)}


# ---------------------------------------------------------------- client


@dataclass
class DSRBulkReport(BulkReport[int]):
    """A `BulkReport` keyed by each subject's position in the input. ``results[i]`` is the
    `DSRReceipt` of a created request; ``request_ids[i]`` is the subject_request_id sent
    (or that would have been) for every subject that passed validation."""

    request_ids: dict[int, str] = field(default_factory=dict)


class DSRClient(TransportOwner):
    """The Data Subject Request API client; ``api_version`` (3, the default, 2 or 1) picks
    the version spoken: its paths (v1: ``/opengdpr_requests``), body shapes (v1/v2 send
    identities as a list, v2/v3 a ``regulation``) and callback headers (v1:
    ``X-OpenGDPR-*``). Left at its default, ``base_url`` is that version's host
    (`DSRVersion.default_url`). Every version gets the same checks, retries and errors.

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
        api_version: int = 3,
        **options: Unpack[TransportOptions],
    ) -> None:
        #: The version spoken: its paths, body shapes and headers (see `DSRVersion`).
        self.api: DSRVersion = dsr_version(api_version)
        if base_url == DEFAULT_DSR_URL:  # each version has its own host and path
            base_url = self.api.default_url
        options.setdefault("rate_limit", DSR_RATE_LIMIT)
        self._transport = basic_auth_transport(
            api_key, api_secret, base_url=base_url, options=options
        )

    def __repr__(self) -> str:
        t = self._transport
        return (
            f"DSRClient(base_url={t.base_url!r}, auth={t.auth!r}, "
            f"rate_limit={t.rate.rate if t.rate else None}, api_version={self.api.number})"
        )

    async def submit(
        self,
        regulation: str | None,
        request_type: str,
        identities: Mapping[str, IdentityInput] | None = None,
        *,
        group_id: str | None = None,
        subject_request_id: str | None = None,
        submitted_time: str | dt.datetime | None = None,
        status_callback_urls: Sequence[str] | None = None,
        skip_waiting_period: bool = False,
        extension_identities: Mapping[str, IdentityInput] | None = None,
    ) -> DSRReceipt:
        """Submit a data subject request: ``POST /requests/`` (v1: ``/opengdpr_requests/``),
        answered 201.

        ``regulation`` is ``gdpr`` or ``ccpa`` (v1 bodies have no such field: it may be
        None there, and is checked but not sent when given); ``request_type`` is
        ``access``, ``portability`` or ``erasure``. ``identities`` maps the top-level
        identity types (`IDENTITY_TYPES`) to a value or ``{"value": ..., "encoding":
        "raw"}`` (v1/v2 also take a list of values for one type); ``extension_identities``
        takes the types only mParticle's extension accepts (`EXTENSION_IDENTITY_TYPES`;
        v1: ``mpid`` only): ``mpid`` — in v3 it must then be the only identity —
        ``other`` … ``other10``, phone numbers. At most 50 identities in all.
        ``skip_waiting_period=True`` (v3 only) skips the 7-day wait (cancellable for
        under 24 h).

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
            api_version=self.api,
        )
        return await self._send_body(body)

    async def _send_body(self, body: dict[str, Any]) -> DSRReceipt:
        return await self._transport.send(self.api.submit(body))

    async def status(self, request_id: str) -> DSRStatus:
        """A request's status: ``GET /requests/{id}`` (404 when unknown)."""
        return await self._transport.send(self.api.status(request_id))

    async def group_status(self, group_id: str) -> list[DSRStatus]:
        """The status of every request in a group: ``GET /requests?group_id=``."""
        if not isinstance(group_id, str) or not group_id:
            raise RequestValidationError("group_id must be a non-empty string", field="group_id")
        return await self._transport.send(self.api.group(group_id))

    async def cancel(self, request_id: str) -> DSRCancellation:
        """Cancel a request: ``DELETE /requests/{id}``, allowed only while it is pending.

        It does not recall erasures already forwarded to partners. A DELETE is retried
        like any idempotent call; if a lost attempt did cancel, its retry gets a 400
        (no longer pending), and `status` shows ``cancelled``.
        """
        return await self._transport.send(self.api.cancel(request_id))

    async def discovery(self) -> DSRDiscovery:
        """Supported identity and request types, and the callback certificate's URL."""
        return await self._transport.send(self.api.discovery())

    async def submit_bulk(
        self,
        subjects: Iterable[DSRSubject | Mapping[str, Any]]
        | AsyncIterable[DSRSubject | Mapping[str, Any]],
        *,
        concurrency: int | None = None,
        fail_fast: bool = False,
        on_progress: OnProgress | None = None,
        priority: Priority = BACKGROUND,
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
        options = RunOptions(concurrency, fail_fast, on_progress, priority=priority)
        if isinstance(subjects, (str, bytes, Mapping, DSRSubject)) or not isinstance(
            subjects, (Iterable, AsyncIterable)
        ):
            raise RequestValidationError(
                "subjects must be an iterable or async iterable of subjects", field="subjects"
            )
        report = DSRBulkReport()

        async def prepared() -> AsyncIterator[tuple[int, dict[str, Any] | RequestValidationError]]:
            index = -1
            async for subject in each(subjects):
                index += 1
                where = f"subjects[{index}]"
                try:
                    arguments = _subject_arguments(subject, where)
                    body = build_request(**arguments, prefix=f"{where}.", api_version=self.api)
                except RequestValidationError as exc:
                    yield index, exc
                else:
                    report.request_ids[index] = body["subject_request_id"]
                    yield index, body

        await self._run_prepared(prepared(), self._send_body, report, options)
        return report
