"""Detached CMS SignedData (RFC 5652) whose signature is made elsewhere: the content is hashed here while it is
read (any size, constant memory); only the SHA-256 of the signed attributes goes to the signing service."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509

CHUNK = 1024 * 1024


def sha256_of(stream: BinaryIO, progress: Callable[[int], None] | None = None) -> bytes:
    digest, done = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        done += len(chunk)
        if progress:
            progress(done)
    return digest.digest()


def sha256_of_file(path: Path, progress: Callable[[int], None] | None = None) -> bytes:
    with path.open("rb") as stream:
        return sha256_of(stream, progress)


def signed_attributes(*, content_digest: bytes, signer_der: bytes, signing_time: datetime | None = None) -> bytes:
    """The DER of the signed attributes (a SET OF, sorted as DER requires): content type, signing time, message
    digest, and the signing certificate (ESS signingCertificateV2, so the signer cannot be substituted)."""
    moment = (signing_time or datetime.now(UTC)).replace(microsecond=0)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": moment})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [content_digest]}),
        cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    tsp.SigningCertificateV2(
                        {"certs": [tsp.ESSCertIDv2({"cert_hash": hashlib.sha256(signer_der).digest()})]}
                    )
                ],
            }
        ),
    ]
    attributes.sort(key=lambda attribute: attribute.dump())
    return cms.CMSAttributes(attributes).dump()


def detached_signed_data(
    *, attributes_der: bytes, signature: bytes, signer_der: bytes, chain_der: list[bytes], signature_oid: str
) -> bytes:
    """Assemble ContentInfo(SignedData) without the content (detached), with the signer's chain."""
    signer = asn1_x509.Certificate.load(signer_der)
    attributes = cms.CMSAttributes.load(attributes_der)
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": signer.issuer, "serial_number": signer.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attributes,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_oid}),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": cms.ContentInfo({"content_type": "data"}),
            "certificates": [signer, *(asn1_x509.Certificate.load(der) for der in chain_der)],
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def attributes_hash(attributes_der: bytes) -> bytes:
    """What the signer signs: SHA-256 over the DER of the SET OF signed attributes (RFC 5652 §5.4)."""
    if attributes_der[:1] != b"\x31":
        raise ValueError("signed attributes must be DER-encoded as a SET OF")
    return hashlib.sha256(attributes_der).digest()
