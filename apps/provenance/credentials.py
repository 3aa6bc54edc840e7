"""The certificate that signs Vivid's content credentials (C2PA), and the anchors trusted when
reading them.

C2PA validators accept a signature only from a leaf certificate that passes the C2PA
certificate profile: version 3, not a CA (``BasicConstraints CA=false``), ``KeyUsage
digitalSignature``, an extended key usage from the trust list (``emailProtection`` here), an
authority key identifier naming its issuer, and a chain up to an anchor the reader trusts.
A self-signed leaf fails that profile, so on first run Vivid makes a small local CA and one
leaf under ``var/keys/c2pa/`` (ES256 on P-256: the algorithm every C2PA validator implements;
c2pa-python 0.38 also takes Ed25519 from a local CA, measured no faster end to end because the
signature is a negligible part of signing). The CA's private key is thrown away once the leaf
is issued: nothing else is ever signed by it, and a key that does not exist cannot leak.

An operator replaces the pair with a real certificate through ``C2PA_SIGNING_CERT`` (PEM: the
leaf first, then its intermediates) and ``C2PA_SIGNING_KEY`` (PEM, PKCS#8), and names the
anchors readers should trust with ``C2PA_TRUST_ANCHORS`` (PEM; the local CA by default).

Several workers may start at once: the files are written into a private temporary directory
that is then renamed into place in one step. ``rename`` of a directory onto an existing,
non-empty one fails, so exactly one process wins and the others use the winner's files.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

CERT_FILE = "signer.pem"  # leaf then CA: the chain embedded in every manifest
KEY_FILE = "signer.key"
CA_FILE = "ca.pem"
CA_YEARS, LEAF_YEARS = 20, 10


@dataclass(frozen=True)
class Credentials:
    """PEM text of the signing chain and key, and the anchors a reader trusts."""

    cert_chain: str
    private_key: str
    trust_anchors: str
    alg: str  # c2pa's name: "es256", "es384", "ed25519", "ps256", ...


def local_dir() -> Path:
    return Path(settings.C2PA_KEYS_DIR)


@cache
def credentials() -> Credentials:
    """The configured certificate and key, or the local pair (made on first use)."""
    cert_path, key_path = settings.C2PA_SIGNING_CERT, settings.C2PA_SIGNING_KEY
    anchors_path = settings.C2PA_TRUST_ANCHORS
    if bool(cert_path) != bool(key_path):
        raise RuntimeError("Set both C2PA_SIGNING_CERT and C2PA_SIGNING_KEY, or neither.")
    if cert_path:
        chain = Path(cert_path).read_text()
        key = Path(key_path).read_text()
        anchors = Path(anchors_path).read_text() if anchors_path else ""
    else:
        folder = ensure_local(local_dir())
        chain = (folder / CERT_FILE).read_text()
        key = (folder / KEY_FILE).read_text()
        anchors = Path(anchors_path).read_text() if anchors_path else (folder / CA_FILE).read_text()
    return Credentials(chain, key, anchors, _alg_of(key))


def _alg_of(key_pem: str) -> str:
    """c2pa's algorithm name for a private key (ECDSA by curve, Ed25519, or RSA-PSS)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "es256", 384: "es384", 521: "es512"}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise RuntimeError(f"C2PA cannot sign with a {type(key).__name__}.")


def ensure_local(folder: Path) -> Path:
    """Make the local CA and leaf in ``folder`` unless they exist; safe across processes."""
    if (folder / CERT_FILE).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".c2pa-", dir=folder.parent))
    try:
        ca_pem, leaf_pem, key_pem = issue_local()
        (staging / CA_FILE).write_bytes(ca_pem)
        (staging / CERT_FILE).write_bytes(leaf_pem + ca_pem)
        key_file = staging / KEY_FILE
        key_file.touch(mode=0o600)
        key_file.write_bytes(key_pem)
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / CERT_FILE).exists():
                raise  # not a lost race: something else is in the way
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def issue_local(*, now: dt.datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """A new local CA and a leaf it signed: (CA PEM, leaf PEM, leaf key PEM)."""
    now = now or dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vivid (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Vivid local content credentials CA"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vivid (local)"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Vivid content credentials"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca.public_bytes(pem),
        leaf.public_bytes(pem),
        leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
