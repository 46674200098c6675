"""A card's claim, from the QR code to 「开通成功」 (R2.4, R3.1–R3.10): open or resume it, renew its QR ticket, bind
the claimant, then the steps on the phone — the service chosen, the enterprise created as on its licence, the
agreements, the claimant's face, the enterprise verified by its legal representative's face (the SMS code is
``otp.py``, the corporate transfers ``transfers.py``) or the admin's approval (``members.py``) — and activation:
keys, certificates and the PIN. Every step and status change goes through ``transitions.claim_move``, the claim
locked in the order of ``locks.py``."""

from __future__ import annotations

import calendar
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.core import limits
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooMany
from mobileca.core.ids import BEIJING
from mobileca.core.validators import is_valid_uscc
from mobileca.shield import cosign_keys, members, registry
from mobileca.shield.agreements import agreement_current
from mobileca.shield.credential_keys import key_pairs_certify, key_pairs_new, split_public_keys
from mobileca.shield.faces import face_check_open, face_check_record, face_check_result
from mobileca.shield.identity import PhoneIdentity
from mobileca.shield.locks import lock_claim
from mobileca.shield.models import (
    AgreementAcceptance,
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    Credential,
    FaceCheck,
    PhoneAccount,
    ShieldEnterprise,
)
from mobileca.shield.pin import pin_hash_new
from mobileca.shield.records import record_operation
from mobileca.shield.registry import RegistryRecord
from mobileca.shield.sealing import keyed_digest, resident_id_digest, seal_phone, sealer
from mobileca.shield.transitions import claim_move

SERVICE = Actor("system", "shield")
# An old QR (expired, refreshed since, or never issued) says what to do, in the words of the platform's pages.
OLD_QR_UNKNOWN = gettext_lazy(
    "该二维码已失效（可能已刷新或已过期）。请在平台「CA 续费申领」页面点击「立即申领」刷新二维码后重新扫码。"
)
OLD_QR_EXPIRED = gettext_lazy("二维码已过期。请在平台「CA 续费申领」页面点击「立即申领」刷新二维码后重新扫码。")


def ticket_lifetime() -> timedelta:
    return timedelta(minutes=settings.MOBILECA_CLAIM_QR_MINUTES)


def _new_ticket() -> str:
    return secrets.token_urlsafe(24)


def _live(card_ref: str, order_ref: str = "") -> ClaimSession | None:
    """The card's claim (``order_ref`` empty) or the renewal claim of that paid order."""
    rows = ClaimSession.objects.filter(card_ref=card_ref)
    rows = rows.filter(kind="renewal", order_ref=order_ref) if order_ref else rows.filter(kind="claim")
    return rows.first()


def claim_open(
    *, card_ref: str, platform: str, enterprise_name: str, enterprise_uscc: str, order_ref: str = ""
) -> ClaimSession:
    """The card's live claim — or, with ``order_ref``, the claim of that paid renewal (R4.1) — made if there is none.
    Idempotent: the platform may call it on every page view."""
    existing = _live(card_ref, order_ref)
    if existing is not None:
        return existing
    moment = now()
    try:
        with transaction.atomic():
            claim = ClaimSession.objects.create(
                card_ref=card_ref,
                kind="renewal" if order_ref else "claim",
                order_ref=order_ref,
                platform=platform,
                enterprise_name=enterprise_name,
                enterprise_uscc=enterprise_uscc,
                ticket=_new_ticket(),
                ticket_expires_at=moment + ticket_lifetime(),
                created_at=moment,
            )
            audit_record(
                action="claim.opened",
                subject=f"claim:{claim.pk}",
                actor=SERVICE,
                data={"card": card_ref, "kind": claim.kind, "order": order_ref},
            )
            return claim
    except IntegrityError:  # another request opened it at the same moment
        again = _live(card_ref, order_ref)
        if again is None:
            raise
        return again


# Each renewal of a card's QR ticket is an audit event: per card (its claim and its renewals alike), at most this
# many; ``MOBILECA_RATE_LIMITS`` overrides them by scope. A ticket lives ``MOBILECA_CLAIM_QR_MINUTES`` (10).
CLAIM_REFRESH_RATES: Final = {"claim_refresh": "10/h", "claim_refresh_daily": "50/d"}


def claim_refresh(*, card_ref: str, order_ref: str = "") -> ClaimSession:
    """A fresh QR ticket (the old one stops working). Only while no one has scanned: afterwards the claim is that
    person's, and they resume it by scanning again (R3.10).

    Counted per card (``CLAIM_REFRESH_RATES``) before anything is written: past the rate it raises ``TooMany`` and the
    current ticket stays as it was (the page shows it again; its message says whether it can still be scanned)."""
    found = _live(card_ref, order_ref)
    if found is None:
        raise NotFound(_("未找到该证书的申领"), code="claim_not_found")
    if found.status != ClaimStatus.WAITING:
        return found
    try:
        for scope, rate in CLAIM_REFRESH_RATES.items():
            limits.hit(scope, card_ref, rate)
    except TooMany as refused:
        still_valid = now() < found.ticket_expires_at
        message = (
            _("二维码刷新过于频繁，请稍后再试；当前二维码仍在有效期内，可直接扫码")
            if still_valid
            else _("二维码刷新过于频繁，请 {minutes} 分钟后再试").format(minutes=max(1, -(-refused.retry_after // 60)))
        )
        raise TooMany(message, retry_after=refused.retry_after) from refused
    with transaction.atomic():
        claim = ClaimSession.objects.select_for_update().get(pk=found.pk)
        if claim.status != ClaimStatus.WAITING:
            return claim
        claim.ticket, claim.ticket_expires_at = _new_ticket(), now() + ticket_lifetime()
        claim.save(update_fields=["ticket", "ticket_expires_at"])
        audit_record(action="claim.ticket_renewed", subject=f"claim:{claim.pk}", actor=SERVICE, data={"card": card_ref})
    return claim


def claim_by_ticket(*, ticket: str) -> ClaimSession:
    claim = ClaimSession.objects.filter(ticket=ticket).first()
    if claim is None:
        raise NotFound(str(OLD_QR_UNKNOWN), code="ticket_unknown")
    return claim


@transaction.atomic(durable=True)
def claim_bind(*, ticket: str, account: str) -> ClaimSession:
    """The first phone identity to scan a valid ticket becomes the claimant; anyone else is refused (R3.1, R2.4).

    The claimant scanning again (even an expired ticket) resumes the claim; a bound claim never changes hands.
    """
    claim = lock_claim(ticket, with_enterprise=False)
    if claim is None:
        raise NotFound(str(OLD_QR_UNKNOWN), code="ticket_unknown")
    if claim.status != ClaimStatus.WAITING:
        if claim.claimant_account == account:
            return claim  # the claimant resumes where they stopped
        raise PermissionDenied(
            _("该证书已由他人申领。移动 CA 谁申领谁使用，不能转给其他人；如需使用，请通过「CA 新购」购买。"),
            code="claim_taken",
        )
    if now() >= claim.ticket_expires_at:
        raise Conflict(str(OLD_QR_EXPIRED), code="ticket_expired")
    if claim.kind == "renewal":
        original = ClaimSession.objects.filter(
            card_ref=claim.card_ref, kind="claim", status=ClaimStatus.ACTIVATED
        ).first()
        if original is None or original.claimant_account != account:
            raise PermissionDenied(
                _("续费只能由该证书的申领人本人办理。移动 CA 谁申领谁使用；如需使用，请通过「CA 新购」购买。"),
                code="renewal_not_claimant",
            )
    claim.claimant_account, claim.bound_at = account, now()
    claim_move(
        claim,
        status=ClaimStatus.BOUND,
        step=ClaimStep.RENEWAL if claim.kind == "renewal" else None,
        also=["claimant_account", "bound_at"],
    )
    audit_record(
        action="claim.bound", subject=f"claim:{claim.pk}", actor=Actor("phone", account), data={"card": claim.card_ref}
    )
    return claim


@transaction.atomic
def phone_account_record(*, identity: PhoneIdentity) -> PhoneAccount:
    moment = now()
    account, created = PhoneAccount.objects.select_for_update().get_or_create(
        account=identity.account,
        defaults={
            "name": identity.name,
            "resident_id_digest": resident_id_digest(identity.resident_id),
            "resident_id_tail": identity.resident_id[-4:],
            "resident_id_sealed": sealer().wrap(f"phone:{identity.account}", identity.resident_id.encode()),
            "phone_tail": identity.phone[-4:],
            "phone_digest": keyed_digest(identity.phone),
            "phone_sealed": seal_phone(identity.account, identity.phone),
            "first_seen_at": moment,
            "last_seen_at": moment,
        },
    )
    if not created:
        account.name, account.last_seen_at = identity.name, moment
        if account.phone_digest != keyed_digest(identity.phone):  # the identity's phone is the current one
            account.phone_digest, account.phone_tail = keyed_digest(identity.phone), identity.phone[-4:]
            account.phone_sealed = seal_phone(identity.account, identity.phone)
        account.save(update_fields=["name", "last_seen_at", "phone_digest", "phone_tail", "phone_sealed"])
    else:
        audit_record(action="phone_account.created", subject=f"phone:{identity.account}", actor=SERVICE)
    return account


# --- the steps after binding ----------------------------------------------------------------------------------

SERVICE_AGREEMENT_VERSION = agreement_current("service").version
PRIVACY_POLICY_VERSION = agreement_current("privacy").version


def _of_claimant(claim: ClaimSession | None, account: str, at: str | None) -> ClaimSession:
    if claim is None:
        raise NotFound(str(OLD_QR_UNKNOWN), code="ticket_unknown")
    if claim.status != ClaimStatus.BOUND or claim.claimant_account != account:
        raise PermissionDenied(_("只有申领人本人可以继续此申领"), code="not_claimant")
    if at is not None and claim.step != at:
        raise Conflict(_("申领步骤已变化，请刷新页面"), code="wrong_step")
    return claim


def claim_of_claimant(ticket: str, account: str, *, at: str | None = None) -> ClaimSession:
    """The claim of this ticket if it is this claimant's, bound (and, with ``at``, standing at that step): the check
    a step makes before its network calls, without a lock; it is made again under the lock."""
    return _of_claimant(ClaimSession.objects.filter(ticket=ticket).first(), account, at)


def claim_of_claimant_locked(ticket: str, account: str, *, at: str | None = None) -> ClaimSession:
    """The same claim, locked after its enterprise (the lock order of ``locks.py``)."""
    return _of_claimant(lock_claim(ticket), account, at)


@transaction.atomic(durable=True)
def claim_choose_enterprise_service(*, ticket: str, account: str) -> ClaimSession:
    """「企业证书服务」 confirmed with 办理主体, 交易平台, 服务有效期, 使用人 → 「立即申领」 (R3.2). An enterprise the
    service does not know yet must be created first (R3.3)."""
    claim = claim_of_claimant_locked(ticket, account)
    known = ShieldEnterprise.objects.filter(uscc=claim.enterprise_uscc).exists()
    claim_move(claim, step=ClaimStep.AGREEMENT if known else ClaimStep.ENTERPRISE, expected=ClaimStep.SERVICE)
    audit_record(
        action="claim.service_chosen",
        subject=f"claim:{claim.pk}",
        actor=Actor("phone", account),
        data={"service": "enterprise", "enterprise_known": known},
    )
    return claim


def enterprise_create(*, ticket: str, account: str, organisation_name: str) -> ShieldEnterprise:
    """「确定」: create the enterprise with its name exactly as on the business licence, as the registry has it."""
    uscc = claim_of_claimant(ticket, account).enterprise_uscc
    if not is_valid_uscc(uscc):
        raise InvalidInput(_("统一社会信用代码无效"), code="invalid_uscc")
    record = registry.lookup(uscc)  # outside the transaction: a network call holds no row lock
    name = organisation_name.strip()
    if record is None:
        raise InvalidInput(_("企业信用信息中查无此统一社会信用代码"), code="registry_unknown")
    if name != record.name:
        raise InvalidInput(_("组织名称须与营业执照完全一致"), code="name_mismatch")
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account)
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
        claim_move(claim, step=ClaimStep.AGREEMENT, expected=ClaimStep.ENTERPRISE)
        audit_record(
            action="enterprise.created",
            subject=f"enterprise:{uscc}",
            actor=Actor("phone", account),
            data={"name": enterprise.name},
        )
    return enterprise


@transaction.atomic(durable=True)
def claim_accept_agreements(
    *, ticket: str, account: str, service_agreement_version: str = "", privacy_policy_version: str = ""
) -> AgreementAcceptance:
    """《e签盾服务协议》《隐私政策》 accepted: versions and time recorded (R3.4). The versions the page showed, when
    given, must be the ones in force: a text that changed while the claimant read is read again, not accepted."""
    for shown, current in (
        (service_agreement_version, SERVICE_AGREEMENT_VERSION),
        (privacy_policy_version, PRIVACY_POLICY_VERSION),
    ):
        if shown and shown != current:
            raise Conflict(_("协议已更新，请阅读最新版本后再同意"), code="agreements_outdated")
    claim = claim_of_claimant_locked(ticket, account)
    claim_move(claim, step=ClaimStep.FACE, expected=ClaimStep.AGREEMENT)
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


def face_check_start(*, ticket: str, account: str, purpose: str = "person") -> str:
    """Open a liveness check of the claimant (R3.5), or of the claimant as the enterprise's legal representative
    (法定代表人认证 by 人脸认证, R3.6); returns where the phone goes to play it."""
    claim = claim_of_claimant(
        ticket, account, at=ClaimStep.FACE if purpose == "person" else ClaimStep.ENTERPRISE_VERIFY
    )
    person = PhoneAccount.objects.get(account=account)  # a bound claimant signed in with this phone identity
    if purpose == "legal_rep":
        refuse_unless_legal_representative(claim, person)  # a registry call, before any lock
    return face_check_open(claim_id=claim.pk, person=person, purpose=purpose)


def face_check_finish(*, check_id: str, account: str) -> ClaimSession:
    """The phone is back: fetch the signed result. A pass moves the claim on: to enterprise verification (R3.6), to
    the PIN for a member, or to asking the enterprise's admin (R3.8)."""
    check, passed = face_check_result(check_id=check_id, account=account)
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(check.claim.ticket, account)  # enterprise, claim, then the check
        check = FaceCheck.objects.select_for_update().get(pk=check.pk)
        if not face_check_record(check, passed=passed):
            return claim
        audit_record(action=f"claim.face_{check.outcome}", subject=f"claim:{claim.pk}", actor=Actor("phone", account))
        if passed and check.purpose == "person":
            claim_move(claim, step=members.step_after_face(claim, account), expected=ClaimStep.FACE)
        elif passed:
            members.enterprise_verified(claim, account, method="legal_rep_face")
            claim_move(claim, step=ClaimStep.PIN, expected=ClaimStep.ENTERPRISE_VERIFY)
    if not passed:  # recorded above; the claim stays at the face step and may try again
        raise Conflict(_("人脸识别未通过，请重试"), code="face_failed")
    return claim


def refuse_unless_legal_representative(claim: ClaimSession, person: PhoneAccount) -> RegistryRecord:
    """The registry's answer now (not when the enterprise was created): the claimant must be the current legal
    representative of an enterprise that still exists (存续)."""
    record = registry.lookup(claim.enterprise_uscc)
    if record is None or record.status != "存续":
        raise InvalidInput(_("企业信用信息显示该企业不在存续状态，无法认证"), code="registry_not_active")
    if not (
        hmac.compare_digest(resident_id_digest(record.legal_representative_id), person.resident_id_digest)
        and record.legal_representative == person.name
    ):
        raise PermissionDenied(_("您不是该企业登记的法定代表人，请选择对公打款认证"), code="not_legal_representative")
    return record


# --- activation (R3.7) ------------------------------------------------------------------------------------------


@sensitive_variables()
def claim_activate(
    *,
    ticket: str,
    account: str,
    pin: str,
    pin_again: str,
    address: str | None = None,
    key_profile: str | None = None,
) -> Credential:
    """「开通成功」: two key pairs of the credential's key profile (``MOBILECA_KEY_PROFILE`` unless named) made here
    and kept only wrapped, their certificates from the CA of that profile's hierarchy, the PIN as an argon2id hash,
    the claim and the card activated for the term."""
    profile = ca_facade.key_profile(key_profile or settings.MOBILECA_KEY_PROFILE)
    pin_hash = pin_hash_new(pin, pin_again)
    claim_of_claimant(ticket, account, at=ClaimStep.PIN)
    person = PhoneAccount.objects.get(account=account)
    split = cosign_keys.split_for_new_credentials() and profile.family == "sm2"
    keys = None if split else key_pairs_new(profile)
    with transaction.atomic(durable=True):
        # its enterprise first, then the claim: member writes lock the enterprise first too
        claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.PIN)
        enterprise = ShieldEnterprise.objects.get(uscc=claim.enterprise_uscc)  # locked with the claim
        if not members.is_member(enterprise, account):  # removed since reaching this step, or never approved
            raise PermissionDenied(_("您不是该企业的成员，请等待管理员审批"), code="not_member")
        moment = now()
        expires_at = add_months(moment, claim.term_months)
        service_no = "ESD" + moment.astimezone(BEIJING).strftime("%Y%m%d") + secrets.token_hex(5).upper()
        shares = cosign_keys.pending_shares(claim=claim) if split else {}
        if split and set(shares) != set(cosign_keys.USAGES):  # the phone page makes its halves before this POST
            raise Conflict(_("手机尚未生成协同密钥，请在支持脚本的浏览器中重新设置PIN码"), code="cosign_keys_missing")
        certified = key_pairs_certify(
            service_no=service_no,
            keys=keys or split_public_keys(shares),
            enterprise=enterprise,
            person=person,
            not_after=expires_at,
        )
        credential = Credential.objects.create(
            claim=claim,
            account=account,
            enterprise_uscc=enterprise.uscc,
            service_no=service_no,
            key_profile=profile.name,
            key_custody=cosign_keys.SPLIT if split else "service",
            sign_key_wrapped=certified.sign_key_wrapped,
            encrypt_key_wrapped=certified.encrypt_key_wrapped,
            sign_serial=certified.sign_serial,
            encrypt_serial=certified.encrypt_serial,
            pin_hash=pin_hash,
            activated_at=moment,
            expires_at=expires_at,
        )
        if split:
            cosign_keys.certify(shares, credential)
        claim.service_no, claim.service_expires_at = service_no, expires_at
        claim_move(claim, status=ClaimStatus.ACTIVATED, step=ClaimStep.DONE, also=["service_no", "service_expires_at"])
        audit_record(
            action="claim.activated",
            subject=f"claim:{claim.pk}",
            actor=Actor("phone", account),
            data={
                "service_no": service_no,
                "sign": certified.sign_serial,
                "encrypt": certified.encrypt_serial,
                "expires_at": expires_at.isoformat(),
            },
        )
        record_operation(
            action="claim",
            account=account,
            enterprise_uscc=enterprise.uscc,
            credential=credential,
            platform=claim.platform,
            purpose=claim.enterprise_name,
            address=address,
        )
    return credential


def add_months(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    day = min(moment.day, calendar.monthrange(moment.year + year, month + 1)[1])
    return moment.replace(year=moment.year + year, month=month + 1, day=day)


@transaction.atomic(durable=True)
def claim_request_approval(*, ticket: str, account: str) -> object:
    """「向管理员发送审批申请」: the enterprise already has an admin, who decides in 「成员管理」 (R3.8)."""
    claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.APPROVAL)
    return members.membership_request(claim=claim, account=account)
