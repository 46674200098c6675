"""Detached CMS SignedData (RFC 5652) whose signature is made elsewhere: the content is hashed here while it is
read (any size, constant memory); only the SHA-256 of the signed attributes goes to the signing service.

The signature algorithm is never chosen here nor by the caller: it is the signer certificate's key profile
(``mobileca.ca.keys``), both when a SignedData is assembled and when one is verified."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from mobileca.ca.keys import KeyProfile, UnknownKeyProfile, profile_of_public_key
from mobileca.core.clock import now

CHUNK = 1024 * 1024


class SignatureInvalid(Exception):
    """The detached signature does not match the content, or does not verify."""


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
    moment = (signing_time or now()).replace(microsecond=0)
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


def attributes_message_digest(attributes_der: bytes) -> bytes:
    """The message digest (the content's SHA-256) inside the DER of a SET OF signed attributes: what a signature
    over these attributes commits to. Exactly one messageDigest attribute with exactly one 32-byte value, or
    ``SignatureInvalid``."""
    if attributes_der[:1] != b"\x31":
        raise SignatureInvalid("signed attributes must be DER-encoded as a SET OF")
    try:
        attributes = cms.CMSAttributes.load(attributes_der, strict=True)
        found = [attribute for attribute in attributes if attribute["type"].native == "message_digest"]
        if len(found) != 1 or len(found[0]["values"]) != 1:
            raise SignatureInvalid("expected exactly one message digest in the signed attributes")
        value = found[0]["values"][0].native
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SignatureInvalid(f"malformed signed attributes: {exc}") from exc
    if not isinstance(value, bytes) or len(value) != 32:
        raise SignatureInvalid("the message digest is not a SHA-256 value")
    return value


def signer_profile(signer_der: bytes) -> KeyProfile:
    """The key profile of a signer's certificate (DER): which signature algorithm its signatures are made with."""
    try:
        return profile_of_public_key(x509.load_der_x509_certificate(signer_der).public_key())
    except UnknownKeyProfile as exc:
        raise SignatureInvalid("the signer's key is of no supported profile") from exc
    except ValueError as exc:
        raise SignatureInvalid(f"malformed signer certificate: {exc}") from exc


def detached_signed_data(
    *, attributes_der: bytes, signature: bytes, signer_der: bytes, chain_der: list[bytes]
) -> bytes:
    """Assemble ContentInfo(SignedData) without the content (detached), with the signer's chain; the signature
    algorithm is the signer certificate's profile's."""
    algorithm = signer_profile(signer_der).cms_signature_algorithm
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
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": algorithm}),
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


def verify_detached(signature_der: bytes, content_digest: bytes) -> bytes:
    """Check a detached SignedData against the SHA-256 of its content: the message-digest attribute, then the
    signature over the signed attributes with the signer's certificate (carried in the SignedData). Returns that
    certificate (DER) for the caller's chain and policy checks."""
    try:
        info = cms.ContentInfo.load(signature_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise SignatureInvalid("not a SignedData")
        signed = info["content"]
        signers = list(signed["signer_infos"])
        if len(signers) != 1:
            raise SignatureInvalid("expected exactly one signer")
        signer = signers[0]
        sid = signer["sid"]
        if sid.name != "issuer_and_serial_number":
            raise SignatureInvalid("the signer is not named by issuer and serial")
        wanted = (sid.chosen["issuer"].dump(), sid.chosen["serial_number"].native)
        certificate = next(
            (
                cert.chosen
                for cert in signed["certificates"]
                if cert.name == "certificate" and (cert.chosen.issuer.dump(), cert.chosen.serial_number) == wanted
            ),
            None,
        )
        if certificate is None:
            raise SignatureInvalid("the signer's certificate is not in the signature")
        attributes = signer["signed_attrs"]
        values = {
            attribute["type"].native: attribute["values"][0].native for attribute in attributes if attribute["values"]
        }
        if values.get("content_type") != "data":
            raise SignatureInvalid("the signed content type is not data")
        if values.get("message_digest") != content_digest:
            raise SignatureInvalid("the file does not match the signature (message digest)")
        if signer["digest_algorithm"]["algorithm"].native != "sha256":
            raise SignatureInvalid("the digest algorithm is not SHA-256")
        to_verify = b"\x31" + attributes.dump()[1:]  # the SET OF, as signed (RFC 5652 §5.4)
        signature = signer["signature"].native
        algorithm = signer["signature_algorithm"]["algorithm"].dotted
        der = certificate.dump()
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SignatureInvalid(f"malformed signature: {exc}") from exc
    profile = signer_profile(der)
    if not profile.accepts_signature_algorithm(algorithm):
        raise SignatureInvalid(f"the signature algorithm {algorithm} is not the signer's key profile {profile.name}")
    try:
        profile.verify(x509.load_der_x509_certificate(der).public_key(), signature, to_verify)
    except InvalidSignature as exc:
        raise SignatureInvalid("the signature does not verify") from exc
    return bytes(der)


def signed_digest(signature_der: bytes) -> bytes:
    """The message digest a detached signature claims for its content (to compare before opening)."""
    try:
        info = cms.ContentInfo.load(signature_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise SignatureInvalid("not a SignedData")
        signer = next(iter(info["content"]["signer_infos"]))
        for attribute in signer["signed_attrs"]:
            if attribute["type"].native == "message_digest":
                return bytes(attribute["values"][0].native)
    except (ValueError, TypeError, KeyError, IndexError, StopIteration) as exc:
        raise SignatureInvalid(f"malformed signature: {exc}") from exc
    raise SignatureInvalid("no message digest in the signature")
