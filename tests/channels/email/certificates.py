"""Throwaway certificates for the TLS tests: a test CA with a server certificate it signed, and a
self-signed server certificate, all for ``127.0.0.1`` and ``localhost`` (made with ``cryptography``).
No tests here; the fixture ``certificates`` is session-wide (key generation is the slow part)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class ServerCert:
    cert: Path  # PEM certificate (chain: the certificate alone; the CA is the trust anchor)
    key: Path  # PEM private key
    pem: str  # the certificate as an admin would paste it

    def server_context(self) -> ssl.SSLContext:
        """What a TLS server (aiosmtpd) presents."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@dataclass(frozen=True)
class Certificates:
    ca_pem: str  # the test CA, to paste as "Trusted CA certificate"
    signed: ServerCert  # 127.0.0.1 / localhost, signed by the test CA
    self_signed: ServerCert  # 127.0.0.1 / localhost, signed by itself
    ca_key_pem: str  # the CA's private key (to check that it is refused when pasted)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Helpline tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
    )


def _server(builder: x509.CertificateBuilder, ca: bool) -> x509.CertificateBuilder:
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    return (
        builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(root: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> ServerCert:
    (root / f"{name}.crt").write_text(_pem(cert))
    (root / f"{name}.key").write_bytes(_key_pem(key))
    (root / f"{name}.key").chmod(0o600)
    return ServerCert(root / f"{name}.crt", root / f"{name}.key", _pem(cert))


def make_certificates(root: Path) -> Certificates:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Helpline Test CA")
    ca = (
        _builder(ca_name, ca_name, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    signed = (
        _server(_builder(_name("localhost"), ca_name, server_key), ca=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # Self-signed as `openssl req -x509` makes it (CA:TRUE), the usual "snakeoil" certificate.
    own_key = ec.generate_private_key(ec.SECP256R1())
    own = _server(_builder(_name("mail.internal"), _name("mail.internal"), own_key), ca=True).sign(
        own_key, hashes.SHA256()
    )
    return Certificates(
        ca_pem=_pem(ca),
        signed=_write(root, "signed", signed, server_key),
        self_signed=_write(root, "self-signed", own, own_key),
        ca_key_pem=_key_pem(ca_key).decode(),
    )


@pytest.fixture(scope="session", name="certificates")
def certificates_fixture() -> Iterator[Certificates]:
    root = Path(tempfile.mkdtemp(prefix="hl-tls-"))
    root.chmod(0o755)
    try:
        yield make_certificates(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
