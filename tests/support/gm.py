"""Minimal SM2 test certificates for the GB/T 35275 CMS tests, built with asn1crypto and signed by the SM2 binding
(SM3withSM2, ID 1234567812345678): a self-signed root and end-entity certificates under it. Only what the CMS code
reads (issuer, serial, the SM2 key) and what the peers want to parse; the real CA lives elsewhere."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, keys, x509

from mobileca.ca import sm2

SM3_WITH_SM2 = sm2.SM2_SM3_SIGNATURE_OID


@dataclass(frozen=True)
class Party:
    key: sm2.Sm2PrivateKey
    certificate: bytes  # DER

    def unwrap(self, encrypted_key: bytes) -> bytes:
        """What a key back-end does with an envelope's encryptedKey."""
        return self.key.decrypt(encrypted_key)


def _name(common_name: str) -> x509.Name:
    return x509.Name.build({"country_name": "CN", "organization_name": "测试单位", "common_name": common_name})


def certificate(
    *,
    common_name: str,
    key: sm2.Sm2PrivateKey,
    issuer: Party | None = None,
    ca: bool = False,
    key_usage: set[str] | None = None,
    serial: int | None = None,
) -> bytes:
    """A v3 certificate for ``key``: self-signed when ``issuer`` is None, else signed by it."""
    moment = datetime.now(UTC).replace(microsecond=0)
    issuer_name = _name(common_name) if issuer is None else x509.Certificate.load(issuer.certificate).subject
    extensions = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
        {
            "extn_id": "key_usage",
            "critical": True,
            "extn_value": key_usage or ({"key_cert_sign", "crl_sign"} if ca else {"digital_signature"}),
        },
    ]
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial or secrets.randbits(63) + 1,
            "signature": algos.SignedDigestAlgorithm({"algorithm": SM3_WITH_SM2}),
            "issuer": issuer_name,
            "validity": {
                "not_before": x509.Time({"utc_time": moment - timedelta(minutes=5)}),
                "not_after": x509.Time({"utc_time": moment + timedelta(days=30)}),
            },
            "subject": _name(common_name),
            "subject_public_key_info": keys.PublicKeyInfo.load(key.public_key().der),
            "extensions": extensions,
        }
    )
    signer = key if issuer is None else issuer.key
    return x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": SM3_WITH_SM2}),
            "signature_value": signer.sign(tbs.dump()),
        }
    ).dump()


def root(common_name: str = "SM2 测试根 CA") -> Party:
    key = sm2.generate()
    return Party(key, certificate(common_name=common_name, key=key, ca=True))


def signer(issuer: Party, common_name: str = "投标人签名") -> Party:
    key = sm2.generate()
    return Party(key, certificate(common_name=common_name, key=key, issuer=issuer))


def encipherer(issuer: Party, common_name: str = "投标人加密") -> Party:
    """An encryption certificate as GM dual-certificate profiles mark it."""
    key = sm2.generate()
    usage = {"key_encipherment", "data_encipherment", "key_agreement"}
    return Party(key, certificate(common_name=common_name, key=key, issuer=issuer, key_usage=usage))
