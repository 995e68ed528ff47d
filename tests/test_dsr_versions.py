"""DSRClient(api_version=1 | 2 | 3): every endpoint of every version, against aioresponses
(the exact URL, method and body each version's docs show) and against the Emulator (the
same calls answered by a server that checks each version's shapes). Issue 12, "DSR v1 and
v2"; shapes from the v2 page's examples and the OpenGDPR spec's mParticle extension."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from mpasync.dsr import DSRClient, build_request
from mpasync.emulator import Emulator, FaultRule, Faults
from mpasync.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RequestValidationError,
)
from mpasync.retry import RetryPolicy

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
RID = "a7551968-d5d6-44b2-9831-815ac9017798"
STATUS = {
    "controller_id": "3622",
    "expected_completion_time": "2018-05-07T20:53:48.322652",
    "subject_request_id": RID,
    "group_id": None,
    "request_status": "pending",
    "api_version": "2.0",
    "results_url": None,
    "extensions": None,
}
RECEIPT = {
    "expected_completion_time": "2018-11-01T15:00:01Z",
    "received_time": "2018-10-02T15:00:01Z",
    "encoded_request": "e30=",
    "subject_request_id": RID,
    "controller_id": "3622",
}
CANCELLED = {
    "expected_completion_time": None,
    "received_time": "2018-05-16T17:35:58.3631375Z",
    "subject_request_id": RID,
    "controller_id": "3622",
}
DISCOVERY = {
    "api_version": "1.0",
    "supported_identities": [{"identity_type": "email", "identity_format": "raw"}],
    "supported_subject_request_types": ["access", "erasure", "portability"],
    "processor_certificate": "https://static.mparticle.com/gdpr/opengdpr_cert.pem",
}
#: Each version's base URL (the docs' hosts) and request resource.
WHERE = {
    1: ("https://opengdpr.mparticle.com/v1", "opengdpr_requests"),
    2: ("https://opendsr.mparticle.com/v2", "requests"),
    3: ("https://opendsr.mparticle.com/v3", "requests"),
}


def _sent(mocked: aioresponses, method: str, url: str) -> Any:
    [call] = mocked.requests[(method, URL(url))]
    data = call.kwargs.get("data")
    return json.loads(data) if data else None


# ---------------------------------------------------------------- bodies, per version


def test_v1_body_is_opengdpr() -> None:
    body = build_request(
        None,
        "erasure",
        {"email": "johndoe@example.com", "controller_customer_id": ["c-1", "c-2"]},
        subject_request_id=RID,
        submitted_time="2018-10-02T15:00:00Z",
        status_callback_urls=["https://example.com/callbacks"],
        extension_identities={"mpid": [1234567890, "5678901234"]},
        api_version=1,
    )
    assert body == {
        "subject_request_id": RID,
        "subject_request_type": "erasure",
        "submitted_time": "2018-10-02T15:00:00Z",
        "subject_identities": [
            {
                "identity_type": "email",
                "identity_value": "johndoe@example.com",
                "identity_format": "raw",
            },
            {
                "identity_type": "controller_customer_id",
                "identity_value": "c-1",
                "identity_format": "raw",
            },
            {
                "identity_type": "controller_customer_id",
                "identity_value": "c-2",
                "identity_format": "raw",
            },
        ],
        "api_version": "1.0",
        "status_callback_urls": ["https://example.com/callbacks"],
        "extensions": {"opengdpr.mparticle.com": {"mpids": [1234567890, 5678901234]}},
    }
    # v1 bodies carry no regulation; one given is checked, and left out.
    assert "regulation" not in build_request("ccpa", "access", {"email": "a"}, api_version=1)
    with pytest.raises(RequestValidationError) as info:
        build_request("hipaa", "access", {"email": "a"}, api_version=1)
    assert info.value.field == "regulation"


def test_v2_body_is_opendsr_with_lists() -> None:
    body = build_request(
        "GDPR",
        "erasure",
        {"email": "johndoe@example.com"},
        group_id="my-group",
        subject_request_id=RID,
        submitted_time="2018-10-02T15:00:00Z",
        extension_identities={"mpid": 1234567890, "other": "test@test1.com"},
        api_version=2,
    )
    assert body == {
        "regulation": "gdpr",
        "subject_request_id": RID,
        "subject_request_type": "erasure",
        "submitted_time": "2018-10-02T15:00:00Z",
        "subject_identities": [
            {
                "identity_type": "email",
                "identity_value": "johndoe@example.com",
                "identity_format": "raw",
            }
        ],
        "api_version": "2.0",
        "group_id": "my-group",
        "extensions": {
            "opendsr.mparticle.com": {
                "mpids": [1234567890],
                "identities": [{"identity_type": "other", "identity_value": "test@test1.com"}],
            }
        },
    }


def test_v3_body_is_a_dict_of_identities() -> None:
    body = build_request(
        "ccpa",
        "access",
        {"email": "a@b.c"},
        subject_request_id=RID,
        submitted_time="2021-11-01T15:00:00Z",
        skip_waiting_period=True,
        extension_identities={"other6": "x"},
    )
    assert body["subject_identities"] == {"email": {"value": "a@b.c", "encoding": "raw"}}
    assert body["api_version"] == "3.0" and body["regulation"] == "ccpa"
    assert body["extensions"] == {
        "opendsr.mparticle.com": {
            "skip_waiting_period": True,
            "subject_identities": {"other6": {"value": "x", "encoding": "raw"}},
        }
    }


@pytest.mark.parametrize(
    ("version", "kwargs", "field"),
    [
        (2, {"regulation": None}, "regulation"),
        (3, {"regulation": None}, "regulation"),
        (1, {"skip_waiting_period": True}, "skip_waiting_period"),
        (2, {"skip_waiting_period": True}, "skip_waiting_period"),
        (1, {"extension_identities": {"other": "x"}}, "extension_identities.other"),
        (3, {"identities": {"email": ["a", "b"]}}, "identities.email"),
        (2, {"identities": {"email": []}}, "identities.email"),
        (2, {"identities": {"email": ["a", ""]}}, "identities.email[1]"),
        (2, {"extension_identities": {"mpid": "12ab"}}, "extension_identities.mpid"),
        (1, {"extension_identities": {"mpid": "²"}}, "extension_identities.mpid"),
        (2, {"identities": {"email": ["x"] * 51}}, "identities"),
        (3, {"extension_identities": {"mpid": "1"}}, "extension_identities.mpid"),
    ],
)
def test_version_rules(version: int, kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "regulation": "gdpr",
        "request_type": "erasure",
        "identities": {"email": "a"},
    }
    args.update(kwargs)
    with pytest.raises(RequestValidationError) as info:
        build_request(**args, api_version=version)
    assert info.value.field == field


def test_a_misspelt_identity_type_suggests_the_closest() -> None:
    for version in (1, 2, 3):
        with pytest.raises(RequestValidationError) as info:
            build_request("gdpr", "erasure", {"emial": "a@b.c"}, api_version=version)
        assert info.value.field == "identities.emial"
        assert "did you mean 'email'?" in str(info.value)
    with pytest.raises(RequestValidationError) as ext:
        build_request("gdpr", "erasure", extension_identities={"other11": "x"})
    assert "did you mean 'other" in str(ext.value)


def test_mpid_beside_other_identities_is_fine_before_v3() -> None:
    for version in (1, 2):
        body = build_request(
            "gdpr", "erasure", {"email": "a"}, extension_identities={"mpid": 7}, api_version=version
        )
        assert next(iter(body["extensions"].values())) == {"mpids": [7]}


def test_unknown_api_version() -> None:
    for bad in (0, 4, "4.0", True, None):
        with pytest.raises(RequestValidationError) as info:
            DSRClient("key", "secret", api_version=bad)  # type: ignore[arg-type]
        assert info.value.field == "api_version"
    assert DSRClient("k", "s", api_version=1).transport.base_url == WHERE[1][0]
    assert DSRClient("k", "s", api_version=2).transport.base_url == WHERE[2][0]
    assert "api_version=2" in repr(DSRClient("k", "s", api_version=2))
    custom = DSRClient("k", "s", api_version=1, base_url="https://proxy.example/gdpr")
    assert custom.transport.base_url == "https://proxy.example/gdpr"


# ---------------------------------------------------------------- aioresponses: each endpoint


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_every_endpoint_on_the_wire(version: int) -> None:
    base, resource = WHERE[version]
    requests = f"{base}/{resource}"
    with aioresponses() as mocked:
        mocked.post(f"{requests}/", status=201, payload=RECEIPT)
        mocked.get(f"{requests}/{RID}", payload=STATUS)
        mocked.get(f"{requests}?group_id=my-group", payload=[STATUS, STATUS])
        mocked.delete(f"{requests}/{RID}", payload=CANCELLED)
        mocked.get(f"{base}/discovery/", payload=DISCOVERY)
        async with DSRClient("key", "secret", api_version=version, rate_limit=None) as d:
            receipt = await d.submit(
                "gdpr", "erasure", {"email": "a@b.c"}, subject_request_id=RID, group_id="my-group"
            )
            status = await d.status(RID)
            group = await d.group_status("my-group")
            cancelled = await d.cancel(RID)
            found = await d.discovery()
        body = _sent(mocked, "POST", f"{requests}/")
    assert receipt.subject_request_id == RID and receipt.controller_id == "3622"
    assert status.request_status == "pending" and len(group) == 2
    assert cancelled.expected_completion_time is None
    assert found.supported_subject_request_types == ["access", "erasure", "portability"]
    assert body["api_version"] == f"{version}.0"
    assert ("regulation" in body) is (version > 1)
    expected: Any = {"email": {"value": "a@b.c", "encoding": "raw"}}
    if version < 3:
        expected = [{"identity_type": "email", "identity_value": "a@b.c", "identity_format": "raw"}]
    assert body["subject_identities"] == expected


@pytest.mark.parametrize("version", [1, 2])
async def test_errors_and_retries_are_the_same_in_every_version(version: int) -> None:
    base, resource = WHERE[version]
    error = {
        "code": 400,
        "message": "Subject request already exists.",
        "errors": [
            {
                "domain": "Validation",
                "reason": "InvalidOperationException",
                "message": "Subject request already exists.",
            }
        ],
    }
    with aioresponses() as mocked:
        mocked.post(f"{base}/{resource}/", status=503)
        mocked.post(f"{base}/{resource}/", status=429, headers={"Retry-After": "0"})
        mocked.post(f"{base}/{resource}/", status=201, payload=RECEIPT)
        mocked.post(f"{base}/{resource}/", status=400, payload=error)
        mocked.get(f"{base}/{resource}/{RID}", status=404, payload=error | {"code": 404})
        mocked.delete(f"{base}/{resource}/{RID}", status=409, payload=error | {"code": 409})
        mocked.get(f"{base}/discovery/", status=401)
        async with DSRClient("key", "secret", api_version=version, retry=FAST) as d:
            receipt = await d.submit("gdpr", "erasure", {"email": "a"}, subject_request_id=RID)
            with pytest.raises(BadRequestError) as bad:
                await d.submit("gdpr", "erasure", {"email": "a"})
            with pytest.raises(NotFoundError):
                await d.status(RID)
            with pytest.raises(ConflictError):
                await d.cancel(RID)
            with pytest.raises(AuthenticationError):
                await d.discovery()
            with pytest.raises(RequestValidationError):
                await d.group_status("")
    assert receipt.subject_request_id == RID
    assert bad.value.errors[0].code == "InvalidOperationException"
    assert len(mocked.requests[("POST", URL(f"{base}/{resource}/"))]) == 4


# ---------------------------------------------------------------- the Emulator


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_every_endpoint_against_the_emulator(version: int) -> None:
    async with Emulator() as emu, emu.dsr_client(api_version=version, retry=FAST) as d:
        assert d.api.number == version
        first = await d.submit(
            "gdpr" if version > 1 else None,
            "erasure",
            {"email": "a@b.c"},
            group_id="g/1",
            # mpid beside another identity: fine in v1/v2, v3 wants it alone.
            extension_identities={"mpid": 42} if version < 3 else {"other": "o-1"},
        )
        second = await d.submit("ccpa", "access", {"email": "x@b.c"}, group_id="g/1")
        stored = emu.other_apis.dsr_requests[first.subject_request_id]
        assert stored.version == version and stored.body["api_version"] == f"{version}.0"

        status = await d.status(first.subject_request_id)
        assert status.request_status == "pending" and status.api_version == f"{version}.0"
        group = await d.group_status("g/1")
        assert {s.subject_request_id for s in group} == {
            first.subject_request_id,
            second.subject_request_id,
        }
        cancelled = await d.cancel(first.subject_request_id)
        assert cancelled.expected_completion_time is None
        assert (await d.status(first.subject_request_id)).request_status == "cancelled"
        with pytest.raises(BadRequestError):
            await d.cancel(first.subject_request_id)  # no longer pending
        with pytest.raises(NotFoundError):
            await d.status(str(uuid.uuid4()))

        found = await d.discovery()
        assert found.api_version == f"{version}.0"
        assert found.processor_certificate == f"{emu.base_url}/dsr/v{version}/certificate.pem"

        # The same identities and type while the first is in progress: 409.
        with pytest.raises(ConflictError):
            await d.submit("ccpa", "access", {"email": "x@b.c"})
        # A retried submit repeats the same id, so the lost attempt is not duplicated.
        emu.other_apis.fail_next("dsr", 503)
        third = await d.submit("gdpr", "access", {"email": "y@b.c"})
        assert third.subject_request_id in emu.other_apis.dsr_requests
    entries = [e for e in emu.request_log if e.path.startswith(f"/dsr/v{version}/")]
    assert entries and all(e.path.startswith(f"/dsr/v{version}/") for e in entries)


async def test_bulk_submission_speaks_the_clients_version() -> None:
    async with Emulator() as emu, emu.dsr_client(api_version=1, rate_limit=None) as d:
        report = await d.submit_bulk(
            {"request_type": "erasure", "identities": {"email": f"{i}@x.io"}} for i in range(3)
        )
    assert report.ok and report.total == 3
    bodies = [r.body for r in emu.other_apis.dsr_requests.values()]
    assert all(b["api_version"] == "1.0" and "regulation" not in b for b in bodies)
    assert all(isinstance(b["subject_identities"], list) for b in bodies)


@pytest.mark.parametrize("version", [1, 2])
async def test_emulator_faults_reach_every_version_and_retries_absorb_them(version: int) -> None:
    faults = [FaultRule(f"/dsr/v{version}/*", Faults(error_rate=0.5, seed=3, retry_after=0))]
    retry = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_max=0.05)
    async with (
        Emulator(faults=faults) as emu,
        emu.dsr_client(api_version=version, retry=retry, rate_limit=None) as d,
    ):
        receipts = [await d.submit("gdpr", "erasure", {"email": f"{i}@x.io"}) for i in range(6)]
        for receipt in receipts:
            assert (await d.status(receipt.subject_request_id)).request_status == "pending"
    faulted = [e for e in emu.request_log if e.fault]
    assert faulted and all(e.path.startswith(f"/dsr/v{version}/") for e in faulted)
    assert len(emu.other_apis.dsr_requests) == 6
