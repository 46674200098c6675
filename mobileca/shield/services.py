"""Claim-session writes (R2.4, R3.1, R3.10): open or resume a card's claim, renew its QR ticket, bind the claimant."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.ca.backends import KeyBackend
from mobileca.ca.backends.factory import backend as ca_backend
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.core.states import ensure_transition
from mobileca.core.validators import is_valid_uscc
from mobileca.shield import liveness, registry
from mobileca.shield.identity import PhoneIdentity
from mobileca.shield.models import (
    CLAIM_TRANSITIONS,
    AgreementAcceptance,
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    FaceCheck,
    PhoneAccount,
    ShieldEnterprise,
)

SERVICE = Actor("system", "shield")


def ticket_lifetime() -> timedelta:
    return timedelta(minutes=settings.MOBILECA_CLAIM_QR_MINUTES)


def _new_ticket() -> str:
    return secrets.token_urlsafe(24)


def claim_open(*, card_ref: str, platform: str, enterprise_name: str, enterprise_uscc: str) -> ClaimSession:
    """The card's live claim, made if it has none. Idempotent: the platform may call it on every page view."""
    existing = ClaimSession.objects.filter(card_ref=card_ref).exclude(status=ClaimStatus.CANCELLED).first()
    if existing is not None:
        return existing
    moment = now()
    try:
        with transaction.atomic():
            claim = ClaimSession.objects.create(
                card_ref=card_ref,
                platform=platform,
                enterprise_name=enterprise_name,
                enterprise_uscc=enterprise_uscc,
                ticket=_new_ticket(),
                ticket_expires_at=moment + ticket_lifetime(),
                created_at=moment,
            )
            audit_record(action="claim.opened", subject=f"claim:{claim.pk}", actor=SERVICE, data={"card": card_ref})
            return claim
    except IntegrityError:  # another request opened it at the same moment
        return ClaimSession.objects.exclude(status=ClaimStatus.CANCELLED).get(card_ref=card_ref)


@transaction.atomic
def claim_refresh(*, card_ref: str) -> ClaimSession:
    """A fresh QR ticket (the old one stops working). Only while no one has scanned: afterwards the claim is that
    person's, and they resume it by scanning again (R3.10)."""
    claim = (
        ClaimSession.objects.select_for_update().exclude(status=ClaimStatus.CANCELLED).filter(card_ref=card_ref).first()
    )
    if claim is None:
        raise NotFound(_("未找到该证书的申领"), code="claim_not_found")
    if claim.status != ClaimStatus.WAITING:
        return claim
    claim.ticket, claim.ticket_expires_at = _new_ticket(), now() + ticket_lifetime()
    claim.save(update_fields=["ticket", "ticket_expires_at"])
    audit_record(action="claim.ticket_renewed", subject=f"claim:{claim.pk}", actor=SERVICE, data={"card": card_ref})
    return claim


def claim_by_ticket(*, ticket: str) -> ClaimSession:
    claim = ClaimSession.objects.filter(ticket=ticket).first()
    if claim is None or claim.status == ClaimStatus.CANCELLED:
        raise NotFound(_("二维码无效，请在平台上刷新后重新扫码"), code="ticket_unknown")
    return claim


@transaction.atomic(durable=True)
def claim_bind(*, ticket: str, account: str) -> ClaimSession:
    """The first phone identity to scan a valid ticket becomes the claimant; anyone else is refused (R3.1, R2.4).

    The claimant scanning again (even an expired ticket) resumes the claim; a bound claim never changes hands.
    """
    claim = ClaimSession.objects.select_for_update().filter(ticket=ticket).first()
    if claim is None or claim.status == ClaimStatus.CANCELLED:
        raise NotFound(_("二维码无效，请在平台上刷新后重新扫码"), code="ticket_unknown")
    if claim.status != ClaimStatus.WAITING:
        if claim.claimant_account == account:
            return claim  # the claimant resumes where they stopped
        raise PermissionDenied(
            _("该证书已由他人申领。移动 CA 谁申领谁使用，不能转给其他人；如需使用，请通过「CA 新购」购买。"),
            code="claim_taken",
        )
    if now() >= claim.ticket_expires_at:
        raise Conflict(_("二维码已过期，请在平台上刷新二维码后重新扫码"), code="ticket_expired")
    ensure_transition(CLAIM_TRANSITIONS, claim.status, ClaimStatus.BOUND)
    claim.status, claim.claimant_account, claim.bound_at = ClaimStatus.BOUND, account, now()
    claim.save(update_fields=["status", "claimant_account", "bound_at"])
    audit_record(
        action="claim.bound", subject=f"claim:{claim.pk}", actor=Actor("phone", account), data={"card": claim.card_ref}
    )
    return claim


def _sealer() -> KeyBackend:
    keys = ca_backend()
    keys.ensure_master_key()
    return keys


def resident_id_digest(resident_id: str) -> str:
    """A keyed digest (HMAC-SHA256 with the installation's secret): comparable, not reversible from the table."""
    return hmac.new(settings.SECRET_KEY.encode(), resident_id.upper().encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def phone_account_record(*, identity: PhoneIdentity) -> PhoneAccount:
    moment = now()
    account, created = PhoneAccount.objects.select_for_update().get_or_create(
        account=identity.account,
        defaults={
            "name": identity.name,
            "resident_id_digest": resident_id_digest(identity.resident_id),
            "resident_id_tail": identity.resident_id[-4:],
            "resident_id_sealed": _sealer().wrap(f"phone:{identity.account}", identity.resident_id.encode()),
            "phone_tail": identity.phone[-4:],
            "first_seen_at": moment,
            "last_seen_at": moment,
        },
    )
    if not created:
        account.name, account.last_seen_at = identity.name, moment
        account.save(update_fields=["name", "last_seen_at"])
    else:
        audit_record(action="phone_account.created", subject=f"phone:{identity.account}", actor=SERVICE)
    return account


# --- the steps after binding ----------------------------------------------------------------------------------

SERVICE_AGREEMENT_VERSION = "2026.1"
PRIVACY_POLICY_VERSION = "2026.1"


def _claim_of_claimant(ticket: str, account: str) -> ClaimSession:
    claim = ClaimSession.objects.select_for_update().filter(ticket=ticket).first()
    if claim is None or claim.status == ClaimStatus.CANCELLED:
        raise NotFound(_("二维码无效，请在平台上刷新后重新扫码"), code="ticket_unknown")
    if claim.status != ClaimStatus.BOUND or claim.claimant_account != account:
        raise PermissionDenied(_("只有申领人本人可以继续此申领"), code="not_claimant")
    return claim


def _move(claim: ClaimSession, step: str, expected: str) -> None:
    if claim.step != expected:
        raise Conflict(_("申领步骤已变化，请刷新页面"), code="wrong_step")
    claim.step = step
    claim.save(update_fields=["step"])


@transaction.atomic(durable=True)
def claim_choose_enterprise_service(*, ticket: str, account: str) -> ClaimSession:
    """「企业证书服务」 confirmed with 办理主体, 交易平台, 服务有效期, 使用人 → 「立即申领」 (R3.2). An enterprise the
    service does not know yet must be created first (R3.3)."""
    claim = _claim_of_claimant(ticket, account)
    known = ShieldEnterprise.objects.filter(uscc=claim.enterprise_uscc).exists()
    _move(claim, ClaimStep.AGREEMENT if known else ClaimStep.ENTERPRISE, ClaimStep.SERVICE)
    audit_record(
        action="claim.service_chosen",
        subject=f"claim:{claim.pk}",
        actor=Actor("phone", account),
        data={"service": "enterprise", "enterprise_known": known},
    )
    return claim


def enterprise_create(*, ticket: str, account: str, organisation_name: str) -> ShieldEnterprise:
    """「确定」: create the enterprise with its name exactly as on the business licence, as the registry has it."""
    claim = ClaimSession.objects.filter(ticket=ticket).first()
    if claim is None:
        raise NotFound(_("二维码无效，请在平台上刷新后重新扫码"), code="ticket_unknown")
    uscc = claim.enterprise_uscc
    if not is_valid_uscc(uscc):
        raise InvalidInput(_("统一社会信用代码无效"), code="invalid_uscc")
    record = registry.lookup(uscc)  # outside the transaction: a network call holds no row lock
    name = organisation_name.strip()
    if record is None:
        raise InvalidInput(_("企业信用信息中查无此统一社会信用代码"), code="registry_unknown")
    if name != record.name:
        raise InvalidInput(_("组织名称须与营业执照完全一致"), code="name_mismatch")
    with transaction.atomic(durable=True):
        claim = _claim_of_claimant(ticket, account)
        enterprise, _created = ShieldEnterprise.objects.get_or_create(
            uscc=uscc,
            defaults={
                "name": record.name,
                "legal_representative": record.legal_representative,
                "legal_representative_id_digest": resident_id_digest(record.legal_representative_id),
                "created_by_account": account,
                "created_at": now(),
            },
        )
        _move(claim, ClaimStep.AGREEMENT, ClaimStep.ENTERPRISE)
        audit_record(
            action="enterprise.created",
            subject=f"enterprise:{uscc}",
            actor=Actor("phone", account),
            data={"name": enterprise.name},
        )
    return enterprise


@transaction.atomic(durable=True)
def claim_accept_agreements(*, ticket: str, account: str) -> AgreementAcceptance:
    """《e签盾服务协议》《隐私政策》 accepted: versions and time recorded (R3.4)."""
    claim = _claim_of_claimant(ticket, account)
    _move(claim, ClaimStep.FACE, ClaimStep.AGREEMENT)
    acceptance = AgreementAcceptance.objects.create(
        account=account,
        claim=claim,
        service_agreement_version=SERVICE_AGREEMENT_VERSION,
        privacy_policy_version=PRIVACY_POLICY_VERSION,
        accepted_at=now(),
    )
    audit_record(
        action="claim.agreements_accepted",
        subject=f"claim:{claim.pk}",
        actor=Actor("phone", account),
        data={"service_agreement": SERVICE_AGREEMENT_VERSION, "privacy_policy": PRIVACY_POLICY_VERSION},
    )
    return acceptance


def _resident_id(account: PhoneAccount) -> str:
    return _sealer().unwrap(f"phone:{account.account}", bytes(account.resident_id_sealed)).decode()


def face_check_start(*, ticket: str, account: str) -> str:
    """Open a liveness check of the claimant (R3.5); returns where the phone goes to play it."""
    claim = ClaimSession.objects.filter(ticket=ticket).first()
    person = PhoneAccount.objects.filter(account=account).first()
    if claim is None or person is None or claim.claimant_account != account or claim.status != ClaimStatus.BOUND:
        raise PermissionDenied(_("只有申领人本人可以继续此申领"), code="not_claimant")
    if claim.step != ClaimStep.FACE:
        raise Conflict(_("申领步骤已变化，请刷新页面"), code="wrong_step")
    nonce = secrets.token_urlsafe(16)
    opened = liveness.open_check(name=person.name, resident_id=_resident_id(person), nonce=nonce)
    FaceCheck.objects.create(claim=claim, account=account, check_id=opened.check_id, nonce=nonce, created_at=now())
    return opened.url


def face_check_finish(*, check_id: str, account: str) -> ClaimSession:
    """The phone is back: fetch the signed result; a pass moves the claim to enterprise verification (R3.6)."""
    check = FaceCheck.objects.select_related("claim").filter(check_id=check_id, account=account).first()
    person = PhoneAccount.objects.filter(account=account).first()
    if check is None or person is None:
        raise NotFound(_("未找到该人脸识别"), code="face_check_unknown")
    passed = liveness.fetch_result(check_id=check_id, nonce=check.nonce, resident_id=_resident_id(person))
    with transaction.atomic(durable=True):
        check = FaceCheck.objects.select_for_update().get(pk=check.pk)
        claim = _claim_of_claimant(check.claim.ticket, account)
        if check.outcome != "pending":
            return claim
        check.outcome, check.finished_at = ("passed" if passed else "failed"), now()
        check.save(update_fields=["outcome", "finished_at"])
        audit_record(action=f"claim.face_{check.outcome}", subject=f"claim:{claim.pk}", actor=Actor("phone", account))
        if passed:
            _move(claim, ClaimStep.ENTERPRISE_VERIFY, ClaimStep.FACE)
    if not passed:  # recorded above; the claim stays at the face step and may try again
        raise Conflict(_("人脸识别未通过，请重试"), code="face_failed")
    return claim
