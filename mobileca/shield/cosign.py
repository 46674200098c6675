"""Two-party SM2 (协同签名, issue 20): the signing service's side over its database — the service's key shares
(``CosignShare``), the single-use rounds with the claimant's phone (``CosignRound``), and the pepper the phone's
storage needs, released only after a counted PIN attempt.

The arithmetic is ``ca.sm2_cosign.ServerShare``; here are who may do what, when, and once. Every round has a session
string the service issued (random, 2 minutes, single use), is bound to what it is for (the usage of a key
generation, the digest e of a signature, the C1 of a decryption) and is spent under its row lock before any key
share is unwrapped: a replayed session is refused (``round_used``), an expired one too (``round_expired``), and
neither changes anything. A phone message that fails its checks spends the round and is recorded as a failed
signature or decryption with the code; nothing is signed or decrypted. No function here signs or decrypts without a
phone message carrying a valid proof: d2 alone yields nothing, and d = (d1·d2)⁻¹ − 1 exists nowhere.

d2 and the pepper are wrapped under the master key (owner ``cosign:<service_no>:<usage>``) through the CA's key
back-end; neither appears in logs, records or error reports (``sensitive_variables``)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.ca import facade as ca_facade
from mobileca.cmslib import gm as cms_gm
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.shield.keyuse import refuse_unless_usable
from mobileca.shield.locks import lock_authorization_pk, lock_credential_pk
from mobileca.shield.models import CosignRound, CosignShare, Credential, KeyUseAuthorization, KeyUseStatus
from mobileca.shield.pin import pin_check, pin_guess
from mobileca.shield.records import record_operation
from mobileca.shield.transitions import authorization_move

ROUND_LIFETIME = timedelta(minutes=2)
USAGES = ("sign", "encrypt")
PEPPER_BYTES = 32


class RoundRefused(PermissionDenied):
    code = "round_refused"


class Refused(InvalidInput):
    """A phone message the protocol refuses (``bad_point``, ``bad_scalar``, ``bad_proof``, ``bad_ciphertext``)."""

    code = "bad_proof"


def owner_id(credential: Credential, usage: str) -> str:
    return f"cosign:{credential.service_no}:{usage}"


def _wrap(credential: Credential, usage: str, plaintext: bytes) -> bytes:
    return ca_facade.wrap_bytes(owner_id=owner_id(credential, usage), plaintext=plaintext)


@sensitive_variables()
def _server_share(share: CosignShare) -> ca_facade.sm2_cosign.ServerShare:
    d2 = ca_facade.unwrap_bytes(owner_id=owner_id(share.credential, share.usage), blob=bytes(share.d2_wrapped))
    return ca_facade.sm2_cosign.ServerShare(
        d2=d2, p1=bytes.fromhex(share.p1), public_point=bytes.fromhex(share.public_key)
    )


def live_share(credential: Credential, usage: str) -> CosignShare | None:
    return (
        CosignShare.objects.select_related("credential")
        .filter(credential=credential, usage=usage, destroyed_at__isnull=True)
        .first()
    )


def _own_credential(credential: Credential, account: str) -> None:
    if credential.account != account:
        raise NotFound(_("未找到该证书"), code="credential_unknown")


def _new_round(
    credential: Credential,
    kind: str,
    usage: str,
    *,
    bound: str = "",
    ciphertext: bytes | None = None,
    authorization: KeyUseAuthorization | None = None,
) -> CosignRound:
    moment = now()
    return CosignRound.objects.create(
        session=secrets.token_urlsafe(32),
        credential=credential,
        kind=kind,
        usage=usage,
        bound=bound,
        ciphertext=ciphertext,
        authorization=authorization,
        created_at=moment,
        expires_at=moment + ROUND_LIFETIME,
    )


def _spend(session: str, kind: str, account: str) -> CosignRound:
    """Take the round of ``session`` once, in the caller's transaction: it must be this claimant's, of this kind,
    unused and within its 2 minutes. A refusal changes nothing (an unknown, someone else's or another kind's session
    is simply not found)."""
    found = (
        CosignRound.objects.select_for_update(of=("self",))
        .select_related("credential", "authorization")
        .filter(session=session if isinstance(session, str) else "", kind=kind)
        .first()
    )
    if found is None or found.credential.account != account:
        raise NotFound(_("未找到该会话"), code="round_unknown")
    if found.used_at is not None:
        raise RoundRefused(_("该会话已使用过，每个会话只能使用一次"), code="round_used")
    if now() >= found.expires_at:
        raise RoundRefused(_("会话已过期（2 分钟），请重新开始"), code="round_expired")
    found.used_at = now()
    found.save(update_fields=["used_at"])
    return found


def _settle(found: CosignRound, outcome: str) -> None:
    CosignRound.objects.filter(pk=found.pk).update(outcome=outcome)


# --- key generation --------------------------------------------------------------------------------------------


def keygen_begin(*, credential: Credential, usage: str, account: str) -> str:
    """A session for the phone's key generation of ``usage``; refused when a live share exists already."""
    if usage not in USAGES:
        raise InvalidInput(_("不支持的密钥用途"), code="invalid_request")
    _own_credential(credential, account)
    if ca_facade.key_profile(credential.key_profile).family != "sm2":
        raise Conflict(_("只有国密 SM2 证书可以使用协同签名"), code="not_sm2")
    if live_share(credential, usage) is not None:
        raise Conflict(_("该证书已有协同密钥"), code="share_exists")
    with transaction.atomic(durable=True):
        return _new_round(credential, "keygen", usage, bound=usage).session


@sensitive_variables()
def keygen_finish(*, session: str, message: Any, account: str) -> str:
    """Check the phone's P1 and its proof, draw d2, store the share (d2 and a new pepper wrapped) and return P
    (hex). The round is spent whatever the outcome; a second live share is refused."""
    with transaction.atomic(durable=True):
        found = _spend(session, "keygen", account)
    try:
        share, answer = ca_facade.sm2_cosign.ServerShare.keygen(message, found.session)
    except ca_facade.sm2_cosign.CosignRefused as exc:
        _settle(found, exc.code)
        raise Refused(_("手机发来的密钥分量未通过校验"), code=exc.code) from None
    credential, usage = found.credential, found.usage
    d2_wrapped = _wrap(credential, usage, share.d2)
    pepper_wrapped = _wrap(credential, usage, secrets.token_bytes(PEPPER_BYTES))
    try:
        with transaction.atomic(durable=True):
            lock_credential_pk(credential.pk)
            if live_share(credential, usage) is not None:
                raise IntegrityError("a live share exists")
            CosignShare.objects.create(
                credential=credential,
                usage=usage,
                d2_wrapped=d2_wrapped,
                p1=share.p1.hex(),
                public_key=share.public_point.hex(),
                pepper_wrapped=pepper_wrapped,
                created_at=now(),
            )
            _settle(found, "done")
    except IntegrityError:
        _settle(found, "share_exists")
        raise Conflict(_("该证书已有协同密钥"), code="share_exists") from None
    return str(answer["public_key"])


# --- signing and decryption --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignRound:
    session: str
    e: str  # hex


@dataclass(frozen=True)
class DecryptRound:
    session: str
    ciphertext: bytes  # the SM2Cipher the phone computes T1 for


def _take_authorization(authorization: KeyUseAuthorization, operation: str, account: str) -> KeyUseAuthorization:
    """The claimant's approved authorisation of ``operation``, spent once (under the credential's and its row
    lock) for the rounds it starts; every refusal leaves it as it was (an expired one is marked expired)."""
    _own_credential(authorization.credential, account)
    refuse_unless_usable(authorization.credential)
    expired = False
    with transaction.atomic(durable=True):
        current = lock_credential_pk(authorization.credential_id)
        authorization = lock_authorization_pk(authorization.pk)
        if authorization.operation != operation:
            raise PermissionDenied(_("授权无效"), code="invalid_sad")
        if authorization.status == KeyUseStatus.USED:
            raise PermissionDenied(_("授权已使用过，每次授权只能使用一次"), code="sad_used")
        if authorization.status != KeyUseStatus.AUTHORIZED:
            raise PermissionDenied(_("授权无效"), code="invalid_sad")
        serial = current.sign_serial if operation == "sign" else current.encrypt_serial
        if authorization.key_serial != serial:
            raise PermissionDenied(_("该授权是为续费更换之前的密钥给出的，请重新授权"), code="sad_key_replaced")
        assert authorization.expires_at is not None
        if now() >= authorization.expires_at:
            authorization_move(authorization, KeyUseStatus.EXPIRED)
            expired = True
        else:
            authorization.used_at = now()
            authorization_move(authorization, KeyUseStatus.USED, also=["used_at"])
    if expired:
        raise PermissionDenied(_("授权已过期（5 分钟），请重新授权"), code="sad_expired")
    return authorization


def _need_share(credential: Credential, usage: str) -> None:
    if live_share(credential, usage) is None:
        raise Conflict(_("该证书没有协同密钥"), code="no_share")


def sign_begin(*, authorization: KeyUseAuthorization, account: str) -> list[SignRound]:
    """One round per digest of an approved sign authorisation (SM3 e values, base64), the authorisation spent."""
    _need_share(authorization.credential, "sign")
    digests = [base64.b64decode(value) for value in authorization.hashes]
    if any(len(e) != 32 for e in digests):
        raise InvalidInput(_("摘要须为 32 字节的 SM3 值"), code="invalid_hash_length")
    authorization = _take_authorization(authorization, "sign", account)
    with transaction.atomic(durable=True):
        rounds = [
            _new_round(authorization.credential, "sign", "sign", bound=e.hex(), authorization=authorization)
            for e in digests
        ]
    return [SignRound(session=item.session, e=item.bound) for item in rounds]


def _failed(found: CosignRound, code: str, *, address: str | None) -> None:
    """A refused phone message: the round's outcome and the operation record 「签名失败」/「解密失败」 with the code."""
    authorization = found.authorization
    assert authorization is not None
    credential = found.credential
    with transaction.atomic(durable=True):
        CosignRound.objects.filter(pk=found.pk).update(outcome=code)
        record_operation(
            action=f"{authorization.operation}_failed",
            account=credential.account,
            enterprise_uscc=credential.enterprise_uscc,
            credential=credential,
            platform=authorization.platform,
            purpose=" · ".join(part for part in (authorization.purpose, authorization.file_name) if part),
            address=address,
            data={"failure": code, "ref": authorization.public_ref, "cosign": True},
        )


def _done(found: CosignRound, *, address: str | None) -> None:
    """A round answered; the authorisation's record once its last round is."""
    authorization = found.authorization
    assert authorization is not None
    credential = found.credential
    with transaction.atomic(durable=True):
        CosignRound.objects.filter(pk=found.pk).update(outcome="done")
        siblings = CosignRound.objects.filter(authorization=authorization)
        if siblings.exclude(outcome="done").exists():
            return
        record_operation(
            action=authorization.operation,
            account=credential.account,
            enterprise_uscc=credential.enterprise_uscc,
            credential=credential,
            platform=authorization.platform,
            purpose=" · ".join(part for part in (authorization.purpose, authorization.file_name) if part),
            address=address,
            data={"hashes": len(authorization.hashes), "ref": authorization.public_ref, "cosign": True},
        )


@sensitive_variables()
def sign_round(*, session: str, message: Any, account: str, address: str | None = None) -> dict[str, str]:
    """The service's answer ``{"r", "s2", "s3"}`` to the phone's message for this round's digest; the round is spent
    first. A refused message is recorded as a failed signature with its code; nothing is signed."""
    with transaction.atomic(durable=True):
        found = _spend(session, "sign", account)
    share = live_share(found.credential, "sign")
    if share is None:
        _failed(found, "no_share", address=address)
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    try:
        answer = _server_share(share).sign_round(found.bound, message, found.session)
    except ca_facade.sm2_cosign.CosignRefused as exc:
        _failed(found, exc.code, address=address)
        raise Refused(_("手机发来的签名分量未通过校验，未签名"), code=exc.code) from None
    _done(found, address=address)
    return answer


def _encrypted_key(envelope: bytes, credential: Credential) -> bytes:
    """The SM2Cipher (encryptedKey) of a GB/T 35275 envelope header addressed to the encryption certificate."""
    certificate = x509.load_pem_x509_certificate(
        ca_facade.certificate_pem(serial_hex=credential.encrypt_serial).encode()
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    parsed = asn1_x509.Certificate.load(der)
    wanted = (parsed.issuer.dump(), parsed.serial_number)
    try:
        recipients = cms_gm.parse_header(envelope).recipients
    except cms_gm.EnvelopeError as exc:
        raise InvalidInput(_("数字信封格式无效"), code="bad_envelope") from exc
    for recipient in recipients:
        if (recipient.issuer, recipient.serial) == wanted:
            return recipient.encrypted_key
    raise InvalidInput(_("该数字信封不是加密给此证书的（例如续费更换密钥之前加密的文件）"), code="not_a_recipient")


def decrypt_begin(*, authorization: KeyUseAuthorization, envelope: bytes, account: str) -> DecryptRound:
    """The round for an approved decrypt authorisation of this envelope (its SHA-256 is the one authorised): the
    SM2Cipher of its encryptedKey for the credential's encryption certificate, bound by its C1."""
    _need_share(authorization.credential, "encrypt")
    expected = base64.b64encode(hashlib.sha256(envelope).digest()).decode()
    if list(authorization.hashes) != [expected]:
        raise PermissionDenied(_("数字信封未经此次授权"), code="hash_not_authorized")
    ciphertext = _encrypted_key(envelope, authorization.credential)
    try:
        c1, _c3, _c2 = ca_facade.sm2_cosign.parse_ciphertext(ciphertext)
    except ca_facade.sm2_cosign.CosignRefused:
        raise InvalidInput(_("数字信封格式无效"), code="bad_envelope") from None
    authorization = _take_authorization(authorization, "decrypt", account)
    with transaction.atomic(durable=True):
        found = _new_round(
            authorization.credential,
            "decrypt",
            "encrypt",
            bound=c1.hex(),
            ciphertext=ciphertext,
            authorization=authorization,
        )
    return DecryptRound(session=found.session, ciphertext=ciphertext)


@sensitive_variables()
def decrypt_round(*, session: str, message: Any, account: str, address: str | None = None) -> bytes:
    """The plaintext (the envelope's content key) from the phone's T1 and DLEQ proof for this round; the round is
    spent first. A refused message or ciphertext is recorded as a failed decryption; nothing is decrypted."""
    with transaction.atomic(durable=True):
        found = _spend(session, "decrypt", account)
    share = live_share(found.credential, "encrypt")
    if share is None:
        _failed(found, "no_share", address=address)
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    try:
        plaintext = _server_share(share).decrypt_round(bytes(found.ciphertext or b""), message, found.session)
    except ca_facade.sm2_cosign.CosignRefused as exc:
        _failed(found, exc.code, address=address)
        raise Refused(_("手机发来的解密分量未通过校验，未解密"), code=exc.code) from None
    _done(found, address=address)
    return plaintext


# --- the pepper of the phone's storage ---------------------------------------------------------------------------


@sensitive_variables()
def pepper_release(
    *, credential: Credential, pin: str, account: str, usage: str = "sign", address: str | None = None
) -> bytes:
    """The 32-byte pepper of the live share of ``usage``, only once ``pin_check`` accepted the PIN: a wrong PIN is
    counted and locks the key exactly as for any other use (5 wrong in a row), and releases nothing."""
    if usage not in USAGES:
        raise InvalidInput(_("不支持的密钥用途"), code="invalid_request")
    _own_credential(credential, account)
    share = live_share(credential, usage)
    if share is None:
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    guess = pin_guess(credential, pin)  # argon2id before the row lock
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        locked = lock_credential_pk(credential.pk)
        refusal = pin_check(locked, guess, purpose=_("解锁协同密钥"), address=address)
    if refusal is not None:
        raise refusal
    return ca_facade.unwrap_bytes(owner_id=owner_id(credential, usage), blob=bytes(share.pepper_wrapped))


__all__ = [
    "ROUND_LIFETIME",
    "DecryptRound",
    "Refused",
    "RoundRefused",
    "SignRound",
    "decrypt_begin",
    "decrypt_round",
    "keygen_begin",
    "keygen_finish",
    "live_share",
    "owner_id",
    "pepper_release",
    "sign_begin",
    "sign_round",
]
