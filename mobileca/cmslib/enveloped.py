"""AuthEnvelopedData (RFC 5083) with AES-256-GCM and detached encrypted content (RFC 5652 §6.1).

Sealing reads the plaintext once: each chunk is hashed (SHA-256, for the signature) and encrypted into a reused
buffer (``update_into``), so memory stays constant whatever the size. Opening decrypts into a temporary file beside
the target and renames it only after the GCM tag verified; otherwise the temporary file is removed and nothing of
the plaintext stays behind."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from mobileca.ca.keys import UnknownKeyProfile, profile_of_public_key
from mobileca.cmslib.pipeline import CHUNK, Pipeline, encrypt_hashing, plaintext_sink

AES256_GCM = "2.16.840.1.101.3.4.1.46"
AES256_WRAP = "2.16.840.1.101.3.4.1.45"
ECDH_SHA256_KDF = "1.3.132.1.11.1"  # dhSinglePass-stdDH-sha256kdf-scheme
TAG_BYTES = 16


class GcmParameters(core.Sequence):
    """GCMParameters (RFC 5084): the nonce and the tag length."""

    _fields = [("nonce", core.OctetString), ("icv_len", core.Integer, {"default": 12})]


class EccCmsSharedInfo(core.Sequence):
    """ECC-CMS-SharedInfo (RFC 5753 §7.2)."""

    _fields = [
        ("key_info", algos.AlgorithmIdentifier),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


class EnvelopeError(Exception):
    """A header that is not ours to open, or content that does not authenticate."""


class Tampered(EnvelopeError):
    """The GCM tag did not verify: the ciphertext (or the header) was changed."""


@dataclass(frozen=True)
class Sealed:
    header: bytes  # DER ContentInfo(AuthEnvelopedData) without the content: the .p7m
    plaintext_sha256: bytes
    size: int


def _recipient_info(certificate: x509.Certificate, cek: bytes) -> cms.RecipientInfo:
    cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    rid = cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number})
    public_key = certificate.public_key()
    try:
        agreement = profile_of_public_key(public_key).key_agreement  # ECDH (kari) or key transport (ktri)
    except UnknownKeyProfile as exc:
        raise EnvelopeError("the recipient's key is of no supported profile") from exc
    if agreement and isinstance(public_key, ec.EllipticCurvePublicKey):
        ephemeral = ec.generate_private_key(public_key.curve)
        shared = ephemeral.exchange(ec.ECDH(), public_key)
        shared_info = EccCmsSharedInfo(
            {"key_info": {"algorithm": AES256_WRAP}, "supp_pub_info": (256).to_bytes(4, "big")}
        )
        kek = X963KDF(algorithm=hashes.SHA256(), length=32, sharedinfo=shared_info.dump()).derive(shared)
        point = ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        originator = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": point})
        return cms.RecipientInfo(
            name="kari",
            value=cms.KeyAgreeRecipientInfo(
                {
                    "version": "v3",
                    "originator": cms.OriginatorIdentifierOrKey(name="originator_key", value=originator),
                    "key_encryption_algorithm": {
                        "algorithm": ECDH_SHA256_KDF,
                        "parameters": algos.AlgorithmIdentifier({"algorithm": AES256_WRAP}),
                    },
                    "recipient_encrypted_keys": [
                        {"rid": cms.KeyAgreementRecipientIdentifier(name="issuer_and_serial_number", value=rid),
                         "encrypted_key": aes_key_wrap(kek, cek)}
                    ],
                }
            ),
        )  # fmt: skip
    if not agreement and isinstance(public_key, rsa.RSAPublicKey):
        encrypted = public_key.encrypt(
            cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        )
        oaep = algos.RSAESOAEPParams(
            {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            }
        )
        return cms.RecipientInfo(
            name="ktri",
            value=cms.KeyTransRecipientInfo(
                {
                    "version": "v0",
                    "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value=rid),
                    "key_encryption_algorithm": {"algorithm": "rsaes_oaep", "parameters": oaep},
                    "encrypted_key": encrypted,
                }
            ),
        )
    raise EnvelopeError(f"no recipient scheme for a {type(public_key).__name__}")


def _header(recipient: cms.RecipientInfo, nonce: bytes, tag: bytes) -> bytes:
    encryption = algos.EncryptionAlgorithm({"algorithm": AES256_GCM})
    encryption["parameters"] = GcmParameters({"nonce": nonce, "icv_len": TAG_BYTES})
    enveloped = cms.AuthEnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [recipient],
            "auth_encrypted_content_info": {"content_type": "data", "content_encryption_algorithm": encryption},
            "mac": tag,
        }
    )
    return cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": enveloped}).dump()


class Sealer:
    """The push form of ``seal`` for data that arrives in pieces (an upload): ``update`` each piece as it comes,
    then ``finish``. One thread; network-bound callers need no more."""

    def __init__(self, ciphertext: BinaryIO, recipient: x509.Certificate) -> None:
        self._cek, self._nonce = secrets.token_bytes(32), secrets.token_bytes(12)
        self._encryptor = Cipher(
            algorithms.AES256(self._cek), modes.GCM(self._nonce, min_tag_length=TAG_BYTES)
        ).encryptor()
        self._digest = hashlib.sha256()
        self._out = ciphertext
        self._recipient = _recipient_info(recipient, self._cek)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._digest.update(data)
        self._out.write(self._encryptor.update(data))
        self.size += len(data)

    def finish(self) -> Sealed:
        self._out.write(self._encryptor.finalize())
        return Sealed(
            header=_header(self._recipient, self._nonce, self._encryptor.tag),
            plaintext_sha256=self._digest.digest(),
            size=self.size,
        )


def seal(
    source: BinaryIO,
    ciphertext: BinaryIO,
    recipient: x509.Certificate,
    *,
    progress: Callable[[int], None] | None = None,
) -> Sealed:
    """Encrypt ``source`` into ``ciphertext`` for ``recipient`` and hash it, in one read of the plaintext. The
    hashing runs in a second thread (hashlib releases the GIL on large buffers), so the two overlap."""
    cek, nonce = secrets.token_bytes(32), secrets.token_bytes(12)
    recipient_info = _recipient_info(recipient, cek)  # a recipient we cannot seal for is refused before any work
    encryptor = Cipher(algorithms.AES256(cek), modes.GCM(nonce, min_tag_length=TAG_BYTES)).encryptor()
    digest = hashlib.sha256()
    size = encrypt_hashing(source, ciphertext, encryptor, digest.update, slack=15, progress=progress)
    ciphertext.write(encryptor.finalize())
    return Sealed(
        header=_header(recipient_info, nonce, encryptor.tag),
        plaintext_sha256=digest.digest(),
        size=size,
    )


@dataclass(frozen=True)
class Header:
    nonce: bytes
    tag: bytes
    recipients: list[tuple[bytes, int]]  # (issuer DER, serial) of each recipient named by issuer and serial


def parse_header(header: bytes) -> Header:
    try:
        info = cms.ContentInfo.load(header, strict=True)
        if info["content_type"].native != "authenticated_enveloped_data":
            raise EnvelopeError("not an AuthEnvelopedData")
        content = info["content"]
        encryption = content["auth_encrypted_content_info"]["content_encryption_algorithm"]
        if encryption["algorithm"].dotted != AES256_GCM:
            raise EnvelopeError("content encryption is not AES-256-GCM")
        if content["auth_encrypted_content_info"]["encrypted_content"].native is not None:
            raise EnvelopeError("the content is attached; bid files keep it detached")
        params = GcmParameters.load(encryption["parameters"].dump())
        recipients: list[tuple[bytes, int]] = []
        for recipient in content["recipient_infos"]:
            value = recipient.chosen
            rids = (
                [encrypted["rid"] for encrypted in value["recipient_encrypted_keys"]]
                if recipient.name == "kari"
                else [value["rid"]]
                if recipient.name == "ktri"
                else []
            )
            for rid in rids:
                if rid.name == "issuer_and_serial_number":
                    recipients.append((rid.chosen["issuer"].dump(), rid.chosen["serial_number"].native))
        return Header(nonce=params["nonce"].native, tag=content["mac"].native, recipients=recipients)
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvelopeError(f"malformed envelope header: {exc}") from exc


def addressed_to(header: bytes, certificate: x509.Certificate) -> bool:
    cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    return (cert.issuer.dump(), cert.serial_number) in parse_header(header).recipients


def open_to_file(header: bytes, key: bytes, ciphertext: BinaryIO, target: Path | None) -> tuple[int, bytes]:
    """Decrypt ``ciphertext`` with the content key into ``target``, which appears only if the tag verifies.
    Returns the plaintext's size and SHA-256 (to check the detached signature without reading it again). ``target``
    None: the plaintext is discarded as it is decrypted (a dry run: the checks and the digest, nothing written)."""
    parsed = parse_header(header)
    decryptor = Cipher(algorithms.AES256(key), modes.GCM(parsed.nonce, parsed.tag)).decryptor()
    # no target: a dry run, the plaintext discarded as it is decrypted (only the checks and the digest)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part") if target is not None else None
    buffer = bytearray(CHUNK)
    size = 0
    try:
        with plaintext_sink(temporary) as sink:
            digest = hashlib.sha256()
            pipeline = Pipeline(sink, digest.update, size=CHUNK + 15)
            try:
                while count := ciphertext.readinto(buffer):  # type: ignore[attr-defined]
                    out = pipeline.free_buffer()
                    written = decryptor.update_into(memoryview(buffer)[:count], out)
                    pipeline.submit(memoryview(out)[:written])
                    size += count
                try:
                    last = decryptor.finalize()
                except ValueError as exc:
                    # GCM's finalize checks the tag and nothing else, but OpenSSL words a failed check by what the
                    # thread's error queue holds, which can be an older error of another caller: it is the tag's
                    raise InvalidTag from exc
            except BaseException:
                pipeline.close()
                raise
            pipeline.finish()
            sink.write(last)
            digest.update(last)
    except InvalidTag as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise Tampered("the bid file does not authenticate (GCM tag): it was changed") from exc
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    if target is not None and temporary is not None:
        temporary.replace(target)
    return size, digest.digest()
