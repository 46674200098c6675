"""Using a credential's key (R4.5, R4.6, §7): authorisations bound to exactly what is signed or decrypted (the CSC
"SAD" at SCAL2), single use and short-lived, asked for with the PIN (the claimant's own tool) or approved on the
claimant's phone; then signing hashes, or unwrapping one envelope's content key. The key is unwrapped only after an
authorisation has been consumed, under row locks, in a committed transaction. Which algorithm a credential signs
with is its key profile's (``Credential.key_profile``), never a constant here.

Who the callers are is ``callers.py``; the PIN and its lock-out are ``pin.py``; the records ``records.py``. Every
function holding a PIN, a SAD, a handle or a key is ``sensitive_variables``: no error report shows one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.cmslib import gm as cms_gm
from mobileca.cmslib import signed as cms_signed
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.shield import cosign_keys, envelopes
from mobileca.shield.callers import Caller, credential_for, digest
from mobileca.shield.credential_keys import archived_key_live, archived_key_unwrap, archived_keys_live
from mobileca.shield.locks import lock_authorization_pk, lock_credential_pk
from mobileca.shield.models import CosignRound, Credential, KeyUseAuthorization, KeyUseStatus, PhoneAccount
from mobileca.shield.pin import PinGuess, pin_check, pin_guess, pin_read
from mobileca.shield.records import record_operation
from mobileca.shield.transitions import authorization_move

AUTHORIZATION_LIFETIME = timedelta(minutes=5)  # §7: an authorisation is good for 5 minutes, once
REQUEST_LIFETIME = timedelta(minutes=5)  # the phone must answer a request within this
MAX_HASHES = 1000  # hashes one authorisation may cover (CSC numSignatures)


class Expired(ApplicationError):
    status = 403
    code = "credential_expired"


def key_profile_of(credential: Credential) -> ca_facade.KeyProfile:
    """The credential's key profile: its algorithm, and the OIDs the API advertises and accepts for it."""
    return ca_facade.key_profile(credential.key_profile)


def refuse_unless_usable(credential: Credential, *, at: datetime | None = None, operation: str = "sign") -> None:
    """An expired card, or one whose certificates were revoked, cannot sign or decrypt, and says why (R4.6). One
    exception (issue 21): a claimant removed from the enterprise (``revoked_reason`` "affiliation_changed") may
    still decrypt, with the PIN, what was sealed for the card (谁申领谁使用); never after a key compromise."""
    moment = at or now()
    if moment >= credential.expires_at:
        expired_on = timezone.localtime(credential.expires_at).strftime("%Y-%m-%d")
        raise Expired(
            _("证书已于 {date} 到期，不能签名或解密。请在平台「CA 续费申领」中续费。").format(date=expired_on),
            code="credential_expired",
        )
    if operation == "decrypt" and credential.revoked_reason == "affiliation_changed":
        return
    for serial in (credential.sign_serial, credential.encrypt_serial):
        if ca_facade.certificate_info(serial_hex=serial).status != "good":
            raise Expired(_("证书已吊销，不能签名或解密"), code="credential_revoked")


# --- authorisations --------------------------------------------------------------------------------------------


def _decode_hashes(values: list[str]) -> list[str]:
    if not values or len(values) > MAX_HASHES:
        raise InvalidInput(_("待授权的摘要数量无效"), code="invalid_request")
    decoded = []
    for value in values:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(_("摘要须为 Base64 编码的 SHA-256 值"), code="invalid_hash_base64") from None
        if len(raw) != 32:
            raise InvalidInput(_("摘要须为 Base64 编码的 SHA-256 值"), code="invalid_hash_length")
        decoded.append(base64.b64encode(raw).decode())
    return decoded


def _serial_for(credential: Credential, operation: str) -> str:
    """The certificate an authorisation of ``operation`` is for: the signing certificate's serial, or the
    encryption certificate's (decryption)."""
    return credential.sign_serial if operation == "sign" else credential.encrypt_serial


def _key_usable(credential: Credential, operation: str, serial: str) -> bool:
    """Whether an authorisation of ``operation`` may be for the certificate ``serial``: the current key's, or for a
    decryption a live archived encryption key's (issue 21; read only then)."""
    if serial.lower() == _serial_for(credential, operation).lower():
        return True
    return operation == "decrypt" and bool(serial) and archived_key_live(credential, serial) is not None


@sensitive_variables()
def _sad_for(handle: str) -> str:
    """The SAD a handle's approved request yields: derived, so nothing secret is stored in clear."""
    return "sad_" + hmac.new(settings.SECRET_KEY.encode(), f"sad:{handle}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Document:
    """What the phone shows of the file a request is about, beside its name (the platform's own requests; a CSC
    client sends hashes only). For signing, the file's digest (shown on both screens) must come with
    ``signed_attributes`` (the DER SET OF signed attributes that carries it as its message digest): the service
    checks that the digest shown is the message digest in what is signed before anything is stored (issue 18).
    The digest is the credential's profile's: ``sha256`` (whose one hash to sign is the SHA-256 of the attributes)
    for ECDSA and RSA, ``sm3`` for SM2 (GB/T 35275: the one hash to sign is e = SM3(Z ‖ attributes), Z of the
    signing certificate's key and the ID 1234567812345678)."""

    size: int | None = None
    sha256: bytes = b""
    signed_attributes: bytes = b""
    tender_no: str = ""
    tender_name: str = ""
    sm3: bytes = b""
    envelope: bytes = b""  # decrypt: the envelope header itself (public), whose SHA-256 is the one hash

    @property
    def digest(self) -> bytes:
        """The file digest shown, whichever algorithm it is of."""
        return self.sm3 or self.sha256


class DigestMismatch(InvalidInput):
    code = "digest_mismatch"


def _is_sm2(profile: ca_facade.KeyProfile) -> bool:
    return profile.family == "sm2"


def digest_name(profile: ca_facade.KeyProfile) -> str:
    """The name of the file digest a request for a credential of ``profile`` shows: "SM3" for SM2, else "SHA-256"."""
    return "SM3" if _is_sm2(profile) else "SHA-256"


def _binding_problem(
    operation: str, digests: list[str], document: Document, *, profile: ca_facade.KeyProfile, signer_pem: str
) -> str:
    """Why the file digest the phone would show is not bound to what is signed ("" when it is, or none is shown).
    ``profile`` is the credential's, ``signer_pem`` its signing certificate (Z of SM2's e is computed from it)."""
    if not document.sha256 and not document.sm3 and not document.signed_attributes:
        return ""
    if operation != "sign":
        return "a file digest is shown for signing only"
    if document.sha256 and document.sm3:
        return "one file digest is shown, SHA-256 or SM3"
    if _is_sm2(profile) and document.sha256:
        return "an SM2 credential's file digest is the file's SM3"
    if not _is_sm2(profile) and document.sm3:
        return "an SM3 file digest is for an SM2 credential only"
    if len(document.digest) != 32 or not document.signed_attributes:
        return "the file digest needs the signed attributes that carry it"
    if len(digests) != 1:
        return "a file digest is shown for exactly one hash"
    if _is_sm2(profile):
        try:
            signer_der = x509.load_pem_x509_certificate(signer_pem.encode()).public_bytes(serialization.Encoding.DER)
            e = cms_gm.attributes_hash(document.signed_attributes, signer_der)
        except (ValueError, cms_gm.SignatureInvalid) as exc:
            return str(exc)
        expected = base64.b64encode(e).decode()
        if not hmac.compare_digest(digests[0], expected):
            return "the hash to sign is not e = SM3(Z || signed attributes) for the signing certificate"
    else:
        expected = base64.b64encode(hashlib.sha256(document.signed_attributes).digest()).decode()
        if not hmac.compare_digest(digests[0], expected):
            return "the hash to sign is not the SHA-256 of the signed attributes"
    try:
        inside = cms_signed.attributes_message_digest(document.signed_attributes)
    except cms_signed.SignatureInvalid as exc:
        return str(exc)
    if not hmac.compare_digest(inside, document.digest):
        return "the file digest shown is not the message digest in the signed attributes"
    return ""


def _refuse_unbound(
    credential: Credential,
    *,
    platform: str,
    requested_by: str,
    problem: str,
    purpose: str,
    file_name: str,
    address: str | None,
) -> DigestMismatch:
    """In the caller's transaction: record a request whose shown file digest is not what would be signed (nothing
    signed): an operation record 「签名失败」 the claimant sees, with the reason in the audit log. Returns the
    refusal for the caller to raise once that is committed."""
    record_operation(
        action="sign_failed",
        account=credential.account,
        enterprise_uscc=credential.enterprise_uscc,
        credential=credential,
        platform=platform,
        purpose=" · ".join(part for part in (purpose.strip()[:100], file_name.strip()[:200]) if part),
        address=address,
        data={"failure": "digest_mismatch", "reason": problem, "requested_by": requested_by},
    )
    return DigestMismatch(_("文件摘要与待签名的内容不符，已拒绝此次签名请求"), code="digest_mismatch")


@dataclass(frozen=True)
class AuthorizeResult:
    sad: str  # empty while the phone has not answered
    handle: str
    public_ref: str
    expires_in: int


@sensitive_variables()
def authorize(
    *,
    caller: Caller,
    credential_id: str,
    operation: str,
    hashes: list[str],
    pin: str | None,
    purpose: str = "",
    file_name: str = "",
    address: str | None = None,
    document: Document | None = None,
) -> AuthorizeResult:
    """``credentials/authorize``: with the PIN (the claimant's own tool) the SAD comes at once; without, a request
    waits for the claimant's phone and the caller polls ``authorizeCheck`` with the handle. A ``document`` (the
    platform's) is what the phone shows of the file; its digest must be bound to what is signed, or the request is
    refused and recorded, and nothing is stored."""
    if operation not in ("sign", "decrypt"):
        raise InvalidInput(_("不支持的操作"), code="invalid_request")
    digests = _decode_hashes(hashes)
    if operation == "decrypt" and len(digests) != 1:
        raise InvalidInput(_("解密授权只对应一个数字信封"), code="invalid_request")
    if pin is not None and caller.kind != "token":
        raise PermissionDenied(_("PIN 码只能由申领人本人在手机或本人工具中输入"), code="pin_not_accepted")
    if pin is not None:
        pin = pin_read(pin)  # not six digits: refused before anything is stored, not counted
    credential = credential_for(caller, credential_id)
    refuse_unless_usable(credential, operation=operation)
    document = document or Document()
    if cosign_keys.is_split(credential):
        # issue 20: the phone holds half of the key, so only the phone can approve, and it needs the envelope's C1
        if pin is not None:
            raise PermissionDenied(_("该证书的密钥由手机与服务共同持有，只能在手机上确认"), code="phone_required")
        if operation == "decrypt" and not document.envelope:
            raise InvalidInput(_("协同解密须随请求提供数字信封"), code="envelope_needed")
    if document.envelope and (
        operation != "decrypt" or base64.b64encode(hashlib.sha256(document.envelope).digest()).decode() != digests[0]
    ):
        raise InvalidInput(_("数字信封与摘要不符"), code="invalid_request")
    problem = _binding_problem(
        operation,
        digests,
        document,
        profile=key_profile_of(credential),
        signer_pem=ca_facade.certificate_pem(serial_hex=credential.sign_serial)
        if operation == "sign" and (document.digest or document.signed_attributes)
        else "",
    )
    if problem:
        with transaction.atomic(durable=True):
            mismatch = _refuse_unbound(
                credential,
                platform=caller.platform or credential.claim.platform,
                requested_by=caller.label,
                problem=problem,
                purpose=purpose,
                file_name=file_name,
                address=address,
            )
        raise mismatch
    key_serial = _serial_for(credential, operation)
    if operation == "decrypt" and document.envelope:
        key_serial = _recipient_serial(credential, document.envelope)  # issue 21: maybe an archived key's
    guess: PinGuess | None = None if pin is None else pin_guess(credential, pin)  # argon2id before the row lock
    handle, public_ref = "h_" + secrets.token_urlsafe(24), secrets.token_urlsafe(12)
    sad = _sad_for(handle)
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        credential = lock_credential_pk(credential.pk)
        moment = now()
        if guess is not None:
            refusal = pin_check(
                credential,
                guess,
                platform=caller.platform or credential.claim.platform,
                purpose=purpose.strip()[:100] or file_name.strip()[:100],
                address=address,
            )
        authorization = KeyUseAuthorization.objects.create(
            credential=credential,
            operation=operation,
            hashes=digests,
            platform=caller.platform or credential.claim.platform,
            purpose=purpose.strip()[:100],
            file_name=file_name.strip()[:200],
            requested_by=caller.label,
            requester_address=address,
            public_ref=public_ref,
            handle_digest=digest(handle),
            sad_digest=digest(sad),
            created_at=moment,
            request_expires_at=moment + REQUEST_LIFETIME,
            key_serial=key_serial,
            file_size=document.size if document.size is not None and document.size >= 0 else None,
            file_sha256=document.digest.hex(),  # the file's SM3 for an SM2 credential (its profile says which)
            signed_attributes=document.signed_attributes or None,
            envelope=document.envelope or None,
            tender_no=document.tender_no.strip()[:64],
            tender_name=document.tender_name.strip()[:200],
        )
        if pin is not None and refusal is None:
            _authorized(authorization, approver_address=address)
            authorization.sad_delivered = True
            authorization.save(update_fields=["sad_delivered"])
        elif pin is not None:
            authorization_move(authorization, KeyUseStatus.REFUSED)
    if refusal is not None:
        raise refusal
    return AuthorizeResult(
        sad=sad if pin is not None else "",
        handle=handle,
        public_ref=public_ref,
        expires_in=int((AUTHORIZATION_LIFETIME if pin is not None else REQUEST_LIFETIME).total_seconds()),
    )


def _authorized(authorization: KeyUseAuthorization, *, approver_address: str | None) -> None:
    moment = now()
    authorization.authorized_at = moment
    authorization.expires_at, authorization.approver_address = moment + AUTHORIZATION_LIFETIME, approver_address
    authorization_move(authorization, KeyUseStatus.AUTHORIZED, also=["authorized_at", "expires_at", "approver_address"])
    audit_record(
        action="credential.use_authorized",
        subject=f"credential:{authorization.credential.service_no}",
        actor=Actor("phone", authorization.credential.account),
        data={
            "operation": authorization.operation,
            "hashes": len(authorization.hashes),
            "ref": authorization.public_ref,
        },
    )


def authorization_url(public_ref: str) -> str:
    return settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_authorization", args=[public_ref])


@dataclass(frozen=True)
class CheckResult:
    status: str  # pending | authorized
    sad: str
    expires_in: int


@sensitive_variables()
def authorize_check(*, caller: Caller, handle: str) -> CheckResult:
    """``credentials/authorizeCheck``: the SAD once the phone approved (delivered once), 202 while it waits."""
    with transaction.atomic(durable=True):
        authorization = (
            KeyUseAuthorization.objects.select_for_update()
            .filter(handle_digest=digest(handle), requested_by=caller.label)
            .first()
        )
        if authorization is None:
            raise NotFound(_("未找到该授权请求"), code="handle_unknown")
        moment = now()
        if authorization.status == KeyUseStatus.PENDING and moment >= authorization.request_expires_at:
            _expire(authorization)
        if authorization.status == KeyUseStatus.PENDING:
            remaining = (authorization.request_expires_at - moment).total_seconds()
            return CheckResult("pending", "", int(remaining))
        if authorization.status == KeyUseStatus.AUTHORIZED and not authorization.sad_delivered:
            authorization.sad_delivered = True
            authorization.save(update_fields=["sad_delivered"])
            assert authorization.expires_at is not None
            return CheckResult("authorized", _sad_for(handle), int((authorization.expires_at - moment).total_seconds()))
        status = authorization.status
    if status == KeyUseStatus.REFUSED:
        raise PermissionDenied(_("申领人已拒绝此次授权"), code="authorization_refused")
    if status == KeyUseStatus.EXPIRED:
        raise Conflict(_("授权请求已过期，请重新发起"), code="authorization_expired")
    raise Conflict(_("授权已领取"), code="sad_delivered")


def _expire(authorization: KeyUseAuthorization) -> None:
    authorization_move(authorization, KeyUseStatus.EXPIRED)


def pending_for(account: str) -> list[KeyUseAuthorization]:
    """What the claimant's H5 page lists: requests still waiting for their PIN."""
    return list(
        KeyUseAuthorization.objects.select_related("credential")
        .filter(credential__account=account, status=KeyUseStatus.PENDING, request_expires_at__gt=now())
        .order_by("-created_at")
    )


def masked_name(name: str) -> str:
    """「王*国」: a person's name with all but its first and last characters hidden (「王*」 for two)."""
    name = name.strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def holder_name(account: str) -> str:
    """The claimant's name as the service knows the phone identity ("" if it does not)."""
    return PhoneAccount.objects.filter(account=account).values_list("name", flat=True).first() or ""


class NotYours(PermissionDenied):
    code = "authorization_not_yours"


def authorization_for_phone(*, public_ref: str, account: str) -> KeyUseAuthorization:
    """The signed-in claimant's own request. Someone else's is refused with whose it is (the masked name, nothing
    about the file or the tender), so the person who scanned knows whom to hand the phone to; an unknown reference
    is simply not found."""
    authorization = KeyUseAuthorization.objects.select_related("credential").filter(public_ref=public_ref).first()
    if authorization is None:
        raise NotFound(_("未找到该授权请求"), code="authorization_unknown")
    if authorization.credential.account != account:
        name = masked_name(holder_name(authorization.credential.account))
        if name:
            message = _("该授权请求属于证书申领人 {name}，请由其本人在手机上授权").format(name=name)
        else:
            message = _("该授权请求属于其他证书申领人，请由其本人在手机上授权")
        raise NotYours(message, code="authorization_not_yours")
    return authorization


def document_problem(authorization: KeyUseAuthorization) -> str:
    """The stored request's binding checked again before the PIN is taken: "" when the file digest it shows is the
    message digest of the signed attributes whose hash it authorises (or it shows none)."""
    profile = key_profile_of(authorization.credential)
    try:
        shown = bytes.fromhex(authorization.file_sha256) if authorization.file_sha256 else b""
        document = Document(
            sha256=b"" if _is_sm2(profile) else shown,
            sm3=shown if _is_sm2(profile) else b"",
            signed_attributes=bytes(authorization.signed_attributes or b""),
        )
        signer_pem = ""
        if authorization.operation == "sign" and (shown or document.signed_attributes):
            signer_pem = ca_facade.certificate_pem(serial_hex=authorization.key_serial)  # the key it was asked for
        return _binding_problem(
            authorization.operation, list(authorization.hashes), document, profile=profile, signer_pem=signer_pem
        )
    except ValueError as exc:  # not hex
        return str(exc)


@sensitive_variables()
def approve_on_phone(
    *, public_ref: str, account: str, pin: str, address: str | None, cosign: bool = False
) -> KeyUseAuthorization:
    """The claimant read what is to be signed or decrypted and entered the PIN (R4.5 authorisation on the phone).
    A split-key credential's request (issue 20) is approved only through the two-party rounds (``cosign=True``,
    from ``shield.cosign``): the PIN is checked and counted here as for any other, and the request stays pending
    until the phone's half is done (``authorize_cosigned``)."""
    authorization = authorization_for_phone(public_ref=public_ref, account=account)
    refuse_unless_usable(authorization.credential, operation=authorization.operation)
    if cosign_keys.is_split(authorization.credential) != cosign:
        if cosign:
            raise Conflict(_("该证书的密钥不是手机与服务共同持有的"), code="not_split")
        raise Conflict(
            _("该证书的密钥由手机与服务共同持有，请在本机的 e签盾 页面上确认（需启用浏览器脚本）"),
            code="cosign_required",
        )
    guess = pin_guess(authorization.credential, pin)  # argon2id before the row lock
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        credential = lock_credential_pk(authorization.credential_id)  # the credential before its authorisation
        authorization = lock_authorization_pk(authorization.pk)
        if authorization.status == KeyUseStatus.PENDING and now() >= authorization.request_expires_at:
            _expire(authorization)
        if authorization.status != KeyUseStatus.PENDING:
            raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
        problem = document_problem(authorization)
        if problem:  # what the phone showed is not what would be signed: refused before the PIN counts
            authorization_move(authorization, KeyUseStatus.REFUSED)
            refusal = _refuse_unbound(
                credential,
                platform=authorization.platform,
                requested_by=authorization.requested_by,
                problem=problem,
                purpose=authorization.purpose,
                file_name=authorization.file_name,
                address=address,
            )
        else:
            refusal = pin_check(
                credential,
                guess,
                platform=authorization.platform,
                purpose=authorization.purpose or authorization.file_name,
                address=address,
            )
        if refusal is None:
            authorization.credential = credential
            if not cosign:
                _authorized(authorization, approver_address=address)
    if refusal is not None:
        raise refusal
    return authorization


def authorize_cosigned(authorization_pk: int, *, address: str | None) -> KeyUseAuthorization:
    """In the caller's transaction: the phone finished its half of a split-key request's rounds (the signatures
    verified, or the decryption message checked), so the request is approved now, as a whole-key one is by the
    PIN. Refused (``authorization_decided``) unless it is still pending, within its time, for the key it was asked
    for."""
    credential_id = KeyUseAuthorization.objects.values_list("credential_id", flat=True).get(pk=authorization_pk)
    credential = lock_credential_pk(credential_id)  # the credential before its authorisation
    authorization = lock_authorization_pk(authorization_pk)
    if authorization.status != KeyUseStatus.PENDING or now() >= authorization.request_expires_at:
        raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
    if not _key_usable(credential, authorization.operation, authorization.key_serial):
        raise PermissionDenied(_("该授权是为续费更换之前的密钥给出的，请重新授权"), code="sad_key_replaced")
    authorization.credential = credential
    _authorized(authorization, approver_address=address)
    return authorization


@transaction.atomic(durable=True)
def refuse_on_phone(*, public_ref: str, account: str) -> KeyUseAuthorization:
    authorization = authorization_for_phone(public_ref=public_ref, account=account)
    authorization = lock_authorization_pk(authorization.pk)
    if authorization.status != KeyUseStatus.PENDING:
        raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
    authorization_move(authorization, KeyUseStatus.REFUSED)
    audit_record(
        action="credential.use_refused",
        subject=f"credential:{authorization.credential.service_no}",
        actor=Actor("phone", account),
        data={"ref": authorization.public_ref},
    )
    return authorization


@sensitive_variables()
def _consume(
    *,
    caller: Caller,
    credential: Credential,
    sad: str,
    operation: str,
    covers: Callable[[list[str]], bool],
    refusal: str,
    key_serial: str = "",
) -> tuple[KeyUseAuthorization, Credential]:
    """Take the authorisation for this SAD, once: it must be this caller's, for this credential and operation, for
    the key the credential has now (not one a renewal replaced), cover what is asked (``covers`` of its hashes;
    otherwise ``refusal``), approved and within its 5 minutes. Every refusal leaves the SAD as it was (an expired one
    is marked expired). Committed before any key is unwrapped; what was done with it is recorded by the caller once
    it is done (``_recorded``). Returns it with the credential as it is now (the key to unwrap). A decryption names
    the ``key_serial`` the envelope is addressed to: the authorisation must be for that key, the current one or a
    live archived one (issue 21)."""
    refuse_unless_usable(credential, operation=operation)
    with transaction.atomic(durable=True):
        current = lock_credential_pk(credential.pk)  # the credential before its authorisation; no re-key meanwhile
        authorization = (
            KeyUseAuthorization.objects.select_for_update()
            .select_related("credential")
            .filter(sad_digest=digest(sad), credential=credential, requested_by=caller.label)
            .first()
        )
        if authorization is None or authorization.operation != operation:
            raise PermissionDenied(_("授权无效"), code="invalid_sad")
        if not covers(authorization.hashes):
            raise PermissionDenied(refusal, code="hash_not_authorized")
        if authorization.status == KeyUseStatus.USED:
            raise PermissionDenied(_("授权已使用过，每次授权只能使用一次"), code="sad_used")
        if authorization.status != KeyUseStatus.AUTHORIZED:
            raise PermissionDenied(_("授权无效"), code="invalid_sad")
        current_key = _serial_for(current, operation).lower()
        if (
            key_serial
            and key_serial.lower() != current_key
            and not authorization.envelope
            and authorization.key_serial.lower() == current_key
            and _key_usable(current, operation, key_serial)
        ):  # a hash-only request is taken for the current key; one sealed before a renewal needs the envelope
            raise InvalidInput(
                _("该数字信封是加密给续费前的证书的，请在授权请求中附带数字信封（envelope）后重新授权"),
                code="envelope_needed",
            )
        if not _key_usable(current, operation, authorization.key_serial) or (
            key_serial and authorization.key_serial.lower() != key_serial.lower()
        ):
            raise PermissionDenied(
                _("该授权是为续费更换之前的密钥给出的，请重新授权"), code="sad_key_replaced"
            )  # issue 17: a SAD approved before a re-key must not sign with the new key
        assert authorization.expires_at is not None
        if now() >= authorization.expires_at:
            _expire(authorization)
            expired = True
        else:
            expired = False
            authorization.used_at = now()
            authorization_move(authorization, KeyUseStatus.USED, also=["used_at"])
    if expired:
        raise PermissionDenied(_("授权已过期（5 分钟），请重新授权"), code="sad_expired")
    return authorization, current


def _recorded(
    authorization: KeyUseAuthorization,
    credential: Credential,
    *,
    address: str | None,
    failure: str = "",
    archived_serial: str = "",
) -> None:
    """The operation record (R4.4) of a spent authorisation, written once its outcome is known: ``sign`` or
    ``decrypt`` when it was done, ``sign_failed`` / ``decrypt_failed`` with the reason's code when it was not. A
    decryption with an archived key (issue 21) says so in the record and in the audit log."""
    operation = authorization.operation
    data: dict[str, object] = {"hashes": len(authorization.hashes), "ref": authorization.public_ref}
    if failure:
        data["failure"] = failure
    if archived_serial:
        data["key"], data["key_serial"] = "archived", archived_serial
    with transaction.atomic(durable=True):
        if archived_serial:
            audit_record(
                action="credential.archived_key_used",
                subject=f"credential:{credential.service_no}",
                actor=Actor("phone", credential.account),
                data={"serial": archived_serial, "ref": authorization.public_ref, "failure": failure},
            )
        record_operation(
            action=f"{operation}_failed" if failure else operation,
            account=credential.account,
            enterprise_uscc=credential.enterprise_uscc,
            credential=credential,
            platform=authorization.platform,
            purpose=" · ".join(
                part
                for part in (
                    authorization.purpose,
                    authorization.file_name,
                    _("续费前的加密证书 {serial}").format(serial=archived_serial) if archived_serial else "",
                )
                if part
            ),
            address=address,
            data=data,
        )


def _failure_code(exc: Exception) -> str:
    return exc.code if isinstance(exc, ApplicationError) else type(exc).__name__


def signature_algorithm_check(
    profile: ca_facade.KeyProfile, *, hash_algorithm: str, sign_algorithm: str, sign_algorithm_params: str = ""
) -> None:
    """The algorithms a ``signHash`` names must be the credential's key profile's (empty: the profile's own; for
    SM2 also SM2-1, 1.2.156.10197.1.301.1, which some GM clients name); parameters only where the algorithm takes
    them (none of ours does; RSA PKCS #1 v1.5 may carry a DER NULL)."""
    if hash_algorithm not in ("", profile.hash_oid):
        if _is_sm2(profile):
            raise InvalidInput(_("只支持 SM3 摘要"), code="invalid_hash_algorithm")
        raise InvalidInput(_("只支持 SHA-256 摘要"), code="invalid_hash_algorithm")
    if sign_algorithm not in ("", profile.signature_oid, *profile.also_accepted_signature_oids):
        raise InvalidInput(_("签名算法与密钥不符"), code="invalid_sign_algorithm")
    if sign_algorithm_params and not (profile.family == "rsa" and sign_algorithm_params == "BQA="):
        raise InvalidInput(_("该签名算法不带参数"), code="invalid_sign_algorithm_params")


@sensitive_variables()
def sign_hashes(
    *,
    caller: Caller,
    credential_id: str,
    sad: str,
    hashes: list[str],
    hash_algorithm: str = "",
    sign_algorithm: str = "",
    sign_algorithm_params: str = "",
    address: str | None = None,
) -> list[bytes]:
    """``signatures/signHash``: every hash must be one the SAD covers (SCAL2); the SAD is then spent. The hash and
    signature algorithms, when given, must be the credential's key profile's (empty: the profile's own). Everything
    is checked before the SAD is spent; the signatures are handed out only once their record is committed."""
    credential = credential_for(caller, credential_id)
    signature_algorithm_check(
        key_profile_of(credential),
        hash_algorithm=hash_algorithm,
        sign_algorithm=sign_algorithm,
        sign_algorithm_params=sign_algorithm_params,
    )
    digests = _decode_hashes(hashes)
    authorization, credential = _consume(
        caller=caller,
        credential=credential,
        sad=sad,
        operation="sign",
        covers=lambda authorized: set(digests) <= set(authorized),
        refusal=_("摘要未经此次授权"),
    )
    try:
        if cosign_keys.is_split(credential):
            signatures = _cosigned_signatures(authorization, digests)
        else:
            key = ca_facade.unwrap_private_key(
                owner_id=f"credential:{credential.service_no}:sign", blob=bytes(credential.sign_key_wrapped)
            )
            signatures = [_sign_prehashed(key, base64.b64decode(value)) for value in digests]
    except Exception as exc:
        _recorded(authorization, credential, address=address, failure=_failure_code(exc))
        raise
    _recorded(authorization, credential, address=address)
    return signatures


def _cosigned_signatures(authorization: KeyUseAuthorization, digests: list[str]) -> list[bytes]:
    """A split-key credential's signatures of ``digests``: the ones the phone finished in this authorisation's
    rounds (each verified under the public key when it came back). The service cannot make one itself."""
    finished = {
        item.bound: bytes(item.signature)
        for item in CosignRound.objects.filter(authorization=authorization, kind="sign", outcome="done")
        if item.signature is not None
    }
    signatures = [finished.get(base64.b64decode(value).hex()) for value in digests]
    if any(signature is None for signature in signatures):
        raise Conflict(_("手机尚未完成协同签名"), code="not_cosigned")
    return [signature for signature in signatures if signature is not None]


def curve_oid(profile: ca_facade.KeyProfile) -> str:
    """The OID of an EC or SM2 profile's named curve (what CSC ``credentials/info`` reports as ``key.curve``)."""
    return profile.curve_oid


@sensitive_variables()
def _sign_prehashed(key: object, value: bytes) -> bytes:
    """A digest signed as the key's family signs it: SHA-256 with ECDSA or RSA PKCS #1 v1.5 (as
    sha256WithRSAEncryption); for SM2 the 32-byte e = SM3(Z ‖ M) of GM/T 0009, Z of the signer's key and the ID
    1234567812345678 (what a CSC client computes for signAlgo 1.2.156.10197.1.501)."""
    if isinstance(key, ca_facade.Sm2PrivateKey):
        return key.sign_digest(value)
    prehashed = utils.Prehashed(crypto_hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(value, ec.ECDSA(prehashed))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(value, padding.PKCS1v15(), prehashed)
    raise InvalidInput(_("不支持的密钥类型"), code="invalid_request")


def _recipient_serial(credential: Credential, envelope: bytes) -> str:
    """The serial of the credential's encryption certificate ``envelope`` is addressed to: the current one, or else
    a live archived key's (issue 21); neither is refused (``not_a_recipient``, or ``bad_envelope``)."""
    profile = key_profile_of(credential)
    try:
        _addressed_to(envelope, ca_facade.certificate_pem(serial_hex=credential.encrypt_serial), profile)
        return credential.encrypt_serial
    except InvalidInput as exc:
        if exc.code != "not_a_recipient":
            raise
        for archived in archived_keys_live(credential):
            try:
                _addressed_to(envelope, ca_facade.certificate_pem(serial_hex=archived.serial), profile)
            except InvalidInput as again:
                if again.code == "not_a_recipient":
                    continue
                raise
            return archived.serial
        raise


def _not_a_recipient() -> InvalidInput:
    return InvalidInput(_("该数字信封不是加密给此证书的（例如续费更换密钥之前加密的文件）"), code="not_a_recipient")


def _addressed_to(envelope: bytes, certificate_pem: str, profile: ca_facade.KeyProfile) -> None:
    """Refuse, before any SAD is spent, an envelope that is unreadable or has no recipient information for this
    certificate (issuer and serial number), e.g. one sealed before a renewal's re-key (``envelopes`` then opens it
    with the key). An SM2 credential's envelopes are GB/T 35275 (``cmslib.gm``: SM2 key transport, SM4), read
    leniently (either content-type OID family, key transport 301.3 or 301.2); the others' are RFC 5652."""
    certificate_der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    if _is_sm2(profile):
        try:
            addressed = cms_gm.addressed_to(envelope, certificate_der)
        except cms_gm.EnvelopeError as exc:
            raise InvalidInput(_("数字信封格式无效"), code="bad_envelope") from exc
        if not addressed:
            raise _not_a_recipient()
        return
    certificate = asn1_x509.Certificate.load(certificate_der)
    try:
        info = asn1_cms.ContentInfo.load(envelope, strict=True)
        if info["content_type"].native not in ("enveloped_data", "authenticated_enveloped_data"):
            raise InvalidInput(_("不是数字信封"), code="not_an_envelope")
        rids = []
        for recipient in info["content"]["recipient_infos"]:
            if recipient.name == "kari":
                rids += [encrypted["rid"] for encrypted in recipient.chosen["recipient_encrypted_keys"]]
            elif recipient.name == "ktri":
                rids.append(recipient.chosen["rid"])
        addressed = any(
            rid.name == "issuer_and_serial_number"
            and rid.chosen["serial_number"].native == certificate.serial_number
            and rid.chosen["issuer"] == certificate.issuer
            for rid in rids
        )
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # nested parts are parsed lazily
        raise InvalidInput(_("数字信封格式无效"), code="bad_envelope") from exc
    if not addressed:
        raise _not_a_recipient()


@sensitive_variables()
def decrypt_envelope(
    *, caller: Caller, credential_id: str, sad: str, envelope: bytes, address: str | None = None
) -> envelopes.ContentKey:
    """``credentials/decrypt`` (ours): the content key of one CMS envelope addressed to this credential's encryption
    certificate. The SAD names the envelope by its SHA-256. An envelope not addressed to that certificate is refused
    before the SAD is spent; the key is handed out only once its record is committed, and an envelope that still
    cannot be opened is recorded as a failed decryption. For an SM2 credential the envelope is the GB/T 35275
    header (``cmslib.gm.Sealed.header``: the ContentInfo without its detached ciphertext)."""
    return decrypt_envelope_with(
        caller=caller, credential_id=credential_id, sad=sad, envelope=envelope, address=address
    ).content_key


@dataclass(frozen=True)
class Opened:
    """A decryption's content key and which key gave it: ``archived_serial`` is the archived encryption
    certificate's serial when a key kept from before a renewal opened the envelope (issue 21), else ""."""

    content_key: envelopes.ContentKey
    archived_serial: str = ""


@sensitive_variables()
def decrypt_envelope_with(
    *, caller: Caller, credential_id: str, sad: str, envelope: bytes, address: str | None = None
) -> Opened:
    """``decrypt_envelope``, saying which key opened the envelope: the current encryption key, or the archived key
    of the encryption certificate it was sealed for before a renewal (issue 21; the SAD must be for that key)."""
    digest = base64.b64encode(hashlib.sha256(envelope).digest()).decode()
    credential = credential_for(caller, credential_id)
    serial = _recipient_serial(credential, envelope)  # before the SAD is spent
    archived_serial = "" if serial.lower() == credential.encrypt_serial.lower() else serial
    authorization, credential = _consume(
        caller=caller,
        credential=credential,
        sad=sad,
        operation="decrypt",
        covers=lambda authorized: authorized == [digest],
        refusal=_("数字信封未经此次授权"),
        key_serial=serial,
    )
    try:
        certificate = ca_facade.certificate_pem(serial_hex=serial)
        archived = archived_key_live(credential, archived_serial) if archived_serial else None
        if archived_serial and archived is None:  # destroyed meanwhile (key compromise)
            raise PermissionDenied(_("续费前的加密密钥已销毁，不能解密"), code="archived_key_destroyed")
        if cosign_keys.is_split(credential):  # the current share, or the archived one for ``serial``
            content_key = _cosigned_content_key(authorization, credential, envelope, certificate, serial)
        elif archived is not None:
            content_key = envelopes.content_key(
                envelope, private_key=archived_key_unwrap(archived), certificate_pem=certificate
            )
        else:
            key = ca_facade.unwrap_private_key(
                owner_id=f"credential:{credential.service_no}:encrypt", blob=bytes(credential.encrypt_key_wrapped)
            )
            content_key = envelopes.content_key(envelope, private_key=key, certificate_pem=certificate)
    except Exception as exc:
        _recorded(
            authorization, credential, address=address, failure=_failure_code(exc), archived_serial=archived_serial
        )
        raise
    _recorded(authorization, credential, address=address, archived_serial=archived_serial)
    return Opened(content_key=content_key, archived_serial=archived_serial)


@sensitive_variables()
def _cosigned_content_key(
    authorization: KeyUseAuthorization, credential: Credential, envelope: bytes, certificate_pem: str, serial: str
) -> envelopes.ContentKey:
    """A split-key credential's content key: computed only now, from the phone's checked message of this
    authorisation's decryption round (T1 and its proof, bound to the envelope's C1) and the service's share for the
    certificate ``serial`` (the live one, or the share a renewal archived, issue 21); the message is erased once
    used."""
    found = (
        CosignRound.objects.filter(authorization=authorization, kind="decrypt", outcome="answered")
        .order_by("-pk")
        .first()
    )
    share = cosign_keys.encrypt_share_for(credential, serial)
    if found is None or share is None:
        raise Conflict(_("手机尚未完成协同解密"), code="not_cosigned")
    server = cosign_keys.server_share(share)
    message, session = found.message, found.session

    def unwrap(ciphertext: bytes) -> bytes:
        try:
            return server.decrypt_round(ciphertext, message, session)
        except ca_facade.sm2_cosign.CosignRefused as exc:
            raise ca_facade.Sm2Error(exc.code) from None

    try:
        return envelopes.sm2_content_key_with(envelope, unwrap=unwrap, certificate_pem=certificate_pem)
    finally:  # the phone's message served its one opening: T1 with d2 would give this envelope's key again
        CosignRound.objects.filter(pk=found.pk).update(message=None, outcome="done")
