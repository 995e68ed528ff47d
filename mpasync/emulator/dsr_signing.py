"""The emulator's DSR signing chain: a root CA, an intermediate, and one processor
certificate per domain (``opendsr.mparticle.com``, v1's ``opengdpr.mparticle.com``), made on
first use with the optional ``cryptography`` package, with the extensions the WebPKI policy
of `verify_callback` checks."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mpasync.emulator.api_common import now

__all__ = ["DSRSigner"]


def _certificate(
    subject: str, key: Any, issuer: tuple[Any, Any] | None, *, ca: bool, names: list[str]
) -> Any:
    """One certificate with the extensions the WebPKI policy checks (needs cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer is not None else (None, key)
    moment = now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - dt.timedelta(days=1))
        .not_valid_after(moment + dt.timedelta(days=3650 if ca else 365))
        .add_extension(
            x509.BasicConstraints(
                ca=ca, path_length=(None if issuer is None else 0) if ca else None
            ),
            critical=True,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(repr=False)
class DSRSigner:
    """A root CA, an intermediate, and one processor certificate per domain, made on first
    use (they need the optional ``cryptography`` package)."""

    _root: tuple[Any, Any] | None = None
    _intermediate: tuple[Any, Any] | None = None
    _leaves: dict[str, tuple[Any, bytes]] = field(default_factory=dict)

    def _chain(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        if self._root is None or self._intermediate is None:
            root_key, middle_key = _new_key(), _new_key()
            root = _certificate("mpasync emulator root CA", root_key, None, ca=True, names=[])
            middle = _certificate(
                "mpasync emulator DSR CA", middle_key, (root, root_key), ca=True, names=[]
            )
            self._root, self._intermediate = (root, root_key), (middle, middle_key)
        return self._root, self._intermediate

    @property
    def ca_pem(self) -> bytes:
        """The root CA to trust (PEM): ``verify_callback(..., trust_roots=ca_pem)``."""
        from cryptography.hazmat.primitives import serialization

        root, _ = self._chain()
        return bytes(root[0].public_bytes(serialization.Encoding.PEM))

    def _leaf(self, domain: str) -> tuple[Any, bytes]:
        if domain not in self._leaves:
            from cryptography.hazmat.primitives import serialization

            _, middle = self._chain()
            key = _new_key()
            cert = _certificate(domain, key, middle, ca=False, names=[domain])
            pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, middle[0]))
            self._leaves[domain] = (key, pem)
        return self._leaves[domain]

    def certificate_pem(self, domain: str) -> bytes:
        """The processor certificate for ``domain`` followed by its intermediate (PEM)."""
        return self._leaf(domain)[1]

    def sign(self, domain: str, body: bytes) -> str:
        """A base64 RSA PKCS#1 v1.5 SHA-256 signature of ``body`` by ``domain``'s key;
        "" when ``cryptography`` is missing (responses then go out unsigned)."""
        try:
            key, _ = self._leaf(domain)
        except ImportError:
            return ""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()
