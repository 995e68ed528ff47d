"""DSRClient (API v3, the default) against the local DSR routes: submit, status, group,
cancel, discovery, bulk, validation before sending, error mapping. Versions 1 and 2 are in
test_dsr_versions.py, callbacks in test_dsr_callbacks.py."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from mpasync.dsr import DSR_RATE_LIMIT, DSRClient
from mpasync.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RequestValidationError,
)
from mpasync.models.dsr import DSRSubject

if TYPE_CHECKING:
    from tests.other_apis_fixtures import OtherApis

pytest_plugins = ["tests.other_apis_fixtures"]

EMAIL = {"email": "johndoe@example.com"}


def sent(other_apis: OtherApis, request_id: str) -> dict[str, Any]:
    return other_apis.state.dsr_requests[request_id].body


# ---------------------------------------------------------------- submit


async def test_submit_fills_in_id_and_time(dsr: DSRClient, other_apis: OtherApis) -> None:
    receipt = await dsr.submit("gdpr", "erasure", EMAIL)
    rid = receipt.subject_request_id
    assert rid == rid.lower() and uuid.UUID(rid).version == 4
    assert receipt.controller_id == other_apis.state.controller_id
    assert receipt.expected_completion_time and receipt.received_time
    body = sent(other_apis, rid)
    assert base64.b64decode(receipt.encoded_request or "") == other_apis.state.dsr_requests[rid].raw
    assert body["subject_identities"] == {
        "email": {"value": "johndoe@example.com", "encoding": "raw"}
    }
    assert body["api_version"] == "3.0"
    assert body["subject_request_type"] == "erasure"
    moment = dt.datetime.fromisoformat(body["submitted_time"].replace("Z", "+00:00"))
    assert abs((moment - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 5
    assert "extensions" not in body and "group_id" not in body


async def test_submit_with_every_option(dsr: DSRClient, other_apis: OtherApis) -> None:
    rid = "A7551968-D5D6-44B2-9831-815AC9017798"
    receipt = await dsr.submit(
        regulation="CCPA",
        request_type="access",
        identities={
            "ios_advertising_id": {"value": "EA7583CD-A667-48BC-B806-42ECB2B48606"},
            "controller_customer_id": {"value": "c-1", "encoding": "raw"},
        },
        group_id="my-group",
        subject_request_id=rid,
        submitted_time=dt.datetime(2021, 11, 1, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        status_callback_urls=["https://example.com/opendsr/callbacks"],
        skip_waiting_period=True,
        extension_identities={"other6": "EA7583CD", "mobile_number": "+15551234567"},
    )
    assert receipt.subject_request_id == rid.lower()
    body = sent(other_apis, rid.lower())
    assert body["regulation"] == "ccpa"
    assert body["submitted_time"] == "2021-11-01T15:00:00Z"
    assert body["group_id"] == "my-group"
    assert body["status_callback_urls"] == ["https://example.com/opendsr/callbacks"]
    assert body["extensions"] == {
        "opendsr.mparticle.com": {
            "skip_waiting_period": True,
            "subject_identities": {
                "other6": {"value": "EA7583CD", "encoding": "raw"},
                "mobile_number": {"value": "+15551234567", "encoding": "raw"},
            },
        }
    }


async def test_mpid_alone_in_the_extension(dsr: DSRClient, other_apis: OtherApis) -> None:
    receipt = await dsr.submit("gdpr", "erasure", extension_identities={"mpid": 123456789})
    body = sent(other_apis, receipt.subject_request_id)
    assert "subject_identities" not in body
    assert body["extensions"]["opendsr.mparticle.com"]["subject_identities"] == {
        "mpid": {"value": "123456789", "encoding": "raw"}
    }


_MANY = {f"type{i}": "x" for i in range(51)}
_V1_UUID = "c232ab00-9414-11ec-b3c8-9f6bdeced846"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"regulation": "hipaa"}, "regulation"),
        ({"request_type": "delete"}, "request_type"),
        ({"identities": {}}, "identities"),
        ({"identities": _MANY}, "identities"),
        ({"identities": {"twitter": "@x"}}, "identities.twitter"),
        ({"identities": {"mpid": "1"}}, "identities.mpid"),
        ({"identities": {"phone_number_2": "1"}}, "identities.phone_number_2"),
        ({"extension_identities": {"email": "a@b.c"}}, "extension_identities.email"),
        ({"extension_identities": {"mpid": "1"}}, "extension_identities.mpid"),
        (
            {"identities": {"email": {"value": "a", "encoding": "sha256"}}},
            "identities.email.encoding",
        ),
        ({"identities": {"email": {"value": "a", "salt": "x"}}}, "identities.email.salt"),
        ({"identities": {"email": " "}}, "identities.email"),
        ({"identities": {"email": 5}}, "identities.email"),
        ({"identities": ["email"]}, "identities"),
        ({"subject_request_id": "not-a-uuid"}, "subject_request_id"),
        ({"subject_request_id": _V1_UUID}, "subject_request_id"),
        ({"submitted_time": "last tuesday"}, "submitted_time"),
        ({"submitted_time": 1700000000}, "submitted_time"),
        ({"status_callback_urls": "https://x.example"}, "status_callback_urls"),
        ({"status_callback_urls": ["ftp://x.example"]}, "status_callback_urls[0]"),
        ({"group_id": ""}, "group_id"),
        ({"skip_waiting_period": "yes"}, "skip_waiting_period"),
    ],
)
async def test_submit_validation_sends_nothing(
    dsr: DSRClient, other_apis: OtherApis, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"regulation": "gdpr", "request_type": "erasure", "identities": EMAIL}
    args.update(kwargs)
    with pytest.raises(RequestValidationError) as info:
        await dsr.submit(**args)
    assert info.value.field == field
    assert other_apis.state.hits["dsr"] == 0


# ---------------------------------------------------------------- the other calls


async def test_status_group_cancel_discovery(dsr: DSRClient, other_apis: OtherApis) -> None:
    first = await dsr.submit("gdpr", "erasure", EMAIL, group_id="g/1")
    second = await dsr.submit("gdpr", "access", {"email": "x@example.com"}, group_id="g/1")
    await dsr.submit("ccpa", "access", {"email": "y@example.com"}, group_id="other")

    status = await dsr.status(first.subject_request_id)
    assert status.request_status == "pending" and status.group_id == "g/1"
    assert status.api_version == "3.0" and status.results_url is None

    group = await dsr.group_status("g/1")
    assert {s.subject_request_id for s in group} == {
        first.subject_request_id,
        second.subject_request_id,
    }

    cancelled = await dsr.cancel(first.subject_request_id)
    assert cancelled.expected_completion_time is None and cancelled.received_time
    assert (await dsr.status(first.subject_request_id)).request_status == "cancelled"

    other_apis.state.set_dsr_status(second.subject_request_id, "in_progress")
    with pytest.raises(BadRequestError) as info:
        await dsr.cancel(second.subject_request_id)
    assert "pending" in info.value.messages[0]

    found = await dsr.discovery()
    assert found.api_version == "3.0"
    assert {i.identity_type for i in found.supported_identities or []} >= {"email", "android_id"}
    assert found.supported_subject_request_types == ["access", "erasure", "portability"]
    assert (found.processor_certificate or "").endswith("/certificate.pem")


async def test_dsr_error_bodies(dsr: DSRClient, other_apis: OtherApis) -> None:
    with pytest.raises(NotFoundError) as missing:
        await dsr.status(str(uuid.uuid4()))
    assert missing.value.errors[0].code == "NotFound"

    receipt = await dsr.submit("gdpr", "erasure", EMAIL)
    with pytest.raises(BadRequestError) as duplicate:
        await dsr.submit(
            "gdpr",
            "access",
            {"email": "z@example.com"},
            subject_request_id=receipt.subject_request_id,
        )
    assert duplicate.value.messages == ["Subject request already exists."]
    assert duplicate.value.errors[0].code == "InvalidOperationException"

    with pytest.raises(ConflictError) as conflict:
        await dsr.submit("gdpr", "erasure", EMAIL)
    assert conflict.value.status == 409
    # Once the first is done, the same subject may be submitted again.
    other_apis.state.set_dsr_status(receipt.subject_request_id, "completed")
    await dsr.submit("gdpr", "erasure", EMAIL)


async def test_bad_credentials(other_apis: OtherApis) -> None:
    async with DSRClient("key", "nope", base_url=other_apis.dsr_url) as client:
        with pytest.raises(AuthenticationError):
            await client.discovery()
        assert "nope" not in repr(client)


async def test_submit_retries_because_the_id_is_fixed(
    dsr: DSRClient, other_apis: OtherApis
) -> None:
    other_apis.state.fail_next("dsr", 503, 429, retry_after=0)
    receipt = await dsr.submit("gdpr", "erasure", EMAIL)
    assert other_apis.state.hits["dsr"] == 3
    assert list(other_apis.state.dsr_requests) == [receipt.subject_request_id]


def test_default_rate_limit_is_1000_a_minute() -> None:
    client = DSRClient("key", "secret")
    assert client.transport.limiter is not None
    assert (
        client.transport.limiter.rate == pytest.approx(DSR_RATE_LIMIT) == pytest.approx(1000 / 60)
    )


# ---------------------------------------------------------------- bulk


async def test_submit_bulk(dsr: DSRClient, other_apis: OtherApis) -> None:
    subjects: list[Any] = [
        {"regulation": "gdpr", "request_type": "erasure", "identities": {"email": f"{i}@x.io"}}
        for i in range(4)
    ]
    subjects.insert(2, {"regulation": "gdpr", "request_type": "erasure", "identities": {}})
    subjects.append(DSRSubject(regulation="ccpa", request_type="access", identities=EMAIL))
    subjects.append({"regulation": "gdpr", "identities": EMAIL})
    report = await dsr.submit_bulk(subjects)
    assert report.total == 7
    assert set(report.failed) == {2, 6}
    assert report.failed[2].field == "subjects[2].identities"  # type: ignore[attr-defined]
    assert report.failed[6].field == "subjects[6].request_type"  # type: ignore[attr-defined]
    assert sorted(report.succeeded) == [0, 1, 3, 4, 5]
    for i in report.succeeded:
        assert report.results[i].subject_request_id == report.request_ids[i]
    assert len(other_apis.state.dsr_requests) == 5


async def test_submit_bulk_names_a_misspelt_key_and_the_closest_field(
    dsr: DSRClient, other_apis: OtherApis
) -> None:
    # Issue 10: a typo in dict input is an error, never silently dropped (here it would
    # submit a request with no identities... or, worse, without its callback URLs).
    subjects = [
        {"regulation": "gdpr", "request_type": "access", "identitys": EMAIL},
        {
            "regulation": "gdpr",
            "request_type": "erasure",
            "identities": EMAIL,
            "status_callback_url": ["https://example.com/cb"],
        },
    ]
    report = await dsr.submit_bulk(subjects)
    assert set(report.failed) == {0, 1}
    first, second = report.failed[0], report.failed[1]
    # The field named (where exactly conform puts it: the subject or the key), and the
    # closest valid name suggested.
    assert first.field.startswith("subjects[0]")  # type: ignore[attr-defined]
    assert "identitys" in str(first) and "'identities'" in str(first)
    assert second.field.startswith("subjects[1]")  # type: ignore[attr-defined]
    assert "status_callback_url'" in str(second) and "'status_callback_urls'" in str(second)
    assert other_apis.state.dsr_requests == {}


async def test_submit_bulk_is_paced_by_the_rate_limit(other_apis: OtherApis) -> None:
    state = other_apis.state
    async with DSRClient(
        state.workspace_key, state.workspace_secret, base_url=other_apis.dsr_url, rate_limit=50
    ) as client:
        started = time.monotonic()
        report = await client.submit_bulk(
            {"regulation": "gdpr", "request_type": "erasure", "identities": {"email": f"{i}@x"}}
            for i in range(6)
        )
        elapsed = time.monotonic() - started
    assert report.ok
    # Six starts, spaced 1.01/50 s apart; the limiter forgives up to 5 ms of timer lateness
    # (RateLimiter: starts k apart are at least k * interval - tolerance apart).
    assert elapsed >= 5 * 1.01 / 50 - 0.005
