"""Certificates for mTLS between the project's services and Temporal (`earlyhelp certs new`).

A private CA for one deployment; a server certificate for Temporal's frontend
(and its internode traffic), named for the compose service `temporal`; one
client certificate that the worker, web app, codec server, Web UI and admin
tools present. docker-compose.yml mounts them as secrets by these file names.
A council with its own PKI issues the same three from it instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "temporal"  # the compose service's name: what clients dial and verify
FILES = ("ca.pem", "temporal.pem", "temporal-key.pem", "client.pem", "client-key.pem")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "earlyhelp"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    days: int,
    *,
    ca: bool = False,
    usage: ExtendedKeyUsageOID | None = None,
    names: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(folder: Path, name: str, data: bytes, private: bool = False) -> None:
    path = folder / name
    path.write_bytes(data)
    path.chmod(0o600 if private else 0o644)


def new_certificates(folder: Path, days: int = 397) -> list[Path]:
    """Write a CA, Temporal's server certificate and the services' client certificate into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("ca", "temporal", "client")}
    ca_name = _name("earlyhelp deployment CA")
    ca = _issue("earlyhelp deployment CA", keys["ca"], ca_name, keys["ca"], days * 3, ca=True)
    server = _issue(
        SERVER_NAME,
        keys["temporal"],
        ca_name,
        keys["ca"],
        days,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        names=(SERVER_NAME, "localhost"),
    )
    client = _issue(
        "earlyhelp services", keys["client"], ca_name, keys["ca"], days, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    pem = serialization.Encoding.PEM
    _write(folder, "ca.pem", ca.public_bytes(pem))
    _write(folder, "temporal.pem", server.public_bytes(pem))
    _write(folder, "client.pem", client.public_bytes(pem))
    for name in ("temporal", "client"):
        _write(
            folder,
            f"{name}-key.pem",
            keys[name].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            private=True,
        )
    # The CA's key is not kept: new certificates come from a new CA (a council's own PKI instead).
    return [folder / f for f in FILES]
