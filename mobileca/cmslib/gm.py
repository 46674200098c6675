"""Bid files under the SM2 profile: GB/T 35275 (GM/T 0010) CMS with SM2, SM3 and SM4, streamed in constant memory
with detached content, like ``signed`` and ``enveloped`` do for the ECDSA profile. No Django in it: the command-line
tool uses it too.

* SignedData (detached): SM3 of the content (computed in chunks while it is read), signed attributes (contentType,
  signingTime, messageDigest), an SM2 signature with Z computed from the signer's key and the distinguishing ID
  1234567812345678 over the DER of the signed attributes (the RFC 5652 rule, as BouncyCastle and ofdrw do). The
  signature is made elsewhere: ``attributes_hash`` gives e = SM3(Z ‖ attributes) for a remote ``signHash``.
* EnvelopedData with SM2 key transport (KeyTransRecipientInfo, issuerAndSerialNumber, ``encryptedKey`` = GM/T 0009
  ``SM2Cipher`` DER of the 16-byte SM4 key) and SM4-CBC content encryption (IV as an OCTET STRING, PKCS #7 padding),
  which is what the GM peers read; or AuthEnvelopedData (RFC 5083) with SM4-GCM where the envelope stays ours. The
  ciphertext is detached (``.bin`` beside the ``.p7m`` header). SM4-CBC has no integrity of its own: opening it
  requires the SM3 the signature states, and the plaintext appears only if it matches.

Implementations disagree on the details (content-type OIDs of RFC 5652 or GB/T 35275, SignerInfo signature OID 501
or SM2-1 301.1, key transport SM2-3 301.3 or 301.2, versions 0 or 1): writers take a ``Flavour`` per peer, readers
accept all of them. The content key is unwrapped through a callable (encryptedKey → key), so the private key can stay
in the key back-end."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding

from mobileca.ca import sm2
from mobileca.cmslib.enveloped import EnvelopeError, GcmParameters, Tampered
from mobileca.cmslib.pipeline import CHUNK, Pipeline, encrypt_hashing, plaintext_sink, read_full
from mobileca.cmslib.signed import SignatureInvalid
from mobileca.core.clock import now

__all__ = [
    "FLAVOURS",
    "GBT35275",
    "GMSSL",
    "OFDRW",
    "RFC5652",
    "EnvelopeError",
    "Flavour",
    "Header",
    "Sealed",
    "Sealer",
    "SignatureInvalid",
    "Tampered",
    "attributes_hash",
    "content_key",
    "detached_signed_data",
    "open_to_file",
    "open_with_key",
    "parse_header",
    "seal",
    "signed_attributes",
    "signed_digest",
    "sm3_of",
    "sm3_of_file",
    "verify_detached",
]

BLOCK = 16
TAG_BYTES = 16

# GM/T 0006 algorithm identifiers
SM3 = "1.2.156.10197.1.401"
SM2_SM3 = "1.2.156.10197.1.501"  # SM3withSM2 (what BouncyCastle and GmSSL write in a SignerInfo)
SM2_1 = "1.2.156.10197.1.301.1"  # SM2-1, the SM2 signature algorithm (what ofdrw writes)
SM2_2 = "1.2.156.10197.1.301.2"  # SM2-2; GmSSL writes it for key transport
SM2_3 = "1.2.156.10197.1.301.3"  # SM2-3, SM2 public-key encryption (GB/T 33560 Annex A)
SM4_CBC = "1.2.156.10197.1.104.2"
SM4_GCM = "1.2.156.10197.1.104.8"

# content types: RFC 5652 / RFC 5083, and GB/T 35275 §7 (1.2.156.10197.6.1.4.2.x)
RFC_DATA, GM_DATA = "1.2.840.113549.1.7.1", "1.2.156.10197.6.1.4.2.1"
RFC_SIGNED, GM_SIGNED = "1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"
RFC_ENVELOPED, GM_ENVELOPED = "1.2.840.113549.1.7.3", "1.2.156.10197.6.1.4.2.3"
AUTH_ENVELOPED = "1.2.840.113549.1.9.16.1.23"  # RFC 5083; GB/T 35275 has none (SM4-GCM envelopes are ours)

_DATA = frozenset({RFC_DATA, GM_DATA})
_SIGNATURES = frozenset({SM2_SM3, SM2_1})
_KEY_TRANSPORTS = frozenset({SM2_3, SM2_2})
_VERSIONS = frozenset({0, 1})


@dataclass(frozen=True)
class Flavour:
    """What a writer puts in the places where GB/T 35275 implementations differ. Readers accept every flavour."""

    name: str
    gm_content_types: bool = False  # 1.2.156.10197.6.1.4.2.x instead of the RFC 5652 OIDs
    signature_algorithm: str = SM2_SM3  # SignerInfo.signatureAlgorithm: 501 or SM2-1 (301.1)
    key_transport: str = SM2_3  # KeyTransRecipientInfo.keyEncryptionAlgorithm: SM2-3 (301.3) or 301.2
    signed_data_version: int = 1
    signer_info_version: int = 1
    enveloped_data_version: int = 0  # RFC 5652 §6.1: 0 with only issuerAndSerialNumber key transport
    recipient_info_version: int = 0

    def __post_init__(self) -> None:
        if self.signature_algorithm not in _SIGNATURES:
            raise ValueError(f"not an SM2 signature algorithm: {self.signature_algorithm}")
        if self.key_transport not in _KEY_TRANSPORTS:
            raise ValueError(f"not an SM2 key transport algorithm: {self.key_transport}")
        versions = (
            self.signed_data_version,
            self.signer_info_version,
            self.enveloped_data_version,
            self.recipient_info_version,
        )
        if not set(versions) <= _VERSIONS:
            raise ValueError(f"versions are 0 or 1: {versions}")

    @property
    def data(self) -> str:
        return GM_DATA if self.gm_content_types else RFC_DATA

    @property
    def signed_data(self) -> str:
        return GM_SIGNED if self.gm_content_types else RFC_SIGNED

    @property
    def enveloped_data(self) -> str:
        return GM_ENVELOPED if self.gm_content_types else RFC_ENVELOPED


# The default: RFC 5652 content types, SM3withSM2 (501), SM2-3 key transport — what BouncyCastle verifies.
RFC5652 = Flavour("rfc5652")
# GB/T 35275 content types and versions 1 throughout, otherwise the defaults.
GBT35275 = Flavour(
    "gbt35275", gm_content_types=True, enveloped_data_version=1, recipient_info_version=1
)  # fmt: skip
# GmSSL 3.1 (cmsdecrypt): GB/T 35275 content types, versions 1, key transport written as 301.2. Its cmsverify signs
# and checks by a rule of its own (SM2 without Z over the content and the attributes), so it does not verify RFC 5652
# SignedData of anyone; its envelopes open here.
GMSSL = Flavour(
    "gmssl", gm_content_types=True, key_transport=SM2_2, enveloped_data_version=1, recipient_info_version=1
)  # fmt: skip
# ofdrw (GM/T 0099 OFD signatures): GB/T 35275 content types, SignerInfo algorithm SM2-1 (301.1).
OFDRW = Flavour("ofdrw", gm_content_types=True, signature_algorithm=SM2_1)
# by name, for a per-peer setting
FLAVOURS = {flavour.name: flavour for flavour in (RFC5652, GBT35275, GMSSL, OFDRW)}


class _ContentInfo(core.Sequence):
    """ContentInfo with the content type kept as a bare OID, so GB/T 35275 types need no global registration."""

    _fields = [
        ("content_type", core.ObjectIdentifier),
        ("content", core.Any, {"explicit": 0, "optional": True}),
    ]


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    length = (
        bytes([size])
        if size < 0x80
        else bytes([0x80 | (size.bit_length() + 7) // 8]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + value


def _content_info(content_type: str, content: core.Asn1Value) -> bytes:
    """DER ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY } (asn1crypto writes no explicit
    tag around an ``Any``, so the two wrappers are written here)."""
    return _tlv(0x30, core.ObjectIdentifier(content_type).dump() + _tlv(0xA0, content.dump(force=True)))


def _load_content_info(der: bytes) -> tuple[str, core.Any]:
    info = _ContentInfo.load(der, strict=True)
    content = info["content"]
    if isinstance(content, core.Void):
        raise ValueError("the ContentInfo carries no content")
    return info["content_type"].dotted, content


def _parse(content: core.Any, spec: type[core.Sequence]) -> core.Sequence:
    """The content of a ContentInfo as a free-standing ``spec`` (no explicit tag left on it)."""
    return spec.load(content.parse(spec).untag().dump(), strict=True)


# ---------------------------------------------------------------------------------------------------------- SM3


def _sm3() -> hashes.Hash:
    return hashes.Hash(hashes.SM3())


def sm3_of(stream: BinaryIO, progress: Callable[[int], None] | None = None) -> bytes:
    """SM3 of everything ``stream`` yields, read in chunks (constant memory)."""
    digest, done = _sm3(), 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while count := stream.readinto(buffer):  # type: ignore[attr-defined]
        digest.update(view[:count])
        done += count
        if progress:
            progress(done)
    return digest.finalize()


def sm3_of_file(path: Path, progress: Callable[[int], None] | None = None) -> bytes:
    with path.open("rb") as stream:
        return sm3_of(stream, progress)


# ---------------------------------------------------------------------------------------------------- SignedData


def _signer_key(certificate: asn1_x509.Certificate) -> sm2.Sm2PublicKey:
    try:
        return sm2.load_public(certificate["tbs_certificate"]["subject_public_key_info"].dump())
    except (sm2.Sm2Error, ValueError) as exc:
        raise SignatureInvalid("the signer's key is not an SM2 key") from exc


def _load_certificate(der: bytes) -> asn1_x509.Certificate:
    try:
        certificate = asn1_x509.Certificate.load(der, strict=True)
        certificate.native  # noqa: B018 - parses every field now, so a malformed certificate fails here
    except (ValueError, TypeError, KeyError) as exc:
        raise SignatureInvalid(f"malformed certificate: {exc}") from exc
    return certificate


def signed_attributes(
    *, content_digest: bytes, flavour: Flavour = RFC5652, signing_time: datetime | None = None
) -> bytes:
    """The DER of the signed attributes (a SET OF, sorted as DER requires): content type (the flavour's data OID),
    signing time and message digest (the content's SM3)."""
    if len(content_digest) != 32:
        raise ValueError("the content digest is not an SM3 value")
    moment = (signing_time or now()).replace(microsecond=0)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": [flavour.data]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": moment})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [content_digest]}),
    ]
    attributes.sort(key=lambda attribute: attribute.dump())
    return cms.CMSAttributes(attributes).dump()


def attributes_hash(attributes_der: bytes, signer_der: bytes, *, id: bytes = sm2.DEFAULT_ID) -> bytes:
    """What the signer signs (a remote ``signHash`` receives it): e = SM3(Z ‖ DER of the SET OF signed attributes),
    Z from the signer certificate's SM2 key and the distinguishing ID (GM/T 0009)."""
    if attributes_der[:1] != b"\x31":
        raise ValueError("signed attributes must be DER-encoded as a SET OF")
    return _signer_key(_load_certificate(signer_der)).digest(attributes_der, id)


def detached_signed_data(
    *,
    attributes_der: bytes,
    signature: bytes,
    signer_der: bytes,
    chain_der: list[bytes],
    flavour: Flavour = RFC5652,
) -> bytes:
    """Assemble ContentInfo(SignedData) without the content (detached), with the signer's chain, in ``flavour``."""
    signer = _load_certificate(signer_der)
    attributes = cms.CMSAttributes.load(attributes_der, strict=True)
    sm3_algorithm = algos.DigestAlgorithm({"algorithm": SM3})
    signer_info = cms.SignerInfo(
        {
            "version": flavour.signer_info_version,
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber({"issuer": signer.issuer, "serial_number": signer.serial_number}),
            ),
            "digest_algorithm": sm3_algorithm,
            "signed_attrs": attributes,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": flavour.signature_algorithm}),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": flavour.signed_data_version,
            "digest_algorithms": [sm3_algorithm],
            "encap_content_info": {"content_type": flavour.data},
            "certificates": [signer, *(asn1_x509.Certificate.load(der) for der in chain_der)],
            "signer_infos": [signer_info],
        }
    )
    return _content_info(flavour.signed_data, signed_data)


def _signer_info(signature_der: bytes) -> tuple[cms.SignedData, cms.SignerInfo]:
    content_type, content = _load_content_info(signature_der)
    if content_type not in (RFC_SIGNED, GM_SIGNED):
        raise SignatureInvalid("not a SignedData")
    signed = _parse(content, cms.SignedData)
    signers = list(signed["signer_infos"])
    if len(signers) != 1:
        raise SignatureInvalid("expected exactly one signer")
    return signed, signers[0]


def verify_detached(signature_der: bytes, content_digest: bytes, *, id: bytes = sm2.DEFAULT_ID) -> bytes:
    """Check a detached SM2 SignedData (any flavour) against the SM3 of its content: the content type, the message
    digest, then the SM2 signature over the signed attributes with the signer's certificate (carried in the
    SignedData) and the distinguishing ID. Returns that certificate (DER) for the caller's chain and policy checks."""
    try:
        signed, signer = _signer_info(signature_der)
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
        if signed["encap_content_info"]["content_type"].dotted not in _DATA:
            raise SignatureInvalid("the signed content type is not data")
        if signed["encap_content_info"]["content"].native is not None:
            raise SignatureInvalid("the content is attached; bid files keep it detached")
        if signer["digest_algorithm"]["algorithm"].dotted != SM3:
            raise SignatureInvalid("the digest algorithm is not SM3")
        algorithm = signer["signature_algorithm"]["algorithm"].dotted
        if algorithm not in _SIGNATURES:
            raise SignatureInvalid(f"the signature algorithm {algorithm} is not SM2")
        attributes = signer["signed_attrs"]
        if isinstance(attributes, core.Void) or not len(attributes):
            raise SignatureInvalid("no signed attributes (only the RFC 5652 rule is supported)")
        found: dict[str, list[cms.CMSAttribute]] = {}
        for attribute in attributes:
            found.setdefault(attribute["type"].dotted, []).append(attribute)
        content_types = found.get("1.2.840.113549.1.9.3", [])
        digests = found.get("1.2.840.113549.1.9.4", [])
        if len(content_types) != 1 or len(digests) != 1:
            raise SignatureInvalid("expected exactly one content type and one message digest attribute")
        content_type_values = content_types[0]["values"]
        digest_values = digests[0]["values"]
        if len(content_type_values) != 1 or content_type_values[0].dotted not in _DATA:
            raise SignatureInvalid("the signed content type is not data")
        if len(digest_values) != 1 or digest_values[0].native != content_digest:
            raise SignatureInvalid("the file does not match the signature (message digest)")
        to_verify = b"\x31" + attributes.dump()[1:]  # the SET OF, as signed (RFC 5652 §5.4)
        signature = signer["signature"].native
        der = certificate.dump()
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SignatureInvalid(f"malformed signature: {exc}") from exc
    key = _signer_key(certificate)
    try:
        valid = key.verify(signature, to_verify, id)
    except sm2.Sm2Error as exc:
        raise SignatureInvalid("the signature does not verify") from exc
    if not valid:
        raise SignatureInvalid("the signature does not verify")
    return bytes(der)


def signed_digest(signature_der: bytes) -> bytes:
    """The message digest (SM3) a detached signature claims for its content, to check the content against while
    it is opened; the signature itself is checked by ``verify_detached``."""
    try:
        _, signer = _signer_info(signature_der)
        values = [
            attribute["values"]
            for attribute in signer["signed_attrs"]
            if attribute["type"].dotted == "1.2.840.113549.1.9.4"
        ]
        if len(values) == 1 and len(values[0]) == 1:
            value = values[0][0].native
            if isinstance(value, bytes) and len(value) == 32:
                return value
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SignatureInvalid(f"malformed signature: {exc}") from exc
    raise SignatureInvalid("no SM3 message digest in the signature")


# ------------------------------------------------------------------------------------------------- EnvelopedData


@dataclass(frozen=True)
class Sealed:
    header: bytes  # DER ContentInfo(EnvelopedData or AuthEnvelopedData) without the content: the .p7m
    plaintext_sm3: bytes
    size: int


def _recipient_info(recipient_der: bytes, key: bytes, flavour: Flavour) -> cms.RecipientInfo:
    try:
        certificate = asn1_x509.Certificate.load(recipient_der, strict=True)
        public_key = sm2.load_public(certificate["tbs_certificate"]["subject_public_key_info"].dump())
        issuer, serial = certificate.issuer, certificate.serial_number
    except (ValueError, TypeError, KeyError, sm2.Sm2Error) as exc:
        raise EnvelopeError("the recipient's certificate does not hold an SM2 key") from exc
    try:
        encrypted = public_key.encrypt(key)
    except sm2.Sm2Error as exc:
        raise EnvelopeError("the content key could not be encrypted for the recipient") from exc
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": flavour.recipient_info_version,
                "rid": cms.RecipientIdentifier(
                    name="issuer_and_serial_number",
                    value=cms.IssuerAndSerialNumber({"issuer": issuer, "serial_number": serial}),
                ),
                "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": flavour.key_transport}),
                "encrypted_key": encrypted,
            }
        ),
    )


def _cbc_header(recipient: cms.RecipientInfo, iv: bytes, flavour: Flavour) -> bytes:
    encryption = algos.EncryptionAlgorithm({"algorithm": SM4_CBC})
    encryption["parameters"] = core.OctetString(iv)
    enveloped = cms.EnvelopedData(
        {
            "version": flavour.enveloped_data_version,
            "recipient_infos": [recipient],
            "encrypted_content_info": {"content_type": flavour.data, "content_encryption_algorithm": encryption},
        }
    )
    return _content_info(flavour.enveloped_data, enveloped)


def _gcm_header(recipient: cms.RecipientInfo, nonce: bytes, tag: bytes) -> bytes:
    encryption = algos.EncryptionAlgorithm({"algorithm": SM4_GCM})
    encryption["parameters"] = GcmParameters({"nonce": nonce, "icv_len": TAG_BYTES})
    enveloped = cms.AuthEnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [recipient],
            "auth_encrypted_content_info": {"content_type": RFC_DATA, "content_encryption_algorithm": encryption},
            "mac": tag,
        }
    )
    return _content_info(AUTH_ENVELOPED, enveloped)


def _recipient_der(recipient: bytes | x509.Certificate) -> bytes:
    """The recipient's certificate as DER (``cryptography`` parses SM2 certificates, though not their keys)."""
    if isinstance(recipient, x509.Certificate):
        return recipient.public_bytes(Encoding.DER)
    return bytes(recipient)


class Sealer:
    """The push form of ``seal`` for data that arrives in pieces (an upload): ``update`` each piece as it comes,
    then ``finish``. ``mode`` is "cbc" (EnvelopedData, SM4-CBC, what the peers read) or "gcm" (AuthEnvelopedData,
    SM4-GCM, for envelopes that stay ours)."""

    def __init__(
        self,
        ciphertext: BinaryIO,
        recipient: bytes | x509.Certificate,
        *,
        mode: str = "cbc",
        flavour: Flavour = RFC5652,
    ) -> None:
        if mode not in ("cbc", "gcm"):
            raise ValueError(f"unknown SM4 mode {mode!r}: 'cbc' or 'gcm'")
        self._mode, self._flavour = mode, flavour
        self._key = secrets.token_bytes(16)
        self._iv = secrets.token_bytes(16 if mode == "cbc" else 12)
        self._recipient = _recipient_info(_recipient_der(recipient), self._key, flavour)  # refused before any work
        self._encryptor = Cipher(
            algorithms.SM4(self._key),
            modes.CBC(self._iv) if mode == "cbc" else modes.GCM(self._iv, min_tag_length=TAG_BYTES),
        ).encryptor()
        self._digest = _sm3()
        self._out = ciphertext
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._digest.update(data)
        self._out.write(self._encryptor.update(data))
        self.size += len(data)

    def finish(self) -> Sealed:
        return self._close(self._digest.finalize(), self.size)

    def _close(self, plaintext_sm3: bytes, size: int) -> Sealed:
        if self._mode == "cbc":
            pad = BLOCK - size % BLOCK  # PKCS #7: 1 to 16 bytes, each the count
            self._out.write(self._encryptor.update(bytes([pad]) * pad))
            self._out.write(self._encryptor.finalize())
            header = _cbc_header(self._recipient, self._iv, self._flavour)
        else:
            self._out.write(self._encryptor.finalize())
            header = _gcm_header(self._recipient, self._iv, self._encryptor.tag)  # type: ignore[attr-defined]
        return Sealed(header=header, plaintext_sm3=plaintext_sm3, size=size)


def seal(
    source: BinaryIO,
    ciphertext: BinaryIO,
    recipient: bytes | x509.Certificate,
    *,
    mode: str = "cbc",
    flavour: Flavour = RFC5652,
    progress: Callable[[int], None] | None = None,
) -> Sealed:
    """Encrypt ``source`` into ``ciphertext`` for ``recipient`` (its certificate, DER) and take its SM3, in one
    read of the plaintext: the SM3 runs in a second thread over the same buffer while this one encrypts it."""
    sealer = Sealer(ciphertext, recipient, mode=mode, flavour=flavour)
    digest = _sm3()
    size = encrypt_hashing(source, ciphertext, sealer._encryptor, digest.update, slack=BLOCK, progress=progress)
    return sealer._close(digest.finalize(), size)


@dataclass(frozen=True)
class Recipient:
    issuer: bytes  # DER Name
    serial: int
    algorithm: str  # key transport OID (301.3 or 301.2)
    encrypted_key: bytes  # SM2Cipher DER


@dataclass(frozen=True)
class Header:
    mode: str  # "cbc" (EnvelopedData, SM4-CBC) or "gcm" (AuthEnvelopedData, SM4-GCM)
    iv: bytes  # the CBC IV or the GCM nonce
    tag: bytes  # the GCM tag (empty for CBC)
    recipients: list[Recipient]


def parse_header(header: bytes) -> Header:
    """Read an SM4 envelope header of any flavour (content-type OIDs, versions 0 and 1, key transport 301.3 or
    301.2); anything else is refused with ``EnvelopeError``."""
    try:
        content_type, content = _load_content_info(header)
        if content_type in (RFC_ENVELOPED, GM_ENVELOPED):
            mode, enveloped = "cbc", _parse(content, cms.EnvelopedData)
            encrypted_info = enveloped["encrypted_content_info"]
        elif content_type == AUTH_ENVELOPED:
            mode, enveloped = "gcm", _parse(content, cms.AuthEnvelopedData)
            encrypted_info = enveloped["auth_encrypted_content_info"]
        else:
            raise EnvelopeError("not an EnvelopedData")
        if int(enveloped["version"]) not in _VERSIONS:
            raise EnvelopeError(f"unsupported envelope version {int(enveloped['version'])}")
        if encrypted_info["content_type"].dotted not in _DATA:
            raise EnvelopeError("the enveloped content type is not data")
        if encrypted_info["encrypted_content"].native is not None:
            raise EnvelopeError("the content is attached; bid files keep it detached")
        encryption = encrypted_info["content_encryption_algorithm"]
        algorithm = encryption["algorithm"].dotted
        if mode == "cbc":
            if algorithm != SM4_CBC:
                raise EnvelopeError(f"content encryption {algorithm} is not SM4-CBC")
            iv, tag = core.OctetString.load(encryption["parameters"].dump(), strict=True).native, b""
            if not isinstance(iv, bytes) or len(iv) != BLOCK:
                raise EnvelopeError("the SM4-CBC IV is not 16 bytes")
        else:
            if algorithm != SM4_GCM:
                raise EnvelopeError(f"content encryption {algorithm} is not SM4-GCM")
            params = GcmParameters.load(encryption["parameters"].dump(), strict=True)
            iv, tag = params["nonce"].native, enveloped["mac"].native
            if params["icv_len"].native != TAG_BYTES or len(tag) != TAG_BYTES or not 12 <= len(iv) <= 16:
                raise EnvelopeError("unsupported SM4-GCM parameters")
        recipients = []
        for info in enveloped["recipient_infos"]:
            if info.name != "ktri":
                continue
            value = info.chosen
            if int(value["version"]) not in _VERSIONS or value["rid"].name != "issuer_and_serial_number":
                continue
            transport = value["key_encryption_algorithm"]["algorithm"].dotted
            if transport not in _KEY_TRANSPORTS:
                continue
            rid = value["rid"].chosen
            recipients.append(
                Recipient(
                    issuer=rid["issuer"].dump(),
                    serial=rid["serial_number"].native,
                    algorithm=transport,
                    encrypted_key=value["encrypted_key"].native,
                )
            )
        if not recipients:
            raise EnvelopeError("no SM2 key transport recipient in the envelope")
        return Header(mode=mode, iv=iv, tag=tag, recipients=recipients)
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvelopeError(f"malformed envelope header: {exc}") from exc


def addressed_to(header: bytes, certificate_der: bytes) -> bool:
    certificate = asn1_x509.Certificate.load(certificate_der)
    wanted = (certificate.issuer.dump(), certificate.serial_number)
    return any((r.issuer, r.serial) == wanted for r in parse_header(header).recipients)


def content_key(header: bytes, certificate_der: bytes, unwrap: Callable[[bytes], bytes]) -> bytes:
    """The SM4 content key of the envelope addressed to ``certificate_der``: its ``encryptedKey`` (SM2Cipher DER)
    goes to ``unwrap`` (the holder of the private key, e.g. the key back-end), which returns the key."""
    try:
        certificate = asn1_x509.Certificate.load(certificate_der, strict=True)
        wanted = (certificate.issuer.dump(), certificate.serial_number)
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvelopeError(f"malformed recipient certificate: {exc}") from exc
    recipient = next((r for r in parse_header(header).recipients if (r.issuer, r.serial) == wanted), None)
    if recipient is None:
        raise EnvelopeError("the envelope is not addressed to this certificate")
    try:
        key = unwrap(recipient.encrypted_key)
    except sm2.Sm2Error as exc:
        raise EnvelopeError("the content key does not decrypt with this key") from exc
    if len(key) != 16:
        raise EnvelopeError("the content key is not an SM4 key")
    return key


_CHANGED = "the bid file does not match its signature (SM3): it was changed"


def _unpad(block: bytes) -> int:
    """How many plaintext bytes the last (decrypted) CBC block holds, or ``Tampered`` if its padding is wrong."""
    pad = block[-1] if len(block) == BLOCK else 0
    if not 1 <= pad <= BLOCK or block[-pad:] != bytes([pad]) * pad:
        raise Tampered(_CHANGED)  # the same words as a wrong SM3: no padding oracle
    return BLOCK - pad


def open_with_key(
    header: bytes,
    key: bytes,
    ciphertext: BinaryIO,
    target: Path | None,
    *,
    expected_sm3: bytes | None = None,
) -> tuple[int, bytes]:
    """Decrypt ``ciphertext`` with the SM4 content key into ``target``, which appears only if the content
    authenticates: the GCM tag, and for SM4-CBC (which has no integrity of its own) the SM3 ``expected_sm3`` that
    the verified signature states — required for CBC. Returns the plaintext's size and SM3. ``target`` None: the
    plaintext is discarded as it is decrypted (a dry run: the checks and the SM3, nothing written)."""
    parsed = parse_header(header)
    if len(key) != 16:
        raise EnvelopeError("the content key is not an SM4 key")
    if parsed.mode == "cbc" and expected_sm3 is None:
        raise EnvelopeError("SM4-CBC has no integrity of its own: give the SM3 the signature states")
    cipher = Cipher(
        algorithms.SM4(key),
        modes.CBC(parsed.iv) if parsed.mode == "cbc" else modes.GCM(parsed.iv, parsed.tag, min_tag_length=TAG_BYTES),
    )
    decryptor = cipher.decryptor()
    # no target: a dry run, the plaintext discarded as it is decrypted (only the checks and the digest)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part") if target is not None else None
    inputs = [bytearray(CHUNK), bytearray(CHUNK)]
    size = 0
    try:
        with plaintext_sink(temporary) as sink:
            hasher = _sm3()
            pipeline = Pipeline(sink, hasher.update, size=CHUNK + BLOCK)
            try:
                turn = 0
                count = read_full(ciphertext, inputs[turn])
                if parsed.mode == "cbc" and not count:
                    raise Tampered("the bid file is empty: an SM4-CBC file holds at least one block")
                while count:
                    # read one chunk ahead: the last one carries the CBC padding
                    following = read_full(ciphertext, inputs[1 - turn])
                    out = pipeline.free_buffer()
                    written = decryptor.update_into(memoryview(inputs[turn])[:count], out)
                    if parsed.mode == "cbc" and not following:
                        if count % BLOCK or written < BLOCK:
                            raise Tampered("the bid file is not whole SM4 blocks: it was changed")
                        written -= BLOCK - _unpad(bytes(out[written - BLOCK : written]))
                    pipeline.submit(memoryview(out)[:written])
                    size += written
                    turn, count = 1 - turn, following
                try:
                    last = decryptor.finalize()
                except ValueError as exc:
                    # SM4-GCM's finalize checks the tag and nothing else, but OpenSSL reports a failed SM4-GCM
                    # tag check by what its error queue holds, which can be an older error of another caller in
                    # this thread (pyOpenSSL's chain checks): a failure here is the tag's.
                    if parsed.mode == "gcm":
                        raise InvalidTag from exc
                    raise
            except BaseException:
                pipeline.close()
                raise
            if last:  # GCM and unpadded CBC finish with nothing pending; kept for completeness
                out = pipeline.free_buffer()
                out[: len(last)] = last
                pipeline.submit(memoryview(out)[: len(last)])
                size += len(last)
            pipeline.finish()
            digest = hasher.finalize()
        if expected_sm3 is not None and not secrets.compare_digest(digest, expected_sm3):
            raise Tampered(_CHANGED)
    except InvalidTag as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise Tampered("the bid file does not authenticate (SM4-GCM tag): it was changed") from exc
    except ValueError as exc:  # cryptography: data not a multiple of the block length
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise Tampered(f"the bid file does not decrypt: {exc}") from exc
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    if target is not None and temporary is not None:
        temporary.replace(target)
    return size, digest


def open_to_file(
    header: bytes,
    ciphertext: BinaryIO,
    target: Path,
    *,
    recipient: bytes,
    unwrap: Callable[[bytes], bytes],
    expected_sm3: bytes | None = None,
) -> tuple[int, bytes]:
    """Unwrap the content key for ``recipient`` (its certificate, DER) through ``unwrap`` and decrypt into
    ``target`` as ``open_with_key`` does."""
    return open_with_key(header, content_key(header, recipient, unwrap), ciphertext, target, expected_sm3=expected_sm3)
