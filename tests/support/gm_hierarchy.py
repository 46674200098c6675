"""An SM2 hierarchy for the national-algorithm PKI tests (issue 19): root, issuing CA, a credential's dual
certificates, a revoked signing certificate, both CAs' CRLs and OCSP responses, built by ``mobileca.ca.gm`` with keys
of ``mobileca.ca.sm2``; and files of them for the peers (openssl, pkilint, BouncyCastle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mobileca.ca import gm, sm2

POLICY = "1.3.6.1.4.1.99999.19.1"
BASE = "http://pki.mobileca.test/pki/sm2"
ROOT_LOCATIONS = gm.Locations(crl=f"{BASE}/root.crl", ca_issuers=f"{BASE}/root.crt")
ENTITY_LOCATIONS = gm.Locations(crl=f"{BASE}/ca/1.crl", ca_issuers=f"{BASE}/ca/1.crt", ocsp=f"{BASE}/ocsp")
ENTERPRISE, USCC, CLAIMANT = "景德镇瓷都建设工程有限公司", "91360200MA35A1B20J", "王建国"


@dataclass
class Hierarchy:
    now: datetime
    root_key: sm2.Sm2PrivateKey
    issuing_key: sm2.Sm2PrivateKey
    root: bytes
    issuing: bytes
    sign: bytes
    encrypt: bytes
    revoked: bytes  # a signing certificate revoked for key compromise
    root_crl: bytes
    issuing_crl: bytes
    keys: dict[str, sm2.Sm2PrivateKey] = field(default_factory=dict)

    def entity(self, usage: str, key: sm2.Sm2PrivateKey | None = None, **overrides: object) -> bytes:
        key = key or sm2.generate()
        arguments: dict[str, object] = {
            "issuer_signer": self.issuing_key.sign,
            "issuer_der": self.issuing,
            "subject": gm.entity_name(enterprise_name=ENTERPRISE, uscc=USCC, claimant_name=CLAIMANT),
            "usage": usage,
            "public_key_der": key.public_key().der,
            "locations": ENTITY_LOCATIONS,
            "policy_oid": POLICY,
            "not_before": self.now - gm.BACKDATE,
            "not_after": self.now + timedelta(days=365),
        }
        arguments.update(overrides)
        return gm.entity_certificate(**arguments)  # type: ignore[arg-type]

    def ocsp(self, *serial_status: gm.Status, hash_algorithm: str = "sha1", **more: object) -> bytes:
        return gm.ocsp_response(
            signer=more.pop("signer", self.issuing_key.sign),  # type: ignore[arg-type]
            issuer_der=self.issuing,
            statuses=serial_status,
            produced_at=self.now,
            next_update=self.now + timedelta(hours=1),
            hash_algorithm=hash_algorithm,
            **more,  # type: ignore[arg-type]
        )


def serial_of(der: bytes) -> int:
    from asn1crypto import x509

    return int(x509.Certificate.load(der).serial_number)


def build() -> Hierarchy:
    now = datetime.now(UTC).replace(microsecond=0)
    root_key, issuing_key = sm2.generate(), sm2.generate()
    root = gm.root_certificate(
        signer=root_key.sign,
        public_key_der=root_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Mobile CA SM2 Root CA"),
        now=now,
    )
    issuing = gm.issuing_certificate(
        root_signer=root_key.sign,
        root_der=root,
        public_key_der=issuing_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Mobile CA SM2 Issuing CA"),
        locations=ROOT_LOCATIONS,
        policy_oid=POLICY,
        now=now,
    )
    hierarchy = Hierarchy(now, root_key, issuing_key, root, issuing, b"", b"", b"", b"", b"")
    hierarchy.sign = hierarchy.entity("sign")
    hierarchy.encrypt = hierarchy.entity("encrypt")
    hierarchy.revoked = hierarchy.entity("sign")
    hierarchy.root_crl = gm.crl(
        signer=root_key.sign, issuer_der=root, number=1, this_update=now, next_update=now + timedelta(days=1)
    )
    hierarchy.issuing_crl = gm.crl(
        signer=issuing_key.sign,
        issuer_der=issuing,
        number=7,
        this_update=now,
        next_update=now + timedelta(days=1),
        revoked=[gm.Revoked(serial_of(hierarchy.revoked), now - timedelta(minutes=1), "key_compromise")],
    )
    return hierarchy


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)
