"""The recipient side of a CMS envelope (RFC 5652 EnvelopedData, RFC 5083 AuthEnvelopedData): find the recipient
information addressed to one certificate and unwrap the content-encryption key with its private key.

* ECDH (RFC 5753, KeyAgreeRecipientInfo): ephemeral-static Diffie-Hellman with the originator's key, the ANSI X9.63
  KDF over ``ECC-CMS-SharedInfo``, then AES key unwrap (RFC 3394).
* RSA (RFC 8017 / RFC 3560, KeyTransRecipientInfo): RSAES-OAEP only. PKCS #1 v1.5 is refused: decrypting it for
  callers would be a padding oracle.
* SM2 (GB/T 35275, issue 19): the envelope is the header of ``cmslib.gm`` (EnvelopedData with SM4-CBC, or
  AuthEnvelopedData with SM4-GCM, ciphertext detached), read leniently by ``cmslib.gm``; the ``encryptedKey``
  (GM/T 0009 ``SM2Cipher``) is decrypted with the SM2 key (C3 checked), and must hold a 16-byte SM4 key.

Only the key is returned; the content stays with the caller (the bid file is decrypted where it lives). The
functions holding the private key, the shared secret or the content key are ``sensitive_variables``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

# ``ca.sm2`` directly, not through ``ca.facade``: this module stays importable without Django settings (the bid-file
# benchmark and the tool's tests open envelopes in plain processes); ``sm2`` has no Django in it.
from mobileca.ca.sm2 import Sm2PrivateKey
from mobileca.cmslib import gm
from mobileca.cmslib.enveloped import EccCmsSharedInfo
from mobileca.core.errors import InvalidInput

# dhSinglePass-stdDH-sha{1,224,256,384,512}kdf-scheme (RFC 5753 §7.1.4; SHA-1 is OpenSSL's default, and in a KDF
# its collision weakness does not matter)
_ECDH_KDF_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1,
    "1.3.132.1.11.0": hashes.SHA224,
    "1.3.132.1.11.1": hashes.SHA256,
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
_AES_WRAP_BITS = {"2.16.840.1.101.3.4.1.5": 128, "2.16.840.1.101.3.4.1.25": 192, "2.16.840.1.101.3.4.1.45": 256}
_OAEP_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class ContentKey:
    key: bytes
    content_encryption_algorithm: str  # its OID, e.g. 2.16.840.1.101.3.4.1.46 (aes256-GCM)


def _refused(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code)


@sensitive_variables()
def content_key(envelope: bytes, *, private_key: PrivateKeyTypes | Sm2PrivateKey, certificate_pem: str) -> ContentKey:
    """The content-encryption key of ``envelope`` (DER ContentInfo), for the holder of ``private_key`` whose
    certificate is ``certificate_pem``. Refuses envelopes not addressed to that certificate."""
    if isinstance(private_key, Sm2PrivateKey):
        return _sm2_content_key(envelope, private_key, certificate_pem)
    try:
        info = cms.ContentInfo.load(envelope, strict=True)
        kind = info["content_type"].native
        if kind not in ("enveloped_data", "authenticated_enveloped_data"):
            raise _refused(_("不是数字信封"), "not_an_envelope")
        content = info["content"]
        algorithm = content[
            "auth_encrypted_content_info" if kind == "authenticated_enveloped_data" else "encrypted_content_info"
        ]["content_encryption_algorithm"]["algorithm"].dotted
        recipients = list(content["recipient_infos"])
    except (ValueError, TypeError, KeyError) as exc:
        raise _refused(_("数字信封格式无效"), "bad_envelope") from exc
    certificate = asn1_x509.Certificate.load(_pem_to_der(certificate_pem))
    issuer, serial = certificate.issuer, certificate.serial_number
    try:
        for recipient in recipients:
            choice, value = recipient.name, recipient.chosen
            if choice == "kari" and isinstance(private_key, ec.EllipticCurvePrivateKey):
                for encrypted in value["recipient_encrypted_keys"]:
                    if _addressed(encrypted["rid"], issuer, serial):
                        return ContentKey(_ecdh_unwrap(value, encrypted, private_key), algorithm)
            if (
                choice == "ktri"
                and isinstance(private_key, rsa.RSAPrivateKey)
                and _addressed(value["rid"], issuer, serial)
            ):
                return ContentKey(_oaep_unwrap(value, private_key), algorithm)
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # nested parts are parsed lazily
        raise _refused(_("数字信封格式无效"), "bad_envelope") from exc
    raise _refused(_("该数字信封不是加密给此证书的（例如续费更换密钥之前加密的文件）"), "not_a_recipient")


_SM4 = {"cbc": gm.SM4_CBC, "gcm": gm.SM4_GCM}


def _sm2_content_key(header: bytes, private_key: Sm2PrivateKey, certificate_pem: str) -> ContentKey:
    return sm2_content_key_with(header, unwrap=private_key.decrypt, certificate_pem=certificate_pem)


@sensitive_variables()
def sm2_content_key_with(header: bytes, *, unwrap: Callable[[bytes], bytes], certificate_pem: str) -> ContentKey:
    """An SM2 credential's envelope (GB/T 35275 header): the SM4 key and its algorithm OID (SM4-CBC or SM4-GCM).
    ``unwrap`` opens the recipient's encryptedKey (SM2Cipher): the whole key's ``decrypt``, or a two-party round
    (issue 20); it raises ``Sm2Error`` when the ciphertext does not open."""
    certificate_der = _pem_to_der(certificate_pem)
    try:
        mode = gm.parse_header(header).mode
        if not gm.addressed_to(header, certificate_der):
            raise _refused(_("该数字信封不是加密给此证书的（例如续费更换密钥之前加密的文件）"), "not_a_recipient")
    except gm.EnvelopeError as exc:
        raise _refused(_("数字信封格式无效"), "bad_envelope") from exc
    try:
        key = gm.content_key(header, certificate_der, unwrap=unwrap)
    except gm.EnvelopeError as exc:  # a wrong key, a changed encryptedKey (C3), not an SM4 key: one answer
        raise _refused(_("数字信封无法用此证书的私钥解开"), "unwrap_failed") from exc
    return ContentKey(key, _SM4[mode])


def _pem_to_der(pem: str) -> bytes:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def _addressed(rid: core.Choice, issuer: asn1_x509.Name, serial: int) -> bool:
    if rid.name != "issuer_and_serial_number":
        return False
    chosen = rid.chosen
    return bool(chosen["serial_number"].native == serial and chosen["issuer"] == issuer)


@sensitive_variables()
def _ecdh_unwrap(
    kari: cms.KeyAgreeRecipientInfo, encrypted: cms.RecipientEncryptedKey, private_key: ec.EllipticCurvePrivateKey
) -> bytes:
    scheme = kari["key_encryption_algorithm"]
    kdf_hash = _ECDH_KDF_HASHES.get(scheme["algorithm"].dotted)
    if kdf_hash is None:
        raise _refused(_("不支持的密钥协商算法"), "unsupported_algorithm")
    wrap = algos.AlgorithmIdentifier.load(scheme["parameters"].dump())
    wrap_bits = _AES_WRAP_BITS.get(wrap["algorithm"].dotted)
    if wrap_bits is None:
        raise _refused(_("不支持的密钥封装算法"), "unsupported_algorithm")
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise _refused(_("数字信封缺少发送方临时公钥"), "bad_envelope")
    point = originator.chosen["public_key"].native  # the BIT STRING's bytes: an uncompressed or compressed point
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(private_key.curve, point)
    except ValueError as exc:
        raise _refused(_("数字信封中的临时公钥无效"), "bad_envelope") from exc
    shared = private_key.exchange(ec.ECDH(), ephemeral)
    ukm = kari["ukm"]
    shared_info = EccCmsSharedInfo(
        {
            "key_info": {"algorithm": wrap["algorithm"].dotted},
            "entity_u_info": ukm.native if ukm.native is not None else None,
            "supp_pub_info": wrap_bits.to_bytes(4, "big"),
        }
    )
    if ukm.native is None:
        del shared_info["entity_u_info"]
    kek = X963KDF(algorithm=kdf_hash(), length=wrap_bits // 8, sharedinfo=shared_info.dump()).derive(shared)
    try:
        return aes_key_unwrap(kek, encrypted["encrypted_key"].native)
    except InvalidUnwrap as exc:
        raise _refused(_("数字信封无法用此证书的私钥解开"), "unwrap_failed") from exc


@sensitive_variables()
def _oaep_unwrap(ktri: cms.KeyTransRecipientInfo, private_key: rsa.RSAPrivateKey) -> bytes:
    algorithm = ktri["key_encryption_algorithm"]
    if algorithm["algorithm"].native != "rsaes_oaep":
        raise _refused(_("只支持 RSAES-OAEP 密钥传输"), "unsupported_algorithm")
    params = algorithm["parameters"]
    hash_name = params["hash_algorithm"]["algorithm"].native
    mgf_hash_name = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
    if hash_name not in _OAEP_HASHES or mgf_hash_name not in _OAEP_HASHES:
        raise _refused(_("不支持的 OAEP 参数"), "unsupported_algorithm")
    label = params["p_source_algorithm"]["parameters"].native or None
    try:
        return private_key.decrypt(
            ktri["encrypted_key"].native,
            padding.OAEP(
                mgf=padding.MGF1(_OAEP_HASHES[mgf_hash_name]()), algorithm=_OAEP_HASHES[hash_name](), label=label
            ),
        )
    except ValueError as exc:
        raise _refused(_("数字信封无法用此证书的私钥解开"), "unwrap_failed") from exc
