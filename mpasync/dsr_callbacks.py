"""Checking that a DSR status callback really comes from the processor it names:
`verify_callback` (certificate chain to a trusted root, exact domain, signature over the raw
body) and `parse_callback` (the body, once verified).

Needs the optional ``cryptography`` package (``pip install 'mpasync[dsr]'``), imported only
when a callback is verified, so ``import mpasync`` never needs it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import logging
import ssl
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mpasync.decoding import bare
from mpasync.errors import DecodeError, RequestValidationError
from mpasync.models.dsr import DSRStatus

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from cryptography.x509.verification import Store

__all__ = ["parse_callback", "verify_callback"]

log = logging.getLogger("mpasync.dsr")

#: Header pairs, newest first: v2/v3 (OpenDSR), then v1 (OpenGDPR).
_HEADER_PAIRS = (
    ("X-OpenDSR-Processor-Domain", "X-OpenDSR-Signature"),
    ("X-OpenGDPR-Processor-Domain", "X-OpenGDPR-Signature"),
)


def _crypto() -> Any:
    try:
        import cryptography.x509.verification as verification
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "verify_callback needs the optional 'cryptography' package (>= 45): "
            "pip install 'mpasync[dsr]'"
        ) from exc
    return verification


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        for key, candidate in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                return candidate
    return value


def _normal(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


def _as_bytes(value: bytes | bytearray | memoryview | str) -> bytes:
    """Bytes of ``value``; a str that cannot be UTF-8 (a lone surrogate) raises ValueError."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _load_pems(data: bytes) -> list[Certificate]:
    from cryptography import x509

    return x509.load_pem_x509_certificates(data)


@functools.lru_cache(maxsize=1)
def _system_store() -> Store | None:
    """The system's trusted roots (OpenSSL's default CA file, else certifi's bundle)."""
    verification = _crypto()
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile]
    try:
        import certifi
    except ImportError:
        pass
    else:
        candidates.append(certifi.where())
    for candidate in candidates:
        if not candidate:
            continue
        try:
            with open(candidate, "rb") as handle, warnings.catch_warnings():
                # System bundles hold a few old roots cryptography warns about (negative
                # serials); they are the system's choice, not the caller's problem.
                warnings.simplefilter("ignore")
                roots = _load_pems(handle.read())
        except (OSError, ValueError):
            continue
        if roots:
            return verification.Store(roots)  # type: ignore[no-any-return]
    log.warning("no system trust store found: DSR callbacks cannot be verified without trust_roots")
    return None


def _trust_store(
    trust_roots: bytes | str | Certificate | Sequence[bytes | str | Certificate] | None,
) -> Store | None:
    if trust_roots is None:
        return _system_store()
    from cryptography import x509

    items = (
        [trust_roots]
        if isinstance(trust_roots, (bytes, bytearray, str, x509.Certificate))
        else trust_roots
    )
    if not isinstance(items, Sequence) or not items:
        raise RequestValidationError(
            "trust_roots: must be PEM text or bytes, or a non-empty list of certificates",
            field="trust_roots",
        )
    roots: list[Certificate] = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, x509.Certificate):
                roots.append(item)
            else:
                roots.extend(_load_pems(_as_bytes(item)))
        except (TypeError, ValueError) as exc:
            raise RequestValidationError(
                f"trust_roots[{i}]: not a PEM certificate ({type(exc).__name__})",
                field=f"trust_roots[{i}]",
            ) from None
    return _crypto().Store(roots)  # type: ignore[no-any-return]


def _issued_to(cert: Certificate, domain: str) -> bool:
    """Whether ``cert`` names exactly ``domain``: among its SAN DNS names when it has a
    SAN (its CN is then ignored, as RFC 6125 says), else as its common name."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        names = [
            a.value
            for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if isinstance(a.value, str)
        ]
    else:
        names = san.value.get_values_for_type(x509.DNSName)
    # "Issued to the exact string given in the header": no wildcard stands in for it.
    return domain in {_normal(n) for n in names}


def _chain_ok(
    leaf: Certificate, intermediates: list[Certificate], store: Store, domain: str, at: dt.datetime
) -> bool:
    """Whether ``leaf`` chains to a root in ``store`` through ``intermediates`` (each valid
    at ``at``). With a SAN the WebPKI server policy also matches ``domain``; a CN-only
    certificate (which that policy refuses) has its chain checked alone, its name by
    `_issued_to`."""
    from cryptography import x509

    verification = _crypto()
    builder = verification.PolicyBuilder().store(store).time(at)
    try:
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        ee = (
            verification.ExtensionPolicy.webpki_defaults_ee()
            .may_be_present(x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None)
            .may_be_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, None)
        )
        ca = verification.ExtensionPolicy.webpki_defaults_ca()
        verifier = builder.extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier()
    else:
        verifier = builder.build_server_verifier(x509.DNSName(domain))
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError:
        return False
    return True


def _signed(cert: Certificate, signature_text: str, raw: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        signature = base64.b64decode("".join(signature_text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, raw, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _allowed(allowed_domains: object) -> set[str]:
    # A str is an iterable of characters: {"o", "p", ...} would allow nothing sensible.
    if isinstance(allowed_domains, (str, bytes, bytearray)) or not isinstance(
        allowed_domains, Iterable
    ):
        raise RequestValidationError(
            "allowed_domains: must be a list or set of domain names, not "
            f"{type(allowed_domains).__name__} (write [{allowed_domains!r}] for one domain)",
            field="allowed_domains",
        )
    domains = set()
    for i, domain in enumerate(allowed_domains):
        if not isinstance(domain, str):
            raise RequestValidationError(
                f"allowed_domains[{i}]: must be a string, not {type(domain).__name__}",
                field=f"allowed_domains[{i}]",
            )
        domains.add(_normal(domain))
    return domains


def verify_callback(
    headers: Mapping[str, str],
    body: bytes | str,
    certificate_pem: bytes | str,
    allowed_domains: Iterable[str],
    *,
    trust_roots: bytes | str | Certificate | Sequence[bytes | str | Certificate] | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Whether a DSR status callback really comes from an allowed processor.

    True only when all hold:

    - the processor-domain header (``X-OpenDSR-Processor-Domain``; v1's
      ``X-OpenGDPR-Processor-Domain`` when that is absent) is in ``allowed_domains``;
    - ``certificate_pem`` (the leaf, optionally followed by its intermediates) chains to a
      trusted root — the system trust store, or ``trust_roots`` (PEM text/bytes or a list
      of certificates) — with every certificate valid at ``now`` (default: the current
      time);
    - the leaf is issued to exactly that domain: a DNS name in its subject alternative
      names, or its common name only when it has no SAN; wildcards do not count;
    - the matching signature header (base64) is an RSA PKCS#1 v1.5 SHA-256 signature of
      the *raw* ``body`` under the leaf's key.

    Any mismatch or unreadable input (a lone surrogate, a garbled header or certificate)
    gives False; answer such callbacks with 401, good ones with 202. A str
    ``allowed_domains`` or unreadable ``trust_roots`` is a caller's mistake and raises
    `RequestValidationError`.

    Get the certificate from the ``processor_certificate`` URL of `DSRClient.discovery`
    (and cache it until it expires). If that file holds the leaf alone, append the
    issuing CA's intermediate certificate to it: a chain with a missing link is False.

    >>> ok = verify_callback(request.headers, await request.read(), pem,
    ...                      allowed_domains={"opendsr.mparticle.com"})
    """
    allowed = _allowed(allowed_domains)
    store = _trust_store(trust_roots)
    moment = now if now is not None else dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        for domain_header, signature_header in _HEADER_PAIRS:
            domain = _header(headers, domain_header)
            if domain is not None:
                signature_text = _header(headers, signature_header)
                break
        else:
            return False
        if not isinstance(domain, str) or not isinstance(signature_text, str):
            return False
        domain = _normal(domain)
        if not domain or domain not in allowed or store is None:
            return False
        domain.encode("ascii")  # a DNS name; anything else (a surrogate) is not ours
        certificates = _load_pems(_as_bytes(certificate_pem))
        if not certificates:
            return False
        leaf, intermediates = certificates[0], certificates[1:]
        if not _issued_to(leaf, domain):
            return False
        if not _chain_ok(leaf, intermediates, store, domain, moment):
            return False
        return _signed(leaf, signature_text, _as_bytes(body))
    except (ValueError, TypeError):  # UnicodeError is a ValueError
        return False


_decode_status = bare(DSRStatus)


def parse_callback(body: bytes | str) -> DSRStatus:
    """A callback's body as a `DSRStatus`; call it only after `verify_callback` said True.
    A body that is not one raises `DecodeError`."""
    try:
        raw = _as_bytes(body)
    except ValueError:
        raise DecodeError("the callback body is not UTF-8 text") from None
    return _decode_status(raw)
