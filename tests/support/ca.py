"""CA helpers shared by the CA and OCSP tests: files for openssl, openssl and pkilint themselves, another CA."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mobileca.ca.profiles import Subject
from mobileca.core.clock import now

if TYPE_CHECKING:
    from mobileca.ca.models import Authority, IssuedCertificate
    from mobileca.ca.services import IssuedPair

SUBJECT = Subject(enterprise_name="景德镇瓷都建设工程有限公司", uscc="91360200MA35A1B20J", claimant_name="王建国")


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def lint(tool: str, path: str, *extra: str) -> list[str]:
    result = subprocess.run(  # noqa: S603
        [str(Path(".venv/bin") / tool), "lint", *extra, "-s", "WARNING", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 or result.stdout.strip(), f"{tool} could not read {path}: {result.stderr}"
    return [line for line in result.stdout.splitlines() if line.strip()]


def foreign_ca(serial: int) -> x509.Certificate:
    """A self-signed CA certificate of another CA, which this platform's responder does not serve."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def issue_sm2(owner: str = "sm2-cred-1") -> IssuedPair:
    """An SM2 credential's dual certificates from the SM2 issuing CA (fresh SM2 keys, a year)."""
    from mobileca.ca import sm2
    from mobileca.ca.services import credential_issue

    return credential_issue(
        owner_id=owner,
        subject=SUBJECT,
        sign_public_key=sm2.generate().public_key(),
        encrypt_public_key=sm2.generate().public_key(),
        valid_days=365,
    )


def sm2_authority(role: str = "sm2_issuing") -> Authority:
    """The active SM2 authority of ``role`` (the issuing CA by default)."""
    from mobileca.ca.models import Authority

    return Authority.objects.get(role=role, is_active=True)


def der(record: IssuedCertificate | Authority) -> bytes:
    return bytes(record.certificate_der)
