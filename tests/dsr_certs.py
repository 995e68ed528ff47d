"""Test certificates for DSR callback verification, built with ``cryptography``: a root CA,
an intermediate, and processor (leaf) certificates with or without a SAN, valid or not.

Written independently of the emulator's own signing chain, so the tests of
`verify_callback` do not borrow the code they check.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOMAIN = "opendsr.mparticle.com"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Issued:
    """A certificate and the key it certifies."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def ca(
    common_name: str = "mpasync test root",
    *,
    issuer: Issued | None = None,
    valid_days: tuple[int, int] = (-1, 3650),
) -> Issued:
    """A CA certificate: self-signed (a root) or issued by ``issuer`` (an intermediate)."""
    key = new_key()
    now = _now()
    subject = _name(common_name)
    signer_key = issuer.key if issuer is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=valid_days[0]))
        .not_valid_after(now + dt.timedelta(days=valid_days[1]))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
            critical=True,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


def leaf(
    issuer: Issued | None,
    *,
    common_name: str = DOMAIN,
    san: list[str] | None = None,
    valid_days: tuple[int, int] = (-1, 365),
) -> Issued:
    """A processor certificate issued by ``issuer`` (None: self-signed). ``san`` None
    means the subject's name as the only SAN; ``[]`` means no SAN extension at all."""
    key = new_key()
    now = _now()
    names = [common_name] if san is None else san
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject if issuer is not None else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=valid_days[0]))
        .not_valid_after(now + dt.timedelta(days=valid_days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return Issued(builder.sign(issuer.key if issuer is not None else key, hashes.SHA256()), key)


def sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    """The base64 RSA PKCS#1 v1.5 SHA-256 signature a processor puts in its header."""
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def headers(
    key: rsa.RSAPrivateKey, body: bytes, domain: str = DOMAIN, *, prefix: str = "X-OpenDSR"
) -> dict[str, str]:
    """Callback headers signed with ``key`` (``prefix="X-OpenGDPR"`` for v1)."""
    return {f"{prefix}-Processor-Domain": domain, f"{prefix}-Signature": sign(key, body)}
