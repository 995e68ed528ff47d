"""`verify_callback` with generated certificate chains: trusted only through a root it is
given (or the system's), issued to exactly the header's domain (SAN first, CN only without
one), every link valid, and the signature over the raw body; and the emulator's signed
answers and callbacks verified end to end (issue 12, "Callback verification")."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from mpasync.dsr import parse_callback, verify_callback
from mpasync.errors import DecodeError, RequestValidationError
from tests.dsr_certs import DOMAIN, Issued, ca, headers, leaf

if TYPE_CHECKING:
    from tests.other_apis_fixtures import OtherApis

pytest_plugins = ["tests.other_apis_fixtures"]

BODY = (
    b'{"controller_id":"4308","expected_completion_time":"2018-05-31T16:27:28.679094Z",'
    b'"subject_request_id":"372fcd8b-d723-452e-ac60-36bd17372321","request_status":"pending",'
    b'"api_version":"3.0","results_url":null,"extensions":null}'
)


@pytest.fixture(scope="module")
def root() -> Issued:
    return ca()


@pytest.fixture(scope="module")
def intermediate(root: Issued) -> Issued:
    return ca("mpasync test intermediate", issuer=root)


@pytest.fixture(scope="module")
def processor(intermediate: Issued) -> Issued:
    return leaf(intermediate)


@pytest.fixture(scope="module")
def bundle(processor: Issued, intermediate: Issued) -> bytes:
    """What the certificate URL serves: the leaf, then its intermediate."""
    return processor.pem + intermediate.pem


def test_chain_to_a_trusted_root_verifies(processor: Issued, bundle: bytes, root: Issued) -> None:
    assert verify_callback(
        headers(processor.key, BODY), BODY, bundle, [DOMAIN], trust_roots=root.pem
    )
    # Header names in any case; PEMs as text; roots as a list of certificates.
    lower = {k.lower(): v for k, v in headers(processor.key, BODY).items()}
    assert verify_callback(lower, BODY, bundle.decode(), {DOMAIN.upper()}, trust_roots=[root.cert])
    assert verify_callback(
        headers(processor.key, BODY), BODY, bundle, (DOMAIN,), trust_roots=root.pem.decode()
    )
    status = parse_callback(BODY)
    assert status.request_status == "pending" and status.controller_id == "4308"


def test_a_root_signing_the_leaf_directly(root: Issued) -> None:
    direct = leaf(root)
    assert verify_callback(
        headers(direct.key, BODY), BODY, direct.pem, [DOMAIN], trust_roots=root.pem
    )


def test_self_signed_is_refused_even_with_the_right_name() -> None:
    # Today's main accepts an attacker's self-signed certificate whose name matches.
    attacker = leaf(None)
    assert not verify_callback(headers(attacker.key, BODY), BODY, attacker.pem, [DOMAIN])
    other_root = ca("someone else's root")
    assert not verify_callback(
        headers(attacker.key, BODY), BODY, attacker.pem, [DOMAIN], trust_roots=other_root.pem
    )


def test_a_chain_to_an_untrusted_root_is_refused(intermediate: Issued, bundle: bytes) -> None:
    processor_key_headers = headers(leaf(intermediate).key, BODY)
    stranger = ca("not our root")
    assert not verify_callback(
        processor_key_headers, BODY, bundle, [DOMAIN], trust_roots=stranger.pem
    )


def test_the_system_store_does_not_trust_a_test_ca(processor: Issued, bundle: bytes) -> None:
    # No trust_roots: the system's roots, which never issued our test CA.
    assert not verify_callback(headers(processor.key, BODY), BODY, bundle, [DOMAIN])


def test_missing_intermediate_is_refused(processor: Issued, root: Issued) -> None:
    assert not verify_callback(
        headers(processor.key, BODY), BODY, processor.pem, [DOMAIN], trust_roots=root.pem
    )


def test_expired_intermediate_is_refused(root: Issued) -> None:
    stale = ca("expired intermediate", issuer=root, valid_days=(-30, -1))
    processor = leaf(stale)
    assert not verify_callback(
        headers(processor.key, BODY),
        BODY,
        processor.pem + stale.pem,
        [DOMAIN],
        trust_roots=root.pem,
    )


def test_expired_and_not_yet_valid_leaf(intermediate: Issued, root: Issued) -> None:
    expired = leaf(intermediate, valid_days=(-30, -1))
    assert not verify_callback(
        headers(expired.key, BODY),
        BODY,
        expired.pem + intermediate.pem,
        [DOMAIN],
        trust_roots=root.pem,
    )
    future = leaf(intermediate, valid_days=(1, 30))
    pem = future.pem + intermediate.pem
    assert not verify_callback(headers(future.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    assert verify_callback(
        headers(future.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem, now=later
    )


def test_san_wins_over_a_matching_common_name(intermediate: Issued, root: Issued) -> None:
    # SAN=[evil.example.com], CN=opendsr.mparticle.com: today's main says True.
    evil = leaf(intermediate, common_name=DOMAIN, san=["evil.example.com"])
    pem = evil.pem + intermediate.pem
    assert not verify_callback(headers(evil.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem)


def test_common_name_counts_only_without_a_san(intermediate: Issued, root: Issued) -> None:
    cn_only = leaf(intermediate, san=[])
    pem = cn_only.pem + intermediate.pem
    assert verify_callback(headers(cn_only.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem)
    other = leaf(intermediate, common_name="opendsr.example.com", san=[])
    pem = other.pem + intermediate.pem
    assert not verify_callback(headers(other.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem)


def test_exact_domain_only(intermediate: Issued, root: Issued) -> None:
    # "Issued to the exact string given in the header": a wildcard or a parent is not.
    for names in (["*.mparticle.com"], ["mparticle.com"], ["opendsr.example.com"]):
        cert = leaf(intermediate, san=names)
        pem = cert.pem + intermediate.pem
        assert not verify_callback(
            headers(cert.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem
        ), names
    several = leaf(intermediate, san=["other.example.com", DOMAIN])
    pem = several.pem + intermediate.pem
    assert verify_callback(headers(several.key, BODY), BODY, pem, [DOMAIN], trust_roots=root.pem)


def test_domain_not_allowed(processor: Issued, bundle: bytes, root: Issued) -> None:
    signed = headers(processor.key, BODY)
    assert not verify_callback(signed, BODY, bundle, ["opendsr.example.com"], trust_roots=root.pem)
    evil = headers(processor.key, BODY, domain="evil.example.com")
    assert not verify_callback(
        evil, BODY, bundle, [DOMAIN, "evil.example.com"], trust_roots=root.pem
    )


def test_signature_problems(processor: Issued, bundle: bytes, root: Issued) -> None:
    def ok(h: dict[str, str], body: Any = BODY, pem: Any = bundle) -> bool:
        return verify_callback(h, body, pem, [DOMAIN], trust_roots=root.pem)

    assert not ok(headers(processor.key, BODY), BODY.replace(b"pending", b"completed"))
    assert not ok(headers(leaf(None).key, BODY))  # signed by a stranger's key
    assert not ok({**headers(processor.key, BODY), "X-OpenDSR-Signature": "not base64!"})
    assert not ok({"X-OpenDSR-Processor-Domain": DOMAIN})
    assert not ok({})
    assert not ok(headers(processor.key, BODY), pem=b"not a certificate")
    assert not ok(headers(processor.key, BODY), pem=b"")


def test_v1_opengdpr_headers(intermediate: Issued, root: Issued) -> None:
    gdpr = leaf(intermediate, common_name="opengdpr.mparticle.com")
    signed = headers(gdpr.key, BODY, "opengdpr.mparticle.com", prefix="X-OpenGDPR")
    pem = gdpr.pem + intermediate.pem
    assert verify_callback(signed, BODY, pem, ["opengdpr.mparticle.com"], trust_roots=root.pem)
    assert not verify_callback(signed, BODY, pem, [DOMAIN], trust_roots=root.pem)


def test_lone_surrogates_and_unencodable_input_give_false(
    processor: Issued, bundle: bytes, root: Issued
) -> None:
    # Issue 10: today's main raises UnicodeEncodeError.
    signed = headers(processor.key, BODY)
    lone = "\ud800"
    cases: list[tuple[Any, Any, Any, Any]] = [
        (signed, BODY.decode() + lone, bundle, [DOMAIN]),
        (signed, BODY, bundle.decode() + lone, [DOMAIN]),
        ({**signed, "X-OpenDSR-Processor-Domain": DOMAIN + lone}, BODY, bundle, [DOMAIN + lone]),
        ({**signed, "X-OpenDSR-Signature": lone}, BODY, bundle, [DOMAIN]),
        (
            {**signed, "X-OpenDSR-Processor-Domain": "é.mparticle.com"},
            BODY,
            bundle,
            ["é.mparticle.com"],
        ),
        ({"X-OpenDSR-Processor-Domain": 5, "X-OpenDSR-Signature": None}, BODY, bundle, [DOMAIN]),
    ]
    for h, body, pem, allowed in cases:
        assert verify_callback(h, body, pem, allowed, trust_roots=root.pem) is False
    with pytest.raises(DecodeError):
        parse_callback(BODY.decode() + lone)


def test_a_str_allowed_domains_is_refused(processor: Issued, bundle: bytes) -> None:
    # Today's main reads "opendsr.mparticle.com" as a set of characters.
    with pytest.raises(RequestValidationError) as info:
        verify_callback(headers(processor.key, BODY), BODY, bundle, DOMAIN)
    assert info.value.field == "allowed_domains"
    with pytest.raises(RequestValidationError):
        verify_callback(headers(processor.key, BODY), BODY, bundle, [DOMAIN, 5])  # type: ignore[list-item]
    with pytest.raises(RequestValidationError) as roots:
        verify_callback(headers(processor.key, BODY), BODY, bundle, [DOMAIN], trust_roots=b"junk")
    assert roots.value.field == "trust_roots[0]"


def test_import_mpasync_does_not_import_cryptography() -> None:
    import subprocess
    import sys

    code = "import sys, mpasync, mpasync.dsr; print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- the emulator's signatures


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_emulator_answers_and_callbacks_verify(other_apis: OtherApis, version: int) -> None:
    state = other_apis.state
    token = base64.b64encode(f"{state.workspace_key}:{state.workspace_secret}".encode()).decode()
    rid = str(uuid.uuid4())
    identity: Any = {"email": {"value": "a@b.c", "encoding": "raw"}}
    if version < 3:
        identity = [{"identity_type": "email", "identity_value": "a@b.c", "identity_format": "raw"}]
    body: dict[str, Any] = {
        "subject_request_id": rid,
        "subject_request_type": "erasure",
        "submitted_time": "2021-11-01T15:00:00Z",
        "subject_identities": identity,
    }
    if version > 1:
        body["regulation"] = "gdpr"
    prefix = "X-OpenGDPR" if version == 1 else "X-OpenDSR"
    domain = "opengdpr.mparticle.com" if version == 1 else DOMAIN
    resource = "/opengdpr_requests/" if version == 1 else "/requests/"
    url = other_apis.dsr_url_for(version)
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        async with session.post(url + resource, json=body) as resp:
            assert resp.status == 201, await resp.text()
            raw, answer_headers = await resp.read(), resp.headers
        async with session.get(url + "/discovery/") as resp:
            certificate_url = (await resp.json())["processor_certificate"]
        async with session.get(certificate_url) as resp:
            pem = await resp.read()
    assert answer_headers[f"{prefix}-Processor-Domain"] == domain
    assert verify_callback(answer_headers, raw, pem, [domain], trust_roots=state.ca_pem)
    # Without the emulator's root: not trusted.
    assert not verify_callback(answer_headers, raw, pem, [domain])
    callback_headers, callback_body = state.callback(rid)
    assert set(callback_headers) == {f"{prefix}-Processor-Domain", f"{prefix}-Signature"}
    assert verify_callback(callback_headers, callback_body, pem, [domain], trust_roots=state.ca_pem)
    parsed = parse_callback(callback_body)
    assert parsed.subject_request_id == rid and parsed.api_version == f"{version}.0"
