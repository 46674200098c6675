"""Two-party SM2 (协同签名, issue 20): the signing service's side of the rounds with the claimant's phone — key
generation during a claim or renewal (or a lost phone's re-key after a face check, ``shield.rekey``), signing and
decryption for a request the claimant approves on the phone with the PIN — and the pepper the phone's storage needs,
released only after a counted PIN attempt.

The arithmetic is ``ca.sm2_cosign.ServerShare``; the shares at rest are ``shield.cosign_keys``; here are who may do
what, when, and once. Every round has a session string the service issued (random, 2 minutes, single use), is bound
to what it is for (the usage of a key generation, the digest e of a signature, the C1 of a decryption) and is spent
under its row lock before any key share is unwrapped: a replayed session is refused (``round_used``), an expired one
too (``round_expired``), and neither changes anything. A phone message that fails its checks spends the round and
is recorded as a failed signature or decryption with the code; nothing is signed or decrypted. No function here
signs or decrypts without a phone message carrying a valid proof: d2 alone yields nothing, and d = (d1·d2)⁻¹ − 1
exists nowhere.

A request is approved (its SAD usable by the platform) only once the phone's half is done: for signing, when the
phone sends back the finished signatures, each verified under the public key; for decryption, when its message for
the envelope's C1 passes its proof. The platform's ``signHash`` then returns those signatures, its ``decrypt``
computes the content key from the stored message and the service's share; the service cannot do either alone."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.ca import facade as ca_facade
from mobileca.cmslib import gm as cms_gm
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.shield import cosign_keys, keyuse
from mobileca.shield.claims import claim_of_claimant
from mobileca.shield.faces import CREDENTIAL_FACE_VALIDITY
from mobileca.shield.locks import lock_claim, lock_credential_pk
from mobileca.shield.models import (
    ClaimSession,
    ClaimStep,
    CosignRound,
    CosignShare,
    Credential,
    FaceCheck,
    FaceOutcome,
    KeyUseAuthorization,
)
from mobileca.shield.pin import pin_check, pin_guess
from mobileca.shield.records import record_operation

ROUND_LIFETIME = timedelta(minutes=2)
USAGES = cosign_keys.USAGES
PEPPER_BYTES = 32


class RoundRefused(PermissionDenied):
    code = "round_refused"


class Refused(InvalidInput):
    """A phone message the protocol refuses (``bad_point``, ``bad_scalar``, ``bad_proof``, ``bad_ciphertext``,
    ``bad_signature``)."""

    code = "bad_proof"


def _round_account(found: CosignRound) -> str:
    if found.credential is not None:
        return found.credential.account
    return found.claim.claimant_account if found.claim is not None else ""


def _new_round(
    kind: str,
    usage: str,
    *,
    credential: Credential | None = None,
    claim: ClaimSession | None = None,
    bound: str = "",
    ciphertext: bytes | None = None,
    authorization: KeyUseAuthorization | None = None,
) -> CosignRound:
    moment = now()
    return CosignRound.objects.create(
        session=secrets.token_urlsafe(32),
        credential=credential,
        claim=claim,
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
        .select_related("credential", "claim", "authorization")
        .filter(session=session if isinstance(session, str) else "", kind=kind)
        .first()
    )
    if found is None or not account or _round_account(found) != account:
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


# --- key generation (during a claim's or a renewal's PIN step, or a re-key after a face check) ---------------------


def _keygen_claim(ticket: str, account: str) -> ClaimSession:
    """The claim (at 「设置PIN码」) or renewal (at 「确认续费」) of this claimant whose new keys are split."""
    found = ClaimSession.objects.filter(ticket=ticket if isinstance(ticket, str) else "").first()
    step = ClaimStep.RENEWAL if found is not None and found.kind == "renewal" else ClaimStep.PIN
    claim = claim_of_claimant(ticket, account, at=step)
    if claim.kind == "renewal":
        credential = Credential.objects.filter(claim__card_ref=claim.card_ref).first()
        split = credential is not None and cosign_keys.is_split(credential)
        if credential is not None and credential.revoked_reason == "key_compromise":  # no new halves for it
            raise PermissionDenied(_("该证书已吊销，不能续费；如需使用请重新购买"), code="credential_revoked")
    else:
        split = cosign_keys.split_for_new_credentials()
    if not split:
        raise Conflict(_("该证书的密钥不是手机与服务共同持有的"), code="not_split")
    return claim


def _keygen_credential(service_no: str, account: str) -> Credential:
    """The split credential of this claimant (谁申领谁使用: the credential's own account, nobody else) whose re-key
    a fresh face check allows: a passed re-key face check (``pin_reset``) of its claim, not used and within 10
    minutes. Anything else is refused before a round exists."""
    credential = Credential.objects.filter(
        service_no=service_no if isinstance(service_no, str) else "", account=account
    ).first()
    if credential is None or not account:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    if not cosign_keys.is_split(credential):
        raise Conflict(_("该证书的密钥不是手机与服务共同持有的"), code="not_split")
    if rekey_face_check(credential, account) is None:
        raise PermissionDenied(_("请先完成人脸识别"), code="face_required")
    return credential


def rekey_face_check(credential: Credential, account: str, check_id: str = "") -> FaceCheck | None:
    """The passed, unused re-key face check (``pin_reset``, the last 10 minutes) of the credential's claimant, if
    any (``check_id``: that one only)."""
    found = FaceCheck.objects.filter(
        claim_id=credential.claim_id,
        account=account,
        purpose="pin_reset",
        outcome=FaceOutcome.PASSED,
        consumed_at__isnull=True,
        finished_at__gt=now() - CREDENTIAL_FACE_VALIDITY,
    )
    if check_id:
        found = found.filter(check_id=check_id)
    return found.order_by("-finished_at").first()


def keygen_begin(*, ticket: str = "", usage: str, account: str, service_no: str = "") -> str:
    """A session for the phone's share of the ``usage`` key of the claim or renewal ``ticket``, or (``service_no``)
    of a lost or cleared phone's re-key of the claimant's own split credential once a fresh face check passed."""
    if usage not in USAGES:
        raise InvalidInput(_("不支持的密钥用途"), code="invalid_request")
    if service_no:
        credential = _keygen_credential(service_no, account)
        with transaction.atomic(durable=True):
            return _new_round("keygen", usage, credential=credential, bound=usage).session
    claim = _keygen_claim(ticket, account)
    with transaction.atomic(durable=True):
        return _new_round("keygen", usage, claim=claim, bound=usage).session


@dataclass(frozen=True)
class Keygen:
    public_key: str  # hex 04||x||y: the key the certificate will carry; the phone files its share under it
    pepper: bytes = field(repr=False)  # for the phone's storage, with the PIN the claimant is about to set


@sensitive_variables()
def keygen_finish(*, session: str, message: Any, account: str) -> Keygen:
    """Check the phone's P1 and its proof, draw d2, keep the share (d2 and a new pepper wrapped) for the claim's
    activation (or, for a re-key's round, with the credential and no claim, for ``rekey.rekey``), which certifies P;
    an earlier uncertified share of the same claim (or re-key) and usage (a phone that started again) is destroyed.
    Returns P and the pepper. The round is spent whatever the outcome."""
    with transaction.atomic(durable=True):
        found = _spend(session, "keygen", account)
    try:
        share, answer = ca_facade.sm2_cosign.ServerShare.keygen(message, found.session)
    except ca_facade.sm2_cosign.CosignRefused as exc:
        _settle(found, exc.code)
        raise Refused(_("手机发来的密钥分量未通过校验"), code=exc.code) from None
    ref = cosign_keys.new_ref()
    pepper = secrets.token_bytes(PEPPER_BYTES)
    d2_wrapped, pepper_wrapped = cosign_keys.wrap(ref, share.d2), cosign_keys.wrap(ref, pepper)
    claim, credential = found.claim, found.credential
    with transaction.atomic(durable=True):
        if claim is not None:
            lock_claim(claim.ticket)
            earlier = cosign_keys.pending_shares(claim=claim).get(found.usage)
        else:  # a re-key: the share waits, with its credential and no claim, for the re-key to certify it
            assert credential is not None
            credential = lock_credential_pk(credential.pk)
            earlier = cosign_keys.pending_shares(credential=credential).get(found.usage)
        if earlier is not None:
            cosign_keys.destroy([earlier])
        CosignShare.objects.create(
            ref=ref,
            claim=claim,
            credential=None if claim is not None else credential,
            usage=found.usage,
            d2_wrapped=d2_wrapped,
            p1=share.p1.hex(),
            public_key=share.public_point.hex(),
            pepper_wrapped=pepper_wrapped,
            created_at=now(),
        )
        _settle(found, "done")
    return Keygen(public_key=str(answer["public_key"]), pepper=pepper)


# --- approving a request on the phone: the PIN, then the rounds ----------------------------------------------------


@dataclass(frozen=True)
class SignRound:
    session: str
    e: str  # hex


@dataclass(frozen=True)
class Approval:
    """What the phone needs after its PIN was accepted: the share's public key (where its half is filed), the
    pepper, and the rounds (one per digest to sign, or one decryption of the envelope's encryptedKey)."""

    operation: str
    public_key: str
    pepper: bytes = field(repr=False)
    rounds: list[SignRound] = field(default_factory=list)
    session: str = ""  # decrypt
    ciphertext: bytes = b""  # decrypt: the SM2Cipher
    c1: str = ""  # decrypt: its C1 (hex), what the phone's message is about


def _encrypted_key(envelope: bytes, serial: str) -> bytes:
    """The SM2Cipher (encryptedKey) of a GB/T 35275 envelope header addressed to the encryption certificate
    ``serial`` (the current one, or one from before a renewal whose share is archived)."""
    certificate = x509.load_pem_x509_certificate(ca_facade.certificate_pem(serial_hex=serial).encode())
    parsed = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    wanted = (parsed.issuer.dump(), parsed.serial_number)
    try:
        recipients = cms_gm.parse_header(envelope).recipients
    except cms_gm.EnvelopeError as exc:
        raise InvalidInput(_("数字信封格式无效"), code="bad_envelope") from exc
    for recipient in recipients:
        if (recipient.issuer, recipient.serial) == wanted:
            return recipient.encrypted_key
    raise InvalidInput(_("该数字信封不是加密给此证书的（例如续费更换密钥之前加密的文件）"), code="not_a_recipient")


def share_serial(authorization: KeyUseAuthorization) -> str:
    """The encryption certificate a decryption request is for: the one ``authorize`` found the envelope addressed
    to (issue 21), else the current one."""
    return authorization.key_serial or authorization.credential.encrypt_serial


@sensitive_variables()
def approve(*, public_ref: str, account: str, pin: str, address: str | None = None) -> Approval:
    """「确认」 with the PIN for a split-key credential's request: everything a whole-key approval checks (the
    claimant's own request, still pending, what is shown bound to what is signed, the PIN counted and locking as
    always), then the rounds; the request stays pending until the phone's half is done. Refusals change nothing
    but the PIN count."""
    authorization = keyuse.authorization_for_phone(public_ref=public_ref, account=account)
    share = (
        cosign_keys.live_share(authorization.credential, "sign")
        if authorization.operation == "sign"
        else cosign_keys.encrypt_share_for(authorization.credential, authorization.key_serial)
    )
    if share is None:
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    ciphertext = c1 = b""
    if authorization.operation == "decrypt":  # the envelope is checked before the PIN counts
        if not authorization.envelope:
            raise InvalidInput(_("协同解密须随请求提供数字信封"), code="envelope_needed")
        ciphertext = _encrypted_key(bytes(authorization.envelope), share_serial(authorization))
        try:
            c1 = ca_facade.sm2_cosign.parse_ciphertext(ciphertext)[0]
        except ca_facade.sm2_cosign.CosignRefused:
            raise InvalidInput(_("数字信封格式无效"), code="bad_envelope") from None
    else:
        digests = [base64.b64decode(value) for value in authorization.hashes]
        if any(len(e) != 32 for e in digests):
            raise InvalidInput(_("摘要须为 32 字节的 SM3 值"), code="invalid_hash_length")
    authorization = keyuse.approve_on_phone(
        public_ref=public_ref, account=account, pin=pin, address=address, cosign=True
    )
    credential = authorization.credential
    with transaction.atomic(durable=True):
        if authorization.operation == "decrypt":
            found = _new_round(
                "decrypt",
                "encrypt",
                credential=credential,
                bound=c1.hex(),
                ciphertext=ciphertext,
                authorization=authorization,
            )
            return Approval(
                operation="decrypt",
                public_key=share.public_key,
                pepper=cosign_keys.pepper(share),
                session=found.session,
                ciphertext=ciphertext,
                c1=c1.hex(),
            )
        rounds = [
            _new_round("sign", "sign", credential=credential, bound=e.hex(), authorization=authorization)
            for e in digests
        ]
    return Approval(
        operation="sign",
        public_key=share.public_key,
        pepper=cosign_keys.pepper(share),
        rounds=[SignRound(session=item.session, e=item.bound) for item in rounds],
    )


def _purpose(authorization: KeyUseAuthorization) -> str:
    return " · ".join(part for part in (authorization.purpose, authorization.file_name) if part)


def _failed(found: CosignRound, code: str, *, address: str | None) -> None:
    """A refused phone message: the round's outcome and the operation record 「签名失败」/「解密失败」 with the code."""
    authorization = found.authorization
    assert authorization is not None
    credential = authorization.credential
    with transaction.atomic(durable=True):
        CosignRound.objects.filter(pk=found.pk).update(outcome=code)
        record_operation(
            action=f"{authorization.operation}_failed",
            account=credential.account,
            enterprise_uscc=credential.enterprise_uscc,
            credential=credential,
            platform=authorization.platform,
            purpose=_purpose(authorization),
            address=address,
            data={"failure": code, "ref": authorization.public_ref, "cosign": True},
        )


@sensitive_variables()
def sign_round(*, session: str, message: Any, account: str, address: str | None = None) -> dict[str, str]:
    """The service's answer ``{"r", "s2", "s3"}`` to the phone's message for this round's digest; the round is spent
    first. A refused message is recorded as a failed signature with its code; nothing is signed."""
    with transaction.atomic(durable=True):
        found = _spend(session, "sign", account)
    assert found.credential is not None
    share = cosign_keys.live_share(found.credential, "sign")
    if share is None:
        _failed(found, "no_share", address=address)
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    try:
        answer = cosign_keys.server_share(share).sign_round(found.bound, message, found.session)
    except ca_facade.sm2_cosign.CosignRefused as exc:
        _failed(found, exc.code, address=address)
        raise Refused(_("手机发来的签名分量未通过校验，未签名"), code=exc.code) from None
    _settle(found, "answered")
    return answer


def _signature_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(_("签名须为 Base64 编码"), code="invalid_request")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(_("签名须为 Base64 编码"), code="invalid_request") from None


def sign_finish(*, public_ref: str, signatures: Any, account: str, address: str | None = None) -> KeyUseAuthorization:
    """The phone's finished signatures ``[{"session", "signature": base64 DER}]``, one for every digest of the
    request, each from a round of this request the service answered and each verifying under the credential's
    public key for its digest: then the request is approved and the platform's ``signHash`` returns them. Anything
    else is refused and recorded, and the request stays pending (the phone may start again)."""
    authorization = keyuse.authorization_for_phone(public_ref=public_ref, account=account)
    share = cosign_keys.live_share(authorization.credential, "sign")
    if share is None:
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    if not isinstance(signatures, list) or not signatures or len(signatures) > len(authorization.hashes):
        raise InvalidInput(_("签名结果无效"), code="invalid_request")
    sessions = {}
    for item in signatures:
        if not isinstance(item, dict) or not isinstance(item.get("session"), str):
            raise InvalidInput(_("签名结果无效"), code="invalid_request")
        sessions[item["session"]] = _signature_bytes(item.get("signature"))
    rounds = {
        item.session: item
        for item in CosignRound.objects.filter(
            authorization=authorization, kind="sign", outcome="answered", session__in=list(sessions)
        )
    }
    wanted = {base64.b64decode(value).hex() for value in authorization.hashes}
    if set(rounds) != set(sessions) or {item.bound for item in rounds.values()} != wanted:
        raise InvalidInput(_("签名结果与本次授权的摘要不符"), code="signatures_incomplete")
    key = cosign_keys.public_key(share)
    for session, signature in sessions.items():
        if not key.verify_digest(signature, bytes.fromhex(rounds[session].bound)):
            _failed(rounds[session], "bad_signature", address=address)
            raise Refused(_("签名未通过验证，未签名"), code="bad_signature")
    with transaction.atomic(durable=True):
        for session, signature in sessions.items():
            CosignRound.objects.filter(pk=rounds[session].pk).update(signature=signature, outcome="done")
        return keyuse.authorize_cosigned(authorization.pk, address=address)


@sensitive_variables()
def decrypt_round(*, session: str, message: Any, account: str, address: str | None = None) -> KeyUseAuthorization:
    """The phone's T1 and DLEQ proof for this round's C1: checked (by opening the ciphertext once, the result
    dropped), kept, and the request approved; the platform's ``decrypt`` computes the content key from them again
    when it spends the SAD. The round is spent first. A refused message or ciphertext is recorded as a failed
    decryption; nothing is decrypted or approved."""
    with transaction.atomic(durable=True):
        found = _spend(session, "decrypt", account)
    assert found.credential is not None and found.authorization is not None
    share = cosign_keys.encrypt_share_for(found.credential, found.authorization.key_serial)
    if share is None:
        _failed(found, "no_share", address=address)
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    try:
        cosign_keys.server_share(share).decrypt_round(bytes(found.ciphertext or b""), message, found.session)
    except ca_facade.sm2_cosign.CosignRefused as exc:
        _failed(found, exc.code, address=address)
        raise Refused(_("手机发来的解密分量未通过校验，未解密"), code=exc.code) from None
    with transaction.atomic(durable=True):
        CosignRound.objects.filter(pk=found.pk).update(message=message, outcome="answered")
        return keyuse.authorize_cosigned(found.authorization.pk, address=address)


# --- the pepper of the phone's storage ---------------------------------------------------------------------------


@sensitive_variables()
def pepper_release(
    *,
    credential: Credential,
    pin: str,
    account: str,
    usage: str = "sign",
    public_key: str = "",
    address: str | None = None,
) -> bytes:
    """The 32-byte pepper of the live share of ``usage``, or of the share with ``public_key`` (live, or an
    encryption share a renewal archived, issue 21) — e.g. to seal the phone's halves again under a new PIN — only
    once ``pin_check`` accepted the PIN: a wrong PIN is counted and locks the key exactly as for any other use (5
    wrong in a row), and releases nothing."""
    if usage not in USAGES:
        raise InvalidInput(_("不支持的密钥用途"), code="invalid_request")
    if credential.account != account:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    share = (
        cosign_keys.share_with_public_key(credential, public_key)
        if public_key
        else cosign_keys.live_share(credential, usage)
    )
    if share is None:
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    guess = pin_guess(credential, pin)  # argon2id before the row lock
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        locked = lock_credential_pk(credential.pk)
        refusal = pin_check(locked, guess, purpose=_("解锁协同密钥"), address=address)
        # read again under the credential's lock: a revocation or a re-key meanwhile destroyed it
        share = CosignShare.objects.filter(pk=share.pk, destroyed_at__isnull=True).first()
    if refusal is not None:
        raise refusal
    if share is None:
        raise Conflict(_("该证书没有协同密钥"), code="no_share")
    return cosign_keys.pepper(share)


__all__ = [
    "ROUND_LIFETIME",
    "Approval",
    "Keygen",
    "Refused",
    "RoundRefused",
    "SignRound",
    "approve",
    "decrypt_round",
    "keygen_begin",
    "keygen_finish",
    "pepper_release",
    "rekey_face_check",
    "sign_finish",
    "sign_round",
]
