"""Using a credential's key (R4.3–R4.6, §7): authorisations bound to exactly what is signed or decrypted (the CSC
"SAD" at SCAL2), the PIN and its lock-out, signing hashes, unwrapping one envelope's content key, and the
operation records (R4.4).

Callers are either a platform (an ``ApiClient``: it never sees a PIN, so every use it asks for is approved on the
claimant's phone) or the claimant's own command-line tool (an ``AccessToken`` from the device login: it may send
the PIN with the request). Either way the key is unwrapped only after an authorisation has been consumed, under
row locks, in a committed transaction."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.ca.keys import unwrap_private_key
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.core.states import ensure_transition
from mobileca.shield import envelopes, sms
from mobileca.shield.models import (
    KEY_USE_TRANSITIONS,
    AccessToken,
    ApiClient,
    Credential,
    KeyUseAuthorization,
    KeyUseStatus,
    OperationRecord,
    PhoneAccount,
)

SHA256_OID = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"
RSA_SHA256_OID = "1.2.840.113549.1.1.11"
AUTHORIZATION_LIFETIME = timedelta(minutes=5)  # §7: an authorisation is good for 5 minutes, once
REQUEST_LIFETIME = timedelta(minutes=5)  # the phone must answer a request within this
MAX_HASHES = 1000  # hashes one authorisation may cover (CSC numSignatures)
PIN_FREE_TRIES = 5  # §7: 5 wrong in a row lock the key for 15 minutes, each further wrong doubles it
PIN_FIRST_LOCK = timedelta(minutes=15)


class Locked(ApplicationError):
    status = 423
    code = "credential_locked"


class Expired(ApplicationError):
    status = 403
    code = "credential_expired"


@dataclass(frozen=True)
class Caller:
    """Who calls the remote-signing API: ``client`` (a platform) or ``token`` (a claimant's tool)."""

    kind: str
    ident: str  # client id, or the claimant's phone account
    platform: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.ident}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def caller_for_bearer(token: str) -> Caller | None:
    """The caller a bearer token stands for: a platform's API key or a claimant's live access token."""
    if token.startswith("mcp_"):
        client = ApiClient.objects.filter(key_digest=_digest(token), active=True).first()
        return Caller("client", client.client_id, client.platform) if client else None
    if token.startswith("mcu_"):
        access = AccessToken.objects.filter(
            token_digest=_digest(token), revoked_at__isnull=True, expires_at__gt=now()
        ).first()
        return Caller("token", access.account) if access else None
    return None


def api_client_create(*, platform: str) -> tuple[ApiClient, str]:
    """A platform's API credentials; the key is shown once and kept only as a digest."""
    key = "mcp_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        client = ApiClient.objects.create(
            client_id="pl_" + secrets.token_hex(6), platform=platform, key_digest=_digest(key), created_at=now()
        )
        audit_record(action="api_client.created", subject=f"api_client:{client.client_id}", actor=SERVICE)
    return client, key


SERVICE = Actor("system", "shield")


# --- which credentials a caller sees ---------------------------------------------------------------------------


def credentials_of(caller: Caller) -> list[Credential]:
    if caller.kind == "token":
        rows = Credential.objects.filter(account=caller.ident)
    else:
        rows = Credential.objects.filter(claim__platform=caller.platform)
    return list(rows.select_related("claim").order_by("activated_at"))


def credential_for(caller: Caller, credential_id: str) -> Credential:
    """The credential if this caller may use it; an unknown and a foreign credential look the same."""
    credential = Credential.objects.select_related("claim").filter(service_no=credential_id).first()
    visible = credential is not None and (
        (caller.kind == "token" and credential.account == caller.ident)
        or (caller.kind == "client" and credential.claim.platform == caller.platform)
    )
    if not visible or credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential


def refuse_unless_usable(credential: Credential, *, at: datetime | None = None) -> None:
    """An expired card, or one whose certificates were revoked, cannot sign or decrypt, and says why (R4.6)."""
    moment = at or now()
    if moment >= credential.expires_at:
        expired_on = timezone.localtime(credential.expires_at).strftime("%Y-%m-%d")
        raise Expired(
            _("证书已于 {date} 到期，不能签名或解密。请在平台「CA 续费申领」中续费。").format(date=expired_on),
            code="credential_expired",
        )
    for serial in (credential.sign_serial, credential.encrypt_serial):
        if ca_facade.certificate_info(serial_hex=serial).status != "good":
            raise Expired(_("证书已吊销，不能签名或解密"), code="credential_revoked")


def lock_message(credential: Credential) -> str:
    until = timezone.localtime(credential.locked_until).strftime("%Y-%m-%d %H:%M") if credential.locked_until else ""
    return _("PIN 码错误次数过多，证书已锁定至 {until}。忘记 PIN 码可通过人脸识别重置。").format(until=until)


def pin_check(credential: Credential, pin: str) -> ApplicationError | None:
    """Check the PIN of a locked (``select_for_update``) credential. Wrong PINs are counted and saved even though
    the caller's request is refused: the returned refusal is raised after the commit."""
    moment = now()
    if credential.locked_until is not None and moment < credential.locked_until:
        return Locked(lock_message(credential))  # not counted: a locked key takes no guesses
    try:
        PasswordHasher().verify(credential.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        credential.pin_failures += 1
        if credential.pin_failures >= PIN_FREE_TRIES:
            credential.locked_until = moment + PIN_FIRST_LOCK * 2 ** (credential.pin_failures - PIN_FREE_TRIES)
        credential.save(update_fields=["pin_failures", "locked_until"])
        audit_record(
            action="credential.pin_wrong",
            subject=f"credential:{credential.service_no}",
            actor=Actor("phone", credential.account),
            data={"failures": credential.pin_failures, "locked_until": credential.locked_until},
        )
        if credential.locked_until is not None and moment < credential.locked_until:
            return Locked(lock_message(credential))
        left = PIN_FREE_TRIES - credential.pin_failures
        return InvalidInput(
            _("PIN 码错误，再错 {left} 次证书将被锁定").format(left=left), code="invalid_authentication_data"
        )
    if credential.pin_failures or credential.locked_until:
        credential.pin_failures, credential.locked_until = 0, None
        credential.save(update_fields=["pin_failures", "locked_until"])
    return None


# --- operation records (R4.4) ----------------------------------------------------------------------------------


def record_operation(
    *,
    action: str,
    account: str,
    enterprise_uscc: str,
    credential: Credential | None = None,
    platform: str = "",
    purpose: str = "",
    address: str | None = None,
    data: dict[str, object] | None = None,
) -> OperationRecord:
    """One operation record, and the same fact in the audit chain (inside the caller's transaction)."""
    event = audit_record(
        action=f"operation.{action}",
        subject=f"credential:{credential.service_no}" if credential else f"phone:{account}",
        actor=Actor("phone", account),
        data={"platform": platform, "purpose": purpose, "address": address, **(data or {})},
    )
    return OperationRecord.objects.create(
        credential=credential,
        account=account,
        enterprise_uscc=enterprise_uscc,
        action=action,
        platform=platform[:64],
        purpose=purpose[:200],
        address=address,
        audit_seq=event.seq,
        created_at=event.occurred_at,
    )


# --- authorisations --------------------------------------------------------------------------------------------


def _decode_hashes(values: list[str]) -> list[str]:
    if not values or len(values) > MAX_HASHES:
        raise InvalidInput(_("待授权的摘要数量无效"), code="invalid_request")
    decoded = []
    for value in values:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(_("摘要须为 Base64 编码的 SHA-256 值"), code="invalid_request") from None
        if len(raw) != 32:
            raise InvalidInput(_("摘要须为 Base64 编码的 SHA-256 值"), code="invalid_request")
        decoded.append(base64.b64encode(raw).decode())
    return decoded


def _sad_for(handle: str) -> str:
    """The SAD a handle's approved request yields: derived, so nothing secret is stored in clear."""
    return "sad_" + hmac.new(settings.SECRET_KEY.encode(), f"sad:{handle}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuthorizeResult:
    sad: str  # empty while the phone has not answered
    handle: str
    public_ref: str
    expires_in: int


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
) -> AuthorizeResult:
    """``credentials/authorize``: with the PIN (the claimant's own tool) the SAD comes at once; without, a request
    waits for the claimant's phone and the caller polls ``authorizeCheck`` with the handle."""
    if operation not in ("sign", "decrypt"):
        raise InvalidInput(_("不支持的操作"), code="invalid_request")
    digests = _decode_hashes(hashes)
    if operation == "decrypt" and len(digests) != 1:
        raise InvalidInput(_("解密授权只对应一个数字信封"), code="invalid_request")
    if pin is not None and caller.kind != "token":
        raise PermissionDenied(_("PIN 码只能由申领人本人在手机或本人工具中输入"), code="pin_not_accepted")
    credential = credential_for(caller, credential_id)
    refuse_unless_usable(credential)
    handle, public_ref = "h_" + secrets.token_urlsafe(24), secrets.token_urlsafe(12)
    sad = _sad_for(handle)
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        credential = Credential.objects.select_for_update().get(pk=credential.pk)
        moment = now()
        if pin is not None:
            refusal = pin_check(credential, pin)
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
            handle_digest=_digest(handle),
            sad_digest=_digest(sad),
            created_at=moment,
            request_expires_at=moment + REQUEST_LIFETIME,
        )
        if pin is not None and refusal is None:
            _authorized(authorization, approver_address=address)
            authorization.sad_delivered = True
            authorization.save(update_fields=["sad_delivered"])
        elif pin is not None:
            ensure_transition(KEY_USE_TRANSITIONS, authorization.status, KeyUseStatus.REFUSED)
            authorization.status = KeyUseStatus.REFUSED
            authorization.save(update_fields=["status"])
    if refusal is not None:
        raise refusal
    return AuthorizeResult(
        sad=sad if pin is not None else "",
        handle=handle,
        public_ref=public_ref,
        expires_in=int((AUTHORIZATION_LIFETIME if pin is not None else REQUEST_LIFETIME).total_seconds()),
    )


def _authorized(authorization: KeyUseAuthorization, *, approver_address: str | None) -> None:
    ensure_transition(KEY_USE_TRANSITIONS, authorization.status, KeyUseStatus.AUTHORIZED)
    moment = now()
    authorization.status, authorization.authorized_at = KeyUseStatus.AUTHORIZED, moment
    authorization.expires_at, authorization.approver_address = moment + AUTHORIZATION_LIFETIME, approver_address
    authorization.save(update_fields=["status", "authorized_at", "expires_at", "approver_address"])
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
    from django.urls import reverse

    return settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_authorization", args=[public_ref])


@dataclass(frozen=True)
class CheckResult:
    status: str  # pending | authorized
    sad: str
    expires_in: int


def authorize_check(*, caller: Caller, handle: str) -> CheckResult:
    """``credentials/authorizeCheck``: the SAD once the phone approved (delivered once), 202 while it waits."""
    with transaction.atomic(durable=True):
        authorization = (
            KeyUseAuthorization.objects.select_for_update()
            .filter(handle_digest=_digest(handle), requested_by=caller.label)
            .first()
        )
        if authorization is None:
            raise NotFound(_("未找到该授权请求"), code="invalid_request")
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
    ensure_transition(KEY_USE_TRANSITIONS, authorization.status, KeyUseStatus.EXPIRED)
    authorization.status = KeyUseStatus.EXPIRED
    authorization.save(update_fields=["status"])


def pending_for(account: str) -> list[KeyUseAuthorization]:
    """What the claimant's H5 page lists: requests still waiting for their PIN."""
    return list(
        KeyUseAuthorization.objects.select_related("credential")
        .filter(credential__account=account, status=KeyUseStatus.PENDING, request_expires_at__gt=now())
        .order_by("-created_at")
    )


def authorization_for_phone(*, public_ref: str, account: str) -> KeyUseAuthorization:
    authorization = KeyUseAuthorization.objects.select_related("credential").filter(public_ref=public_ref).first()
    if authorization is None or authorization.credential.account != account:
        raise NotFound(_("未找到该授权请求"), code="authorization_unknown")
    return authorization


def approve_on_phone(*, public_ref: str, account: str, pin: str, address: str | None) -> KeyUseAuthorization:
    """The claimant read what is to be signed or decrypted and entered the PIN (R4.5 authorisation on the phone)."""
    authorization = authorization_for_phone(public_ref=public_ref, account=account)
    refuse_unless_usable(authorization.credential)
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        authorization = KeyUseAuthorization.objects.select_for_update().get(pk=authorization.pk)
        credential = Credential.objects.select_for_update().get(pk=authorization.credential_id)
        if authorization.status == KeyUseStatus.PENDING and now() >= authorization.request_expires_at:
            _expire(authorization)
        if authorization.status != KeyUseStatus.PENDING:
            raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
        refusal = pin_check(credential, pin)
        if refusal is None:
            authorization.credential = credential
            _authorized(authorization, approver_address=address)
    if refusal is not None:
        raise refusal
    return authorization


@transaction.atomic(durable=True)
def refuse_on_phone(*, public_ref: str, account: str) -> KeyUseAuthorization:
    authorization = authorization_for_phone(public_ref=public_ref, account=account)
    authorization = KeyUseAuthorization.objects.select_for_update().get(pk=authorization.pk)
    if authorization.status != KeyUseStatus.PENDING:
        raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
    ensure_transition(KEY_USE_TRANSITIONS, authorization.status, KeyUseStatus.REFUSED)
    authorization.status = KeyUseStatus.REFUSED
    authorization.save(update_fields=["status"])
    audit_record(
        action="credential.use_refused",
        subject=f"credential:{authorization.credential.service_no}",
        actor=Actor("phone", account),
        data={"ref": authorization.public_ref},
    )
    return authorization


def _consume(
    *,
    caller: Caller,
    credential: Credential,
    sad: str,
    operation: str,
    covers: Callable[[list[str]], bool],
    refusal: str,
    address: str | None,
) -> KeyUseAuthorization:
    """Take the authorisation for this SAD, once: it must be this caller's, for this credential and operation, cover
    what is asked (``covers`` of its hashes; otherwise ``refusal``, and the SAD is not spent), approved and within
    its 5 minutes. Committed before any key is unwrapped."""
    refuse_unless_usable(credential)
    with transaction.atomic(durable=True):
        authorization = (
            KeyUseAuthorization.objects.select_for_update()
            .select_related("credential")
            .filter(sad_digest=_digest(sad), credential=credential, requested_by=caller.label)
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
        assert authorization.expires_at is not None
        if now() >= authorization.expires_at:
            _expire(authorization)
            expired = True
        else:
            expired = False
            ensure_transition(KEY_USE_TRANSITIONS, authorization.status, KeyUseStatus.USED)
            authorization.status, authorization.used_at = KeyUseStatus.USED, now()
            authorization.save(update_fields=["status", "used_at"])
            record_operation(
                action=operation,
                account=credential.account,
                enterprise_uscc=credential.enterprise_uscc,
                credential=credential,
                platform=authorization.platform,
                purpose=" · ".join(part for part in (authorization.purpose, authorization.file_name) if part),
                address=address,
                data={"hashes": len(authorization.hashes), "ref": authorization.public_ref},
            )
    if expired:
        raise PermissionDenied(_("授权已过期（5 分钟），请重新授权"), code="sad_expired")
    return authorization


def sign_hashes(
    *,
    caller: Caller,
    credential_id: str,
    sad: str,
    hashes: list[str],
    hash_algorithm: str = SHA256_OID,
    sign_algorithm: str = ECDSA_SHA256_OID,
    address: str | None = None,
) -> list[bytes]:
    """``signatures/signHash``: every hash must be one the SAD covers (SCAL2); the SAD is then spent."""
    if hash_algorithm != SHA256_OID:
        raise InvalidInput(_("只支持 SHA-256 摘要"), code="invalid_request")
    digests = _decode_hashes(hashes)
    credential = credential_for(caller, credential_id)
    _consume(
        caller=caller,
        credential=credential,
        sad=sad,
        operation="sign",
        covers=lambda authorized: set(digests) <= set(authorized),
        refusal=_("摘要未经此次授权"),
        address=address,
    )
    key = unwrap_private_key(
        owner_id=f"credential:{credential.service_no}:sign", blob=bytes(credential.sign_key_wrapped)
    )
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if sign_algorithm != ECDSA_SHA256_OID:
            raise InvalidInput(_("签名算法与密钥不符"), code="invalid_request")
        algorithm = ec.ECDSA(utils.Prehashed(crypto_hashes.SHA256()))
        return [key.sign(base64.b64decode(digest), algorithm) for digest in digests]
    if isinstance(key, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        if sign_algorithm != RSA_SHA256_OID:
            raise InvalidInput(_("签名算法与密钥不符"), code="invalid_request")
        prehashed = utils.Prehashed(crypto_hashes.SHA256())
        return [key.sign(base64.b64decode(digest), padding.PKCS1v15(), prehashed) for digest in digests]
    raise InvalidInput(_("不支持的密钥类型"), code="invalid_request")


def decrypt_envelope(
    *, caller: Caller, credential_id: str, sad: str, envelope: bytes, address: str | None = None
) -> envelopes.ContentKey:
    """``credentials/decrypt`` (ours): the content key of one CMS envelope addressed to this credential's encryption
    certificate. The SAD names the envelope by its SHA-256."""
    digest = base64.b64encode(hashlib.sha256(envelope).digest()).decode()
    credential = credential_for(caller, credential_id)
    _consume(
        caller=caller,
        credential=credential,
        sad=sad,
        operation="decrypt",
        covers=lambda authorized: authorized == [digest],
        refusal=_("数字信封未经此次授权"),
        address=address,
    )
    key = unwrap_private_key(
        owner_id=f"credential:{credential.service_no}:encrypt", blob=bytes(credential.encrypt_key_wrapped)
    )
    certificate = ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    return envelopes.content_key(envelope, private_key=key, certificate_pem=certificate)


# --- PIN life cycle (R4.3) -------------------------------------------------------------------------------------


def _owned_credential(account: str, service_no: str) -> Credential:
    credential = Credential.objects.select_for_update().filter(service_no=service_no, account=account).first()
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential


def pin_change(
    *, account: str, service_no: str, old_pin: str, new_pin: str, new_again: str, address: str | None
) -> Credential:
    """Change the PIN with the old one (wrong old PINs count towards the lock-out); recorded and notified."""
    from mobileca.shield.services import pin_problem

    problem = pin_problem(new_pin) or (
        "" if secrets.compare_digest(new_pin, new_again) else _("两次输入的 PIN 码不一致")
    )
    if problem:
        raise InvalidInput(problem, code="pin_refused")
    new_hash = PasswordHasher().hash(new_pin)
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        credential = _owned_credential(account, service_no)
        refusal = pin_check(credential, old_pin)
        if refusal is None:
            _set_pin(credential, new_hash, action="pin_change", address=address)
    if refusal is not None:
        raise refusal
    return credential


def _set_pin(credential: Credential, pin_hash: str, *, action: str, address: str | None) -> None:
    credential.pin_hash, credential.pin_changed_at = pin_hash, now()
    credential.pin_failures, credential.locked_until = 0, None
    credential.save(update_fields=["pin_hash", "pin_changed_at", "pin_failures", "locked_until"])
    record_operation(
        action=action,
        account=credential.account,
        enterprise_uscc=credential.enterprise_uscc,
        credential=credential,
        address=address,
    )
    when = timezone.localtime(credential.pin_changed_at).strftime("%Y-%m-%d %H:%M")
    sms.notify_account(
        account=credential.account,
        text=_(
            "【e签盾】您的证书 {service_no} 的 PIN 码已于 {when} 修改。如非本人操作，请立即重置 PIN 码并联系客服。"
        ).format(service_no=credential.service_no, when=when),
    )


def pin_reset(
    *, account: str, service_no: str, check_id: str, new_pin: str, new_again: str, address: str | None
) -> Credential:
    """A forgotten PIN: a fresh face check of the claimant (passed in the last 10 minutes, used once) allows one
    new PIN, and lifts the lock."""
    from mobileca.shield.models import FaceCheck
    from mobileca.shield.services import pin_problem

    problem = pin_problem(new_pin) or (
        "" if secrets.compare_digest(new_pin, new_again) else _("两次输入的 PIN 码不一致")
    )
    if problem:
        raise InvalidInput(problem, code="pin_refused")
    new_hash = PasswordHasher().hash(new_pin)
    with transaction.atomic(durable=True):
        credential = _owned_credential(account, service_no)
        check = (
            FaceCheck.objects.select_for_update()
            .filter(check_id=check_id, account=account, purpose="pin_reset", outcome="passed", consumed_at__isnull=True)
            .first()
        )
        if check is None or check.claim_id != credential.claim_id:
            raise PermissionDenied(_("请先完成人脸识别"), code="face_required")
        if check.finished_at is None or now() - check.finished_at > timedelta(minutes=10):
            raise Conflict(_("人脸识别已超过 10 分钟，请重新识别"), code="face_stale")
        check.consumed_at = now()
        check.save(update_fields=["consumed_at"])
        _set_pin(credential, new_hash, action="pin_reset", address=address)
    return credential


def pin_reset_start(*, account: str, service_no: str) -> str:
    """Forgotten PIN: open a fresh live face check of the claimant; returns where the phone plays it (R4.3)."""
    from mobileca.shield import liveness
    from mobileca.shield.models import FaceCheck
    from mobileca.shield.sealing import unseal_resident_id

    credential = Credential.objects.filter(service_no=service_no, account=account).first()
    person = PhoneAccount.objects.filter(account=account).first()
    if credential is None or person is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    resident_id = unseal_resident_id(account, bytes(person.resident_id_sealed))
    nonce = secrets.token_urlsafe(16)
    opened = liveness.open_check(name=person.name, resident_id=resident_id, nonce=nonce)
    FaceCheck.objects.create(
        claim_id=credential.claim_id,
        account=account,
        check_id=opened.check_id,
        nonce=nonce,
        purpose="pin_reset",
        created_at=now(),
    )
    return opened.url


def pin_reset_face_finish(*, check_id: str, account: str) -> str:
    """The phone is back from the face check: record the signed result; returns the credential's 服务编号."""
    from mobileca.shield import liveness
    from mobileca.shield.models import FaceCheck
    from mobileca.shield.sealing import unseal_resident_id

    check = FaceCheck.objects.filter(check_id=check_id, account=account, purpose="pin_reset").first()
    person = PhoneAccount.objects.filter(account=account).first()
    if check is None or person is None:
        raise NotFound(_("未找到该人脸识别"), code="face_check_unknown")
    resident_id = unseal_resident_id(account, bytes(person.resident_id_sealed))
    passed = liveness.fetch_result(check_id=check_id, nonce=check.nonce, resident_id=resident_id)
    with transaction.atomic(durable=True):
        check = FaceCheck.objects.select_for_update().get(pk=check.pk)
        if check.outcome == "pending":
            check.outcome, check.finished_at = ("passed" if passed else "failed"), now()
            check.save(update_fields=["outcome", "finished_at"])
            audit_record(
                action=f"credential.pin_reset_face_{check.outcome}",
                subject=f"phone:{account}",
                actor=Actor("phone", account),
            )
    credential = Credential.objects.get(claim_id=check.claim_id)
    if not passed:
        raise Conflict(_("人脸识别未通过，请重试"), code="face_failed")
    return credential.service_no


@dataclass(frozen=True)
class RecordRow:
    record: OperationRecord
    person: str
    own: bool


def records_for(account: str, *, limit: int = 200) -> list[RecordRow]:
    """R4.4: the claimant's own records, and an admin's over the members of the enterprises they administer."""
    from django.db.models import Q

    from mobileca.shield.models import ShieldEnterprise

    administered = list(ShieldEnterprise.objects.filter(admin_account=account).values_list("uscc", flat=True))
    rows = (
        OperationRecord.objects.filter(Q(account=account) | Q(enterprise_uscc__in=administered))
        .select_related("credential")
        .order_by("-created_at", "-pk")[:limit]
    )
    names = dict(PhoneAccount.objects.filter(account__in={row.account for row in rows}).values_list("account", "name"))
    return [RecordRow(record=row, person=names.get(row.account, ""), own=row.account == account) for row in rows]
