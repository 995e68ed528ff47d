"""Models of the Data Subject Request API (v1 OpenGDPR, v2 and v3 OpenDSR: their answers
share one shape): submit, status, cancel and discovery, the callback body, and `DSRSubject`
for bulk submissions.

Times stay ISO 8601 strings as sent (the server writes seven fractional digits, which
``datetime`` cannot hold); every field the docs show as nullable defaults to None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from mpasync.models.base import Model

__all__ = [
    "DSRCancellation",
    "DSRDiscovery",
    "DSRForwardingStatus",
    "DSRReceipt",
    "DSRStatus",
    "DSRSubject",
    "DSRSupportedIdentity",
    "IdentityInput",
    "RequestStatus",
]

#: An identity as callers give it: the value, or ``{"value": ..., "encoding": "raw"}``;
#: DSR API v1 and v2 also take a list of values for one identity type.
IdentityInput = str | int | Mapping[str, str | int] | Sequence[str | int]


class RequestStatus:
    """Values of ``request_status``."""

    PENDING: Final = "pending"
    IN_PROGRESS: Final = "in_progress"
    COMPLETED: Final = "completed"
    CANCELLED: Final = "cancelled"
    ALL: Final[frozenset[str]] = frozenset({PENDING, IN_PROGRESS, COMPLETED, CANCELLED})


class DSRReceipt(Model, kw_only=True):
    """The 201 answer to a submit. ``encoded_request`` is the request as received, base64."""

    subject_request_id: str
    expected_completion_time: str | None = None
    received_time: str | None = None
    encoded_request: str | None = None
    controller_id: str | None = None


class DSRForwardingStatus(Model, kw_only=True):
    """Forwarding of an erasure to one partner: ``status`` is pending, skipped, sent or failed."""

    domain: str | None = None
    name: str | None = None
    status: str | None = None
    status_message: str | None = None


class DSRStatus(Model, kw_only=True):
    """A request's status (``GET /requests/{id}``, each item of a group query, and the
    body of a status callback). ``results_url`` is set for completed access and
    portability requests only, and stays valid for 7 days."""

    subject_request_id: str
    request_status: str | None = None
    controller_id: str | None = None
    expected_completion_time: str | None = None
    group_id: str | None = None
    api_version: str | None = None
    results_url: str | None = None
    extensions: list[DSRForwardingStatus] | None = None


class DSRCancellation(Model, kw_only=True):
    """The answer to a cancel; ``received_time`` is when the *cancellation* arrived."""

    subject_request_id: str
    expected_completion_time: str | None = None
    received_time: str | None = None
    controller_id: str | None = None


class DSRSupportedIdentity(Model, kw_only=True):
    """One identity type the processor accepts, and its format (``raw``)."""

    identity_type: str
    identity_format: str | None = None


class DSRDiscovery(Model, kw_only=True):
    """What the processor supports, and where its signing certificate lives."""

    api_version: str | None = None
    supported_identities: list[DSRSupportedIdentity] | None = None
    supported_subject_request_types: list[str] | None = None
    processor_certificate: str | None = None


class DSRSubject(msgspec.Struct, kw_only=True, frozen=True):
    """One request for `DSRClient.submit_bulk`: the keyword arguments of `DSRClient.submit`.

    Not a wire model: the client turns it into the request body of its API version
    (filling in the id and time). Plain dicts with the same keys are accepted too; a key
    that is not one of these fields is an error that names the closest one.
    ``submitted_time`` is a datetime or an ISO 8601 string (checked when submitted).
    """

    regulation: str | None = None
    request_type: str
    identities: Mapping[str, IdentityInput] | None = None
    group_id: str | None = None
    subject_request_id: str | None = None
    # Any: a str | datetime union cannot be a msgspec type; build_request checks it.
    submitted_time: Any = None
    status_callback_urls: Sequence[str] | None = None
    skip_waiting_period: bool = False
    extension_identities: Mapping[str, IdentityInput] | None = None
